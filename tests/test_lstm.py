import re
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from npseq2seq import LSTM, Dense, lstm_step_backward, lstm_step_forward
from npseq2seq.gradcheck import check_gradients, check_lstm
from npseq2seq.activations import RECURRENT_ACTIVATIONS, sigmoid_unguarded
from npseq2seq.layers.lstm import split_gates

ACTIVATIONS = sorted(RECURRENT_ACTIVATIONS)


def random_state(rng, n, u):
    return rng.standard_normal((n, u)), rng.standard_normal((n, u))


# --- the reference step functions against finite differences ---------------

@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_step_functions_gradients(activation):
    rng = np.random.default_rng(1)
    n, d, u = 3, 4, 5
    x = rng.standard_normal((n, d))
    h_prev, c_prev = random_state(rng, n, u)
    W, U = rng.standard_normal((d, 4 * u)) * 0.5, rng.standard_normal((u, 4 * u)) * 0.5
    b = rng.standard_normal(4 * u) * 0.5
    r_h, r_c = random_state(rng, n, u)

    def loss():
        h, c, _ = lstm_step_forward(x, h_prev, c_prev, W, U, b, activation)
        return float(np.sum(r_h * h) + np.sum(r_c * c))

    _, _, cache = lstm_step_forward(x, h_prev, c_prev, W, U, b, activation)
    dx, dh_prev, dc_prev, dW, dU, db = lstm_step_backward(r_h, r_c, cache)
    report = check_gradients(
        loss, {"x": x, "h_prev": h_prev, "c_prev": c_prev, "kernel": W, "recurrent_kernel": U, "bias": b},
        {"x": dx, "h_prev": dh_prev, "c_prev": dc_prev, "kernel": dW, "recurrent_kernel": dU, "bias": db})
    assert report.passed, str(report)


def test_step_backward_does_not_modify_its_arguments():
    rng = np.random.default_rng(2)
    x, (h, c) = rng.standard_normal((2, 3)), random_state(rng, 2, 4)
    W, U, b = rng.standard_normal((3, 16)), rng.standard_normal((4, 16)), np.zeros(16)
    _, _, cache = lstm_step_forward(x, h, c, W, U, b)
    dh, dc = random_state(rng, 2, 4)
    dh_before, dc_before = dh.copy(), dc.copy()
    lstm_step_backward(dh, dc, cache)
    assert np.array_equal(dh, dh_before) and np.array_equal(dc, dc_before)


# --- the whole-sequence layer against finite differences -------------------

@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8, 12])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_sequence_gradients_from_outputs_and_final_state(steps, activation):
    rng = np.random.default_rng(steps)
    layer = LSTM(3, 4, recurrent_activation=activation, seed=steps, dtype=np.float64)
    x = rng.standard_normal((2, steps, 3))
    report = check_lstm(layer, x, random_state(rng, 2, 4), seed=steps)
    assert report.passed, str(report)
    assert {row.name for row in report.rows} == {"kernel", "recurrent_kernel", "bias", "h0", "c0", "x"}


@pytest.mark.parametrize("steps", [1, 4, 12])
def test_sequence_gradients_with_token_input(steps):
    rng = np.random.default_rng(10 + steps)
    layer = LSTM(6, 3, seed=1, dtype=np.float64)
    report = check_lstm(layer, rng.integers(0, 6, (3, steps)), random_state(rng, 3, 3))
    assert report.passed, str(report)


