"""Weight initializers, as Keras defines them, and the checked seed and dtype
every layer and model is built from.

Each initializer takes a `np.random.Generator`, so the same seed gives the same
weights and no global random state is touched. `make_rng` and `seed_sequence`
turn a seed into one, `float_dtype` checks the dtype; each names a bad value.
"""

import numpy as np

__all__ = ["glorot_uniform", "random_uniform", "orthogonal", "lstm_bias", "make_rng",
           "seed_sequence", "float_dtype"]


def make_rng(seed_or_rng=None):
    """A Generator from a seed (int or None), or the Generator itself if given one."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return _named_seed_error(np.random.default_rng, seed_or_rng)


def seed_sequence(seed):
    """np.random.SeedSequence(seed) (seed None or a non-negative integer)."""
    return _named_seed_error(np.random.SeedSequence, seed)


def _named_seed_error(make, seed):
    """make(seed), with an error that says it is the seed that is wrong (NumPy's says
    'expected non-negative integer' or 'SeedSequence expects int ...')."""
    try:
        return make(seed)
    except (TypeError, ValueError) as error:    # (NumPy's class: ValueError for -1)
        raise type(error)(f"seed must be None or a non-negative integer, got {seed!r}") from None


def float_dtype(dtype):
    """np.dtype(dtype), which must be float32 (fast) or float64 (for gradient
    checks): the layers' arithmetic is written and tested for those two."""
    try:
        checked = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if checked not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {checked.name}")
    return checked


def _check_shape(shape):
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"expected a weight shape of 2 or more positive sizes, got {shape}")
    return shape


def glorot_uniform(rng, shape, dtype=np.float32):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).

    For a (fan_in, fan_out) matrix, as Keras's `glorot_uniform` (Dense kernels,
    LSTM input kernels).
    """
    shape = _check_shape(shape)
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def random_uniform(rng, shape, limit=0.05, dtype=np.float32):
    """U(-limit, limit), as Keras's `uniform` (RandomUniform(-0.05, 0.05)): Embedding tables."""
    return rng.uniform(-limit, limit, size=_check_shape(shape)).astype(dtype)


def orthogonal(rng, shape, gain=1.0, dtype=np.float32):
    """A (semi-)orthogonal matrix, as Keras 3's `orthogonal` initializer.

    Draw a standard normal (max(rows, cols), min(rows, cols)) matrix, take its
    QR decomposition, fix the signs with q *= sign(diag(r)) so the result is
    uniformly distributed, and transpose if the matrix is wider than tall. For
    the LSTM recurrent kernel (units, 4*units) the rows come out orthonormal.
    """
    shape = _check_shape(shape)
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return np.ascontiguousarray((gain * q).reshape(shape), dtype=dtype)


def lstm_bias(units, dtype=np.float32, unit_forget_bias=True):
    """Zeros of shape (4*units,), with the forget-gate block set to 1.

    Keras's `unit_forget_bias=True`: gate order i, f, c, o, so the forget
    block is bias[units:2*units].
    """
    bias = np.zeros(4 * units, dtype=dtype)
    if unit_forget_bias:
        bias[units:2 * units] = 1
    return bias
