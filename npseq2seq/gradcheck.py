"""Gradient checking: compare hand-written gradients with finite differences.

For a scalar function L of an array x, the classic centred difference

    dL/dx_k  ~=  (L(x + h e_k) - L(x - h e_k)) / (2h)                  (3 points)

has truncation error O(h**2); the five-point centred difference

    dL/dx_k  ~=  (L(x - 2h e_k) - 8 L(x - h e_k) + 8 L(x + h e_k) - L(x + 2h e_k)) / (12h)

has O(h**4). Both also carry rounding error of about 1e-16 * |L| / h, which
grows as h shrinks. With three points no h keeps both small for every model
(a trained model's saturated gates want a small h, a mean loss with tiny
gradients wants a large one); with five points and h = 1e-4 the truncation is
~1e-16 and the rounding ~1e-12, so a correct float64 gradient agrees to ~1e-9
relative error or better, and a wrong one is off by 1e-3 or (much) more. This
is the default; `points=3` gives the classic formula. In float32 the rounding
alone is ~1e-3: always check in float64.

The relative error of an analytic gradient a against a numerical one n is

    |a - n| / (|a| + |n|)        (L2 norms over the whole array)

which is scale-free, 0 for a perfect match and 1 when one of them is zero.

The toolkit:
    numerical_gradient(f, x)                 the finite differences of f() w.r.t. x
    check_gradients(f, arrays, analytic)     every element of every array
    check_direction(f, arrays, analytic)     one random direction: cheap for big models
    check_lstm / check_dense / check_embedding / check_softmax_cross_entropy /
    check_mean_squared_error / check_mean_absolute_error
                                             ready-made checks of this library's parts
    check_model(model, source, target)       a whole model, every weight
Each check returns a GradCheckReport; print it for a table.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .layers.lstm import is_token_array
from .losses import mean_absolute_error, mean_squared_error, softmax_cross_entropy

__all__ = [
    "numerical_gradient",
    "relative_error",
    "GradCheckReport",
    "check_gradients",
    "check_direction",
    "check_lstm",
    "check_dense",
    "check_embedding",
    "check_softmax_cross_entropy",
    "check_mean_squared_error",
    "check_mean_absolute_error",
    "check_model",
]

DEFAULT_EPS = 1e-4
DEFAULT_TOLERANCE = 1e-7


def numerical_gradient(f, x, eps=DEFAULT_EPS, points=5):
    """Centred finite differences of the scalar f() with respect to array x.

    points=5 (default) uses the fourth-order formula, points=3 the classic one.
    x is perturbed in place, one element at a time, and restored exactly; f
    must read x (not a copy of it) each time it is called.
    """
    _require_float64_array(x)
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        original = x[k]

        def move(shift):
            x[k] = original + shift  # noqa: B023 (used at once, inside this iteration)

        try:
            grad[k] = _derivative_along(f, move, eps, points)
        finally:                     # x comes back whole, even when f raises
            x[k] = original
    return grad


def _require_float64_array(x):
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        given = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"finite differences need a float64 array, got {given}; "
                        f"build the layer or model with dtype=np.float64")


def _derivative_along(f, move, eps, points):
    """d/dt f at t = 0, where move(t) sets the inputs to their value at t."""
    if not (isinstance(eps, (int, float, np.floating)) and 0 < eps < np.inf):
        raise ValueError(f"eps must be a positive number, got {eps!r}")

    def at(t):
        move(t)
        loss = f()
        if np.ndim(loss) != 0:
            raise TypeError(f"f must return the scalar loss, got an array of shape "
                            f"{np.shape(loss)}")
        return float(loss)

    if points == 3:
        return (at(eps) - at(-eps)) / (2 * eps)
    if points == 5:
        # differences first: equal values then cancel exactly (-8a + 8b + ... need not)
        near, far = at(eps) - at(-eps), at(2 * eps) - at(-2 * eps)
        return (8 * near - far) / (12 * eps)
    raise ValueError(f"points must be 3 or 5, got {points!r}")


def relative_error(analytic, numeric):
    """|a - n| / (|a| + |n|) with L2 norms; 0 when both are zero.

    The two must have one shape: NumPy would broadcast a (3,) against a
    (3, 1) into a (3, 3) difference, and (3,) against (1,) to agreement.
    """
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic and numeric gradients must have one shape, "
                         f"got {a.shape} and {n.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - n) / scale)


@dataclass
class CheckRow:
    name: str
    shape: tuple
    relative_error: float
    max_abs_error: float


class GradCheckReport:
    """The result of a check: one row per array, printable as a table."""

    def __init__(self, rows, tolerance=DEFAULT_TOLERANCE, title="gradient check"):
        self.rows, self.tolerance, self.title = list(rows), tolerance, title

    @property
    def max_error(self):
        return max((row.relative_error for row in self.rows), default=0.0)

    @property
    def passed(self):
        return self.max_error < self.tolerance

    def __getitem__(self, name):
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def __str__(self):
        width = max([len(r.name) for r in self.rows] + [9])
        lines = [self.title,
                 f"{'array':<{width}}  {'shape':<14}  {'rel. error':>10}  {'max |diff|':>10}"]
        for r in self.rows:
            verdict = "ok" if r.relative_error < self.tolerance else "FAIL"
            lines.append(f"{r.name:<{width}}  {str(r.shape):<14}  {r.relative_error:>10.2e}  "
                         f"{r.max_abs_error:>10.2e}  {verdict}")
        lines.append(f"max relative error {self.max_error:.2e} (tolerance {self.tolerance:.0e}): "
                     f"{'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(lines)

    __repr__ = __str__


def check_gradients(f, arrays, analytic, eps=DEFAULT_EPS, tolerance=DEFAULT_TOLERANCE,
                    title="gradient check", points=5):
    """Check every element of every array.

    f         callable () -> float, the scalar loss, reading `arrays` in place
    arrays    {name: float64 array} the inputs to perturb
    analytic  {name: array} the hand-written dL/d(array), same keys and shapes
    """
    _check_arrays(arrays, analytic)
    rows = []
    for name, x in arrays.items():
        a = np.asarray(analytic[name])
        n = numerical_gradient(f, x, eps, points)
        rows.append(CheckRow(name, x.shape, relative_error(a, n),
                             float(np.max(np.abs(a - n), initial=0.0))))
    return GradCheckReport(rows, tolerance, title)


def check_direction(f, arrays, analytic, eps=DEFAULT_EPS, tolerance=DEFAULT_TOLERANCE,
                    seed=0, title="random-direction gradient check", points=5):
    """Check the gradient along random unit directions: cheap for big models.

    For a unit direction d the derivative of f along d is <dL/dx, d>:
        numeric  = d/dt f(x + t d) at t = 0, by finite differences in t
        analytic = sum over arrays of <analytic gradient, d>
    One row per array (d moves only that array), then one row for a direction
    through all arrays at once: a few calls of f per row instead of a few per
    element.

    Each d is half a random unit vector r and half the analytic gradient's unit
    vector g: d = (r + g) / |r + g|. Along a purely random d the derivative of
    a big array is tiny (|dL/dx| / sqrt(size)) and drowns in rounding noise;
    leaning on g keeps it large, and the random half still sees every element,
    so a wrong gradient shows as a mismatch.
    """
    _check_arrays(arrays, analytic)
    rng = np.random.default_rng(seed)
    directions = {name: _unit(rng.standard_normal(x.shape)) + _unit(np.asarray(analytic[name]))
                  for name, x in arrays.items()}
    rows = [_direction_row(f, arrays, analytic, {name: directions[name]}, name, eps, points)
            for name in arrays]
    if len(arrays) > 1:
        rows.append(_direction_row(f, arrays, analytic, directions, "all arrays together",
                                   eps, points))
    return GradCheckReport(rows, tolerance, title)


def _check_arrays(arrays, analytic):
    """Before any work: two dicts, float64 arrays, and an analytic gradient of
    each one's shape."""
    for label, value in (("arrays", arrays), ("analytic", analytic)):
        if not isinstance(value, Mapping):
            raise TypeError(f"{label} must be a dict {{name: array}}, got {type(value).__name__}")
    missing = [name for name in arrays if name not in analytic]
    if missing:
        raise ValueError(f"analytic must have a gradient for every name in arrays, "
                         f"{list(arrays)}; it lacks {missing}")
    for name, x in arrays.items():
        _require_float64_array(x)
        if np.shape(analytic[name]) != x.shape:
            raise ValueError(f"analytic gradient for {name!r} has shape "
                             f"{np.shape(analytic[name])}, expected {x.shape}")


