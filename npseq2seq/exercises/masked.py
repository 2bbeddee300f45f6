"""Exercise: backpropagation through time past masked steps, the padding an LSTM skips.

With a mask (N, T), True at a real step, a masked step leaves the state as it
was (LSTM.forward(x, mask=...), Keras's mask=):

    h_cell, c_cell = lstm_step(x_t, h_{t-1}, c_{t-1})
    h_t = m * h_cell + (1 - m) * h_{t-1}        c_t likewise, m = mask[:, t]

so the gradient splits the same way: the step's cell gets m * dh and m * dc,
and (1 - m) * dh and (1 - m) * dc go straight back to h_{t-1} and c_{t-1}.
"""

from functools import partial

import numpy as np

from .grader import Exercise
from .lstm import WEIGHT_NAMES, _sequence_case, _sequence_numerical, step_backward

N = 3       # a row padded at the end, one padded at the front, one not padded
MASK = np.array([[1, 1, 1, 0, 0],
                 [0, 0, 1, 1, 1],
                 [1, 1, 1, 1, 1]], bool)


def masked_backward(d_outputs, d_state, caches, mask, fault=None):
    """The reference backward pass past masked steps; `fault` breaks one thing on purpose."""
    n, steps, u = d_outputs.shape
    W, U = caches[0][8], caches[0][9]
    dh, dc = d_state
    dx = np.zeros((n, steps, W.shape[0]))
    grads = [np.zeros_like(W), np.zeros_like(U), np.zeros(W.shape[1])]
    for t in reversed(range(steps)):
        m = mask[:, t, None].astype(float)
        m = 1 - m if fault == "inverted" else m
        dh = dh + (m if fault == "masked outputs dropped" else 1) * d_outputs[:, t]
        unmasked = fault in ("cell unmasked", "ignored")
        to_cell = (dh, dc) if unmasked else (m * dh, m * dc)
        dx[:, t], dh_cell, dc_cell, *step_grads = step_backward(*to_cell, caches[t])
        carried_h = 0 if fault in ("no carry", "no h carry", "ignored") else (1 - m) * dh
        carried_c = 0 if fault in ("no carry", "no c carry", "ignored") else (1 - m) * dc
        dh, dc = dh_cell + carried_h, dc_cell + carried_c
        grads = [total + step for total, step in zip(grads, step_grads)]
    return (dx, dh, dc, *grads)


MISTAKES = {
    "the mask is not used: this is lstm_backward's answer, as if every step were real. At "
    "a masked step the cell gets m * dh and m * dc, and (1 - m) * dh and (1 - m) * dc go "
    "straight back to h_{t-1} and c_{t-1}": "ignored",
    "a masked step hands its state on unchanged (h_t = h_{t-1}, c_t = c_{t-1}), so dh and "
    "dc must pass back through it unchanged: dh_prev gets + (1 - m) * dh, dc_prev + "
    "(1 - m) * dc": "no carry",
    "dh is not carried past a masked step: dh_prev gets + (1 - m) * dh (h_t = h_{t-1} "
    "there)": "no h carry",
    "dc is not carried past a masked step: dc_prev gets + (1 - m) * dc (c_t = c_{t-1} "
    "there)": "no c carry",
    "a masked step's cell gets gradient: its result was thrown away, so call the step's "
    "backward with m * dh and m * dc (its dx and its share of dW, dU, db are then 0 on "
    "the masked rows)": "cell unmasked",
    "d_outputs is dropped at masked steps: the output there is the carried h_{t-1}, so "
    "its gradient still counts and flows back": "masked outputs dropped",
    "the mask is the wrong way round: True (1) marks a real step, False (0) a padded "
    "one": "inverted",
}


TEMPLATE = '''"""Exercise: backpropagation through time past masked steps.

Sequences of several lengths are padded to one, and the LSTM skips the padded
steps: mask[n, t] is True at a real step. At a masked step the state is
handed on unchanged. The forward pass, from (h0, c0), for t = 1..T:

    h_cell, c_cell, caches[t] = lstm_step_forward(x_t, h, c, W, U, b)
    m = mask[:, t, None]                                  (N, 1): 1 real, 0 padding
    h = m * h_cell + (1 - m) * h          the output at t is this h
    c = m * c_cell + (1 - m) * c

Write masked_lstm_backward below: as lstm_backward (the lstm-backward
exercise), but work out what reaches the step's cell and what goes straight
back past it. You may call npseq2seq's lstm_step_backward.

Grade it:   npseq2seq check THIS_FILE.py
Notes to follow along: docs/bptt.md and docs/variable_length.md.
"""

import numpy as np

from npseq2seq import lstm_step_backward


def masked_lstm_backward(d_outputs, d_state, caches, mask):
    """Backward through time past masked steps. Do not modify the arguments.

    Inputs:
        d_outputs  (N, T, u)   dL/d(output h_t) for every step, from the layer above
        d_state    (dh_T, dc_T), each (N, u): the gradient on the final state
        caches     list of T step caches, caches[t] from lstm_step_forward at step t
        mask       (N, T) booleans, True at a real step
    Returns, in this order:
        dx    (N, T, D)   dL/dx_t for every step (0 where masked)
        dh0   (N, u)      dL/dh0
        dc0   (N, u)      dL/dc0
        dW    (D, 4u)     dL/dW over the whole sequence
        dU    (u, 4u)     dL/dU
        db    (4u,)       dL/db
    """
    raise NotImplementedError("write backpropagation through time past the mask here")
'''

MASKED = Exercise(
    name="masked-lstm-backward",
    function_name="masked_lstm_backward",
    summary="BPTT past padded steps the LSTM skips: what the cell gets, what goes by it",
    template=TEMPLATE,
    output_names=("dx", "dh0", "dc0", *WEIGHT_NAMES),
    make_case=partial(_sequence_case, n=N, mask=MASK),
    reference=masked_backward,
    numerical=partial(_sequence_numerical, mask=MASK),
    mistakes={hint: partial(masked_backward, fault=key) for hint, key in MISTAKES.items()},
    gate_outputs=WEIGHT_NAMES,
    step_outputs=("dx",),
)
