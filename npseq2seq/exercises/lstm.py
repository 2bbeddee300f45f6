"""Exercises: backward through one LSTM step, and through a whole sequence.

`step_backward` and `sequence_backward` are the reference answers, written
plainly, with a `fault` switch for each classic mistake: the grader runs them
with a fault to recognise that mistake in a student's numbers.
"""

from functools import partial

import numpy as np

from ..gradcheck import numerical_gradient
from ..layers.lstm import lstm_step_forward
from .grader import GATE_NAMES, GATES, Exercise

N, D, UNITS, STEPS = 2, 4, 3, 5     # small, and no two arrays share a shape by accident
WEIGHT_NAMES = ("dW", "dU", "db")


def random_weights(rng, d=D, u=UNITS):
    """W (d, 4u), U (u, 4u), b (4u,): scaled so that no gate saturates."""
    return (0.5 * rng.standard_normal((d, 4 * u)), 0.5 * rng.standard_normal((u, 4 * u)),
            0.5 * rng.standard_normal(4 * u))


# -- one step -----------------------------------------------------------------------

def step_backward(dh, dc, cache, fault=None):
    """The reference backward step (sigmoid gates); `fault` breaks one thing on purpose."""
    x, h_prev, c_prev, i, f, g, o, tanh_c, W, U, _ = cache
    c = f * c_prev + i * g
    do = dh * (c if fault == "do" else tanh_c)
    if fault != "no h path":                        # h_t = o * tanh(c_t) depends on c_t
        dc = dc + dh * o * (1 if fault == "no h path slope" else 1 - tanh_c ** 2)
    gate_grads = {"i": dc * g, "f": dc * (c if fault == "df" else c_prev), "c": dc * i, "o": do}
    dc_prev = dc if fault == "dc_prev" else dc * f
    slopes = {"i": i * (1 - i), "f": f * (1 - f), "c": 1 - g ** 2, "o": o * (1 - o)}
    dz = []
    for gate in GATES:
        d = gate_grads[gate] if fault == f"no slope {gate}" else gate_grads[gate] * slopes[gate]
        dz.append(-d if fault == f"sign {gate}" else d)
    dz = np.concatenate(dz, axis=-1)
    return dz @ W.T, dz @ U.T, dc_prev, x.T @ dz, h_prev.T @ dz, dz.sum(axis=0)


STEP_MISTAKES = {
    **{f"dz for {GATE_NAMES[g]} has the wrong sign": f"sign {g}" for g in GATES},
    **{f"the sigmoid's derivative is missing for {GATE_NAMES[g]}: "
       f"dz_{g} = d{g} * {g} * (1 - {g})": f"no slope {g}" for g in "ifo"},
    "tanh's derivative is missing for the candidate: dz_c = dg * (1 - g**2)": "no slope c",
    "dc misses the path through h_t = o * tanh(c_t): first add dh * o * (1 - tanh_c**2) "
    "to dc": "no h path",
    "on the path through h_t, tanh's derivative is missing: "
    "dc += dh * o * (1 - tanh_c**2)": "no h path slope",
    "do = dh * tanh(c_t), not dh * c_t": "do",
    "df = dc * c_prev (c_{t-1}), not dc * c_t": "df",
    "dc_prev = dc * f: the cell state reaches c_{t-1} through the forget gate": "dc_prev",
}


def _step_case(rng):
    x = rng.standard_normal((N, D))
    h_prev, c_prev = rng.standard_normal((2, N, UNITS))
    W, U, b = random_weights(rng)
    dh, dc = rng.standard_normal((2, N, UNITS))
    _, _, cache = lstm_step_forward(x, h_prev, c_prev, W, U, b)
    return {"dh": dh, "dc": dc, "cache": cache}, (x, h_prev, c_prev, W, U, b, dh, dc)


def _step_numerical(context):
    """Finite differences of L = sum(dh * h_t) + sum(dc * c_t), whose gradients are the answer."""
    *arrays, dh, dc = context

    def loss():
        h, c, _ = lstm_step_forward(*arrays)
        return float(np.sum(dh * h) + np.sum(dc * c))

    return tuple(numerical_gradient(loss, a) for a in arrays)