def _unit(a):
    norm = np.linalg.norm(a)
    return a / norm if norm > 0 else a


def _direction_row(f, arrays, analytic, directions, label, eps, points):
    norm = np.sqrt(sum(np.sum(d * d) for d in directions.values()))
    directions = {name: d / norm for name, d in directions.items()}
    originals = {name: arrays[name].copy() for name in directions}

    def move(t):
        for name, d in directions.items():
            arrays[name][...] = originals[name] + t * d

    try:
        numeric = _derivative_along(f, move, eps, points)
    finally:
        for name, original in originals.items():
            arrays[name][...] = original
    expected = sum(float(np.sum(np.asarray(analytic[name]) * d)) for name, d in directions.items())
    shape = arrays[label].shape if label in arrays else ()
    return CheckRow(label, shape, relative_error(expected, numeric), abs(expected - numeric))


def _require_float64(layer):
    if layer.dtype != np.float64:
        raise TypeError(f"gradient checks need a float64 layer, got {layer.dtype}; "
                        f"build it with dtype=np.float64")


def check_lstm(layer, x, initial_state=None, seed=0, eps=DEFAULT_EPS,
               tolerance=DEFAULT_TOLERANCE, mask=None):
    """Check an LSTM's gradients for its parameters, its input and (h0, c0).

    The loss is L = sum(R * outputs) + sum(R_h * h_T) + sum(R_c * c_T) with
    fixed random R's, so gradient flows in from every step's output and from
    the final state at once. mask: as for LSTM.forward.
    """
    _require_float64(layer)
    rng = np.random.default_rng(seed)
    x = np.asarray(x) if is_token_array(x) else np.array(x, np.float64)
    n, steps, u = x.shape[0], x.shape[1], layer.units
    h0, c0 = (np.zeros((n, u)), np.zeros((n, u))) if initial_state is None else (
        np.array(s, np.float64) for s in initial_state)
    r_out, r_h, r_c = (rng.standard_normal(shape) for shape in ((n, steps, u), (n, u), (n, u)))

    def loss():
        outputs, (h, c), _ = layer.forward(x, (h0, c0), mask=mask)
        return float(np.sum(r_out * outputs) + np.sum(r_h * h) + np.sum(r_c * c))

    layer.zero_grads()
    _, _, cache = layer.forward(x, (h0, c0), mask=mask)
    dx, (dh0, dc0) = layer.backward(r_out, cache, d_state=(r_h, r_c))
    arrays = {**layer.params, "h0": h0, "c0": c0}
    analytic = {**{k: g.copy() for k, g in layer.grads.items()}, "h0": dh0, "c0": dc0}
    if dx is not None:
        arrays["x"], analytic["x"] = x, dx
    return check_gradients(loss, arrays, analytic, eps, tolerance, title="LSTM gradient check")


