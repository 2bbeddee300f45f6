"""Exercise: backward through the encoder-decoder, across the hand-over of (h, c).

The encoder's final state (h, c) is the decoder's initial state, and nothing
else of the encoder's is read. So the decoder's backward runs first, and the
gradient it returns on its initial state, (dh0, dc0), is the encoder's
gradient on its final state:

    encoder's d_state = decoder's (dh0, dc0)        the encoder's d_outputs are 0

(models/encoder_decoder.py does the same with the layers' backward;
docs/bptt.md, section 9.)
"""

from functools import partial

import numpy as np

from ..gradcheck import numerical_gradient
from .grader import Exercise
from .lstm import (D, N, SEQUENCE_MISTAKES, STEPS, UNITS, WEIGHT_NAMES, _forward, random_weights,
                   sequence_backward)

TARGET_STEPS = 3        # the encoder's source has STEPS steps
OUTPUT_NAMES = ("d_source", "d_decoder_inputs",
                *(f"{name}_{side}" for side in ("enc", "dec") for name in WEIGHT_NAMES))


def handover_backward(d_outputs, encoder_caches, decoder_caches, fault=None, inner=None):
    """The reference; `fault` breaks the hand-over on purpose, `inner` (a fault of
    lstm-backward's reference) breaks backpropagation through time in both LSTMs."""
    backward = partial(sequence_backward, fault=inner)
    zeros = np.zeros(d_outputs.shape[::2])                  # (N, u)
    d_decoder_inputs, dh0, dc0, *decoder_grads = backward(d_outputs, (zeros, zeros),
                                                          decoder_caches)
    handed = {"no hand-over": (zeros, zeros), "dh only": (dh0, zeros), "dc only": (zeros, dc0),
              "swapped": (dc0, dh0)}.get(fault, (dh0, dc0))
    source_steps = len(encoder_caches)
    d_encoder_outputs = np.zeros((len(zeros), source_steps, zeros.shape[1]))
    d_source, _, _, *encoder_grads = backward(d_encoder_outputs, handed, encoder_caches)
    if fault == "shared weights":
        encoder_grads = decoder_grads = [e + d for e, d in zip(encoder_grads, decoder_grads)]
    if fault == "inputs as data":
        d_decoder_inputs = np.zeros_like(d_decoder_inputs)
    return (d_source, d_decoder_inputs, *encoder_grads, *decoder_grads)


HANDOVER_MISTAKES = {
    "the encoder gets no gradient: its final state (h, c) started the decoder, so the "
    "decoder's (dh0, dc0) is the encoder's d_state (run the decoder's backward first)":
        "no hand-over",
    "dc is not handed over: the decoder starts from the encoder's c as well as its h, so "
    "the encoder's d_state is (dh0, dc0), both from the decoder": "dh only",
    "dh is not handed over: the decoder starts from the encoder's h as well as its c, so "
    "the encoder's d_state is (dh0, dc0), both from the decoder": "dc only",
    "dh0 and dc0 are swapped in the hand-over: the encoder's d_state is (dh0, dc0), in "
    "that order": "swapped",
    "the encoder and the decoder are given one weight gradient, their sum: each LSTM has "
    "weights of its own, and its gradient is its own": "shared weights",
    "d_decoder_inputs is all 0: the model reads no gradient there (teacher-forced "
    "inputs are data, docs/bptt.md says), but the exercise asks for it all the same: the "
    "decoder's dx": "inputs as data",
}

# lstm-backward's mistakes, made in both LSTMs (a student writes one loop for both).
# Without a gradient on the decoder's final state, its "not used" is the missing
# hand-over, named above.
INNER_MISTAKES = {hint: fault for hint, fault in SEQUENCE_MISTAKES.items()
                  if fault != "no d_state"}


def catalogued(reference, hand_over_mistakes):
    """{hint: broken reference}: the hand-over's mistakes (reference's `fault`),
    then lstm-backward's made in both LSTMs (its `inner`)."""
    return {**{hint: partial(reference, fault=key) for hint, key in hand_over_mistakes.items()},
            **{hint: partial(reference, inner=key) for hint, key in INNER_MISTAKES.items()}}


