"""Activation functions and their derivatives.

Every derivative here is written in terms of the function's *output*, because
that is what the LSTM keeps from its forward pass:

    sigmoid:       s = 1 / (1 + exp(-x))        ds/dx = s * (1 - s)
    tanh:          t = tanh(x)                  dt/dx = 1 - t**2
    hard_sigmoid:  s = clip(a*x + 0.5, 0, 1)    ds/dx = a where 0 < s < 1, else 0

`hard_sigmoid` has two forms: Keras 2 (and tf.keras 2.x) used slope a = 0.2;
Keras 3 uses a = 1/6. Both are here, because models trained with either must
load faithfully.

Nothing here warns or returns NaN, even for inputs of +-1e4. The functions
take an optional `out=` array, so the LSTM's fast path can work in place.
"""

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_derivative",
    "hard_sigmoid",
    "hard_sigmoid_derivative",
    "hard_sigmoid_keras3",
    "hard_sigmoid_keras3_derivative",
    "tanh",
    "tanh_derivative",
    "softmax",
    "log_softmax",
    "RECURRENT_ACTIVATIONS",
    "get_recurrent_activation",
]


def _as_float(x):
    """Keep float32/float64 as given; anything else (ints, lists) becomes float64."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def sigmoid(x, out=None):
    """Logistic sigmoid 1 / (1 + exp(-x)), written into `out` if given.

    For very negative x, exp(-x) overflows to inf and the result is exactly 0,
    the correctly rounded answer; the overflow is expected, so it is silenced.
    Everywhere else the formula is accurate to the last bit or two.
    """
    with np.errstate(over="ignore"):
        return sigmoid_unguarded(_as_float(x), out)


def sigmoid_unguarded(x, out=None):
    """`sigmoid` for hot loops: x must be a float array, and the caller silences
    the overflow warning once, around the whole loop, with np.errstate(over='ignore')
    (entering errstate costs as much as the sigmoid of a small array)."""
    out = np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    # the same correctly rounded 1/x as np.reciprocal, which NumPy does not
    # vectorise for floats: 1 / x is 30-40% faster here
    return np.divide(1, out, out=out)


def sigmoid_derivative(s, out=None):
    """ds/dx = s * (1 - s) = s - s**2, given s = sigmoid(x)."""
    out = np.multiply(s, s, out=out)
    return np.subtract(s, out, out=out)


def _hard_sigmoid(x, slope, out=None):
    out = np.multiply(_as_float(x), slope, out=out)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _hard_sigmoid_derivative(s, slope, out=None):
    # Inside the linear region (0 < s < 1) the slope; flat (0) where clipped.
    inside = (s > 0) & (s < 1)
    return np.multiply(inside, s.dtype.type(slope), out=out, dtype=s.dtype)


def hard_sigmoid(x, out=None):
    """Keras 2 / tf.keras 2.x hard sigmoid: clip(0.2 * x + 0.5, 0, 1)."""
    return _hard_sigmoid(x, 0.2, out)


def hard_sigmoid_derivative(s, out=None):
    """0.2 where 0 < s < 1, else 0."""
    return _hard_sigmoid_derivative(s, 0.2, out)


def hard_sigmoid_keras3(x, out=None):
    """Keras 3 hard sigmoid: clip(x / 6 + 0.5, 0, 1)."""
    return _hard_sigmoid(x, 1.0 / 6.0, out)


def hard_sigmoid_keras3_derivative(s, out=None):
    """1/6 where 0 < s < 1, else 0."""
    return _hard_sigmoid_derivative(s, 1.0 / 6.0, out)


def tanh(x):
    """Hyperbolic tangent (numpy's is already overflow-safe)."""
    return np.tanh(x)


def tanh_derivative(t, out=None):
    """dt/dx = 1 - t**2, given t = tanh(x)."""
    out = np.multiply(t, t, out=out)
    return np.subtract(1, out, out=out)


def softmax(x, axis=-1):
    """softmax(x)_k = exp(x_k - max x) / sum_j exp(x_j - max x).

    Subtracting the maximum leaves the result unchanged and keeps every
    exponent <= 0, so nothing overflows.
    """
    x = _as_float(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """log softmax(x) = (x - max x) - log sum_j exp(x_j - max x), exact and finite."""
    x = _as_float(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# name -> (function, derivative from output)
RECURRENT_ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_derivative),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_derivative),
    "hard_sigmoid_keras3": (hard_sigmoid_keras3, hard_sigmoid_keras3_derivative),
}


def get_recurrent_activation(name, hot_loop=False):
    """Return (function, derivative_from_output) for a recurrent activation name.

    hot_loop=True gives `sigmoid_unguarded` for 'sigmoid': call it only inside
    np.errstate(over='ignore').
    """
    try:
        function, derivative = RECURRENT_ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"recurrent_activation must be one of {sorted(RECURRENT_ACTIVATIONS)}, "
            f"got {name!r}. Use 'hard_sigmoid' for models trained with Keras 2 / "
            f"tf.keras 2.x (slope 0.2), 'hard_sigmoid_keras3' for Keras 3 (slope 1/6)."
        ) from None
    if hot_loop and function is sigmoid:
        function = sigmoid_unguarded
    return function, derivative
