"""Losses with their gradients, averaged over batch x time as Keras does.

Softmax + categorical cross-entropy, fused. For logits z, p = softmax(z), and a
target distribution y (one-hot, or an integer class k):

    L_step = -sum_k y_k * log p_k
    dL_step/dz = p * sum(y) - y      ( = p - y for a one-hot target)

log p is log_softmax(z) = (z - max z) - log sum_j exp(z_j - max z), exact and
finite for any logits (for an integer target only its entry is formed). This is
what Keras computes on TensorFlow, where a softmax output's logits are used
directly; Keras's other path, which clips p to [1e-7, 1 - 1e-7] first, only
differs once a probability drops below 1e-7.

The loss is the mean over every (sample, step), or, with a `mask` of per-step
weights, sum(mask * L_step) / sum(mask).

Mean squared and mean absolute error, for real-valued targets (K features):
    L_step = mean_k (pred_k - y_k)**2,    dL_step/dpred = 2 * (pred - y) / K
    L_step = mean_k |pred_k - y_k|,       dL_step/dpred = sign(pred - y) / K
|x| has no derivative at 0; there the gradient is sign(0) = 0, as TensorFlow's.
"""

import numpy as np

from .tasks import checked_indices


__all__ = ["softmax_cross_entropy", "mean_squared_error", "mean_absolute_error", "accuracy"]


def softmax_cross_entropy(logits, targets, mask=None):
    """Mean categorical cross-entropy of softmax(logits), and its gradient.

    Inputs:
        logits   (..., V) float
        targets  (...) integer classes in 0..V-1, or (..., V) one-hot / probabilities
        mask     (...) per-step weights (1 = counts, 0 = ignored), or None
    Returns:
        loss     float
        dlogits  (..., V) dL/dlogits, same dtype as logits
    """
    logits = np.ascontiguousarray(logits)       # so that ravel() below is a view
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)    # every exponent <= 0
    dlogits = np.exp(shifted)
    denominator = dlogits.sum(axis=-1, keepdims=True)
    dlogits /= denominator                                   # p
    log_denominator = np.log(denominator)                    # log p = shifted - this
    targets = np.asarray(targets)
    if targets.dtype.kind in "iu":                           # integer classes
        targets = _check_class_targets(targets, logits.shape)
        # the target's position in each (sample, step) row, in the flattened array
        picks = np.arange(0, logits.size, logits.shape[-1]) + targets.ravel()
        step_loss = log_denominator[..., 0] - shifted.ravel()[picks].reshape(targets.shape)
        dlogits.ravel()[picks] -= 1                          # p - y
    else:
        targets = _check_same_shape("targets", targets, logits.shape, logits.dtype)
        step_loss = -np.sum(targets * (shifted - log_denominator), axis=-1)
        dlogits *= np.sum(targets, axis=-1, keepdims=True)  # p * sum(y) - y
        dlogits -= targets
    if mask is None:
        count = step_loss.size
        dlogits /= count
        return float(step_loss.sum() / count), dlogits
    weights, total = _step_weights(mask, logits.shape[:-1], logits.dtype)
    dlogits *= (weights / total)[..., None]
    return float(np.sum(weights * step_loss) / total), dlogits


def mean_squared_error(predictions, targets, mask=None):
    """Mean squared error over the last axis, averaged over the rest; and its gradient.

    Returns (loss, dL/dpredictions).
    """
    diff, weights, total = _difference(predictions, targets, mask)
    loss = float(np.sum(weights * np.mean(diff * diff, axis=-1)) / total)
    grad = diff * (2 / diff.shape[-1]) * (weights / total)[..., None]
    return loss, grad.astype(diff.dtype, copy=False)


def mean_absolute_error(predictions, targets, mask=None):
    """Mean absolute error over the last axis, averaged over the rest; and its gradient.

    Returns (loss, dL/dpredictions); the gradient is 0 where a prediction
    equals its target.
    """
    diff, weights, total = _difference(predictions, targets, mask)
    loss = float(np.sum(weights * np.mean(np.abs(diff), axis=-1)) / total)
    grad = np.sign(diff) * (1 / diff.shape[-1]) * (weights / total)[..., None]
    return loss, grad.astype(diff.dtype, copy=False)


def _difference(predictions, targets, mask):
    """predictions - targets, in the predictions' dtype, and the steps' weights and total."""
    predictions = np.asarray(predictions)
    targets = _check_same_shape("targets", targets, predictions.shape, predictions.dtype)
    weights, total = _step_weights(mask, predictions.shape[:-1], predictions.dtype)
    return predictions - targets, weights, total


def accuracy(logits, targets, mask=None):
    """Keras's `acc` for sequences: the mean over (sample, step) of argmax agreement.

    `targets` are integer classes (...) or one-hot (..., V). Returns a
    Python float (as Keras's History holds), whatever the mask.
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if targets.dtype.kind not in "iu":                       # one-hot
        targets = targets.argmax(axis=-1)
    hits = logits.argmax(axis=-1) == targets
    if mask is None:
        return float(np.count_nonzero(hits) / hits.size) if hits.size else 0.0
    weights, total = _step_weights(mask, logits.shape[:-1], np.float64)
    return float(np.sum(weights * hits) / total)


def _step_weights(mask, shape, dtype):
    if mask is None:
        return np.ones(shape, dtype), max(int(np.prod(shape)), 1)
    mask = np.asarray(mask, dtype=dtype)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)} (one weight per step), got {mask.shape}")
    total = mask.sum()
    if total <= 0:
        raise ValueError("mask selects no steps: its sum must be positive")
    return mask, total


def _check_class_targets(targets, logits_shape):
    targets = np.asarray(targets)
    classes = logits_shape[-1]
    if targets.shape != tuple(logits_shape[:-1]):
        raise ValueError(
            f"integer targets must have shape {tuple(logits_shape[:-1])}, got {targets.shape}")
    return checked_indices(targets, classes, "target classes")


def _check_same_shape(name, array, shape, dtype):
    array = np.asarray(array, dtype=dtype)
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    return array
