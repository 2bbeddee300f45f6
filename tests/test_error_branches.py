"""Error branches that no other test reached (found with coverage.py): each bad
input raises the named error, and its message says what was expected and what
was given."""

import json

import numpy as np
import pytest

import npseq2seq as ns
from npseq2seq import gradcheck
from npseq2seq.optimizers import get_optimizer

MODEL = ns.EncoderDecoder(7, 4, seed=0)
STATE = MODEL.encode(np.ones((3, 5), np.int64))
TOKENS = np.zeros(3, np.int64)


@pytest.mark.parametrize("state, error, message", [
    (STATE[0], TypeError, r"state must be the pair \(h, c\).*got ndarray"),
    ((STATE[0][:2], STATE[1]), ValueError,
     r"state h must be a \(3, 4\) float array .*got float32 of shape \(2, 4\)"),
    ((STATE[0], np.full((3, 4), np.inf)), ValueError,
     r"state c must be finite, got inf at index \(0, 0\)"),
    ((STATE[0], STATE[1].astype(str)), ValueError, r"state c must be a \(3, 4\) float array"),
])
def test_decode_step_refuses_a_bad_state(state, error, message):
    with pytest.raises(error, match=message):
        MODEL.decode_step(TOKENS, state)


REPEAT = ns.RepeatVectorSeq2Seq(7, 4, 2, seed=0)
CONTEXT, _ = REPEAT.encode(np.ones((3, 5), np.int64))


@pytest.mark.parametrize("context, state, error, message", [
    (TOKENS, None, ValueError, r"context must be a \(samples, 4\) float array \(the encoder's h "
                               r"from encode, .*got int64 of shape \(3,\)"),
    (CONTEXT[:0], None, ValueError, r"context .*, at least one\), got float32 of shape \(0, 4\)"),
    (np.full((3, 4), np.nan), None, ValueError,
     r"context must be finite, got nan at index \(0, 0\)"),
    (CONTEXT, CONTEXT, TypeError, r"state must be the pair \(h, c\) returned by the decode_step "
                                  r"before \(None at the first step\), got ndarray"),
    (CONTEXT, (CONTEXT, CONTEXT[:2]), ValueError,
     r"state c must be a \(3, 4\) float array .*got float32 of shape \(2, 4\)"),
])
def test_repeat_vector_decode_step_refuses_a_bad_context_or_state(context, state, error, message):
    with pytest.raises(error, match=message):
        REPEAT.decode_step(context, state)


@pytest.mark.parametrize("replace, error, message", [
    (lambda w: w.astype(str), TypeError, r"weight encoder/kernel must be a real number array, "
                                         r"got dtype <U"),
    (lambda w: np.where(w == w.flat[0], np.nan, w), ValueError,
     r"weight encoder/kernel must be finite, got nan at index \(0, 0\)"),
])
def test_set_weights_refuses_what_is_not_a_finite_number(replace, error, message):
    model = ns.EncoderDecoder(7, 4, seed=0)
    weights = model.get_weights()
    before = [w.copy() for w in weights]
    with pytest.raises(error, match=message):
        model.set_weights([replace(weights[0])] + weights[1:])
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)         # nothing half-set


def test_dense_names_the_features_it_expects():
    with pytest.raises(ValueError, match=r"must end in 4 features, got shape \(2, 3, 5\)"):
        ns.Dense(4, 6, seed=0).forward(np.ones((2, 3, 5)))


def test_lstm_backward_names_a_final_state_gradient_of_the_wrong_shape():
    layer = ns.LSTM(3, 4, seed=0)
    _, _, cache = layer.forward(np.ones((2, 5, 3)))
    with pytest.raises(ValueError, match=r"d_state dc must have shape \(2, 4\), got \(4, 2\)"):
        layer.backward(None, cache, d_state=(np.zeros((2, 4)), np.zeros((4, 2))))


@pytest.mark.parametrize("mask, message", [
    (np.ones((2, 4)), r"mask must have shape \(2, 3\) \(one weight per step\), got \(2, 4\)"),
    (np.zeros((2, 3)), r"mask selects no steps"),
])
def test_a_loss_mask_of_the_wrong_shape_or_empty_is_named(mask, message):
    logits, targets = np.zeros((2, 3, 5)), np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match=message):
        ns.softmax_cross_entropy(logits, targets, mask=mask)