def test_gradient_check_fails_on_a_broken_backward(monkeypatch):
    """The check above can fail: break dc_{t-1} = dc * f and watch it catch it."""
    layer = LSTM(3, 4, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    original = layer.backward

    def no_cell_path(d_outputs, cache, d_state=None):
        x_, gates, hs, cs, tanh_cs, skipped = cache
        gates = gates.copy()
        gates[:, 1] = 0  # pretend f = 0 in the backward pass only
        return original(d_outputs, (x_, gates, hs, cs, tanh_cs, skipped), d_state)

    monkeypatch.setattr(layer, "backward", no_cell_path)
    assert not check_lstm(layer, x).passed


# --- the fast layer equals a loop of the reference step --------------------

def reference_sequence(layer, x, h, c, d_outputs, dh_final, dc_final):
    """Forward and backward by looping lstm_step_forward / lstm_step_backward."""
    p = layer.params
    caches, outputs = [], []
    for t in range(x.shape[1]):
        h, c, cache = lstm_step_forward(x[:, t], h, c, p["kernel"], p["recurrent_kernel"],
                                        p["bias"], layer.recurrent_activation)
        caches.append(cache)
        outputs.append(h)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dxs = [None] * x.shape[1]
    dh, dc = dh_final, dc_final
    for t in reversed(range(x.shape[1])):
        dx, dh, dc, dW, dU, db = lstm_step_backward(dh + d_outputs[:, t], dc, caches[t])
        dxs[t] = dx
        for name, g in zip(("kernel", "recurrent_kernel", "bias"), (dW, dU, db)):
            grads[name] += g
    return np.stack(outputs, 1), (h, c), np.stack(dxs, 1), (dh, dc), grads


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), steps=st.integers(1, 12), d=st.integers(1, 7), u=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1), activation=st.sampled_from(ACTIVATIONS))
# both ways of making dh = dz @ U.T (see LSTM._back_through_U): 4n <= u, and 4n > u
@example(n=2, steps=4, d=3, u=8, seed=1, activation="sigmoid")
@example(n=3, steps=4, d=3, u=8, seed=1, activation="sigmoid")
def test_layer_equals_loop_of_reference_steps(n, steps, d, u, seed, activation):
    rng = np.random.default_rng(seed)
    layer = LSTM(d, u, recurrent_activation=activation, seed=seed, dtype=np.float64)
    layer.params["bias"][:] = rng.standard_normal(4 * u)
    x = rng.standard_normal((n, steps, d))
    h0, c0 = random_state(rng, n, u)
    d_out = rng.standard_normal((n, steps, u))
    dh_T, dc_T = random_state(rng, n, u)

    outputs, (h, c), cache = layer.forward(x, (h0, c0))
    dx, (dh0, dc0) = layer.backward(d_out, cache, d_state=(dh_T, dc_T))
    ref_out, (ref_h, ref_c), ref_dx, (ref_dh0, ref_dc0), ref_grads = reference_sequence(
        layer, x, h0, c0, d_out, dh_T, dc_T)

    tight = dict(rtol=1e-11, atol=1e-12)
    for ours, ref in ((outputs, ref_out), (h, ref_h), (c, ref_c), (dx, ref_dx),
                      (dh0, ref_dh0), (dc0, ref_dc0)):
        np.testing.assert_allclose(ours, ref, **tight)
    for name in ref_grads:
        np.testing.assert_allclose(layer.grads[name], ref_grads[name], **tight)


@pytest.mark.parametrize("dtype, bound", [(np.float32, 2e-7), (np.float64, 4e-16)])
def test_the_cells_candidate_is_tanh_within_the_stated_bound(dtype, bound):
    # With the sigmoid, the cell makes g = tanh(z_c) as 2 / (1 + exp(-2 z_c)) - 1
    rng = np.random.default_rng(0)
    n, u = 400, 10
    activate = LSTM(1, u, dtype=dtype)._gate_activation()
    z = rng.standard_normal((n, 4 * u)).astype(dtype)
    z[:, 2 * u:3 * u] *= 4
    z[0, 2 * u:2 * u + 5] = [0, -1e4, 1e4, -1e30, 1e30]
    z_c = z[:, 2 * u:3 * u].copy()
    z_ifo = np.delete(z, np.s_[2 * u:3 * u], axis=1)
    c_prev, c, tanh_c, h, scratch = np.zeros((5, n, u), dtype)
    with np.errstate(over="ignore"):
        LSTM._cell(z, split_gates(z), c_prev, c, tanh_c, h, scratch, activate)
        expected_ifo = sigmoid_unguarded(z_ifo)
    g = z[:, 2 * u:3 * u]
    assert np.max(np.abs(g - np.tanh(z_c.astype(np.longdouble)))) <= bound
    np.testing.assert_array_equal(g[0, :5], [0, -1, 1, -1, 1])
    np.testing.assert_array_equal(np.delete(z, np.s_[2 * u:3 * u], axis=1), expected_ifo)


