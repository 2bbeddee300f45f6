"""LSTM masks: a padded batch against each sequence alone, Keras's numbers, gradients."""

import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npseq2seq import LSTM
from npseq2seq.gradcheck import check_lstm

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "keras_lstm_mask.npz")


def padded_batch(rng, lengths, steps, features, at_start):
    """Sequences of the given lengths, padded with noise (a mask must hide it)."""
    x = rng.standard_normal((len(lengths), steps, features))
    position = np.arange(steps)[None]
    lengths = np.array(lengths)[:, None]
    mask = position >= steps - lengths if at_start else position < lengths
    return x, mask


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       at_start=st.booleans(), from_state=st.booleans())
def test_a_padded_batch_gives_each_sequence_what_it_gets_alone(seed, lengths, at_start,
                                                               from_state):
    rng = np.random.default_rng(seed)
    layer = LSTM(3, 4, seed=seed, dtype=np.float64)
    x, mask = padded_batch(rng, lengths, 6, 3, at_start)
    state = (rng.standard_normal((len(lengths), 4)), rng.standard_normal((len(lengths), 4)))
    n = len(lengths)
    r_out, (r_h, r_c) = rng.standard_normal((n, 6, 4)), rng.standard_normal((2, n, 4))
    outputs, (h, c), cache = layer.forward(x, state if from_state else None, mask=mask)
    r_out = r_out * mask[:, :, None]                  # a loss on the real steps only
    layer.zero_grads()
    _, (dh0, dc0) = layer.backward(r_out, cache, d_state=(r_h, r_c))
    batch_grads = {k: g.copy() for k, g in layer.grads.items()}
    summed = {k: np.zeros_like(g) for k, g in batch_grads.items()}
    for i, one_mask in enumerate(mask):
        real = np.flatnonzero(one_mask)
        start = (state[0][i:i + 1], state[1][i:i + 1]) if from_state else None
        alone, (h1, c1), cache1 = layer.forward(x[i:i + 1, real], start)
        np.testing.assert_allclose(outputs[i, real], alone[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h[i], h1[0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c[i], c1[0], rtol=1e-12, atol=1e-14)
        layer.zero_grads()
        _, (dh1, dc1) = layer.backward(r_out[i:i + 1, real], cache1,
                                       d_state=(r_h[i:i + 1], r_c[i:i + 1]))
        np.testing.assert_allclose(dh0[i], dh1[0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(dc0[i], dc1[0], rtol=1e-10, atol=1e-13)
        for k in summed:
            summed[k] += layer.grads[k]
    for k in summed:
        np.testing.assert_allclose(batch_grads[k], summed[k], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("from_state", [False, True])
def test_masked_steps_give_keras_numbers(from_state):
    data = np.load(FIXTURE)
    layer = LSTM(3, 4)
    for name in ("kernel", "recurrent_kernel", "bias"):
        layer.params[name][...] = data[name]
    state = (data["h0"], data["c0"]) if from_state else None
    outputs, (h, c), _ = layer.forward(data["x"], state, mask=data["mask"])
    suffix = "_from_state" if from_state else ""
    np.testing.assert_allclose(outputs, data["outputs" + suffix], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, data["h" + suffix], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, data["c" + suffix], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tokens", [False, True])
def test_masked_gradients_match_finite_differences(tokens):
    rng = np.random.default_rng(3)
    layer = LSTM(3, 4, seed=3, dtype=np.float64)
    x = rng.integers(0, 3, (4, 6)) if tokens else rng.standard_normal((4, 6, 3))
    mask = np.load(FIXTURE)["mask"]                 # end, start, middle, everything
    state = (rng.standard_normal((4, 4)), rng.standard_normal((4, 4)))
    report = check_lstm(layer, x, state, mask=mask)
    assert report.passed, str(report)


def test_the_gradient_trace_passes_padded_steps_through_unchanged():
    rng = np.random.default_rng(6)
    layer = LSTM(3, 4, seed=6, dtype=np.float64)
    x, mask = padded_batch(rng, [3], 6, 3, at_start=False)
    _, _, cache = layer.forward(x, mask=mask)
    r_h, r_c = rng.standard_normal((2, 1, 4))
    trace = {}
    layer.backward(None, cache, d_state=(r_h, r_c), trace=trace)
    np.testing.assert_array_equal(trace["dh"][3:], np.linalg.norm(r_h))
    np.testing.assert_array_equal(trace["dc"][3:], np.linalg.norm(r_c))
    assert trace["dc"][2] != trace["dc"][3]


def test_final_state_takes_a_mask():
    rng = np.random.default_rng(5)
    layer = LSTM(3, 4, seed=5, dtype=np.float64)
    x, mask = padded_batch(rng, [2, 5, 3], 5, 3, at_start=False)
    h, c = layer.final_state(x, mask=mask)
    for i, length in enumerate([2, 5, 3]):
        h1, c1 = layer.final_state(x[i:i + 1, :length])
        np.testing.assert_allclose(h[i], h1[0], rtol=1e-12)
        np.testing.assert_allclose(c[i], c1[0], rtol=1e-12)


def test_a_mask_of_ones_is_no_mask_to_the_bit():
    rng = np.random.default_rng(4)
    layer = LSTM(3, 5, seed=4)
    x = rng.standard_normal((3, 4, 3)).astype(np.float32)
    plain, (h, c), cache = layer.forward(x)
    plain, h, c = plain.copy(), h.copy(), c.copy()
    ones, (h1, c1), cache1 = layer.forward(x, mask=np.ones((3, 4), int))
    for a, b in ((plain, ones), (h, h1), (c, c1)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mask, message", [
    (np.ones((3, 5), bool), "mask must have the input's (batch, steps) shape (3, 4), got (3, 5)"),
    (np.full((3, 4), 2), "mask must hold booleans or 0 and 1"),
    (np.full((3, 4), 0.5), "mask must hold booleans or 0 and 1"),
])
def test_a_bad_mask_is_named(mask, message):
    layer = LSTM(3, 2, seed=0)
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.forward(np.zeros((3, 4, 3), np.float32), mask=mask)
