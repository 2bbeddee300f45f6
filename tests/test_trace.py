"""Gradient flow through time: LSTM.backward(trace=...) and loss_and_gradients(trace=True)."""

import importlib.util

import numpy as np
import pytest

import npseq2seq as ns
from npseq2seq import LSTM, lstm_step_backward, lstm_step_forward
from npseq2seq.cli import main
from npseq2seq.gradcheck import numerical_gradient
from npseq2seq.losses import softmax_cross_entropy
from npseq2seq.models.encoder_decoder import shift_right


def reference_norms(layer, x, d_outputs, d_state):
    """|dL/dh_t|, |dL/dc_t| from a loop over the reference step functions."""
    n, steps, _ = x.shape
    h, c = np.zeros((n, layer.units)), np.zeros((n, layer.units))
    caches = []
    for t in range(steps):
        h, c, cache = lstm_step_forward(x[:, t], h, c, *layer.params.values())
        caches.append(cache)
    dh, dc = d_state
    norms = np.zeros((2, steps))
    for t in reversed(range(steps)):
        dh = dh + d_outputs[:, t]
        # the total dL/dc_t also holds the path through h_t = o * tanh(c_t)
        o, tanh_c = caches[t][6], caches[t][7]
        norms[:, t] = np.linalg.norm(dh), np.linalg.norm(dc + dh * o * (1 - tanh_c ** 2))
        _, dh, dc, _, _, _ = lstm_step_backward(dh, dc, caches[t])
    return norms


def test_layer_trace_equals_the_reference_step_loop():
    rng = np.random.default_rng(0)
    layer = LSTM(3, 4, seed=0, dtype=np.float64)
    x = rng.standard_normal((2, 7, 3))
    d_outputs, d_state = rng.standard_normal((2, 7, 4)), tuple(rng.standard_normal((2, 2, 4)))
    _, _, cache = layer.forward(x)
    trace = {}
    layer.backward(d_outputs, cache, d_state=d_state, trace=trace)
    expected = reference_norms(layer, x, d_outputs, d_state)
    np.testing.assert_allclose(trace["dh"], expected[0], rtol=1e-12)
    np.testing.assert_allclose(trace["dc"], expected[1], rtol=1e-12)


def test_trace_changes_no_gradient():
    source, target = ns.reversal_task(8, 5, 3, 9, seed=1)
    model = ns.EncoderDecoder(9, 6, seed=2, dtype=np.float64)
    loss, grads = model.loss_and_gradients(source, target)
    traced_loss, traced_grads, trace = model.loss_and_gradients(source, target, trace=True)
    assert traced_loss == loss
    assert all(np.array_equal(a, b) for a, b in zip(grads, traced_grads))
    assert trace.encoder_dh.shape == (5,) and trace.decoder_dc.shape == (3,)


def encoder_remainder_loss(model, source, target, t, h, c):
    """The loss as a function of the encoder's state after t steps."""
    _, state, _ = model.encoder.forward(source[:, t:], (h, c))
    outputs, _, _ = model.decoder.forward(shift_right(target, model.n_features), state)
    return softmax_cross_entropy(model.dense.forward(outputs)[0], target)[0]


def test_encoder_trace_is_the_gradient_on_the_state_at_each_step():
    """Finite differences of L with respect to h_t and c_t, run as two halves.

    h_t is the only way into the rest from h_t; c_t reaches it directly and
    through h_t = o_t * tanh(c_t), so c_t is moved with h_t following it.
    """
    source, target = ns.reversal_task(3, 5, 3, 7, seed=3)
    model = ns.EncoderDecoder(7, 4, seed=4, dtype=np.float64)
    _, _, trace = model.loss_and_gradients(source, target, trace=True)
    x = ns.one_hot(source, 7).astype(np.float64)
    h, c = np.zeros((3, 4)), np.zeros((3, 4))
    for t in range(1, 5):
        h, c, cache = lstm_step_forward(x[:, t - 1], h, c, *model.encoder.params.values())
        o = cache[6]
        h_free, c_free = h.copy(), c.copy()
        dh = numerical_gradient(
            lambda: encoder_remainder_loss(model, source, target, t, h_free, c), h_free)
        dc = numerical_gradient(
            lambda: encoder_remainder_loss(model, source, target, t, o * np.tanh(c_free), c_free),
            c_free)
        assert np.linalg.norm(dh) == pytest.approx(trace.encoder_dh[t - 1], rel=1e-7)
        assert np.linalg.norm(dc) == pytest.approx(trace.encoder_dc[t - 1], rel=1e-7)