@pytest.mark.parametrize("activation", sorted(RECURRENT_ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gates_for_a_known_row_count_are_the_same_bits(activation, dtype):
    # _gate_activation(rows) repeats the constant rows to z's shape (faster for
    # NumPy); the gates must be those of the broadcast rows to the last bit
    rng = np.random.default_rng(3)
    n, u = 7, 5
    layer = LSTM(1, u, activation, dtype=dtype)
    z = (rng.standard_normal((n, 4 * u)) * 4).astype(dtype)
    z[0, :4] = [0, -1e4, 1e4, 88.7]
    results = []
    for rows in (None, n):
        gates = z.copy()
        with np.errstate(over="ignore"):
            layer._gate_activation(rows)(gates, split_gates(gates)[2], np.empty((n, u), dtype))
        results.append(gates)
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], z)            # the gates were made at all


# --- tokens are one-hot rows -----------------------------------------------

@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), steps=st.integers(1, 8), vocab=st.integers(1, 12),
       seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.float32, np.float64]))
def test_token_input_equals_one_hot_input(n, steps, vocab, seed, dtype):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, (n, steps))
    one_hot = np.eye(vocab, dtype=dtype)[tokens]
    d_out = rng.standard_normal((n, steps, 5)).astype(dtype)
    results = []
    for x in (tokens, one_hot):
        layer = LSTM(vocab, 5, seed=seed, dtype=dtype)
        outputs, (h, c), cache = layer.forward(x)
        _, (dh0, dc0) = layer.backward(d_out, cache)
        results.append([outputs, h, c, dh0, dc0] + list(layer.grads.values()))
    for from_tokens, from_one_hot in zip(*results):
        np.testing.assert_array_equal(from_tokens, from_one_hot)


def test_feature_input_gradient_is_none_for_tokens():
    layer = LSTM(4, 2, seed=0)
    _, _, cache = layer.forward(np.array([[1, 3]]))
    dx, _ = layer.backward(np.ones((1, 2, 2), np.float32), cache)
    assert dx is None


# --- stepping, states, dtypes, extremes, errors ----------------------------

# one sequence (the stepper's 1-D path), fewer sequences than the 7 tokens, fewer than
# the weights' 13 rows (both in forward's (N, 4u) layout), as many and more (gate-major,
# the weights copied and scaled)
@pytest.mark.parametrize("n", [1, 5, 9, 13, 20])
@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
def test_inference_paths_equal_the_whole_sequence(n, activation):
    rng = np.random.default_rng(4)
    layer = LSTM(7, 6, recurrent_activation=activation, seed=4)
    layer.params["bias"][:] = rng.standard_normal(24)
    tokens = rng.integers(0, 7, (n, 9))
    outputs, (h_T, c_T), _ = layer.forward(tokens)
    state = None
    for t in range(9):
        state = layer.step(tokens[:, t], state)
        np.testing.assert_array_equal(state[0], outputs[:, t])
    np.testing.assert_array_equal(state[0], h_T)
    np.testing.assert_array_equal(state[1], c_T)
    h, c = layer.final_state(tokens)        # the encoder's path in predict
    np.testing.assert_array_equal(h, h_T)
    np.testing.assert_array_equal(c, c_T)


@pytest.mark.parametrize("n", [1, 3, 12])   # 12: more than the weights' 11 rows (gate-major)
def test_stepping_feature_vectors_follows_the_whole_sequence(n):
    # Not to the bit: forward projects all steps in one product, a step its own
    # rows, and BLAS rounds the two differently (tokens are exact: row lookups).
    rng = np.random.default_rng(8)
    layer = LSTM(5, 6, seed=8, dtype=np.float64)
    x = rng.standard_normal((n, 4, 5))
    outputs, (h_T, c_T), _ = layer.forward(x)
    state = None
    for t in range(4):
        state = layer.step(x[:, t], state)
        np.testing.assert_allclose(state[0], outputs[:, t], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state[1], c_T, rtol=1e-13, atol=1e-15)
    for got, expected in zip(layer.final_state(x), (h_T, c_T)):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_zero_initial_state_is_the_default():
    layer = LSTM(3, 4, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    zeros = np.zeros((2, 4), np.float32)
    a, _, _ = layer.forward(x)
    b, _, _ = layer.forward(x, (zeros, zeros))
    assert np.array_equal(a, b)


def test_float32_layer_computes_in_float32():
    layer = LSTM(3, 4, seed=0)
    outputs, (h, c), _ = layer.forward(np.ones((2, 3, 3)))
    assert outputs.dtype == h.dtype == c.dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer.params.values())


