"""Activation functions and their derivatives.

Every derivative here is written in terms of the function's *output*, because
that is what the LSTM keeps from its forward pass:

    sigmoid:       s = 1 / (1 + exp(-x))        ds/dx = s * (1 - s)
    tanh:          t = tanh(x)                  dt/dx = 1 - t**2
    hard_sigmoid:  s = clip(a*x + 0.5, 0, 1)    ds/dx = a where 0 < s < 1, else 0

`hard_sigmoid` has two forms: Keras 2 (and tf.keras 2.x) used slope a = 0.2;
Keras 3 uses a = 1/6. Both are here, because models trained with either must
load faithfully.

Nothing here overflows or warns, even for inputs of +-1e4.
"""

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_derivative",
    "hard_sigmoid",
    "hard_sigmoid_keras3",
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


def sigmoid(x):
    """Logistic sigmoid, overflow-safe: exp is only ever taken of -|x| <= 0.

    For x >= 0:  1 / (1 + e)      with e = exp(-x)
    For x <  0:  e / (1 + e)      with e = exp(x)
    Both are the same function; each branch is exact where the other would
    overflow or lose precision.
    """
    x = _as_float(x)
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r)


def sigmoid_derivative(s):
    """ds/dx = s * (1 - s), given s = sigmoid(x)."""
    return s * (1 - s)


def _hard_sigmoid(x, slope):
    return np.clip(slope * _as_float(x) + 0.5, 0.0, 1.0)


def _hard_sigmoid_derivative(s, slope):
    # Inside the linear region (0 < s < 1) the slope; flat (0) where clipped.
    zero, slope = s.dtype.type(0), s.dtype.type(slope)
    return np.where((s > 0) & (s < 1), slope, zero)


def hard_sigmoid(x):
    """Keras 2 / tf.keras 2.x hard sigmoid: clip(0.2 * x + 0.5, 0, 1)."""
    return _hard_sigmoid(x, 0.2)


def hard_sigmoid_keras3(x):
    """Keras 3 hard sigmoid: clip(x / 6 + 0.5, 0, 1)."""
    return _hard_sigmoid(x, 1.0 / 6.0)


def tanh(x):
    """Hyperbolic tangent (numpy's is already overflow-safe)."""
    return np.tanh(x)


def tanh_derivative(t):
    """dt/dx = 1 - t**2, given t = tanh(x)."""
    return 1 - t * t


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
    "hard_sigmoid": (hard_sigmoid, lambda s: _hard_sigmoid_derivative(s, 0.2)),
    "hard_sigmoid_keras3": (
        hard_sigmoid_keras3,
        lambda s: _hard_sigmoid_derivative(s, 1.0 / 6.0),
    ),
}


def get_recurrent_activation(name):
    """Return (function, derivative_from_output) for a recurrent activation name."""
    try:
        return RECURRENT_ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"recurrent_activation must be one of {sorted(RECURRENT_ACTIVATIONS)}, "
            f"got {name!r}. Use 'hard_sigmoid' for models trained with Keras 2 / "
            f"tf.keras 2.x (slope 0.2), 'hard_sigmoid_keras3' for Keras 3 (slope 1/6)."
        ) from None