STEP_TEMPLATE = '''"""Exercise: backward through one LSTM step.

Forward (npseq2seq.lstm_step_forward; sigma is the sigmoid):
    z   = x @ W + h_prev @ U + b          (N, 4u): blocks z_i, z_f, z_c, z_o, in that order
    i, f, o = sigma(z_i), sigma(z_f), sigma(z_o)
    g   = tanh(z_c)
    c   = f * c_prev + i * g
    h   = o * tanh(c)

Write lstm_step_backward below, then grade it:   npseq2seq check THIS_FILE.py
The grader compares every output with finite differences and says which gate,
which output and what kind of mistake (sign, factor, transposition) is wrong.
Useful: if s = sigma(z) then sigma'(z) = s * (1 - s); if t = tanh(z), tanh'(z) = 1 - t**2.
Notes to follow along: docs/bptt.md.
"""

import numpy as np


def lstm_step_backward(dh, dc, cache):
    """Backward through one LSTM step. Do not modify the arguments.

    Inputs:
        dh     (N, u)   dL/dh_t: all of the gradient that reaches h_t
        dc     (N, u)   dL/dc_t arriving from step t+1
        cache  the third value lstm_step_forward returns:
               (x, h_prev, c_prev, i, f, g, o, tanh_c, W, U, activation)
    Returns, in this order:
        dx       (N, D)    dL/dx
        dh_prev  (N, u)    dL/dh_{t-1}
        dc_prev  (N, u)    dL/dc_{t-1}
        dW       (D, 4u)   dL/dW, its columns in gate blocks i, f, c, o
        dU       (u, 4u)   dL/dU
        db       (4u,)     dL/db
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, W, U, _ = cache
    raise NotImplementedError("write the backward step here")
'''

STEP = Exercise(
    name="lstm-step-backward",
    function_name="lstm_step_backward",
    summary="backward through one LSTM step: the gates, the cell state, the weights",
    template=STEP_TEMPLATE,
    output_names=("dx", "dh_prev", "dc_prev", *WEIGHT_NAMES),
    make_case=_step_case,
    reference=step_backward,
    numerical=_step_numerical,
    mistakes={hint: partial(step_backward, fault=key) for hint, key in STEP_MISTAKES.items()},
    gate_outputs=WEIGHT_NAMES,
)


# -- a whole sequence -------------------------------------------------------------------

def sequence_backward(d_outputs, d_state, caches, fault=None):
    """The reference backward pass through time; `fault` breaks one thing on purpose."""
    n, steps, u = d_outputs.shape
    W, U = caches[0][8], caches[0][9]
    dh_final, dc_final = (np.zeros((n, u)), np.zeros((n, u))) if fault == "no d_state" \
        else d_state
    dh, dc = dh_final, dc_final
    if fault in ("dh never", "dc never"):     # the state's gradient is never used at all
        dh, dc = (0 * dh, dc) if fault == "dh never" else (dh, 0 * dc)
    dx = np.zeros((n, steps, W.shape[0]))
    grads = [np.zeros_like(W), np.zeros_like(U), np.zeros(W.shape[1])]
    for t in reversed(range(steps)):
        if fault != "no outputs":
            dh = dh + d_outputs[:, t]           # from the output at t and from step t+1
        dx[:, t], dh, dc, *step_grads = step_backward(dh, dc, caches[t])
        dh = {"no dh carry": 0 * dh, "dh never": 0 * dh, "stale dh": dh_final}.get(fault, dh)
        dc = {"no dc carry": 0 * dc, "dc never": 0 * dc, "stale dc": dc_final}.get(fault, dc)
        grads = [step if fault == f"overwrite {name}" else total + step
                 for name, total, step in zip(WEIGHT_NAMES, grads, step_grads)]
    return (dx, dh, dc, *grads)


def _carry_mistakes(state):
    """The ways of not handing d{state}_prev back to step t-1, all named the same."""
    lead = f"d{state}_prev is not carried to step t-1"
    return {
        f"{lead}: each step must start from the d{state}_prev the step after it returned":
            f"no d{state} carry",
        f"{lead}: every step reuses the final state's d{state} (from d_state) instead of the "
        f"d{state}_prev the step after it returned": f"stale d{state}",
        f"{lead}, nor is the final state's gradient d_state used: d{state} never reaches "
        f"any step": f"d{state} never",
    }