def test_keras_shapes_and_unit_forget_bias():
    layer = LSTM(51, 128, seed=1)
    assert layer.params["kernel"].shape == (51, 512)
    assert layer.params["recurrent_kernel"].shape == (128, 512)
    np.testing.assert_array_equal(layer.params["bias"][128:256], 1)
    assert not layer.params["bias"][:128].any() and not layer.params["bias"][256:].any()


def test_same_seed_gives_identical_layers():
    a, b = LSTM(5, 6, seed=3), LSTM(5, 6, seed=3)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_saturated_gates_stay_finite_and_silent(activation):
    layer = LSTM(3, 4, recurrent_activation=activation, seed=0, dtype=np.float64)
    x = np.full((2, 6, 3), 1e4)
    x[1] = -1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outputs, (h, c), cache = layer.forward(x)
        dx, (dh0, dc0) = layer.backward(np.ones_like(outputs), cache, d_state=(np.ones((2, 4)), None))
    for a in (outputs, h, c, dx, dh0, dc0, *layer.grads.values()):
        assert np.all(np.isfinite(a))
    assert np.all(np.abs(outputs) <= 1)


def test_backward_does_not_modify_the_callers_state_gradient():
    layer = LSTM(3, 4, seed=0)
    outputs, _, cache = layer.forward(np.ones((2, 3, 3), np.float32))
    dh, dc = np.ones((2, 4), np.float32), np.ones((2, 4), np.float32)
    layer.backward(np.ones_like(outputs), cache, d_state=(dh, dc))
    assert np.all(dh == 1) and np.all(dc == 1)


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 1, 6, 51)), r"\(batch, steps, 51\).*got shape \(2, 1, 6, 51\).*squeeze"),
    (np.zeros((2, 6, 50)), r"\(batch, steps, 51\).*got shape \(2, 6, 50\)"),
    (np.array([[1, 2, 51]]), r"0\.\.50.*from 1 to 51"),
    (np.array([1, 2, 3]), r"\(batch, steps\).*got shape \(3,\)"),
    (np.zeros((0, 3, 51)), r"at least one sample"),
])
def test_bad_input_errors_say_what_was_expected_and_given(x, message):
    with pytest.raises(ValueError, match=message):
        LSTM(51, 4, seed=0).forward(x)


@pytest.mark.parametrize("x, given", [
    (np.zeros((2, 50)), r"float64 of shape \(2, 50\)"),     # one feature short
    (np.zeros((2, 1), np.int64), r"int64 of shape \(2, 1\)"),   # tokens as a column
    (np.zeros((2, 6, 51)), r"float64 of shape \(2, 6, 51\)"),  # a whole sequence
    (np.zeros(0, np.int64), r"int64 of shape \(0,\)"),
    (np.int64(3), r"int64 of shape \(\)"),
])
def test_a_bad_step_input_is_named_as_given(x, given):
    """Not as the one-step sequence x[:, None] that step checks it as."""
    with pytest.raises(ValueError, match=r"must be tokens \(samples,\) or vectors "
                                         r"\(samples, 51\).*got " + given):
        LSTM(51, 4, seed=0).step(x)


def test_bad_initial_state_shape_is_named():
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 4\), got \(3, 4\)"):
        LSTM(3, 4, seed=0).forward(np.ones((2, 3, 3)), (np.zeros((3, 4)), np.zeros((3, 4))))


