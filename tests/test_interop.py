"""Weights from Keras and PyTorch, checked against numbers those libraries produced.

The fixtures come from tests/fixtures/make_keras_fixtures.py (Keras 3, models trained
for 300 steps) and tests/fixtures/make_torch_fixtures.py (PyTorch autograd).
"""

import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

import npseq2seq as ns
from npseq2seq.activations import softmax

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with np.load(os.path.join(FIXTURES, name), allow_pickle=False) as data:
        return dict(data)


def keras_weights(data):
    return [data[f"weight_{i}"] for i in range(8)]


@pytest.mark.parametrize("name, cls, activation, extra", [
    ("keras_encoder_decoder.npz", ns.EncoderDecoder, "sigmoid", {}),
    ("keras_encoder_decoder_hard_sigmoid.npz", ns.EncoderDecoder, "hard_sigmoid_keras3", {}),
    ("keras_repeat_vector.npz", ns.RepeatVectorSeq2Seq, "sigmoid", {"n_out": 3}),
])
def test_keras_trained_models_give_keras_numbers(name, cls, activation, extra):
    data = fixture(name)
    model = cls.from_keras_weights(keras_weights(data), recurrent_activation=activation, **extra)
    logits, _ = model._forward(data["source"], data["target"])
    np.testing.assert_allclose(softmax(logits), data["probs"], atol=1e-5)
    np.testing.assert_array_equal(model.predict(data["source"], n_steps=3), data["greedy"])
    # each greedy step's softmax, as the tutorial's predict_sequence (or, for the
    # repeat-vector design, Keras's model.predict) returns them
    np.testing.assert_allclose(model.predict_proba(data["source"], n_steps=3),
                               data["greedy_probs"], atol=1e-6)
    # far from uniform: the fixture model had really learned something
    assert data["probs"].std() > 0.01


def test_repeat_vector_decode_steps_give_keras_predict():
    data = fixture("keras_repeat_vector.npz")
    model = ns.RepeatVectorSeq2Seq.from_keras_weights(keras_weights(data), n_out=3)
    context, _ = model.encode(data["source"])
    state, probs = None, []
    for _ in range(3):
        p, state = model.decode_step(context, state)
        probs.append(p)
    np.testing.assert_allclose(np.stack(probs, 1), data["greedy_probs"], atol=1e-6)


def test_feeding_back_probabilities_gives_the_tutorials_predict_sequence():
    # Keras ran the tutorial's predict_sequence: from the all-zero vector, each softmax fed back
    data, tutorial = fixture("keras_encoder_decoder.npz"), fixture("keras_tutorial_decoding.npz")
    model = ns.EncoderDecoder.from_keras_weights(keras_weights(data))
    wanted = tutorial["tutorial_probs"]                     # (20, 5, 11): two steps past 3
    probs = model.predict_proba(tutorial["source"], n_steps=5, feed_back="probabilities")
    np.testing.assert_allclose(probs, wanted, atol=1e-6)
    np.testing.assert_array_equal(
        model.predict(tutorial["source"], n_steps=5, feed_back="probabilities"),
        wanted.argmax(-1))
    # and it is another decode than the argmax fed back from token 0
    assert np.abs(model.predict_proba(tutorial["source"], n_steps=3) - wanted[:, :3]).max() > 0.01


def test_the_wrong_recurrent_activation_does_not_match():
    data = fixture("keras_encoder_decoder_hard_sigmoid.npz")
    model = ns.EncoderDecoder.from_keras_weights(keras_weights(data), recurrent_activation="sigmoid")
    logits, _ = model._forward(data["source"], data["target"])
    assert np.abs(softmax(logits) - data["probs"]).max() > 1e-3


@pytest.mark.parametrize("cls, extra", [(ns.EncoderDecoder, {}),
                                        (ns.RepeatVectorSeq2Seq, {"n_out": 3})])