def check_dense(layer, x, seed=0, eps=DEFAULT_EPS, tolerance=DEFAULT_TOLERANCE):
    """Check a Dense layer's gradients for kernel, bias and input (L = sum(R * y))."""
    _require_float64(layer)
    x = np.array(x, np.float64)
    r = np.random.default_rng(seed).standard_normal(x.shape[:-1] + (layer.units,))

    def loss():
        return float(np.sum(r * layer.forward(x)[0]))

    layer.zero_grads()
    _, cache = layer.forward(x)
    dx = layer.backward(r, cache)
    arrays = {**layer.params, "x": x}
    analytic = {**{k: g.copy() for k, g in layer.grads.items()}, "x": dx}
    return check_gradients(loss, arrays, analytic, eps, tolerance, title="Dense gradient check")


def check_embedding(layer, tokens, seed=0, eps=DEFAULT_EPS, tolerance=DEFAULT_TOLERANCE):
    """Check an Embedding layer's table gradient (L = sum(R * y)); tokens have none."""
    _require_float64(layer)
    tokens = np.asarray(tokens)
    r = np.random.default_rng(seed).standard_normal(tokens.shape + (layer.output_dim,))

    def loss():
        return float(np.sum(r * layer.forward(tokens)[0]))

    layer.zero_grads()
    layer.backward(r, layer.forward(tokens)[1])
    return check_gradients(loss, dict(layer.params),
                           {k: g.copy() for k, g in layer.grads.items()}, eps, tolerance,
                           title="Embedding gradient check")


