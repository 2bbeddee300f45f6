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

__all__ = ["reversal_task", "one_hot", "one_hot_decode"]


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