def test_round_trips_are_exact(cls, extra):
    model = cls(11, 16, seed=5, **extra)
    model.set_weights([w + np.float32(0.01) * i for i, w in enumerate(model.get_weights())])
    via_keras = cls.from_keras_weights(model.get_weights(), **extra)
    via_torch = cls.from_torch_state_dict(model.to_torch_state_dict(), **extra)
    for other in (via_keras, via_torch):
        for a, b in zip(model.get_weights(), other.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_torch_state_dict_layout():
    state = ns.EncoderDecoder(11, 16, seed=0).to_torch_state_dict()
    assert state["encoder.weight_ih_l0"].shape == (64, 11)
    assert state["encoder.weight_hh_l0"].shape == (64, 16)
    assert state["decoder.bias_hh_l0"].shape == (64,) and not state["decoder.bias_hh_l0"].any()
    assert state["dense.weight"].shape == (11, 16) and state["dense.bias"].shape == (11,)


def test_torch_biases_are_summed():
    model = ns.EncoderDecoder(5, 3, seed=0)
    state = model.to_torch_state_dict()
    state["encoder.bias_ih_l0"] = np.full(12, 0.25, np.float32)
    state["encoder.bias_hh_l0"] = np.full(12, 0.5, np.float32)
    loaded = ns.EncoderDecoder.from_torch_state_dict(state)
    np.testing.assert_array_equal(loaded.encoder.params["bias"], np.full(12, 0.75))


def test_bad_weight_files_name_the_array_and_the_shape():
    weights = ns.EncoderDecoder(11, 16, seed=0).get_weights()
    with pytest.raises(ValueError, match=r"needs 8 Keras arrays.*got 7"):
        ns.EncoderDecoder.from_keras_weights(weights[:7])
    bad = list(weights)
    bad[5] = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match=r"decoder/bias must have shape \(64,\), got \(10,\)"):
        ns.EncoderDecoder.from_keras_weights(bad)
    bad = list(weights)
    bad[1] = np.zeros(16, np.float32)
    with pytest.raises(ValueError, match=r"encoder/recurrent_kernel must be a 2-D array, got shape \(16,\)"):
        ns.EncoderDecoder.from_keras_weights(bad)
    for cls, kwargs in ((ns.EncoderDecoder, {}), (ns.RepeatVectorSeq2Seq, {"n_out": 3})):
        state = cls(11, 16, seed=0, **kwargs).to_torch_state_dict()
        state["dense.weight"] = np.zeros((11, 15), np.float32)      # (tokens, units - 1)
        with pytest.raises(ValueError, match=r"^dense.weight must have shape \(11, 16\) for 11 "
                                             r"tokens and 16 units .*, got \(11, 15\)$"):
            cls.from_torch_state_dict(state, **kwargs)
    state = ns.EncoderDecoder(11, 16, seed=0).to_torch_state_dict()
    state["decoder.weight_ih_l0"] = np.zeros((64, 10), np.float32)
    with pytest.raises(ValueError, match=r"^decoder.weight_ih_l0 must have shape \(64, 11\)"):
        ns.EncoderDecoder.from_torch_state_dict(state)
    state = ns.EncoderDecoder(11, 16, seed=0).to_torch_state_dict()
    del state["dense.bias"]
    with pytest.raises(ValueError, match=r"lacks \['dense.bias'\]"):
        ns.EncoderDecoder.from_torch_state_dict(state)


TORCH_CASES = [("torch_encoder_decoder.npz", ns.EncoderDecoder, {}),
               ("torch_repeat_vector.npz", ns.RepeatVectorSeq2Seq, {"n_out": 3})]


def torch_state(data, prefix="state."):
    return {key[len(prefix):]: value for key, value in data.items() if key.startswith(prefix)}


@pytest.mark.parametrize("name, cls, extra", TORCH_CASES)
def test_pytorch_models_give_pytorch_outputs_in_float32(name, cls, extra):
    data = fixture(name)
    model = cls.from_torch_state_dict(torch_state(data), **extra)
    logits, _ = model._forward(data["source"], data["target"])
    np.testing.assert_allclose(softmax(logits), data["probs"], atol=1e-5)


@pytest.mark.parametrize("name, cls, extra", TORCH_CASES)
def test_our_gradients_equal_pytorch_autograd_in_float64(name, cls, extra):
    data = fixture(name)
    model = cls.from_torch_state_dict(torch_state(data), dtype=np.float64, **extra)
    loss, grads = model.loss_and_gradients(data["source"], data["target"])
    assert loss == pytest.approx(float(data["loss"]), rel=1e-12)
    torch_grads = torch_state(data, "grad.")
    expected = []
    for prefix in ("encoder", "decoder"):
        # z = x W_ih^T + b_ih + h W_hh^T + b_hh: both biases get the same gradient
        np.testing.assert_allclose(torch_grads[f"{prefix}.bias_ih_l0"],
                                   torch_grads[f"{prefix}.bias_hh_l0"], rtol=1e-12, atol=1e-18)
        expected += [torch_grads[f"{prefix}.weight_ih_l0"].T, torch_grads[f"{prefix}.weight_hh_l0"].T,
                     torch_grads[f"{prefix}.bias_ih_l0"]]
    expected += [torch_grads["dense.weight"].T, torch_grads["dense.bias"]]
    for name_, ours, theirs in zip(ns.models.base.KERAS_WEIGHT_NAMES, grads, expected):
        assert ns.gradcheck.relative_error(ours, theirs) < 1e-9, name_