def check_softmax_cross_entropy(logits, targets, mask=None, eps=DEFAULT_EPS,
                                tolerance=DEFAULT_TOLERANCE):
    """Check the fused softmax + cross-entropy gradient with respect to the logits."""
    logits = np.array(logits, np.float64)
    _, dlogits = softmax_cross_entropy(logits, targets, mask)
    return check_gradients(lambda: softmax_cross_entropy(logits, targets, mask)[0],
                           {"logits": logits}, {"logits": dlogits}, eps, tolerance,
                           title="softmax cross-entropy gradient check")


def check_mean_squared_error(predictions, targets, mask=None, eps=DEFAULT_EPS,
                             tolerance=DEFAULT_TOLERANCE):
    """Check the mean squared error gradient with respect to the predictions."""
    predictions = np.array(predictions, np.float64)
    _, grad = mean_squared_error(predictions, targets, mask)
    return check_gradients(lambda: mean_squared_error(predictions, targets, mask)[0],
                           {"predictions": predictions}, {"predictions": grad}, eps, tolerance,
                           title="mean squared error gradient check")


def check_mean_absolute_error(predictions, targets, mask=None, eps=DEFAULT_EPS,
                              tolerance=DEFAULT_TOLERANCE):
    """Check the mean absolute error gradient with respect to the predictions.

    |x| bends at 0: a prediction within eps of its target has no finite
    difference to agree with, so keep them apart.
    """
    predictions = np.array(predictions, np.float64)
    _, grad = mean_absolute_error(predictions, targets, mask)
    return check_gradients(lambda: mean_absolute_error(predictions, targets, mask)[0],
                           {"predictions": predictions}, {"predictions": grad}, eps, tolerance,
                           title="mean absolute error gradient check")


def check_model(model, source, target, eps=DEFAULT_EPS, tolerance=DEFAULT_TOLERANCE,
                direction_only=False, seed=0):
    """Check every weight of a whole model (float64) on one batch.

    The loss is the model's own (cross-entropy, teacher-forced where the model
    uses teacher forcing), so this covers the loss, Dense, the decoder, the
    (h, c) hand-over and the encoder together. direction_only=True runs the
    cheap one-direction check instead of every element.
    """
    _require_float64(model)
    _, grads = model.loss_and_gradients(source, target)
    named = model._named_params()
    arrays = {name: param for name, param in named}
    analytic = {name: grad for (name, _), grad in zip(named, grads)}

    def loss():
        return model.loss(source, target)

    title = f"{type(model).__name__} gradient check"
    if direction_only:
        return check_direction(loss, arrays, analytic, eps, tolerance, seed, title)
    return check_gradients(loss, arrays, analytic, eps, tolerance, title)