def test_integer_logits_give_the_loss_float_logits_give():
    logits = np.arange(30).reshape(2, 3, 5) % 4
    targets = np.array([[0, 1, 2], [3, 4, 0]])
    from_int, grad_int = ns.softmax_cross_entropy(logits, targets)
    from_float, grad_float = ns.softmax_cross_entropy(logits.astype(np.float64), targets)
    assert from_int == from_float
    np.testing.assert_array_equal(grad_int, grad_float)


def _saved_arrays(tmp_path):
    path = tmp_path / "model.npz"
    MODEL.save(path)
    with np.load(path) as arrays:
        return dict(arrays)


def _config_changed(config, change):
    config = json.loads(str(config))
    change(config)
    return np.array(json.dumps(config))


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update(__config__=np.array("{not json")), r"its config is not valid JSON"),
    (lambda a: a.update(__config__=np.array("[1, 2]")), r"is not an npseq2seq model file$"),
    (lambda a: a.update(__config__=_config_changed(a["__config__"],
                                                   lambda c: c.update(version=99))),
     r"has format version 99; this npseq2seq reads version 1"),
    (lambda a: a.update(__config__=_config_changed(a["__config__"],
                                                   lambda c: c.update(model="Transformer"))),
     r"unknown model class 'Transformer'; expected one of \['EncoderDecoder', "),
])
def test_a_model_file_with_a_bad_config_is_named(tmp_path, edit, message):
    arrays = _saved_arrays(tmp_path)
    edit(arrays)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=message):
        ns.load(bad)


def test_a_model_file_missing_an_optimizer_slot_is_named(tmp_path):
    model = ns.EncoderDecoder(7, 4, seed=0)
    model.fit(np.ones((4, 5), np.int64), np.ones((4, 2), np.int64), verbose=0)
    path = tmp_path / "trained.npz"
    model.save(path)
    with np.load(path) as arrays:
        arrays = dict(arrays)
    slot = next(key for key in arrays if key.startswith("optimizer/"))
    del arrays[slot]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=f"{slot} must have shape .*, got missing"):
        ns.load(tmp_path / "bad.npz")


def _torch_state(**changes):
    state = MODEL.to_torch_state_dict()
    state.update(changes)
    return state


@pytest.mark.parametrize("state, error, message", [
    (_torch_state(**{"encoder.bias_ih_l0": np.zeros((16, 1))}), ValueError,
     r"encoder.bias_ih_l0 must have 1 dimensions, got shape \(16, 1\)"),
    (_torch_state(**{"decoder.bias_hh_l0": np.zeros(12)}), ValueError,
     r"decoder.bias_ih_l0 and bias_hh_l0 must have the same shape, got \(16,\) and \(12,\)"),
    (_torch_state(**{"dense.bias": np.array(["a"] * 7)}), TypeError,
     r"dense.bias must be a real number array, got dtype <U1"),
])
def test_a_bad_torch_state_dict_is_named(state, error, message):
    with pytest.raises(error, match=message):
        ns.EncoderDecoder.from_torch_state_dict(state)


def test_update_part_refuses_to_clip():
    optimizer = ns.Adam(clipnorm=1.0)
    with pytest.raises(ValueError, match="update_part cannot clip"):
        optimizer.update_part(np.zeros(4), np.zeros(4), slice(0, 2))


def test_an_unknown_optimizer_config_is_named():
    with pytest.raises(ValueError, match=r"unknown optimizer config \{'name': 'adagrad'\}"):
        get_optimizer({"name": "adagrad"})


def test_one_hot_decode_needs_a_class_axis():
    with pytest.raises(ValueError, match=r"\(\.\.\., n_classes\) vectors, got shape \(\)"):
        ns.one_hot_decode(np.float64(0.5))


def test_numerical_gradient_takes_three_or_five_points():
    with pytest.raises(ValueError, match="points must be 3 or 5, got 4"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(2), points=4)


def test_a_report_names_a_row_it_does_not_have():
    layer = ns.Dense(3, 2, seed=0, dtype=np.float64)
    report = gradcheck.check_dense(layer, np.ones((4, 3)))
    assert report["kernel"].name == "kernel"
    with pytest.raises(KeyError, match="nothing"):
        report["nothing"]
