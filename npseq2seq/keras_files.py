"""Read a Keras model file (needs the optional h5py): Keras 3's `.keras` or
`.weights.h5`, or the HDF5 `.h5` Keras 2 wrote (`model.save("model.h5")`, or
`model.save_weights("w.h5")`; Keras 3 still writes it for a name ending in .h5).

Keras 3 stores each layer's weights in HDF5 under `layers/<name>/...`:

    layers/lstm/cell/vars/0, 1, 2         kernel, recurrent_kernel, bias
    layers/lstm_1/cell/vars/0, 1, 2       the second LSTM
    layers/dense/vars/0, 1                Dense kernel, bias
    layers/time_distributed/layer/vars/.. Dense inside TimeDistributed (design B)
    layers/repeat_vector                  present in design B only

Weights are mapped by role: the first LSTM (in the file's numbering) is the
encoder, the second the decoder, the Dense the output layer. A `.keras` file
also holds `config.json`, from which the recurrent activation and the
RepeatVector length are read; for a bare `.weights.h5` pass them.

The older HDF5 format lists the layers in the model's order (attribute
`layer_names`, under `model_weights` in a whole-model file) and each layer's
weights in Keras's order (attribute `weight_names`): the first LSTM is the
encoder here too. A whole-model file's `model_config` gives the activation,
read as the `keras_version` that wrote it meant it (`hard_sigmoid` was
clip(0.2x + 0.5) before Keras 3).
"""

import io
import json
import os
import re
import zipfile

import numpy as np

from .io import check_readable

__all__ = ["load_keras_file"]

# Keras 3 names -> ours. Keras 3's "hard_sigmoid" is clip(x/6 + 0.5).
KERAS3_ACTIVATIONS = {"sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid_keras3"}
# ... and Keras 2's: its "hard_sigmoid" was clip(0.2x + 0.5)
KERAS2_ACTIVATIONS = {"sigmoid": "sigmoid", "hard_sigmoid": "hard_sigmoid"}


def load_keras_file(path, recurrent_activation=None, n_out=None, dtype=np.float32):
    """An EncoderDecoder or RepeatVectorSeq2Seq holding the weights in a Keras file:
    .keras, .weights.h5, or Keras 2's .h5 (see above)."""
    from .models import EncoderDecoder, RepeatVectorSeq2Seq

    check_readable(path, "Keras file", "a .keras or .h5 file")
    config, activations = {}, KERAS3_ACTIVATIONS
    if str(path).endswith(".keras"):
        config, weights_file = _open_keras_archive(path)    # a zip: no h5py needed yet
    else:
        weights_file = path
    h5py = _import_h5py(path, weights_file)
    try:
        with h5py.File(weights_file, "r") as file:
            if "layers" in file:
                weights, repeat_vector = _weights_by_role(path, file["layers"])
            else:
                weights, repeat_vector, config, activations = _older_weights(path, file)
    except (OSError, KeyError) as error:
        raise ValueError(f"{path} is not a Keras weights file ({error})") from None
    settings = _settings_from_config(config, activations)
    activation = recurrent_activation or settings.get("recurrent_activation", "sigmoid")
    if repeat_vector:
        n_out = n_out or settings.get("n_out")
        if n_out is None:
            raise ValueError(f"{path} holds a RepeatVector model; pass its output length n_out")
        return RepeatVectorSeq2Seq.from_keras_weights(weights, activation, n_out=n_out, dtype=dtype)
    return EncoderDecoder.from_keras_weights(weights, activation, dtype=dtype)


