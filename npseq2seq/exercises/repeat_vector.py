"""Exercise: backward through the RepeatVector design, where h is handed over as input.

The encoder's final h is the decoder's input at every step (RepeatVector),
and the decoder starts from zeros. So nothing goes back through the
decoder's initial state: the encoder's h gets the decoder's input
gradients, all T of them added, since every copy is the same h:

    encoder's d_state = (sum over t of dL/d(decoder input)_t, 0)

(models/repeat_vector.py does the same with the layers' backward;
docs/bptt.md, section 9.)
"""

from functools import partial

import numpy as np

from .encoder_decoder import (LSTM_BACKWARD_PART, TARGET_STEPS, catalogued, hand_over_case,
                              hand_over_numerical)
from .grader import Exercise
from .lstm import D, N, STEPS, UNITS, WEIGHT_NAMES, _forward, random_weights, sequence_backward

OUTPUT_NAMES = ("d_source",
                *(f"{name}_{side}" for side in ("enc", "dec") for name in WEIGHT_NAMES))


def repeated_backward(d_outputs, encoder_caches, decoder_caches, fault=None, inner=None):
    """The reference; `fault` breaks the hand-over on purpose, `inner` (a fault of
    lstm-backward's reference) breaks backpropagation through time in both LSTMs."""
    backward = partial(sequence_backward, fault=inner)
    zeros = np.zeros(d_outputs.shape[::2])                  # (N, u)
    d_repeated, dh0, dc0, *decoder_grads = backward(d_outputs, (zeros, zeros), decoder_caches)
    dh = {"mean": d_repeated.mean(axis=1), "last copy": d_repeated[:, -1],
          "first copy": d_repeated[:, 0], "no hand-over": zeros}.get(fault, d_repeated.sum(axis=1))
    handed = (dh + dh0, dc0) if fault == "state handed over" else (dh, zeros)
    d_encoder_outputs = np.zeros((len(zeros), len(encoder_caches), zeros.shape[1]))
    d_source, _, _, *encoder_grads = backward(d_encoder_outputs, handed, encoder_caches)
    return (d_source, *encoder_grads, *decoder_grads)


HANDOVER_MISTAKES = {
    "the encoder gets no gradient: its final h is the decoder's input at every step, so "
    "the gradients of those inputs (the decoder's dx) are the encoder's dh": "no hand-over",
    "the copies' gradients are averaged: every copy is the same h, so its gradient is "
    "their sum, d_repeated.sum(axis=1)": "mean",
    "only the last copy's gradient reaches the encoder: h is read at every decoder step, "
    "so all T copies' gradients add up": "last copy",
    "only the first copy's gradient reaches the encoder: h is read at every decoder step, "
    "so all T copies' gradients add up": "first copy",
    "the decoder's (dh0, dc0) are handed to the encoder as in the other design: here the "
    "decoder starts from zeros, not from the encoder's state, so they go nowhere (the "
    "encoder's dc is 0)": "state handed over",
}


def _case(rng):
    source = rng.standard_normal((N, STEPS, D))
    weights = (*random_weights(rng), *random_weights(rng, d=UNITS))  # the decoder reads h
    return hand_over_case(_model_forward, (source, *weights), rng)


def _model_forward(source, *weights):
    """The decoder's outputs and both LSTMs' step caches: the encoder from zeros,
    its final h repeated as the decoder's input, the decoder from zeros."""
    zeros = np.zeros((len(source), UNITS))
    _, (h, _), encoder_caches = _forward(source, zeros, zeros, *weights[:3])
    repeated = np.repeat(h[:, None], TARGET_STEPS, axis=1)
    outputs, _, decoder_caches = _forward(repeated, zeros, zeros, *weights[3:])
    return outputs, encoder_caches, decoder_caches


TEMPLATE = '''"""Exercise: backward through the RepeatVector design, h handed over as input.

Keras's second design below its Dense layer. The encoder runs over the source
from zeros; its final h, repeated T_out times, is the decoder's input at every
step (RepeatVector); the decoder starts from zeros, and its outputs go on to
the Dense layer:

    _, (h, c), encoder_caches = lstm_forward(source, 0, 0, W_enc, U_enc, b_enc)
    repeated = [h, h, ..., h]                               (N, T_out, u)
    outputs, _, decoder_caches = lstm_forward(repeated, 0, 0, W_dec, U_dec, b_dec)

(lstm_forward: lstm_step_forward at each step, keeping its cache.) Nothing
reads the encoder's outputs or c, nor the decoder's final state. Given
dL/d(outputs), write repeat_vector_backward: the gradients of the source and
of both LSTMs' weights. Each step cache holds its own LSTM's W and U.

''' + LSTM_BACKWARD_PART + '''\
def repeat_vector_backward(d_outputs, encoder_caches, decoder_caches):
    """Backward through both LSTMs of the RepeatVector design. Do not modify the arguments.

    Inputs:
        d_outputs       (N, T_out, u)  dL/d(the decoder's output h_t), from the Dense layer
        encoder_caches  list of T_in step caches, the encoder's
        decoder_caches  list of T_out step caches, the decoder's
    Returns, in this order:
        d_source          (N, T_in, D)   dL/d(source) at every encoder step
        dW_enc, dU_enc, db_enc           the encoder's weight gradients
        dW_dec, dU_dec, db_dec           the decoder's
    """
    raise NotImplementedError("write the RepeatVector design's backward pass here")
'''

REPEAT_VECTOR = Exercise(
    name="repeat-vector-backward",
    function_name="repeat_vector_backward",
    summary="the other design: h handed over as the decoder's input, its copies' gradients added",
    template=TEMPLATE,
    output_names=OUTPUT_NAMES,
    make_case=_case,
    reference=repeated_backward,
    numerical=hand_over_numerical,
    mistakes=catalogued(repeated_backward, HANDOVER_MISTAKES),
    gate_outputs=OUTPUT_NAMES[1:],
    step_outputs=OUTPUT_NAMES[:1],
)
