import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npseq2seq as ns
from npseq2seq.activations import softmax
from npseq2seq.gradcheck import check_model


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 6), n_out=st.integers(1, 4),
       samples=st.integers(1, 4), one_hot_source=st.booleans())
def test_whole_model_gradients_match_finite_differences(seed, n_in, n_out, samples, one_hot_source):
    n_out = min(n_out, n_in)
    model = ns.RepeatVectorSeq2Seq(7, 4, n_out, seed=seed, dtype=np.float64)
    source, target = ns.reversal_task(samples, n_in, n_out, cardinality=7, seed=seed)
    if one_hot_source:
        source = ns.one_hot(source, 7, dtype=np.float64)
    report = check_model(model, source, target)
    assert report.passed, str(report)


def test_gradients_from_every_repeated_copy_are_summed():
    """Encoder gradients equal those of an explicit 'h fed n_out times' computation."""
    model = ns.RepeatVectorSeq2Seq(7, 5, 3, seed=1, dtype=np.float64)
    source, target = ns.reversal_task(4, 5, 3, cardinality=7, seed=1)
    logits, (enc_cache, dec_cache, dense_cache) = model._forward(source, target)
    _, dlogits = ns.softmax_cross_entropy(logits, target)
    d_outputs = model.dense.backward(dlogits, dense_cache)
    d_repeated, _ = model.decoder.backward(d_outputs, dec_cache)
    model._zero_grads()
    _, grads = model.loss_and_gradients(source, target)
    # Only the t-th copy's gradient: a model whose other copies got none would
    # give a smaller encoder gradient; the sum over copies must be what arrives.
    model._zero_grads()
    model.encoder.backward(None, enc_cache, d_state=(d_repeated.sum(axis=1), None))
    np.testing.assert_allclose(model.encoder.grads["kernel"], grads[0], rtol=1e-12)
    model._zero_grads()
    model.encoder.backward(None, enc_cache, d_state=(d_repeated[:, 0], None))
    assert not np.allclose(model.encoder.grads["kernel"], grads[0])


def test_keras_sequential_weight_order_and_shapes():
    shapes = [w.shape for w in ns.RepeatVectorSeq2Seq(51, 128, 3, seed=1).get_weights()]
    assert shapes == [(51, 512), (128, 512), (512,), (128, 512), (128, 512), (512,), (128, 51), (51,)]


def test_learns_the_reversal_task_and_survives_save_and_load(tmp_path):
    source, target = ns.reversal_task(6000, n_in=5, n_out=3, cardinality=11, seed=0)
    test_source, test_target = ns.reversal_task(500, n_in=5, n_out=3, cardinality=11, seed=99)
    model = ns.RepeatVectorSeq2Seq(11, 32, 3, seed=0)
    model.fit(source, target, epochs=12, verbose=0, optimizer=ns.Adam(learning_rate=0.01))
    result = model.evaluate(test_source, test_target)
    assert result["seq_acc"] >= 0.95, result  # 100% on seeds 0-3; a broken backward stays far below
    model.save(tmp_path / "rv.npz")
    loaded = ns.load(tmp_path / "rv.npz")
    assert type(loaded) is ns.RepeatVectorSeq2Seq and loaded.n_out == 3
    np.testing.assert_array_equal(loaded.predict(test_source), model.predict(test_source))


def test_output_length_is_fixed():
    model = ns.RepeatVectorSeq2Seq(7, 4, 3, seed=0)
    for run in (model.fit, model.loss, model.evaluate):
        with pytest.raises(ValueError, match="fixed at n_out=3, got targets of length 2"):
            run(np.ones((2, 4), np.int64), np.ones((2, 2), np.int64))
    for run in (model.predict, model.predict_proba):
        with pytest.raises(ValueError, match="fixed at n_out=3, got n_steps=4"):
            run(np.ones((2, 4), np.int64), n_steps=4)
    assert model.predict(np.ones((2, 4), np.int64)).shape == (2, 3)
    assert model.predict_proba(np.ones((2, 4), np.int64), n_steps=3).shape == (2, 3, 7)


def test_validation_targets_of_another_length_are_refused_before_training():
    # before, the epoch trained and then evaluate refused the validation pair
    source, target = ns.reversal_task(64, n_in=4, n_out=2, cardinality=9, seed=1)
    held = ns.reversal_task(16, n_in=4, n_out=3, cardinality=9, seed=2)
    model = ns.RepeatVectorSeq2Seq(9, 4, n_out=2, seed=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match="^this model's output length is fixed at n_out=2, got "
                                         "validation targets of length 3$"):
        model.fit(source, target, verbose=0, validation_data=held)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def stepped(model, context, steps):
    """Each decode_step's probabilities, (N, steps, V), from the decoder's zero start."""
    state, probs = None, []
    for _ in range(steps):
        p, state = model.decode_step(context, state)
        probs.append(p)
    return np.stack(probs, 1)


@pytest.mark.parametrize("dtype, threads, batch_size", [(np.float32, 1, 512),
                                                        (np.float32, 2, 7), (np.float64, 1, 512)])
def test_decode_step_from_encode_gives_predict_proba(dtype, threads, batch_size):
    source, target = ns.reversal_task(300, n_in=5, n_out=3, cardinality=11, seed=3)
    model = ns.RepeatVectorSeq2Seq(11, 16, 3, seed=3, dtype=dtype)
    model.fit(source, target, verbose=0)        # weights away from their initial values
    h, c = model.encode(source[:40])
    probs = stepped(model, h, 3)
    assert probs.dtype == dtype
    # the same operations: equal to the bit with NumPy 2.4, within 2e-8 with NumPy 1.22,
    # whose products of the two shapes round apart
    np.testing.assert_allclose(
        probs, model.predict_proba(source[:40], threads=threads, batch_size=batch_size),
        rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(probs.argmax(-1), model.predict(source[:40]))
    # encode's c is the encoder's, not the decoder's start: taken as state, it is another model
    assert not np.allclose(model.decode_step(h, (h, c))[0], probs[:, 0])


def test_decode_step_steps_on_past_n_out_as_the_decoder_would():
    model = ns.RepeatVectorSeq2Seq(7, 4, 2, seed=0)
    source = ns.reversal_task(5, n_in=4, n_out=2, cardinality=7, seed=1)[0]
    h, _ = model.encode(source)
    outputs, _, _ = model.decoder.forward(np.repeat(h[:, None], 5, axis=1))
    logits, _ = model.dense.forward(outputs)
    np.testing.assert_allclose(stepped(model, h, 5), softmax(logits), rtol=1e-6, atol=1e-7)


def test_feed_back_is_taken_and_changes_nothing_as_this_decoder_reads_no_outputs():
    model = ns.RepeatVectorSeq2Seq(7, 4, 3, seed=0)
    source, target = ns.reversal_task(20, n_in=4, n_out=3, cardinality=7, seed=1)
    for run in (model.predict, model.predict_proba):
        np.testing.assert_array_equal(run(source, feed_back="probabilities"), run(source))
        with pytest.raises(ValueError, match="feed_back must be 'tokens' .*got 'argmax'"):
            run(source, feed_back="argmax")
    assert (model.evaluate(source, target, feed_back="probabilities")
            == model.evaluate(source, target))
