"""Read a Keras 3 `.keras` model or `.weights.h5` file (needs the optional h5py).

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


def load_keras_file(path, recurrent_activation=None, n_out=None, dtype=np.float32):
    """An EncoderDecoder or RepeatVectorSeq2Seq holding the weights in a Keras 3 file."""
    from .models import EncoderDecoder, RepeatVectorSeq2Seq

    check_readable(path, "Keras file", "a .keras or .weights.h5 file")
    config = {}
    if str(path).endswith(".keras"):
        config, weights_file = _open_keras_archive(path)    # a zip: no h5py needed yet
    else:
        weights_file = path
    h5py = _import_h5py(path, weights_file)
    try:
        with h5py.File(weights_file, "r") as file:
            layers = file["layers"]
            weights, repeat_vector = _weights_by_role(path, layers)
    except (OSError, KeyError) as error:
        raise ValueError(f"{path} is not a Keras 3 weights file ({error})") from None
    settings = _settings_from_config(config)
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
            raise ValueError(f"{path} is not a Keras 3 weights file (it is not an HDF5 "
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


def _all_vars(group):
    found = []
    group.visititems(lambda name, item: found.append(name) if hasattr(item, "shape") else None)
    return found


def _settings_from_config(config):
    layers = config.get("config", {}).get("layers", []) if config else []
    settings = {}
    for layer in layers:
        kind, layer_config = layer.get("class_name"), layer.get("config", {})
        if kind == "LSTM":
            name = layer_config.get("recurrent_activation", "sigmoid")
            if name not in KERAS3_ACTIVATIONS:
                raise ValueError(f"recurrent_activation {name!r} is not supported; expected one "
                                 f"of {sorted(KERAS3_ACTIVATIONS)}")
            settings["recurrent_activation"] = KERAS3_ACTIVATIONS[name]
        if kind == "RepeatVector":
            settings["n_out"] = layer_config.get("n")
    return settings