@pytest.mark.parametrize("state, given", [
    (np.zeros((2, 4)), r"an array of shape \(2, 4\)"),     # h alone: its rows were taken as (h0, c0)
    ((np.zeros((2, 4)),), "a tuple of length 1"),
    (3.0, "a float"),
])
def test_an_initial_state_that_is_not_a_pair_is_named(state, given):
    with pytest.raises(TypeError, match=r"must be the pair \(h0, c0\), each \(2, 4\), got " + given):
        LSTM(3, 4, seed=0).forward(np.ones((2, 3, 3)), state)


def test_an_initial_state_stacked_in_one_array_is_the_pair():
    layer, x = LSTM(3, 4, seed=0), np.ones((2, 3, 3))
    h0, c0 = np.full((2, 4), 0.5, np.float32), np.full((2, 4), -0.25, np.float32)
    outputs, _, _ = layer.forward(x, (h0, c0))
    assert np.array_equal(layer.forward(x, np.stack([h0, c0]))[0], outputs)


@pytest.mark.parametrize("layer", [LSTM, Dense])
@pytest.mark.parametrize("sizes, error, message", [
    ((3.7, 2), TypeError, "input_dim must be an integer, got float 3.7"),
    (("3", 2), TypeError, "input_dim must be an integer, got str '3'"),
    ((3, 0), ValueError, "units must be at least 1, got 0"),
    ((-1, 2), ValueError, "input_dim must be at least 1, got -1"),
])
def test_bad_layer_sizes_are_named(layer, sizes, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        layer(*sizes)


def test_a_gradient_of_the_wrong_shape_is_named():
    lstm, dense = LSTM(3, 2, seed=0), Dense(2, 5, seed=0)
    outputs, _, cache = lstm.forward(np.ones((4, 3, 3)))
    with pytest.raises(ValueError, match=r"d_outputs must have the outputs' shape \(4, 3, 2\), "
                                         r"got \(4, 2, 2\)"):
        lstm.backward(np.ones((4, 2, 2)), cache)
    _, cache = dense.forward(outputs)
    for dy in (np.ones((4, 3, 4)), np.ones((4, 2, 5))):
        with pytest.raises(ValueError, match=re.escape(
                f"dy must have the outputs' shape, 12 rows of 5, got shape {dy.shape}")):
            dense.backward(dy, cache)


def test_workspace_gives_the_same_numbers_and_reuses_its_arrays():
    from npseq2seq.workspace import Workspace

    rng = np.random.default_rng(9)
    layer = LSTM(5, 4, seed=9, dtype=np.float64)
    workspace = Workspace()
    # the second round reuses (and overwrites) the first's buffers; the next
    # shapes replace them (and the per-step views kept with them), then back
    for n, steps in [(3, 6), (3, 6), (2, 6), (3, 4), (3, 6)]:
        x = rng.standard_normal((n, steps, 5))
        d_out = rng.standard_normal((n, steps, 4))
        layer.zero_grads()
        outputs, (h, c), cache = layer.forward(x)
        dx, (dh0, dc0) = layer.backward(d_out, cache)
        fresh = [outputs.copy(), h.copy(), c.copy(), dx, dh0, dc0, *(g.copy() for g in layer.grads.values())]
        layer.zero_grads()
        outputs, (h, c), cache = layer.forward(x, workspace=workspace)
        dx, (dh0, dc0) = layer.backward(d_out, cache, workspace=workspace)
        reused = [outputs, h, c, dx, dh0, dc0, *layer.grads.values()]
        for a, b in zip(fresh, reused):
            np.testing.assert_array_equal(a, b)
    first_gates = cache[1]
    _, _, again = layer.forward(x, workspace=workspace)
    assert again[1] is first_gates  # the same array: no new allocation per batch


def test_a_copied_workspace_starts_empty_and_gives_the_same_numbers():
    import copy

    from npseq2seq.workspace import Workspace

    rng = np.random.default_rng(4)
    layer = LSTM(5, 4, seed=4, dtype=np.float64)
    x, d_out = rng.standard_normal((3, 6, 5)), rng.standard_normal((3, 6, 4))
    workspace = Workspace()
    layer.forward(x, workspace=workspace)       # buffers and their per-step views made
    copied = copy.deepcopy(workspace)
    assert copied.nbytes == 0
    results = []
    for ws in (workspace, copied):
        layer.zero_grads()
        outputs, _, cache = layer.forward(x, workspace=ws)
        dx, _ = layer.backward(d_out, cache, workspace=ws)
        results.append([outputs.copy(), dx.copy(), *(g.copy() for g in layer.grads.values())])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# --- accumulate=False: the gradients written, not added ----------------------

@pytest.mark.parametrize("tokens", [False, True])
def test_backward_without_accumulate_writes_what_accumulate_adds(tokens):
    rng = np.random.default_rng(12)
    layer = LSTM(5, 4, seed=12, dtype=np.float64)
    x = rng.integers(0, 5, (3, 6)) if tokens else rng.standard_normal((3, 6, 5))
    d_out = rng.standard_normal((3, 6, 4))
    layer.zero_grads()
    layer.backward(d_out, layer.forward(x)[2])
    added = [g.copy() for g in layer.grads.values()]
    for g in layer.grads.values():
        g.fill(np.nan)                              # stale values must not survive
    layer.backward(d_out, layer.forward(x)[2], accumulate=False)
    for a, b in zip(added, layer.grads.values()):
        np.testing.assert_array_equal(a, b)
    layer.backward(d_out, layer.forward(x)[2])      # accumulate: on top of them
    for a, b in zip(added, layer.grads.values()):
        np.testing.assert_array_equal(2 * a, b)


def test_dense_backward_without_accumulate_writes_what_accumulate_adds():
    rng = np.random.default_rng(13)
    dense = Dense(4, 3, seed=13, dtype=np.float64)
    x, dy = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    dense.zero_grads()
    dense.backward(dy, dense.forward(x)[1])
    added = [g.copy() for g in dense.grads.values()]
    for g in dense.grads.values():
        g.fill(np.nan)
    dense.backward(dy, dense.forward(x)[1], accumulate=False)
    for a, b in zip(added, dense.grads.values()):
        np.testing.assert_array_equal(a, b)


def test_gradient_rows_are_found_only_where_the_three_gradients_lie_in_order():
    """A model's flat buffer (or the shared file fit(workers=2) maps) holds dW, dU, db
    in turn: the weight-gradient product can be written there whole."""
    layer = LSTM(5, 4, seed=14)
    assert layer._gradient_rows(None) is None       # three separate arrays
    def lay_out(flat, names, offset=16):            # (another layer's weights before)
        for name in names:
            size = layer.grads[name].size
            layer.grads[name] = flat[offset:offset + size].reshape(layer.grads[name].shape)
            offset += size

    in_order = ("kernel", "recurrent_kernel", "bias")
    for flat in (np.zeros(9 * 16 + 64, np.float32),
                 np.frombuffer(bytearray(4 * (9 * 16 + 64)), np.float32)):
        lay_out(flat, in_order)
        rows = layer._gradient_rows(None)
        rows[...] = np.arange(rows.size).reshape(rows.shape)
        np.testing.assert_array_equal(
            np.concatenate([layer.grads[name].ravel() for name in in_order]), np.arange(rows.size))
    lay_out(np.zeros(9 * 16 + 64, np.float32), ("bias", "kernel", "recurrent_kernel"))
    assert layer._gradient_rows(None) is None


@pytest.mark.parametrize("x, ending", [
    (np.array([1, 2, 3]), "got shape (3,); for one sequence, pass a batch of one: x[None]"),
    (np.ones((4, 5)), "got shape (4, 5); for one sequence, pass a batch of one: x[None]"),
    (np.ones((2, 1, 3, 5)), "got shape (2, 1, 3, 5); squeeze axis 1"),
    (np.ones((2, 2, 3, 5)), "got shape (2, 2, 3, 5)"),    # before: "(squeeze the extra axis)"
    (np.ones((4, 3)), "got shape (4, 3); for tokens pass integers, e.g. .astype(np.int64)"),
    (np.ones((2, 3, 5), np.int64), "got shape (2, 3, 5); for one-hot or real-valued input "
                                   "pass a float array of shape (batch, steps, 5)"),
])
def test_forward_says_how_to_mend_a_shape_as_the_models_do(x, ending):
    with pytest.raises(ValueError) as raised:
        LSTM(5, 3, seed=0).forward(x)
    assert str(raised.value).endswith(ending)