# --- Keras 3 files (needs h5py) ---------------------------------------------------------

KERAS_FILES = [("keras_encoder_decoder", ns.EncoderDecoder),
               ("keras_encoder_decoder_hard_sigmoid", ns.EncoderDecoder),
               ("keras_repeat_vector", ns.RepeatVectorSeq2Seq)]


@pytest.mark.parametrize("name, cls", KERAS_FILES)
def test_keras_file_loads_with_its_activation_and_sizes(name, cls):
    pytest.importorskip("h5py")
    model = ns.load_keras_file(os.path.join(FIXTURES, name + ".keras"))
    data = fixture(name + ".npz")
    assert type(model) is cls
    logits, _ = model._forward(data["source"], data["target"])
    np.testing.assert_allclose(softmax(logits), data["probs"], atol=1e-5)
    np.testing.assert_array_equal(model.predict(data["source"], n_steps=3), data["greedy"])


def extract_weights_h5(name, tmp_path):
    import zipfile

    path = tmp_path / f"{name}.weights.h5"
    with zipfile.ZipFile(os.path.join(FIXTURES, name + ".keras")) as archive:
        path.write_bytes(archive.read("model.weights.h5"))
    return path


def test_bare_weights_file_needs_what_only_the_config_knew(tmp_path):
    pytest.importorskip("h5py")
    path = extract_weights_h5("keras_repeat_vector", tmp_path)
    with pytest.raises(ValueError, match="RepeatVector model; pass its output length n_out"):
        ns.load_keras_file(path)
    model = ns.load_keras_file(path, n_out=3)
    data = fixture("keras_repeat_vector.npz")
    np.testing.assert_array_equal(model.predict(data["source"]), data["greedy"])
    hard = ns.load_keras_file(extract_weights_h5("keras_encoder_decoder_hard_sigmoid", tmp_path),
                              recurrent_activation="hard_sigmoid_keras3")
    data = fixture("keras_encoder_decoder_hard_sigmoid.npz")
    np.testing.assert_array_equal(hard.predict(data["source"], n_steps=3), data["greedy"])


