import copy
import io
import os
import pickle
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npseq2seq as ns
from npseq2seq.gradcheck import check_model
from npseq2seq.models.encoder_decoder import shift_right


def small_model(seed=0, dtype=np.float64, n_features=7, n_units=4):
    return ns.EncoderDecoder(n_features, n_units, seed=seed, dtype=dtype)


# --- gradients of the whole model ---------------------------------------------

@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 6), n_out=st.integers(1, 4),
       samples=st.integers(1, 4), one_hot_source=st.booleans())
def test_whole_model_gradients_match_finite_differences(seed, n_in, n_out, samples, one_hot_source):
    n_out = min(n_out, n_in)
    model = small_model(seed)
    source, target = ns.reversal_task(samples, n_in, n_out, cardinality=7, seed=seed)
    if one_hot_source:
        source = ns.one_hot(source, 7, dtype=np.float64)
    report = check_model(model, source, target)
    assert report.passed, str(report)


@pytest.mark.parametrize("activation", ["hard_sigmoid", "hard_sigmoid_keras3"])
def test_whole_model_gradients_with_hard_sigmoid(activation):
    model = ns.EncoderDecoder(7, 4, recurrent_activation=activation, seed=3, dtype=np.float64)
    source, target = ns.reversal_task(3, 5, 3, cardinality=7, seed=3)
    assert check_model(model, source, target).passed


@pytest.mark.parametrize("model_class, extra", [(ns.EncoderDecoder, {}),
                                                (ns.RepeatVectorSeq2Seq, {"n_out": 3})])
def test_training_writes_every_gradient_afresh(model_class, extra):
    """The layers write their gradients (no zeroing before a batch): stale values
    in the gradient buffer must not survive into the next batch's gradients."""
    model = model_class(7, 5, seed=3, dtype=np.float64, **extra)
    source, target = ns.reversal_task(4, 5, 3, cardinality=7, seed=3)
    _, fresh = model.loss_and_gradients(source, target)
    model._flat_grads.fill(np.nan)
    model._zero_grads = None                        # not called: the gradients are written
    _, again = model.loss_and_gradients(source, target)
    for a, b in zip(fresh, again):
        np.testing.assert_array_equal(a, b)
    assert all(layer._gradient_rows(None) is not None for layer in (model.encoder, model.decoder))