def hand_over_case(forward, arrays, rng):
    """A hand-over exercise's inputs, and the context of its finite differences:
    `arrays` (the source, ..., both LSTMs' weights) through forward(*arrays) ->
    (the decoder's outputs, encoder caches, decoder caches), given d_outputs."""
    d_outputs = rng.standard_normal((N, TARGET_STEPS, UNITS))
    _, encoder_caches, decoder_caches = forward(*arrays)
    inputs = {"d_outputs": d_outputs, "encoder_caches": encoder_caches,
              "decoder_caches": decoder_caches}
    return inputs, (forward, *arrays, d_outputs)


def hand_over_numerical(context):
    """Finite differences of L = sum(d_outputs * the decoder's outputs), for each array."""
    forward, *arrays, d_outputs = context

    def loss():
        return float(np.sum(d_outputs * forward(*arrays)[0]))

    return tuple(numerical_gradient(loss, a) for a in arrays)


def _case(rng):
    source = rng.standard_normal((N, STEPS, D))
    decoder_inputs = rng.standard_normal((N, TARGET_STEPS, D))
    weights = (*random_weights(rng), *random_weights(rng))          # the encoder's, the decoder's
    return hand_over_case(_model_forward, (source, decoder_inputs, *weights), rng)


def _model_forward(source, decoder_inputs, *weights):
    """The decoder's outputs and both LSTMs' step caches: the encoder from zeros,
    the decoder from the encoder's final (h, c)."""
    zeros = np.zeros((len(source), UNITS))
    _, state, encoder_caches = _forward(source, zeros, zeros, *weights[:3])
    outputs, _, decoder_caches = _forward(decoder_inputs, *state, *weights[3:])
    return outputs, encoder_caches, decoder_caches


# the templates' part both hand-over exercises share: lstm_backward, to fill in first
LSTM_BACKWARD_PART = '''lstm_backward below is the lstm-backward exercise: paste your answer there
(or write it now) and call it for each LSTM. The grader grades both functions.

Grade it:   npseq2seq check THIS_FILE.py
Notes to follow along: docs/bptt.md (section 9, the hand-over).
"""

import numpy as np

from npseq2seq import lstm_step_backward


def lstm_backward(d_outputs, d_state, caches):
    """Backward through time (the lstm-backward exercise): returns dx (N, T, D),
    dh0, dc0 (N, u), dW (D, 4u), dU (u, 4u), db (4u,)."""
    raise NotImplementedError("paste your lstm_backward here")


'''

TEMPLATE = '''"""Exercise: backward through the encoder-decoder, across the hand-over of (h, c).

The tutorial's model below its Dense layer. The encoder runs over the source
from zeros; its final state (h, c) is the decoder's initial state; the decoder
runs over its teacher-forced inputs, and its outputs go on to the Dense layer:

    _, (h, c), encoder_caches = lstm_forward(source, 0, 0, W_enc, U_enc, b_enc)
    outputs, _, decoder_caches = lstm_forward(decoder_inputs, h, c, W_dec, U_dec, b_dec)

(lstm_forward: lstm_step_forward at each step, keeping its cache.) Nothing
reads the encoder's outputs, and nothing reads the decoder's final state.
Given dL/d(outputs), write encoder_decoder_backward: the gradients of both
LSTMs' weights and inputs. Each step cache holds its own LSTM's W and U.

''' + LSTM_BACKWARD_PART + '''\
def encoder_decoder_backward(d_outputs, encoder_caches, decoder_caches):
    """Backward through both LSTMs. Do not modify the arguments.

    Inputs:
        d_outputs       (N, T_out, u)  dL/d(the decoder's output h_t), from the Dense layer
        encoder_caches  list of T_in step caches, the encoder's
        decoder_caches  list of T_out step caches, the decoder's
    Returns, in this order:
        d_source          (N, T_in, D)   dL/d(source) at every encoder step
        d_decoder_inputs  (N, T_out, D)  dL/d(decoder input) at every decoder step
        dW_enc, dU_enc, db_enc           the encoder's weight gradients
        dW_dec, dU_dec, db_dec           the decoder's
    """
    raise NotImplementedError("write the encoder-decoder's backward pass here")
'''

ENCODER_DECODER = Exercise(
    name="encoder-decoder-backward",
    function_name="encoder_decoder_backward",
    summary="both LSTMs' backward, and the (h, c) hand-over between them",
    template=TEMPLATE,
    output_names=OUTPUT_NAMES,
    make_case=_case,
    reference=handover_backward,
    numerical=hand_over_numerical,
    mistakes=catalogued(handover_backward, HANDOVER_MISTAKES),
    gate_outputs=OUTPUT_NAMES[2:],
    step_outputs=OUTPUT_NAMES[:2],
)