def test_unknown_keras_architecture_is_named(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "three.weights.h5"
    with h5py.File(path, "w") as file:
        for name in ("lstm", "lstm_1", "lstm_2"):
            for i, shape in enumerate([(3, 8), (2, 8), (8,)]):
                file[f"layers/{name}/cell/vars/{i}"] = np.zeros(shape, np.float32)
        file["layers/dense/vars/0"] = np.zeros((2, 3), np.float32)
        file["layers/dense/vars/1"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"unknown architecture; expected two LSTM layers.*lstm_2"):
        ns.load_keras_file(path)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a Keras 3 .keras file"):
        ns.load_keras_file(junk)


# --- Keras 2's .h5 files: tests/fixtures/make_keras_h5_fixtures.py ------------------------

H5_FILES = [("keras2_encoder_decoder", ns.EncoderDecoder, "sigmoid"),
            ("keras2_encoder_decoder_weights", ns.EncoderDecoder, "sigmoid"),    # weights only
            ("keras2_hard_sigmoid", ns.EncoderDecoder, "hard_sigmoid"),          # 0.2x + 0.5
            ("keras3_hard_sigmoid", ns.EncoderDecoder, "hard_sigmoid_keras3"),   # x / 6 + 0.5
            ("keras2_repeat_vector", ns.RepeatVectorSeq2Seq, "sigmoid")]


@pytest.mark.parametrize("stem, cls, activation", H5_FILES)
def test_an_h5_file_gives_the_numbers_the_keras_that_wrote_it_computes(stem, cls, activation):
    pytest.importorskip("h5py")
    model = ns.load_keras_file(os.path.join(FIXTURES, stem + ".h5"))
    assert type(model) is cls and model.recurrent_activation == activation
    assert getattr(model, "n_out", 3) == 3                  # from the config's RepeatVector
    data = fixture("keras_h5.npz")
    logits, _ = model._forward(data["source"], data["target"])
    np.testing.assert_allclose(softmax(logits), data[f"probs_{stem}"], atol=1e-5)


def rewritten_h5(tmp_path, stem, change):
    """A copy of a fixture .h5 file, `change`d (given the open h5py File)."""
    import h5py

    path = tmp_path / f"{stem}.h5"
    shutil.copyfile(os.path.join(FIXTURES, stem + ".h5"), path)
    with h5py.File(path, "r+") as file:
        change(file)
    return path


def test_an_h5_file_of_keras_2_0_with_bytes_and_a_bare_layer_list_loads(tmp_path):
    # Keras 2.0-2.1 wrote a Sequential's config as a bare list, and its attributes as bytes
    pytest.importorskip("h5py")

    def as_keras_2_0(file):         # as it wrote them: NumPy byte strings, read back as such
        config = json.loads(file.attrs["model_config"])
        config["config"] = config["config"]["layers"]
        file.attrs["model_config"] = np.bytes_(json.dumps(config).encode())
        file.attrs["keras_version"] = np.bytes_(b"2.1.6")
        for group in [file["model_weights"], *file["model_weights"].values()]:
            for key in ("layer_names", "weight_names"):
                if key in group.attrs:
                    group.attrs[key] = np.array([n.encode() for n in group.attrs[key]], "S")

    model = ns.load_keras_file(rewritten_h5(tmp_path, "keras2_repeat_vector", as_keras_2_0))
    assert type(model) is ns.RepeatVectorSeq2Seq and model.n_out == 3
    data = fixture("keras_h5.npz")
    np.testing.assert_allclose(softmax(model._forward(data["source"], data["target"])[0]),
                               data["probs_keras2_repeat_vector"], atol=1e-5)


def test_an_h5_file_of_another_architecture_names_its_layers(tmp_path):
    pytest.importorskip("h5py")

    def as_gru(file):
        config = json.loads(file.attrs["model_config"])
        config["config"]["layers"][3]["class_name"] = "GRU"
        file.attrs["model_config"] = json.dumps(config)

    path = rewritten_h5(tmp_path, "keras2_encoder_decoder", as_gru)
    with pytest.raises(ValueError, match=r"unknown architecture; expected two LSTM layers and "
                                         r"one Dense .*found layers input_1 \(InputLayer, 0 "
                                         r"weights\), input_2 \(InputLayer, 0 weights\), lstm "
                                         r"\(LSTM, 3 weights\), lstm_1 \(GRU, 3 weights\)"):
        ns.load_keras_file(path)
    path = rewritten_h5(tmp_path, "keras2_encoder_decoder_weights",
                        lambda file: file.attrs.__setitem__("layer_names", ["lstm", "dense"]))
    with pytest.raises(ValueError, match=r"found layers lstm \(3 weights\), dense \(2 weights\)"):
        ns.load_keras_file(path)


@pytest.mark.parametrize("change, message", [
    (lambda file: file.attrs.__setitem__("model_config", "{not json"),
     r"keras2_encoder_decoder.h5: its model_config is not JSON \(Expecting property name"),
    (lambda file: file.attrs.__setitem__("model_config", "[1, 2]"),
     r"its model_config is not a model's \(a JSON object\), got list"),
    (lambda file: file["model_weights"]["lstm"].attrs.__delitem__("weight_names"),
     r"keras2_encoder_decoder.h5 is not a Keras weights file \("),
    (lambda file: file["model_weights"].__delitem__("dense"),
     r"keras2_encoder_decoder.h5 is not a Keras weights file \("),
])
def test_a_damaged_h5_file_is_named(tmp_path, change, message):
    pytest.importorskip("h5py")
    with pytest.raises(ValueError, match=message):
        ns.load_keras_file(rewritten_h5(tmp_path, "keras2_encoder_decoder", change))


HDF5_START = b"\x89HDF\r\n\x1a\n"


@pytest.mark.parametrize("name, content, error, words", [
    ("junk.weights.h5", b"nope", ValueError, "is not a Keras weights file (it is not an HDF5"),
    ("text.weights.h5", b"x" * 3000, ValueError, "is not a Keras weights file"),
    ("junk.keras", b"nope", ValueError, "is not a Keras 3 .keras file"),
    ("hdf5.weights.h5", HDF5_START + b"rest", ImportError, "needs h5py: pip install h5py"),
    ("user_block.weights.h5", bytes(1024) + HDF5_START + b"rest", ImportError, "needs h5py"),
], ids=["junk", "text", "junk-keras", "hdf5", "hdf5-after-user-block"])
def test_without_h5py_a_file_that_is_not_hdf5_is_named_before_h5py_is_asked_for(
        tmp_path, monkeypatch, name, content, error, words):
    monkeypatch.setitem(sys.modules, "h5py", None)      # import h5py now fails
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as raised:
        ns.load_keras_file(path)
    assert words in str(raised.value)


def test_without_h5py_a_real_keras_file_asks_for_h5py(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="needs h5py"):
        ns.load_keras_file(os.path.join(FIXTURES, "keras_encoder_decoder.keras"))


@pytest.mark.parametrize("name", ["missing.keras", "missing.weights.h5"])
def test_a_missing_keras_file_is_named_as_missing(tmp_path, name):
    # (with or without h5py: the file is looked for first)
    with pytest.raises(FileNotFoundError, match=re.escape(f"no such Keras file: {tmp_path / name}")):
        ns.load_keras_file(tmp_path / name)
    with pytest.raises(IsADirectoryError, match=re.escape(
            f"{tmp_path} is a folder; expected a .keras or .h5 file")):
        ns.load_keras_file(tmp_path)


# --- the import command ------------------------------------------------------------------

def test_cli_imports_keras_and_torch_weights(tmp_path, capsys):
    from npseq2seq.cli import main

    data = fixture("keras_encoder_decoder.npz")
    keras_npz = tmp_path / "w.npz"
    np.savez(keras_npz, *keras_weights(data))            # what a Keras user writes
    out = tmp_path / "model.npz"
    assert main(["import", str(keras_npz), "--out", str(out), "--n-in", "5"]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), *map(str, data["source"][0])]) == 0
    assert capsys.readouterr().out.split() == [str(t) for t in data["greedy"][0]]
    assert main(["evaluate", str(out), "--samples", "50"]) == 0

    torch_data = fixture("torch_encoder_decoder.npz")
    torch_npz = tmp_path / "state.npz"
    np.savez(torch_npz, **torch_state(torch_data))
    assert main(["import", str(torch_npz), "--out", str(out)]) == 0
    loaded = ns.load(out)
    expected = ns.EncoderDecoder.from_torch_state_dict(torch_state(torch_data))
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), expected.get_weights()))