def _import_h5py(path, weights_file):
    """h5py, or an error: that the file is not HDF5 at all, or else that h5py is needed."""
    try:
        import h5py
    except ImportError:
        if not _has_hdf5_signature(weights_file):
            raise ValueError(f"{path} is not a Keras weights file (it is not an HDF5 "
                             f"file)") from None
        raise ImportError("reading .keras and .h5 files needs h5py: pip install h5py "
                          "(or pip install 'npseq2seq[keras]'); or save the weights from "
                          "Keras with np.savez('w.npz', *model.get_weights())") from None
    return h5py


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _has_hdf5_signature(file):
    """Whether a path or binary stream holds the HDF5 signature where the format puts
    it: at byte 0, 512, 1024, 2048, ... (after a user block of that size)."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as stream:
            return _has_hdf5_signature(stream)
    offset = 0
    while True:
        file.seek(offset)
        start = file.read(len(HDF5_SIGNATURE))
        if start == HDF5_SIGNATURE:
            return True
        if len(start) < len(HDF5_SIGNATURE):
            return False
        offset = max(512, 2 * offset)


def _open_keras_archive(path):
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights = io.BytesIO(archive.read("model.weights.h5"))
    except (zipfile.BadZipFile, KeyError, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a Keras 3 .keras file ({error})") from None
    return config, weights


def _numbered(names, stem):
    """'lstm', 'lstm_1', 'lstm_2' ... in numbering order."""
    matching = [n for n in names if re.fullmatch(rf"{stem}(_\d+)?", n)]
    return sorted(matching, key=lambda n: int(n.rsplit("_", 1)[1]) if n != stem else 0)


def _weights_by_role(path, layers):
    names = list(layers)
    lstms, denses = _numbered(names, "lstm"), _numbered(names, "dense")
    wrapped = _numbered(names, "time_distributed")
    dense_vars = [layers[n]["vars"] for n in denses] + [layers[n]["layer"]["vars"] for n in wrapped]
    known = set(lstms + denses + wrapped + _numbered(names, "repeat_vector"))
    unknown = [n for n in names if n not in known and len(_all_vars(layers[n]))]
    if len(lstms) != 2 or len(dense_vars) != 1 or unknown:
        raise ValueError(f"{path}: unknown architecture; expected two LSTM layers and one Dense "
                         f"(the tutorial's encoder-decoder or RepeatVector model), found "
                         f"layers {names}")
    weights = []
    for name in lstms:
        cell = layers[name]["cell"]["vars"]
        weights += [np.array(cell[str(i)]) for i in range(3)]
    weights += [np.array(dense_vars[0][str(i)]) for i in range(2)]
    return weights, bool(_numbered(names, "repeat_vector"))


def _older_weights(path, file):
    """The weights of an older-format .h5 file in get_weights() order, whether it
    holds a RepeatVector, its model config ({} if only weights) and the
    activation names of the Keras that wrote it."""
    layers = _older_layers(file["model_weights"] if "model_weights" in file else file)
    config = _model_config(path, file.attrs)
    kinds = _layer_kinds(config)
    weighted = [(name, arrays) for name, arrays in layers if arrays]
    roles = [kinds.get(name, ("LSTM", "Dense")[len(arrays) == 2]) for name, arrays in weighted]
    if roles != ["LSTM", "LSTM", "Dense"] or [len(a) for _, a in weighted] != [3, 3, 2]:
        found = [f"{name} ({kinds[name] + ', ' if name in kinds else ''}{len(arrays)} weights)"
                 for name, arrays in layers]
        raise ValueError(f"{path}: unknown architecture; expected two LSTM layers and one Dense "
                         f"(the tutorial's encoder-decoder or RepeatVector model; an LSTM of "
                         f"3 weights, kernel, recurrent_kernel and bias, as Keras 2 and 3 keep "
                         f"them), found layers {', '.join(found)}")
    repeat_vector = "RepeatVector" in kinds.values() or any(
        re.fullmatch(r"repeat_vector(_\d+)?", name) for name, _ in layers)
    weights = [array for _, arrays in weighted for array in arrays]
    return weights, repeat_vector, config, _activations_of(file.attrs)


def _older_layers(group):
    """[(layer name, [its weight arrays])] in the model's order."""
    return [(name, [np.array(group[name][_text(w)]) for w in group[name].attrs["weight_names"]])
            for name in map(_text, group.attrs["layer_names"])]


def _activations_of(attributes):
    """The activation names as the Keras that wrote the file meant them."""
    major = re.match(r"\d*", _text(attributes.get("keras_version", ""))).group()
    return KERAS3_ACTIVATIONS if int(major or 2) >= 3 else KERAS2_ACTIVATIONS


def _model_config(path, attributes):
    """A whole-model file's model_config as a dict ({} in a weights-only file)."""
    if "model_config" not in attributes:
        return {}
    try:
        config = json.loads(_text(attributes["model_config"]))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: its model_config is not JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: its model_config is not a model's (a JSON object), got "
                         f"{type(config).__name__}")
    return config


def _layer_kinds(config):
    """{layer name: class name} from a model config; a TimeDistributed Dense is 'Dense'."""
    kinds = {}
    for layer in _config_layers(config):
        kind, layer_config = layer.get("class_name"), layer.get("config", {})
        if kind == "TimeDistributed":
            kind = layer_config.get("layer", {}).get("class_name", kind)
        kinds[layer_config.get("name", layer.get("name"))] = kind
    return kinds


def _config_layers(config):
    """The layers of a model config (Keras 2.0-2.1 wrote a Sequential's as a bare list)."""
    inner = config.get("config", {}) if config else {}
    return inner if isinstance(inner, list) else inner.get("layers", [])


def _text(value):
    """An HDF5 attribute as str: h5py gives bytes or str, by version and by writer."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _all_vars(group):
    found = []
    group.visititems(lambda name, item: found.append(name) if hasattr(item, "shape") else None)
    return found


def _settings_from_config(config, activations=KERAS3_ACTIVATIONS):
    """The recurrent activation (ours, from `activations`) and RepeatVector length."""
    settings = {}
    for layer in _config_layers(config):
        kind, layer_config = layer.get("class_name"), layer.get("config", {})
        if kind == "LSTM":
            name = layer_config.get("recurrent_activation", "sigmoid")
            if name not in activations:
                raise ValueError(f"recurrent_activation {name!r} is not supported; expected one "
                                 f"of {sorted(activations)}")
            settings["recurrent_activation"] = activations[name]
        if kind == "RepeatVector":
            settings["n_out"] = layer_config.get("n")
    return settings