def test_repeat_vector_model_traces_too():
    source, target = ns.reversal_task(4, 6, 2, 9, seed=1)
    model = ns.RepeatVectorSeq2Seq(9, 5, n_out=2, seed=1, dtype=np.float64)
    _, _, trace = model.loss_and_gradients(source, target, trace=True)
    assert [row[:2] for row in trace.rows()] == (
        [("encoder", t) for t in range(1, 7)] + [("decoder", 1), ("decoder", 2)])
    # the encoder keeps no c for the decoder, so dL/dc_T comes only through h_T
    assert np.all(trace.encoder_dh > 0) and np.all(trace.encoder_dc > 0)


def test_table_has_a_row_per_step_and_longer_bars_for_larger_norms():
    source, target = ns.reversal_task(16, 10, 3, 11, seed=0)
    model = ns.EncoderDecoder(11, 8, seed=0)
    _, _, trace = model.loss_and_gradients(source, target, trace=True)
    lines = str(trace).splitlines()
    rows = [line for line in lines if line.startswith(("encoder", "decoder"))]
    assert len(rows) == 13
    by_norm = sorted(zip(trace.encoder_dh, (r.split()[3] for r in rows[:10])))
    assert [len(bar) for _, bar in by_norm] == sorted(len(bar) for _, bar in by_norm)
    assert len(by_norm[0][1]) < len(by_norm[-1][1])


def test_bptt_trace_command(capsys):
    assert main(["bptt-trace", "--units", "8", "--samples", "5", "--n-in", "12",
                 "--cardinality", "9"]) == 0
    out = capsys.readouterr().out
    assert "source length 12" in out
    assert sum(line.startswith("encoder") for line in out.splitlines()) == 12
    assert "bars on a log scale" in out


def test_bptt_trace_of_a_trained_saved_model(tmp_path, capsys):
    path = tmp_path / "m.npz"
    assert main(["train", "--samples", "200", "--units", "8", "--cardinality", "9",
                 "--test-samples", "10", "--verbose", "0", "--save", str(path)]) == 0
    capsys.readouterr()
    assert main(["bptt-trace", str(path), "--samples", "4", "--n-in", "9"]) == 0
    out = capsys.readouterr().out
    assert "8 units, source length 9" in out


def test_bptt_trace_train_traces_the_model_after_an_epoch(capsys):
    def trace(*train):
        assert main(["bptt-trace", "--units", "8", "--samples", "5", "--cardinality", "9",
                     *train]) == 0
        out = capsys.readouterr().out
        return out, [line for line in out.splitlines() if line.startswith("encoder")]

    untrained_out, untrained = trace()
    trained_out, trained = trace("--train", "64")
    assert "trained one epoch on 64 sequences" in trained_out
    assert "trained" not in untrained_out
    assert len(trained) == len(untrained) == 6 and trained != untrained


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is not None,
                    reason="matplotlib is installed")
def test_plot_without_matplotlib_says_what_to_install_before_the_work(tmp_path, capsys):
    assert main(["bptt-trace", "--units", "4", "--samples", "2", "--train", "64", "--plot",
                 str(tmp_path / "t.png")]) == 2
    out, err = capsys.readouterr()
    assert "matplotlib" in err and out == ""        # before: trained and printed the table
    assert not (tmp_path / "t.png").exists()


def test_a_plot_path_that_cannot_be_written_is_refused_before_the_work(tmp_path, capsys):
    path = tmp_path / "missing" / "t.png"
    assert main(["bptt-trace", "--units", "4", "--samples", "2", "--train", "64",
                 "--plot", str(path)]) == 2
    assert capsys.readouterr() == ("", f"npseq2seq bptt-trace: error: cannot write {path}: the "
                                       f"folder {path.parent} does not exist\n")


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="needs matplotlib")
def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "t.png"
    assert main(["bptt-trace", "--units", "4", "--samples", "2", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
