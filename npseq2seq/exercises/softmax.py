"""Exercise: the gradient of softmax followed by cross-entropy, averaged as Keras does."""

from functools import partial

import numpy as np

from ..activations import softmax
from ..gradcheck import numerical_gradient
from ..losses import softmax_cross_entropy
from .grader import Exercise

N, T, V = 4, 3, 5       # batch, steps, classes: N, T and N*T are different factors


def softmax_cross_entropy_backward(logits, targets, fault=None):
    """The reference dL/dlogits; `fault` breaks one thing on purpose."""
    n, steps, v = logits.shape
    p = softmax(logits, axis=1 if fault == "axis" else -1)
    y = np.eye(v)[targets]
    d = p if fault == "no y" else p - y
    count = {"no mean": 1, "mean over N": n, "mean over T": steps}.get(fault, n * steps)
    return d / count


MISTAKES = {
    "the one-hot target is not subtracted: dL/dz = (p - y) / (N*T)": "no y",
    "the softmax runs over the wrong axis: the classes are the last axis": "axis",
    "the loss is the mean over all N*T (sample, step) pairs, so the gradient is divided by "
    "N*T, not left as a sum": "no mean",
    "divided by N only: the mean is over N*T (sample, step) pairs": "mean over N",
    "divided by T only: the mean is over N*T (sample, step) pairs": "mean over T",
}


def _case(rng):
    logits = 2 * rng.standard_normal((N, T, V))
    targets = rng.integers(0, V, size=(N, T))
    return {"logits": logits, "targets": targets}, (logits, targets)


def _numerical(context):
    logits, targets = context
    logits = logits.copy()
    return (numerical_gradient(lambda: softmax_cross_entropy(logits, targets)[0], logits),)


TEMPLATE = '''"""Exercise: the gradient of softmax + categorical cross-entropy.

The model's loss, as Keras computes it, for logits z of shape (N, T, V):
    p        = softmax(z) over the last axis (the V classes)
    L        = mean over all N*T (sample, step) pairs of  -log p[n, t, target[n, t]]

Write softmax_cross_entropy_backward below, then grade it:
    npseq2seq check THIS_FILE.py
Hint: work out dL/dz for one (sample, step) first, then think about the mean.
"""

import numpy as np


def softmax_cross_entropy_backward(logits, targets):
    """dL/dlogits for the mean softmax cross-entropy. Do not modify the arguments.

    Inputs:
        logits   (N, T, V)  float
        targets  (N, T)     integer classes in 0..V-1
    Returns:
        dlogits  (N, T, V)
    """
    raise NotImplementedError("write the gradient here")
'''

SOFTMAX = Exercise(
    name="softmax-cross-entropy",
    function_name="softmax_cross_entropy_backward",
    summary="the gradient of softmax + cross-entropy, averaged over batch and time",
    template=TEMPLATE,
    output_names=("dlogits",),
    make_case=_case,
    reference=softmax_cross_entropy_backward,
    numerical=_numerical,
    mistakes={hint: partial(softmax_cross_entropy_backward, fault=key)
              for hint, key in MISTAKES.items()},
)
