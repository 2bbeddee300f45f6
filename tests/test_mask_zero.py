"""mask_zero=True: token 0 of a source is padding, which the encoder skips.

The Keras numbers come from tests/fixtures/make_keras_mask_zero_fixture.py:
the tutorial's model with Masking(0.0) in front of its encoder, trained and
run by Keras 3 on sources of 3 to 6 tokens padded at the front.
"""

import os

import numpy as np
import pytest

import npseq2seq as ns
from npseq2seq.activations import softmax
from npseq2seq.gradcheck import check_model

KERAS = os.path.join(os.path.dirname(__file__), "fixtures", "keras_mask_zero.npz")


@pytest.fixture(scope="module")
def keras():
    with np.load(KERAS) as data:
        return dict(data)


def weights(keras, prefix):
    return [keras[f"{prefix}_{i}"] for i in range(8)]


@pytest.mark.parametrize("workers", [1, 2])
def test_training_on_padded_sources_moves_the_weights_as_keras_with_masking(keras, workers):
    model = ns.EncoderDecoder.from_keras_weights(weights(keras, "initial"), mask_zero=True)
    history = model.fit(keras["source"], keras["target"], batch_size=32, shuffle=False,
                        verbose=0, optimizer=ns.Adam(0.01), workers=workers)
    for i, ours in enumerate(model.get_weights()):
        step = np.abs(keras[f"trained_{i}"] - keras[f"initial_{i}"]).max()
        assert np.abs(ours - keras[f"trained_{i}"]).max() <= 1e-4 * step, i
    assert history.history["loss"][0] == pytest.approx(float(keras["loss"]), rel=1e-6)


def test_the_trained_model_encodes_and_decodes_as_keras_with_masking(keras):
    model = ns.EncoderDecoder.from_keras_weights(weights(keras, "trained"), mask_zero=True)
    source, target = keras["test_source"], keras["test_target"]
    h, c = model.encode(source)
    np.testing.assert_allclose(h, keras["h"], atol=1e-6)
    np.testing.assert_allclose(c, keras["c"], atol=1e-6)
    logits, _ = model._forward(source, target)              # the training pass
    np.testing.assert_allclose(softmax(logits), keras["probs"], atol=1e-6)
    stepped = model._logits(source, target, model._new_workspaces())   # evaluate's, stepped
    np.testing.assert_allclose(softmax(stepped), keras["probs"], atol=1e-6)
    np.testing.assert_array_equal(model.predict(source, n_steps=3), keras["greedy"])
    np.testing.assert_array_equal(model.beam_search(source, 1, n_steps=3)[0][:, 0],
                                  keras["greedy"])
    unmasked = ns.EncoderDecoder.from_keras_weights(weights(keras, "trained"))
    assert np.abs(unmasked.encode(source)[0] - keras["h"]).max() > 1e-2


@pytest.mark.parametrize("cls", [ns.EncoderDecoder, ns.RepeatVectorSeq2Seq])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_a_padded_source_has_the_final_state_of_the_source_alone(cls, padding):
    model = cls(9, 8, seed=4, mask_zero=True, **({"n_out": 2} if cls is ns.RepeatVectorSeq2Seq
                                                  else {}))
    alone = np.random.default_rng(4).integers(1, 9, (300, 4))   # 300: the gate-major stepper
    padded = ns.pad_sequences(list(alone), maxlen=7, padding=padding)
    for got, expected in zip(model.encode(padded), model.encode(alone)):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    for got, expected in zip(model.encode(padded[:1]), model.encode(alone[:1])):  # one row
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    target = alone[:, :2][:, ::-1]
    assert model.evaluate(padded, target)["loss"] == pytest.approx(
        model.evaluate(alone, target)["loss"], rel=1e-5)


@pytest.mark.parametrize("cls", [ns.EncoderDecoder, ns.RepeatVectorSeq2Seq])
def test_masked_gradients_match_finite_differences_in_float64(cls):
    model = cls(7, 5, seed=5, dtype=np.float64, mask_zero=True,
                **({"n_out": 2} if cls is ns.RepeatVectorSeq2Seq else {}))
    source = np.array([[0, 0, 3, 4, 5], [1, 2, 3, 4, 6], [0, 6, 0, 2, 0], [0, 0, 0, 0, 1]])
    target = np.array([[4, 3], [2, 1], [2, 6], [1, 1]])
    report = check_model(model, source, target)
    assert report.passed, str(report)


def test_mask_zero_needs_integer_sources_and_survives_saving(tmp_path):
    model = ns.EncoderDecoder(5, 4, seed=0, mask_zero=True)
    with pytest.raises(ValueError, match=r"mask_zero=True: token 0 of an integer source is "
                                         r"padding. A one-hot or real-valued source \(shape "
                                         r"\(2, 3, 5\)\) has no token 0"):
        model.predict(ns.one_hot(np.ones((2, 3), np.int64), 5), n_steps=2)
    model.save(tmp_path / "m.npz")
    assert ns.load(tmp_path / "m.npz").mask_zero is True
    assert ns.EncoderDecoder(5, 4, seed=0).get_config()["mask_zero"] is False