def test_a_subclass_whose_backward_adds_still_gets_its_gradients_zeroed():
    """A _backward written to add into the gradients (without @writes_gradients),
    as before the models wrote them, must not carry one batch's into the next."""
    class Adding(ns.EncoderDecoder):
        def _backward(self, dlogits, cache, workspaces=None, traces=None):
            encoder_cache, decoder_cache, dense_cache = cache
            d_outputs = self.dense.backward(dlogits, dense_cache)
            _, d_state = self.decoder.backward(d_outputs, decoder_cache)
            self.encoder.backward(None, encoder_cache, d_state=d_state)

    source, target = ns.reversal_task(4, 5, 3, cardinality=7, seed=3)
    adding, writing = (cls(7, 5, seed=3, dtype=np.float64) for cls in (Adding, ns.EncoderDecoder))
    for _ in range(2):
        for a, b in zip(adding.loss_and_gradients(source, target)[1],
                        writing.loss_and_gradients(source, target)[1]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    adding.fit(source, target, epochs=2, batch_size=2, verbose=0)
    writing.fit(source, target, epochs=2, batch_size=2, verbose=0)
    for a, b in zip(adding.get_weights(), writing.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_encoder_receives_gradient_through_the_state_hand_over():
    model = small_model(1)
    source, target = ns.reversal_task(4, 5, 3, cardinality=7, seed=1)
    _, grads = model.loss_and_gradients(source, target)
    names = [name for name, _ in model._named_params()]
    assert names == ["encoder/kernel", "encoder/recurrent_kernel", "encoder/bias",
                     "decoder/kernel", "decoder/recurrent_kernel", "decoder/bias",
                     "dense/kernel", "dense/bias"]
    for name, grad in zip(names, grads):
        assert np.abs(grad).max() > 0, name


def test_random_direction_check_of_the_tutorial_sized_model():
    model = ns.EncoderDecoder(51, 32, seed=2, dtype=np.float64)
    source, target = ns.reversal_task(8, seed=2)
    assert check_model(model, source, target, direction_only=True).passed


# --- teacher forcing and the inference path ---------------------------------------

def test_shift_right_puts_the_start_token_first():
    np.testing.assert_array_equal(shift_right(np.array([[4, 5, 6]]), 7), [[0, 4, 5]])
    one_hot = ns.one_hot(np.array([[4, 5, 6]]), 7)
    np.testing.assert_array_equal(shift_right(one_hot, 7), ns.one_hot(np.array([[0, 4, 5]]), 7))


def test_one_hot_and_token_inputs_give_the_same_numbers():
    source, target = ns.reversal_task(5, seed=4, cardinality=9)
    results = []
    for src, tgt in ((source, target), (ns.one_hot(source, 9), ns.one_hot(target, 9))):
        model = ns.EncoderDecoder(9, 6, seed=4)
        loss, grads = model.loss_and_gradients(src, tgt)
        results.append((loss, grads, model.predict(src, n_steps=3)))
    (loss_a, grads_a, pred_a), (loss_b, grads_b, pred_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(pred_a, pred_b)


def test_encode_then_decode_step_reproduces_predict():
    model = ns.EncoderDecoder(11, 8, seed=5)
    source, _ = ns.reversal_task(6, cardinality=11, seed=5)
    h, c = model.encode(source)
    assert h.shape == c.shape == (6, 8)
    tokens, decoded = np.zeros(6, np.int64), []
    for _ in range(4):
        probs, (h, c) = model.decode_step(tokens, (h, c))
        np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
        tokens = probs.argmax(axis=1)
        decoded.append(tokens)
    np.testing.assert_array_equal(np.stack(decoded, 1), model.predict(source, n_steps=4))


@pytest.mark.parametrize("threads, batch_size", [(1, 512), (2, 7)])
def test_predict_proba_is_the_decode_step_loops_softmax_in_any_chunks(threads, batch_size):
    model = ns.EncoderDecoder(11, 8, seed=5)
    source, _ = ns.reversal_task(40, cardinality=11, seed=5)
    h, c = model.encode(source)
    tokens, expected = np.zeros(40, np.int64), []
    for _ in range(4):
        probs, (h, c) = model.decode_step(tokens, (h, c))
        tokens = probs.argmax(axis=1)
        expected.append(probs)
    probs = model.predict_proba(source, n_steps=4, threads=threads, batch_size=batch_size)
    assert probs.shape == (40, 4, 11) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, np.stack(expected, 1), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(probs.argmax(-1), model.predict(source, n_steps=4))


# The stepper and forward make the same operations: the same bits with NumPy 2's
# OpenBLAS here, but NumPy 1.22's rounds some products by memory layout.
SAME_OPERATIONS = {np.float32: {"rtol": 1e-5, "atol": 1e-7},
                   np.float64: {"rtol": 1e-12, "atol": 1e-15}}


@pytest.mark.parametrize("cls", [ns.EncoderDecoder, ns.RepeatVectorSeq2Seq])
def test_encode_is_the_encoders_final_state_without_its_caches(cls):
    """Memory O(N u) whatever the source length: forward's caches would be
    N x T x 4u floats, 51 MB here, against 0.25 MB for (h, c)."""
    model = cls(11, 16, **({"n_out": 3} if cls is ns.RepeatVectorSeq2Seq else {}), seed=8)
    source = np.random.default_rng(8).integers(0, 11, (2_000, 200))
    state = []
    peak = _peak_bytes(lambda: state.extend(model.encode(source, threads=1)))
    h, c = state
    assert peak < 4e6, f"encode peaked at {peak / 1e6:.1f} MB"
    _, (h_forward, c_forward), _ = model.encoder.forward(source[:600])
    np.testing.assert_allclose(h[:600], h_forward, **SAME_OPERATIONS[np.float32])
    np.testing.assert_allclose(c[:600], c_forward, **SAME_OPERATIONS[np.float32])


def _peak_bytes(run):
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _two_designs(seed, n_out=3, dtype=np.float32):
    return [ns.EncoderDecoder(11, 16, seed=seed, dtype=dtype),
            ns.RepeatVectorSeq2Seq(11, 16, n_out, seed=seed, dtype=dtype)]


@pytest.mark.parametrize("n", [1, 5, 300])      # the stepper's paths: one row, two layouts
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("one_hot", [False, True])
def test_evaluates_logits_are_the_training_forwards(n, dtype, one_hot):
    """evaluate (and RepeatVectorSeq2Seq.predict) step the layers without caches;
    the repeat-vector decoder projects its repeated input once (constant_input)."""
    source, target = ns.reversal_task(n, n_in=6, n_out=3, cardinality=11, seed=3)
    if one_hot:
        source, target = ns.one_hot(source, 11), ns.one_hot(target, 11)
    for model in _two_designs(3, dtype=dtype):
        expected, _ = model._forward(source, target)
        np.testing.assert_allclose(model._logits(source, target, model._new_workspaces()),
                                   expected, **SAME_OPERATIONS[dtype])


@pytest.mark.parametrize("threads", [1, 2])
def test_evaluate_in_chunks_and_threads_gives_the_whole_batchs_figures(threads):
    source, reversed_ = ns.reversal_task(1_100, n_in=5, n_out=3, cardinality=11, seed=6)
    for model in _two_designs(6):
        target = reversed_.copy()
        target[::2] = model.predict(source[::2], n_steps=3)     # half decoded right
        result = model.evaluate(source, target, batch_size=256, threads=threads)
        logits, _ = model._forward(source, target)
        assert result["loss"] == pytest.approx(float(model.loss(source, target)), rel=1e-5)
        assert result["acc"] == pytest.approx(ns.accuracy(logits, target), abs=1e-12)
        exact = np.all(model.predict(source, n_steps=3, threads=1) == target, axis=1)
        assert result["seq_acc"] == exact.mean() >= 0.5


def test_evaluate_predict_and_loss_keep_no_caches_for_long_sources():
    """forward's caches for 1,024 sources of 300 steps would be 84 MB at 16 units."""
    source, target = ns.reversal_task(1_500, n_in=300, n_out=3, cardinality=11, seed=4)
    for model in _two_designs(4):
        peak = _peak_bytes(lambda: model.loss(source, target))
        assert peak < 8e6, f"{type(model).__name__}.loss peaked at {peak / 1e6:.1f} MB"
        peak = _peak_bytes(lambda: model.evaluate(source, target))
        assert peak < 8e6, f"{type(model).__name__}.evaluate peaked at {peak / 1e6:.1f} MB"
        peak = _peak_bytes(lambda: model.predict(source, n_steps=3, threads=1))
        assert peak < 8e6, f"{type(model).__name__}.predict peaked at {peak / 1e6:.1f} MB"


def test_loss_of_many_pairs_goes_in_chunks_and_is_evaluates_loss():
    """100,000 tutorial pairs in one pass took 1.6 GB; in chunks, one chunk's memory."""
    source, target = ns.reversal_task(8_000, n_in=20, n_out=3, cardinality=11, seed=4)
    weights = np.random.default_rng(4).uniform(0, 2, (8_000, 3))
    for model in _two_designs(4, dtype=np.float64):
        chunked = model.loss(source, target, weights)       # (its buffers made: kept)
        assert chunked == model.evaluate(source, target, sample_weight=weights)["loss"]
        whole = model.loss(source, target, weights, batch_size=8_000)
        assert chunked == pytest.approx(whole, rel=1e-12)
        peaks = [_peak_bytes(lambda: model.loss(source, target, batch_size=size))
                 for size in (1_024, 8_000)]
        assert peaks[0] < peaks[1] / 2, f"{peaks}"     # (a chunk a thread at a time)


def test_encode_in_chunks_and_threads_gives_arrays_of_the_callers_own():
    model = ns.EncoderDecoder(11, 8, seed=9)
    source, _ = ns.reversal_task(50, cardinality=11, seed=9)
    h, c = model.encode(source, batch_size=50, threads=1)
    kept = h.copy(), c.copy()
    for batch_size, threads in ((7, 1), (7, 2), (50, 2)):
        state = model.encode(source, batch_size=batch_size, threads=threads)
        for mine, theirs in zip((h, c), state):
            np.testing.assert_allclose(theirs, mine, rtol=1e-6, atol=1e-7)
    model.encode(source[::-1], batch_size=50, threads=1)     # buffers reused: not h's
    np.testing.assert_array_equal(h, kept[0])
    np.testing.assert_array_equal(c, kept[1])


@pytest.mark.parametrize("n, threads, batch_size", [(40, 1, 512), (40, 2, 7), (1, 1, 512)])
def test_feeding_back_probabilities_is_the_decode_step_loop_the_tutorial_writes(n, threads,
                                                                              batch_size):
    # 40 sources step gate-major (at least n_features + n_units rows), 7 and 1 do not
    model = ns.EncoderDecoder(11, 8, seed=5)
    source, target = ns.reversal_task(300, cardinality=11, seed=5)
    model.fit(source, target, verbose=0)
    h, c = model.encode(source[:n])
    fed, expected = np.zeros((n, 11), np.float32), []       # the all-zero start vector
    for _ in range(4):
        fed, (h, c) = model.decode_step(fed, (h, c))
        expected.append(fed)
    expected = np.stack(expected, 1)
    probs = model.predict_proba(source[:n], n_steps=4, threads=threads, batch_size=batch_size,
                                feed_back="probabilities")
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    tokens = model.predict(source[:n], n_steps=4, threads=threads, batch_size=batch_size,
                           feed_back="probabilities")
    np.testing.assert_array_equal(tokens, probs.argmax(-1))


@pytest.mark.parametrize("call, message", [
    (lambda m, s: m.predict(s, feed_back="softmax"), r"feed_back must be 'tokens' .*or "
                                                      r"'probabilities' .*got 'softmax'"),
    (lambda m, s: m.predict_proba(s, feed_back=None), r"feed_back must be .*got None"),
    (lambda m, s: m.predict(s, beam_width=2, feed_back="probabilities"),
     r"beam_width > 1 takes feed_back='tokens', got 'probabilities'"),
])
def test_feed_back_is_tokens_or_probabilities(call, message):
    model = ns.EncoderDecoder(11, 8, seed=5)
    model.target_length = 3
    with pytest.raises(ValueError, match=message):
        call(model, np.ones((2, 4), np.int64))


def test_evaluate_scores_the_decode_feed_back_asks_for():
    model = ns.EncoderDecoder(11, 8, seed=5)
    source, target = ns.reversal_task(300, cardinality=11, seed=5)
    model.fit(source, target, verbose=0)
    tutorial = model.predict(source, feed_back="probabilities")
    assert np.any(tutorial != model.predict(source))
    result = model.evaluate(source, target, feed_back="probabilities")
    assert result["seq_acc"] == np.mean(np.all(tutorial == target, axis=1))
    assert result["loss"] == model.evaluate(source, target)["loss"]   # teacher-forced, the same
    begun = []
    with pytest.raises(ValueError, match="beam_width > 1 takes feed_back='tokens'"):
        model.evaluate(source, target, beam_width=2, feed_back="probabilities",
                       callbacks=[ns.LambdaCallback(on_test_begin=begun.append)])
    assert begun == []                          # refused before the teacher-forced pass


def test_decode_step_accepts_the_softmax_vector_as_in_the_tutorial():
    model = ns.EncoderDecoder(11, 8, seed=6)
    source, _ = ns.reversal_task(3, cardinality=11, seed=6)
    state = model.encode(source)
    start = ns.one_hot(np.zeros(3, np.int64), 11)
    from_vector, _ = model.decode_step(start, state)
    from_token, _ = model.decode_step(np.zeros(3, np.int64), state)
    np.testing.assert_array_equal(from_vector, from_token)


@pytest.mark.parametrize("inputs, error, given", [
    (np.zeros((3, 10)), ValueError, r"\(samples, 11\).*got float64 of shape \(3, 10\)"),
    (np.zeros((3, 1), np.int64), ValueError, r"\(samples,\).*got int64 of shape \(3, 1\)"),
    (np.zeros((3, 1, 11)), ValueError, r"got float64 of shape \(3, 1, 11\)"),
    (np.zeros(3, bool), TypeError, r"integer tokens or float vectors, got dtype bool"),
    (np.array([0, 11, 2]), ValueError, r"decode_step's input tokens must lie in 0\.\.10"),
])
def test_decode_step_names_the_input_as_given(inputs, error, given):
    """Not as the one-step sequence it is checked as, inputs[:, None]."""
    model = ns.EncoderDecoder(11, 8, seed=6)
    state = model.encode(ns.reversal_task(3, cardinality=11, seed=6)[0])
    with pytest.raises(error, match=given):
        model.decode_step(inputs, state)


def test_batched_predict_equals_one_sequence_at_a_time():
    model = ns.EncoderDecoder(11, 8, seed=7)
    source, _ = ns.reversal_task(20, cardinality=11, seed=7)
    together = model.predict(source, n_steps=3, batch_size=7)
    alone = np.concatenate([model.predict(source[i:i + 1], n_steps=3) for i in range(20)])
    np.testing.assert_array_equal(together, alone)


def test_predict_without_training_needs_n_steps():
    with pytest.raises(ValueError, match="n_steps"):
        small_model().predict(np.array([[1, 2]]))


# --- training ---------------------------------------------------------------------

def test_training_learns_the_reversal_task():
    """CI-sized: a broken backward pass cannot reach this accuracy."""
    source, target = ns.reversal_task(6000, n_in=5, n_out=3, cardinality=11, seed=0)
    test_source, test_target = ns.reversal_task(500, n_in=5, n_out=3, cardinality=11, seed=99)
    model = ns.EncoderDecoder(11, 32, seed=0)
    history = model.fit(source, target, epochs=4, batch_size=32, verbose=0,
                        optimizer=ns.Adam(learning_rate=0.01))
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = model.evaluate(test_source, test_target)
    assert result["seq_acc"] >= 0.95, result
    assert set(result) == {"loss", "acc", "seq_acc"}


def test_same_seed_gives_bit_identical_training():
    source, target = ns.reversal_task(300, n_in=4, n_out=2, cardinality=9, seed=1)
    runs = []
    for _ in range(2):
        model = ns.EncoderDecoder(9, 8, seed=11)
        history = model.fit(source, target, epochs=2, verbose=0)
        runs.append((model.get_weights(), history.history, model.predict(source)))
    (w1, h1, p1), (w2, h2, p2) = runs
    assert h1 == h2 and np.array_equal(p1, p2)
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_fit_writes_one_keras_style_line_per_epoch_in_a_pipe(capsys):
    source, target = ns.reversal_task(64, n_in=4, n_out=2, cardinality=9, seed=1)
    ns.EncoderDecoder(9, 8, seed=1).fit(source, target, epochs=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 [==============================] - ")
    assert " - loss: " in lines[1] and " - acc: " in lines[1]


def test_validation_data_is_evaluated_after_every_epoch(capsys):
    source, target = ns.reversal_task(96, n_in=4, n_out=2, cardinality=9, seed=1)
    held_source, held_target = ns.reversal_task(40, n_in=4, n_out=2, cardinality=9, seed=2)
    model, alone = ns.EncoderDecoder(9, 8, seed=1), ns.EncoderDecoder(9, 8, seed=1)
    history = model.fit(source, target, epochs=2, verbose=2,
                        validation_data=(held_source, held_target))
    lines = capsys.readouterr().out.splitlines()
    for epoch in range(2):              # the same run without validation, evaluated apart
        trained = alone.fit(source, target, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
        expected = alone.evaluate(held_source, held_target)
        for name in ("loss", "acc", "seq_acc"):
            assert history.history[f"val_{name}"][epoch] == expected[name]
            # Python floats, as Keras's: a NumPy scalar prints as np.float64(...)
            assert type(expected[name]) is float
        assert all(type(figures[epoch]) is float for figures in history.history.values())
        assert history.history["loss"][epoch] == trained.history["loss"][0]
        shown = {name: f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"   # (Keras's
                 for name, value in expected.items()}                        # rule, below)
        figures = re.escape(
            f" - loss: {history.history['loss'][epoch]:.4f} - acc: "
            f"{history.history['acc'][epoch]:.4f} - val_loss: {shown['loss']} - val_acc: "
            f"{shown['acc']} - val_seq_acc: {shown['seq_acc']}")
        assert re.fullmatch(         # Keras 2's verbose=2 line, the val_ figures after the rest
            rf"3/3 - \d+s{figures} - \d+(s|ms|us)/epoch - \d+(s|ms|us)/step", lines[2 * epoch + 1])


@pytest.mark.parametrize("workers", [1, 2])
def test_validation_split_holds_out_the_last_rows_before_shuffling(workers):
    source, target = ns.reversal_task(100, n_in=4, n_out=2, cardinality=9, seed=1)
    model, alone = ns.EncoderDecoder(9, 8, seed=1), ns.EncoderDecoder(9, 8, seed=1)
    history = model.fit(source, target, verbose=0, validation_split=0.25, workers=workers)
    alone.fit(source[:75], target[:75], verbose=0, workers=workers)   # as Keras: the first 75
    for a, b in zip(model.get_weights(), alone.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["val_seq_acc"] == [alone.evaluate(source[75:], target[75:])["seq_acc"]]


def test_fit_is_silent_with_verbose_0(capsys):
    source, target = ns.reversal_task(64, n_in=4, n_out=2, cardinality=9, seed=1)
    ns.EncoderDecoder(9, 8, seed=1).fit(source, target, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("seconds, unit, shown", [
    (2.4, "epoch", "2s/epoch"), (1.0, "step", "1s/step"), (0.0, "step", "0s/step"),
    (0.0026, "step", "3ms/step"), (0.001, "step", "1ms/step"), (0.000281, "step", "281us/step"),
])
def test_times_are_written_as_keras_writes_them(seconds, unit, shown):
    # before: "0ms/step" for any step under half a millisecond, "1200ms/step" over a second
    assert ns.models.progress.duration(seconds, unit) == shown


@pytest.mark.parametrize("seconds, shown", [
    (42.9, "42s"), (60.0, "60s"), (60.5, "1:00"), (65.2, "1:05"), (3600.0, "60:00"),
    (3605.0, "1:00:05"),
    (86399.0, "23:59:59"),
])
def test_the_time_left_is_written_as_keras_writes_it(seconds, shown):
    assert ns.models.progress.clock(seconds) == shown       # before: "65s", "3605s"


def test_a_figure_under_a_thousandth_is_written_in_exponent_form_as_keras_writes_it():
    stream = io.StringIO()
    ns.models.progress.ProgressBar(5, verbose=1, stream=stream).finish(
        {"loss": 0.00021, "acc": 1.0, "val_seq_acc": 0.0})
    assert stream.getvalue().endswith(
        " - loss: 2.1000e-04 - acc: 1.0000 - val_seq_acc: 0.0000e+00\n")


def test_verbose_2_writes_keras_2s_line_without_a_bar():
    stream = io.StringIO()
    ns.models.progress.ProgressBar(12, verbose=2, stream=stream).finish({"loss": 0.5})
    assert re.fullmatch(r"12/12 - 0s - loss: 0\.5000 - \d+us/epoch - \d+us/step\n",
                        stream.getvalue())


def test_progress_bar_redraws_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ns.models.progress.ProgressBar(10, verbose=1, stream=stream)
    bar.last_draw -= 1
    bar.update(5, {"loss": 1.0})
    bar.finish({"loss": 0.5})
    text = stream.getvalue()
    assert text.startswith("\r 5/10 [===============>") and "loss: 1.0000" in text
    assert "\r10/10 [==============================]" in text and text.endswith("loss: 0.5000\n")


# --- weights and files ---------------------------------------------------------------

def test_get_weights_in_keras_order_and_shapes():
    shapes = [w.shape for w in ns.EncoderDecoder(51, 128, seed=1).get_weights()]
    assert shapes == [(51, 512), (128, 512), (512,), (51, 512), (128, 512), (512,), (128, 51), (51,)]


def test_set_weights_round_trip_and_errors():
    a, b = small_model(1), small_model(2)
    b.set_weights(a.get_weights())
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    weights = a.get_weights()
    weights[3] = np.zeros((6, 16))
    with pytest.raises(ValueError, match=r"decoder/kernel must have shape \(7, 16\), got \(6, 16\)"):
        b.set_weights(weights)
    with pytest.raises(ValueError, match="expects 8 arrays.*got 7"):
        b.set_weights(weights[:7])


def test_save_and_load_keep_everything(tmp_path):
    source, target = ns.reversal_task(200, n_in=4, n_out=2, cardinality=9, seed=1)
    model = ns.EncoderDecoder(9, 8, seed=3, dtype=np.float32)
    model.fit(source, target, verbose=0)
    model.metadata["task"] = {"n_in": 4}
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = ns.load(path)
    assert type(loaded) is ns.EncoderDecoder and loaded.get_config() == model.get_config()
    assert all(np.array_equal(x, y) for x, y in zip(model.get_weights(), loaded.get_weights()))
    assert loaded.target_length == 2 and loaded.metadata == {"task": {"n_in": 4}}
    np.testing.assert_array_equal(model.predict(source), loaded.predict(source))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    with np.load(path, allow_pickle=False) as data:  # no pickles anywhere
        assert "weights/encoder/kernel" in data.files


def test_train_save_load_train_equals_training_straight_through(tmp_path):
    source, target = ns.reversal_task(300, n_in=4, n_out=2, cardinality=9, seed=2)
    straight = ns.EncoderDecoder(9, 8, seed=5)
    straight.fit(source, target, epochs=2, verbose=0)
    first = ns.EncoderDecoder(9, 8, seed=5)
    first.fit(source, target, epochs=1, verbose=0)
    first.save(tmp_path / "half.npz")
    resumed = ns.load(tmp_path / "half.npz")
    resumed.fit(source, target, epochs=1, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("model_class, extra", [(ns.EncoderDecoder, {}),
                                                (ns.RepeatVectorSeq2Seq, {"n_out": 2})],
                         ids=["encoder-decoder", "repeat-vector"])
def test_a_copy_trains_as_the_original_would_and_apart_from_it(how, model_class, extra):
    # a copy's weights are copied arrays; they must be views into its flat array
    # again, or its optimizer steps weights its layers never read
    source, target = ns.reversal_task(300, n_in=4, n_out=2, cardinality=9, seed=2)
    model = model_class(9, 8, seed=5, **extra)
    model.fit(source[:150], target[:150], verbose=0)
    model.predict(source[:3])                   # training's and predict's buffers both exist
    copied = copy.deepcopy(model) if how == "deepcopy" else pickle.loads(pickle.dumps(model))
    before = model.get_weights()
    copied.fit(source[150:], target[150:], verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)     # training the copy left the original alone
    model.fit(source[150:], target[150:], verbose=0)
    for a, b in zip(model.get_weights(), copied.get_weights()):
        np.testing.assert_array_equal(a, b)     # and the copy trained as the original then did


def test_interrupted_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = small_model(1, dtype=np.float32)
    model.save(path)
    before = path.read_bytes()

    def fail_midway(file, **arrays):
        file.write(b"half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        small_model(2, dtype=np.float32).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary left behind


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        ns.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    for content in (b"not a zip", b"", b"\x93NUMPY" + bytes(20)):
        junk.write_bytes(content)
        with pytest.raises(ValueError, match="is not an npseq2seq model file: it is not an "
                                             ".npz archive, or not a whole one"):
            ns.load(junk)
    np.save(junk, np.zeros(3), allow_pickle=False)      # an .npy file, named .npz
    with pytest.raises(ValueError, match="it is not an .npz archive"):
        ns.load(junk)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        ns.load(tmp_path)
    broken = tmp_path / "broken.npz"
    small_model(1).save(broken)
    whole = broken.read_bytes()
    broken.write_bytes(whole[:-200])                    # cut short: no zip directory
    with pytest.raises(ValueError, match="or not a whole one"):
        ns.load(broken)
    middle = len(whole) // 2                            # a zip whose data is damaged
    broken.write_bytes(whole[:middle] + bytes(64) + whole[middle + 64:])
    with pytest.raises(ValueError, match="not a readable model file"):
        ns.load(broken)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(ValueError, match="no __config__"):
        ns.load(foreign)
    good = tmp_path / "good.npz"
    small_model(1).save(good)
    with np.load(good) as data:
        arrays = dict(data)
    arrays["weights/dense/bias"] = np.zeros(3)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"dense/bias must have shape \(7,\), got \(3,\)"):
        ns.load(bad)
    del arrays["weights/dense/bias"]
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"missing weight arrays \['weights/dense/bias'\]"):
        ns.load(bad)


# --- input errors ---------------------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    (np.zeros((4, 1, 6, 7)), r"\(samples, steps, 7\).*got shape \(4, 1, 6, 7\); squeeze axis 1"),
    (np.array([[1, 2, 9]]), r"source tokens must lie in 0\.\.6, got values from 1 to 9"),
    (np.array([["a"]]), r"source must be integer tokens or float vectors, got dtype <U1"),
    (np.where(np.arange(14).reshape(1, 2, 7) == 9, np.nan, 0.0),
     r"source must be finite, got nan at index \(0, 1, 2\)"),
    (np.zeros((0, 3), np.int64), r"at least one sample"),
    (np.array([1, 2, 3]), r"got shape \(3,\); for one sequence, pass a batch of one: "
                          r"source\[None\]"),
    (np.zeros((6, 7)), r"got shape \(6, 7\); for one sequence, pass a batch of one"),
    (np.zeros((6, 3)), r"got shape \(6, 3\); for tokens pass integers"),
])
def test_bad_sources_are_explained(source, message):
    error = TypeError if "dtype" in message else ValueError
    with pytest.raises(error, match=message):
        small_model().fit(source, np.zeros((len(source), 2), np.int64), verbose=0)


def test_mismatched_sample_counts_are_explained():
    with pytest.raises(ValueError, match="same number of samples, got 3 and 2"):
        small_model().loss(np.ones((3, 4), np.int64), np.ones((2, 2), np.int64))


def test_initial_epoch_numbers_the_epochs_as_keras_does(capsys):
    source, target = ns.reversal_task(40, n_in=5, n_out=2, cardinality=7, seed=0)
    numbered, plain = small_model(dtype=np.float32), small_model(dtype=np.float32)
    history = numbered.fit(source, target, epochs=3, initial_epoch=1, verbose=2)
    assert history.epoch == [1, 2] and len(history.history["loss"]) == 2
    assert [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("Epoch")] == ["Epoch 2/3", "Epoch 3/3"]
    plain.fit(source, target, epochs=2, verbose=0)          # the numbers are only names
    for a, b in zip(numbered.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    before = numbered.get_weights()
    assert numbered.fit(source, target, epochs=2, initial_epoch=2, verbose=0).epoch == []
    assert all(np.array_equal(a, b) for a, b in zip(before, numbered.get_weights()))


def test_bad_batch_size_is_explained():
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        small_model().fit(np.ones((3, 4), np.int64), np.ones((3, 2), np.int64), batch_size=0)


@pytest.mark.parametrize("options, error, message", [
    ({"shuffle": "no"}, TypeError, "shuffle must be True or False, got 'no'"),
    ({"verbose": 3}, ValueError, "verbose must be 0, 1 or 2, got 3"),
    ({"workers": 3}, ValueError, "workers must be 1 or 2, got 3"),
    ({"initial_epoch": -1}, ValueError, "initial_epoch must be at least 0, got -1"),
    ({"validation_split": 1.0}, ValueError, r"validation_split must be a fraction in \[0, 1\), "
                                            r"got 1.0"),
    ({"validation_split": 0.9}, ValueError, r"validation_split=0.9 of 3 samples leaves 0 to "
                                            r"train on and 3 to validate; each needs at least one"),
    ({"validation_split": 1e-17}, ValueError, r"validation_split=1e-17 of 3 samples leaves 3 to "
                                              r"train on and 0 to validate; each needs at least one"),
    ({"validation_split": 0.2, "validation_data": (np.ones((1, 4), np.int64),) * 2}, ValueError,
     "pass validation_data or validation_split, not both"),
    ({"validation_data": (np.ones((2, 4), np.int64),) * 4}, ValueError,
     r"validation_data must be a \(source, target\) pair or a \(source, target, "
     r"sample_weight\) triple, got a tuple of 4"),
    ({"validation_data": (np.ones((2, 4), np.int64), np.ones((3, 2), np.int64))}, ValueError,
     "validation source and target must have the same number of samples, got 2 and 3"),
    ({"validation_data": (np.ones((2, 4), np.int64), np.full((2, 2), 7))}, ValueError,
     r"validation target tokens must lie in 0..6, got values from 7 to 7"),
])
def test_bad_fit_options_are_explained_before_training(options, error, message):
    model = small_model()
    before = model.get_weights()
    with pytest.raises(error, match=f"^{message}$"):
        model.fit(np.ones((3, 4), np.int64), np.ones((3, 2), np.int64), **{"verbose": 0, **options})
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_predict_equals_a_greedy_decode_built_from_the_reference_steps():
    model = ns.EncoderDecoder(9, 6, seed=8, dtype=np.float64)
    source, _ = ns.reversal_task(5, n_in=7, cardinality=9, seed=8)
    enc, dec = model.encoder.params, model.decoder.params
    kernel, bias = model.dense.params["kernel"], model.dense.params["bias"]
    x = ns.one_hot(source, 9).astype(np.float64)
    h, c = np.zeros((5, 6)), np.zeros((5, 6))
    for t in range(7):
        h, c, _ = ns.lstm_step_forward(x[:, t], h, c, *enc.values())
    token, decoded = np.zeros(5, np.int64), []
    for _ in range(4):
        h, c, _ = ns.lstm_step_forward(np.eye(9)[token], h, c, *dec.values())
        token = np.argmax(h @ kernel + bias, axis=1)
        decoded.append(token)
    np.testing.assert_array_equal(model.predict(source, n_steps=4), np.stack(decoded, 1))


def test_predict_keeps_one_set_of_buffers_whatever_the_batch_sizes():
    model = ns.EncoderDecoder(9, 6, seed=8)
    for n in (3, 50, 7, 50, 1):
        model.predict(ns.reversal_task(n, cardinality=9, seed=n)[0], n_steps=3, batch_size=20)
    sizes = {name: ws.nbytes for name, ws in model._inference_workspaces().items()}
    model.predict(ns.reversal_task(20, cardinality=9, seed=1)[0], n_steps=3, batch_size=20)
    after = {name: ws.nbytes for name, ws in model._inference_workspaces().items()}
    # one chunk of 20: h, c, tanh(c), scratch (20, 6) and z, recurrent (20, 24), float32,
    # and, 20 rows being more than the weights' 9 + 6, the stepper's gate-major copies of W,
    # U and b and its table W + b, (9 + 6 + 1 + 9) * 24 in all; nothing is kept for the
    # other sizes
    weights = (9 + 6 + 1 + 9) * 24 * 4
    assert after["encoder"] == (4 * 20 * 6 + 2 * 20 * 24) * 4 + weights
    # the last call's chunk of 1, beside the copy kept from the chunks of 20 before it
    assert sizes["encoder"] == (4 * 1 * 6 + 2 * 1 * 24) * 4 + weights


@pytest.mark.parametrize("dtype", [np.uint64, np.uint8, np.int32])
def test_tokens_of_any_integer_type_train_and_decode_as_int64_ones(dtype):
    # uint64 + int64 is float64 in NumPy: uint64 targets once failed as indices
    source, target = ns.reversal_task(96, seed=4)
    models = [ns.EncoderDecoder(51, 8, seed=2) for _ in range(2)]
    histories = [model.fit(s, t, epochs=1, verbose=0) for model, (s, t) in
                 zip(models, [(source, target), (source.astype(dtype), target.astype(dtype))])]
    assert histories[1].history == histories[0].history
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(models[1].predict(source.astype(dtype)),
                                  models[0].predict(source))
