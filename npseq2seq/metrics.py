"""Evaluation beyond one accuracy figure: where in a sequence, and which tokens for which.

For integer tokens `true` and `predicted` of one shape, e.g. the targets and
`model.predict(source)`, both (N, T):

    accuracy_by_step(true, predicted)[t]   fraction of sequences right at step t
    confusion_matrix(true, predicted, V)   counts[i, j]: how often token i came out as j
    most_confused(counts, top)             the largest counts off the diagonal

The first two take `mask=`, True where a step counts, for targets padded to
one length: the padding after a sequence's end is then left out.

The matrix follows scikit-learn's `confusion_matrix`: rows are the true
tokens, columns the predicted ones, so its diagonal holds the right answers.
"""

import numpy as np

from .tasks import check_in_range, count

__all__ = ["accuracy_by_step", "confusion_matrix", "most_confused"]


def accuracy_by_step(true, predicted, mask=None):
    """(T,) floats: for each step, the fraction of the N sequences right there.

    true, predicted  (N, T) integer tokens
    mask             None, or (N, T) booleans: only the sequences True at a
                     step count there (a step none counts at is NaN)
    """
    true, predicted = _token_pair(true, predicted)
    if true.ndim != 2 or true.shape[0] == 0:
        raise ValueError(f"accuracy_by_step expects tokens of shape (samples, steps) with at "
                         f"least one sample, got shape {true.shape}")
    if mask is None:
        return np.mean(true == predicted, axis=0)
    mask = _checked_mask(mask, true.shape)
    right = np.count_nonzero((true == predicted) & mask, axis=0)
    with np.errstate(invalid="ignore"):                         # 0 / 0: NaN
        return right / np.count_nonzero(mask, axis=0)


def confusion_matrix(true, predicted, n_classes, mask=None):
    """(n_classes, n_classes) int64 counts: [i, j] is how often true token i was predicted j.

    true, predicted  integer tokens of one shape (any), each in 0..n_classes-1
    mask             None, or booleans of that shape: only the places True count
    """
    true, predicted = _token_pair(true, predicted)
    if mask is not None:
        mask = _checked_mask(mask, true.shape)
        true, predicted = true[mask], predicted[mask]
    n_classes = count("n_classes", n_classes)
    for name, tokens in (("true", true), ("predicted", predicted)):
        check_in_range(tokens, n_classes, f"{name} tokens")
    pairs = true.ravel().astype(np.int64) * n_classes + predicted.ravel().astype(np.int64)
    return np.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def most_confused(counts, top=5):
    """[(true, predicted, times), ...]: the `top` largest mistakes of a confusion matrix.

    Off the diagonal and above zero only, largest first; ties in token order.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.dtype.kind not in "iu":
        raise ValueError(f"most_confused expects a square integer matrix from confusion_matrix, "
                         f"got {counts.dtype} of shape {counts.shape}")
    top = count("top", top, minimum=0)
    mistakes = counts.astype(np.int64)            # a copy; signed, so -mistakes sorts
    np.fill_diagonal(mistakes, 0)
    order = np.argsort(-mistakes, axis=None, kind="stable")[:top]
    rows, columns = np.unravel_index(order, mistakes.shape)
    return [(int(i), int(j), int(mistakes[i, j])) for i, j in zip(rows, columns)
            if mistakes[i, j] > 0]


def _checked_mask(mask, shape):
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != shape:
        raise ValueError(f"mask must be booleans of the tokens' shape {shape}, got "
                         f"{mask.dtype} of shape {mask.shape}")
    return mask


def _token_pair(true, predicted):
    true, predicted = np.asarray(true), np.asarray(predicted)
    for name, tokens in (("true", true), ("predicted", predicted)):
        if tokens.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer tokens, got dtype {tokens.dtype}; "
                            f"for one-hot vectors or probabilities use one_hot_decode first")
    if true.shape != predicted.shape:
        raise ValueError(f"true and predicted must have one shape, got {true.shape} and "
                         f"{predicted.shape}")
    return true, predicted