SEQUENCE_MISTAKES = {
    **_carry_mistakes("h"),
    **_carry_mistakes("c"),
    "d_outputs[:, t] is not added in: dL/dh_t comes from the output at t and from step t+1, "
    "the two added": "no outputs",
    "the gradient on the final state, d_state, is not used: start from (dh, dc) = "
    "d_state": "no d_state",
    **{f"{name} is assigned at every step instead of summed over the steps: all steps share "
       f"the weights, so write {name} += ...": f"overwrite {name}" for name in WEIGHT_NAMES},
}


def _forward(x, h0, c0, W, U, b, mask=None):
    """The sequence's outputs, final state and step caches. With a mask (N, T),
    a masked step hands the state on unchanged (the masked-lstm-backward exercise)."""
    h, c, caches, outputs = h0, c0, [], []
    for t in range(x.shape[1]):
        h_cell, c_cell, cache = lstm_step_forward(x[:, t], h, c, W, U, b)
        if mask is None:
            h, c = h_cell, c_cell
        else:
            h, c = np.where(mask[:, t, None], h_cell, h), np.where(mask[:, t, None], c_cell, c)
        caches.append(cache)
        outputs.append(h)
    return np.stack(outputs, axis=1), (h, c), caches


def _sequence_case(rng, n=N, mask=None):
    """n sequences; with a mask, it is passed on as the argument `mask` too."""
    x = rng.standard_normal((n, STEPS, D))
    h0, c0 = rng.standard_normal((2, n, UNITS))
    W, U, b = random_weights(rng)
    d_outputs = rng.standard_normal((n, STEPS, UNITS))
    d_state = tuple(rng.standard_normal((2, n, UNITS)))
    _, _, caches = _forward(x, h0, c0, W, U, b, mask)
    inputs = {"d_outputs": d_outputs, "d_state": d_state, "caches": caches}
    if mask is not None:
        inputs["mask"] = mask.copy()
    return inputs, (x, h0, c0, W, U, b, d_outputs, d_state)


def _sequence_numerical(context, mask=None):
    """Finite differences of L = sum(d_outputs * outputs) + sum(d_state * final state)."""
    *arrays, d_outputs, (dh, dc) = context

    def loss():
        outputs, (h, c), _ = _forward(*arrays, mask)
        return float(np.sum(d_outputs * outputs) + np.sum(dh * h) + np.sum(dc * c))

    return tuple(numerical_gradient(loss, a) for a in arrays)


SEQUENCE_TEMPLATE = '''"""Exercise: backpropagation through time over a whole sequence.

The forward pass ran lstm_step_forward at t = 1..T from (h0, c0), keeping each
step's cache; every h_t is an output. Write lstm_backward below: walk the steps
backwards, call lstm_step_backward (npseq2seq's, or yours from the
lstm-step-backward exercise) at each, and decide what to carry and what to add.

Grade it:   npseq2seq check THIS_FILE.py
The grader says which output, which time step and which gate block is wrong.
Notes to follow along: docs/bptt.md.
"""

import numpy as np

from npseq2seq import lstm_step_backward


def lstm_backward(d_outputs, d_state, caches):
    """Backward through time. Do not modify the arguments.

    Inputs:
        d_outputs  (N, T, u)   dL/d(output h_t) for every step, from the layer above
        d_state    (dh_T, dc_T), each (N, u): the gradient on the final state
        caches     list of T step caches, caches[t] from step t (0-based)
    Returns, in this order:
        dx    (N, T, D)   dL/dx_t for every step
        dh0   (N, u)      dL/dh0, the gradient on the initial state
        dc0   (N, u)      dL/dc0
        dW    (D, 4u)     dL/dW over the whole sequence
        dU    (u, 4u)     dL/dU
        db    (4u,)       dL/db
    """
    raise NotImplementedError("write backpropagation through time here")
'''

SEQUENCE = Exercise(
    name="lstm-backward",
    function_name="lstm_backward",
    summary="backpropagation through time: what each step carries back and what adds up",
    template=SEQUENCE_TEMPLATE,
    output_names=("dx", "dh0", "dc0", *WEIGHT_NAMES),
    make_case=_sequence_case,
    reference=sequence_backward,
    numerical=_sequence_numerical,
    mistakes={hint: partial(sequence_backward, fault=key)
              for hint, key in SEQUENCE_MISTAKES.items()},
    gate_outputs=WEIGHT_NAMES,
    step_outputs=("dx",),
    # what each step was handed shows in dx and the weights; dh0 and dc0 also
    # depend on what the loop returns at the end, which differs between
    # equally wrong answers
    telltale_outputs=("dx", *WEIGHT_NAMES),
)