def test_cli_imports_a_keras_2_h5_file_with_its_activation(tmp_path, capsys):
    pytest.importorskip("h5py")
    from npseq2seq.cli import main

    out = tmp_path / "model.npz"
    assert main(["import", os.path.join(FIXTURES, "keras2_hard_sigmoid.h5"), "--out", str(out),
                 "--n-in", "5"]) == 0
    assert capsys.readouterr().out.startswith("EncoderDecoder: 11 features, 16 units; saved")
    model = ns.load(out)
    assert model.recurrent_activation == "hard_sigmoid" and model.target_length == 3
    data = fixture("keras_h5.npz")
    np.testing.assert_allclose(softmax(model._forward(data["source"], data["target"])[0]),
                               data["probs_keras2_hard_sigmoid"], atol=1e-5)


def test_cli_import_errors_are_one_line(tmp_path, capsys):
    from npseq2seq.cli import main

    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    single = tmp_path / "single.npz"
    with open(single, "wb") as file:                # one array, np.save's .npy format
        np.save(file, np.zeros(3))
    for path in (text, single):
        assert main(["import", str(path), "--out", str(tmp_path / "m.npz")]) == 2
        assert capsys.readouterr().err == (f"npseq2seq import: error: {path} is not a .npz of "
                                           f"weight arrays: it is not an .npz archive, or not "
                                           f"a whole one\n")
    odd = tmp_path / "odd.npz"
    np.savez(odd, kernel=np.zeros(3))
    assert main(["import", str(odd), "--out", str(tmp_path / "m.npz")]) == 2
    assert "expected arr_0 .. arr_7" in capsys.readouterr().err
    ours = tmp_path / "ours.npz"
    ns.EncoderDecoder(5, 2, seed=0).save(ours)
    assert main(["import", str(ours), "--out", str(tmp_path / "m.npz")]) == 2
    assert capsys.readouterr().err == (f"npseq2seq import: error: {ours} is an npseq2seq model "
                                       f"file already: no import needed (npseq2seq evaluate / "
                                       f"predict read it, ns.load loads it)\n")
