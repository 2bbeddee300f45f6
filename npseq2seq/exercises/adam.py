"""Exercise: one Adam update, in the form Keras (and npseq2seq.Adam) computes it."""

from functools import partial

import numpy as np

from .grader import Exercise

HYPERPARAMETERS = {"iteration": 3, "learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999,
                   "epsilon": 1e-7}


def adam_update(param, grad, m, v, iteration, learning_rate, beta_1, beta_2, epsilon,
                fault=None):
    """The reference update; returns new (param, m, v). `fault` breaks one thing on purpose."""
    t = iteration + 1 if fault == "t+1" else iteration
    if fault == "swapped":
        beta_1, beta_2 = beta_2, beta_1
    new_m = beta_1 * m + (1 - beta_1) * grad
    new_v = beta_2 * v + (1 - beta_2) * (grad if fault == "g not squared" else grad * grad)
    if fault == "old moments":
        new_m, new_v = m, v
    correction = 1 if fault == "no correction" else np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    if fault == "eps in sqrt":
        step = learning_rate * correction * new_m / np.sqrt(new_v + epsilon)
    elif fault == "pytorch":
        m_hat, v_hat = new_m / (1 - beta_1 ** t), new_v / (1 - beta_2 ** t)
        step = learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    else:
        step = learning_rate * correction * new_m / (np.sqrt(new_v) + epsilon)
    new_param = param + step if fault == "ascent" else param - step
    return new_param, (m if fault == "old moments" else new_m), (
        v if fault == "old moments" else new_v)


MISTAKES = {
    "no bias correction: the step is scaled by sqrt(1 - beta_2**t) / (1 - beta_1**t)":
        "no correction",
    "the bias correction uses t + 1: `iteration` is already this update's number, 1 for "
    "the first": "t+1",
    "v averages the gradient, not its square: v = beta_2 * v + (1 - beta_2) * g**2":
        "g not squared",
    "epsilon is inside the square root: it is added to sqrt(v)": "eps in sqrt",
    "PyTorch's form (epsilon added to sqrt(v_hat)); this exercise asks for Keras's "
    "(epsilon added to sqrt(v), the corrections folded into the learning rate)": "pytorch",
    "the parameter moves up the gradient: subtract the step": "ascent",
    "the step uses m and v from before this update: update them first": "old moments",
    "beta_1 and beta_2 are swapped: beta_1 (0.9) averages g, beta_2 (0.999) averages g**2":
        "swapped",
}


def _case(rng):
    shape = (3, 4)
    grad = 1e-3 * rng.standard_normal(shape)
    m = 1e-3 * rng.standard_normal(shape)
    v = 1e-6 * rng.uniform(0.5, 1.5, shape)
    inputs = {"param": rng.standard_normal(shape), "grad": grad, "m": m, "v": v,
              **HYPERPARAMETERS}
    return inputs, None


def _as_step(outputs, inputs):
    """Compare how far the parameter moved, not where it ended up: the error is in
    the step. A param of another shape, or no array, goes on as it is, for the
    grader to name ("shape (1, 4), expected (3, 4)"), not as a missing one."""
    param, m, v = outputs
    if isinstance(param, np.ndarray) and param.shape == inputs["param"].shape:
        param = param - inputs["param"]
    return param, m, v


TEMPLATE = '''"""Exercise: one Adam update, as Keras computes it.

For this update, number t (1 for the first):
    m      = beta_1 * m + (1 - beta_1) * g
    v      = beta_2 * v + (1 - beta_2) * g**2
    alpha  = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    param  = param - alpha * m / (sqrt(v) + epsilon)

Keras folds the bias corrections into alpha and adds epsilon to sqrt(v); the
Adam paper (and PyTorch) add it to sqrt(v / (1 - beta_2**t)) instead. The two
differ only where epsilon matters, but they differ: write Keras's.

Grade it:   npseq2seq check THIS_FILE.py
"""

import numpy as np


def adam_update(param, grad, m, v, iteration, learning_rate=0.001, beta_1=0.9,
                beta_2=0.999, epsilon=1e-7):
    """One Adam step. You may update param, m and v in place or make new arrays.

    Inputs:
        param, grad, m, v   arrays of one shape: the weights, dL/dweights and the
                            first and second moment estimates before this update
        iteration           t, this update's number (1 for the first)
    Returns:
        (param, m, v) after the update
    """
    raise NotImplementedError("write the update here")
'''

ADAM = Exercise(
    name="adam",
    function_name="adam_update",
    summary="one Adam update with Keras's bias correction and epsilon",
    template=TEMPLATE,
    output_names=("param step", "m", "v"),
    make_case=_case,
    reference=adam_update,
    mistakes={hint: partial(adam_update, fault=key) for hint, key in MISTAKES.items()},
    may_modify=("param", "m", "v"),
    prepare=_as_step,
)
