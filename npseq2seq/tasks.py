"""The tutorial's task: reverse the first n_out of n_in random integers.

    source  [13, 28, 18, 7, 9, 5]   n_in = 6 integers from 1..cardinality-1
    target  [18, 28, 13]            the first n_out = 3, reversed

0 is never drawn: it is the decoder's start-of-sequence token. Arrays are
integer tokens; `one_hot` / `one_hot_decode` convert to and from the
tutorial's one-hot encoding (what `to_categorical` and its `one_hot_decode`
did), always with the shapes stated below.
"""

import numpy as np

from .initializers import make_rng

__all__ = ["reversal_task", "one_hot", "one_hot_decode", "pad_sequences"]


def count(name, value, minimum=1):
    """`value` as an int, if it is an integer (not a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_in_range(tokens, n_classes, what="tokens"):
    """ValueError naming `what` unless every integer in `tokens` lies in 0..n_classes-1."""
    if tokens.size and (tokens.min() < 0 or tokens.max() >= n_classes):
        raise ValueError(f"{what} must lie in 0..{n_classes - 1}, got values from "
                         f"{tokens.min()} to {tokens.max()}")


def check_finite(x, what, minimum=None):
    """ValueError naming `what` and its first bad value, and where it is,
    unless every value of x is finite (and at least `minimum`, if given)."""
    good = np.isfinite(x)
    if minimum is not None:
        good &= x >= minimum
    if good.all():                  # (the one pass more, to find where, only on failure)
        return
    where = tuple(int(i) for i in np.argwhere(~good)[0])
    wanted = "finite" if minimum is None else f"finite and at least {minimum}"
    raise ValueError(f"{what} must be {wanted}, got {x[where]} at index {where}")


def as_indices(tokens):
    """Checked tokens as NumPy indexes with: as they are, unless their type does
    not cast safely to np.intp (uint64 on a 64-bit machine), which NumPy mixes
    with signed integers into floats (uint64 + int64 is float64) and whose
    np.take some NumPy versions refuse. The tokens were checked, so the cast
    changes no value."""
    if np.can_cast(tokens.dtype, np.intp):
        return tokens
    return tokens.astype(np.intp)


def checked_indices(tokens, n_classes, what="tokens"):
    """check_in_range, then as_indices: integer tokens ready to index with."""
    check_in_range(tokens, n_classes, what)
    return as_indices(tokens)


def reversal_task(n_samples, n_in=6, n_out=3, cardinality=51, seed=None):
    """Random sources and their reversed prefixes.

    Returns:
        source  (n_samples, n_in)  int64 in 1..cardinality-1
        target  (n_samples, n_out) int64, source[:, n_out-1::-1]
    """
    n_samples = count("n_samples", n_samples)
    n_in = count("n_in", n_in)
    n_out = count("n_out", n_out)
    cardinality = count("cardinality", cardinality, minimum=2)
    if n_out > n_in:
        raise ValueError(f"n_out must be at most n_in ({n_in}), got {n_out}")
    rng = make_rng(seed)
    source = rng.integers(1, cardinality, size=(n_samples, n_in), dtype=np.int64)
    target = source[:, :n_out][:, ::-1].copy()
    return source, target


def one_hot(tokens, n_classes, dtype=np.float32):
    """Integer tokens (...) -> one-hot vectors (..., n_classes)."""
    tokens = np.asarray(tokens)
    if not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"one_hot expects integer tokens, got dtype {tokens.dtype}")
    n_classes = count("n_classes", n_classes)
    check_in_range(tokens, n_classes)
    return np.eye(n_classes, dtype=dtype)[tokens]


def one_hot_decode(vectors):
    """One-hot vectors or probabilities (..., n_classes) -> tokens (...) by argmax."""
    vectors = np.asarray(vectors)
    if vectors.ndim < 1 or vectors.shape[-1] < 1:
        raise ValueError(f"one_hot_decode expects (..., n_classes) vectors, got shape {vectors.shape}")
    return np.argmax(vectors, axis=-1)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0):
    """Sequences of several lengths as one array (N, maxlen, ...), as Keras's
    keras.utils.pad_sequences makes it (its defaults and options, the same
    numbers).

    maxlen      the length of every row: the longest sequence's by default;
                a longer sequence loses tokens at its start ('pre') or end
                ('post'), as `truncating` says
    padding     'pre' puts `value` before a shorter sequence, 'post' after
    dtype       the array's type (Keras's default, int32; the models take
                any integer type for tokens; pass 'float32' for real values)

    Each sequence is a list or array of tokens, or of feature vectors (all of
    one shape). The models take one length (fit takes no masks): pad with a
    token the data does not use otherwise (0, in the tutorial), and see
    docs/variable_length.md for masks that make the padding change nothing.
    """
    for name, where in (("padding", padding), ("truncating", truncating)):
        if where not in ("pre", "post"):
            raise ValueError(f"{name} must be 'pre' or 'post', got {where!r}")
    sequences = [_as_sequence(s, index) for index, s in enumerate(sequences)]
    longest = max((len(s) for s in sequences), default=0)
    maxlen = longest if maxlen is None else count("maxlen", maxlen)
    shapes = {s.shape[1:] for s in sequences if len(s)}
    if len(shapes) > 1:
        raise ValueError(f"the sequences' elements must have one shape, got "
                         f"{', '.join(map(str, sorted(shapes)))}")
    padded = np.full((len(sequences), maxlen, *next(iter(shapes), ())), value, dtype=dtype)
    for row, s in enumerate(sequences):
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            padded[row, :len(kept)] = kept
        elif len(kept):
            padded[row, -len(kept):] = kept
    return padded


def _as_sequence(sequence, index):
    try:
        return np.asarray(sequence) if len(sequence) else np.zeros(0)
    except TypeError:
        raise TypeError(f"pad_sequences takes a list of sequences; item {index} is not "
                        f"one: {sequence!r}") from None
