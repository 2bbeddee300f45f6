"""Saving and loading models: one `.npz` file, no pickles.

The file holds
    __config__                  a JSON string: format name and version, the model
                                class and its constructor arguments, the optimizer's
                                settings and step count, the shuffling RNG's state
    weights/<layer>/<name>      every weight, Keras names ('weights/encoder/kernel')
    optimizer/<slot>/<index>    the optimizer's moment arrays, if it has been used

`save` writes to a temporary file in the same folder and renames it over the
target, so an interrupted save leaves any earlier file whole. `load` reads
with `allow_pickle=False` and checks every array against the config.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from .optimizers import get_optimizer

__all__ = ["save", "load", "FORMAT", "VERSION"]

FORMAT = "npseq2seq"
VERSION = 1


def _model_classes():
    from .models import EncoderDecoder, RepeatVectorSeq2Seq

    return {"EncoderDecoder": EncoderDecoder, "RepeatVectorSeq2Seq": RepeatVectorSeq2Seq}


def save(model, path):
    """Write `model` (weights, config, optimizer state) to `path` atomically."""
    path = os.fspath(path)
    arrays = {f"weights/{name}": param for name, param in model._named_params()}
    optimizer = model.optimizer
    if optimizer is not None and optimizer.slots is not None:
        for slot, values in optimizer.slots.items():
            for index, value in enumerate(values):
                arrays[f"optimizer/{slot}/{index}"] = value
    config = {
        "format": FORMAT,
        "version": VERSION,
        "model": type(model).__name__,
        "config": model.get_config(),
        "target_length": model.target_length,
        "metadata": model.metadata,
        "optimizer": None if optimizer is None else optimizer.get_config(),
        "optimizer_iterations": None if optimizer is None else optimizer.iterations,
        "optimizer_slots": None if optimizer is None or optimizer.slots is None
        else {slot: len(values) for slot, values in optimizer.slots.items()},
        "shuffle_rng": model.shuffle_rng.bit_generator.state,
        "epochs_done": model.epochs_done,
        "unfinished_epoch": model.unfinished_epoch,
    }
    arrays["__config__"] = np.array(json.dumps(config))
    write_atomically(path, lambda file: np.savez(file, **arrays))


def check_writable(path):
    """Raise, naming `path` and the reason, if no file can be written there: for a
    long job (a training run that saves at its end) to fail before it starts,
    not after. write_atomically asks it too, for the same clear message."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path}: it is a folder; expected a file's path")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"cannot write {path}: the folder {folder} is not writable")
    return path


def write_atomically(path, write):
    """Call write(binary file) on a temporary file beside `path`, then rename it to path:
    the file appears whole or not at all."""
    folder = os.path.dirname(os.path.abspath(check_writable(path)))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".npseq2seq-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load(path):
    """Read a model written by `save`; every array is checked against the config."""
    path = os.fspath(path)
    arrays, config = _read(path)
    classes = _model_classes()
    if config.get("model") not in classes:
        raise ValueError(f"{path}: unknown model class {config.get('model')!r}; "
                         f"expected one of {sorted(classes)}")
    model = classes[config["model"]](**config["config"])
    names = [f"weights/{name}" for name, _ in model._named_params()]
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ValueError(f"{path}: missing weight arrays {missing}")
    try:
        model.set_weights([arrays[name] for name in names])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    model.target_length = config.get("target_length")
    model.metadata = dict(config.get("metadata") or {})
    model.shuffle_rng.bit_generator.state = config["shuffle_rng"]
    model.epochs_done = int(config.get("epochs_done") or 0)
    model.unfinished_epoch = config.get("unfinished_epoch")
    if config.get("optimizer") is not None:
        model.optimizer = _load_optimizer(path, config, arrays, model)
    return model


def check_readable(path, kind, expected):
    """Raise, naming `path`, if it is a folder or no file at all: `kind` is the
    file's kind ('model file'), `expected` what it should be ('an npseq2seq model
    file'). Returns the path as a string."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; expected {expected}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such {kind}: {path}")
    return path


def read_npz(path, kind, expected):
    """Every array of the .npz archive at `path`, read without pickles. An error
    names the path and what is wrong with it: `kind` is the file's kind ('model
    file'), `expected` what it should be ('an npseq2seq model file')."""
    path = check_readable(path, kind, expected)
    if not zipfile.is_zipfile(path):    # (np.load would read a .npy, or try a pickle)
        raise ValueError(f"{path} is not {expected}: it is not an .npz archive, or not a "
                         f"whole one")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path} is not a readable {kind} ({error})") from None


def _read(path):
    arrays = read_npz(path, "model file", "an npseq2seq model file")
    if "__config__" not in arrays:
        raise ValueError(f"{path} is not an npseq2seq model file: it has no __config__ entry")
    try:
        config = json.loads(str(arrays.pop("__config__")))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: its config is not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path} is not an npseq2seq model file")
    if config.get("version") != VERSION:
        raise ValueError(f"{path} has format version {config.get('version')}; this "
                         f"npseq2seq reads version {VERSION}")
    return arrays, config


def _load_optimizer(path, config, arrays, model):
    optimizer = get_optimizer(config["optimizer"])
    slots = config.get("optimizer_slots")
    state = {"iterations": config.get("optimizer_iterations") or 0, "slots": None}
    if slots:
        expected = model._flat_params.shape
        state["slots"] = {}
        for slot, count in slots.items():
            values = [arrays.get(f"optimizer/{slot}/{i}") for i in range(count)]
            for i, value in enumerate(values):
                if value is None or value.shape != expected:
                    got = "missing" if value is None else f"shape {value.shape}"
                    raise ValueError(f"{path}: optimizer/{slot}/{i} must have shape "
                                     f"{expected}, got {got}")
            state["slots"][slot] = [v.astype(model.dtype) for v in values]
    optimizer.set_state(state)
    return optimizer


# -- Keras and PyTorch weights ------------------------------------------------------
#
# Keras:   [encoder kernel (D, 4u), recurrent_kernel (u, 4u), bias (4u,),
#           decoder kernel, recurrent_kernel, bias, dense kernel (u, V), bias (V,)]
# PyTorch: nn.LSTM weight_ih_l0 (4u, D) = kernel.T, weight_hh_l0 (4u, u) =
#          recurrent_kernel.T, bias_ih_l0 + bias_hh_l0 = bias (gate order i, f, g, o
#          in both); nn.Linear weight (V, u) = kernel.T. Keys carry the module
#          names: 'encoder.weight_ih_l0', ..., 'dense.weight', 'dense.bias'.

TORCH_LSTM_KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def keras_to_torch(weights):
    """Keras-ordered arrays -> a state dict of NumPy arrays keyed as PyTorch's."""
    weights = [np.asarray(w) for w in weights]
    state = {}
    for prefix, (kernel, recurrent, bias) in (("encoder", weights[0:3]), ("decoder", weights[3:6])):
        state[f"{prefix}.weight_ih_l0"] = kernel.T.copy()
        state[f"{prefix}.weight_hh_l0"] = recurrent.T.copy()
        state[f"{prefix}.bias_ih_l0"] = bias.copy()
        state[f"{prefix}.bias_hh_l0"] = np.zeros_like(bias)
    state["dense.weight"] = weights[6].T.copy()
    state["dense.bias"] = weights[7].copy()
    return state


def torch_to_keras(state):
    """A PyTorch-keyed state dict (NumPy arrays or tensors) -> Keras-ordered arrays."""
    expected = [f"{p}.{k}" for p in ("encoder", "decoder") for k in TORCH_LSTM_KEYS]
    expected += ["dense.weight", "dense.bias"]
    missing = [key for key in expected if key not in state]
    if missing:
        raise ValueError(f"the state dict lacks {missing}; expected the keys {expected}")
    arrays = {key: _as_numpy(key, state[key]) for key in expected}
    weights = []
    for prefix in ("encoder", "decoder"):
        ih, hh, b_ih, b_hh = (arrays[f"{prefix}.{k}"] for k in TORCH_LSTM_KEYS)
        for key, array, ndim in ((f"{prefix}.weight_ih_l0", ih, 2), (f"{prefix}.weight_hh_l0", hh, 2),
                                 (f"{prefix}.bias_ih_l0", b_ih, 1), (f"{prefix}.bias_hh_l0", b_hh, 1)):
            if array.ndim != ndim:
                raise ValueError(f"{key} must have {ndim} dimensions, got shape {array.shape}")
        if b_ih.shape != b_hh.shape:
            raise ValueError(f"{prefix}.bias_ih_l0 and bias_hh_l0 must have the same shape, "
                             f"got {b_ih.shape} and {b_hh.shape}")
        weights += [ih.T, hh.T, b_ih + b_hh]
    weights += [arrays["dense.weight"].T, arrays["dense.bias"]]
    return weights


def _as_numpy(key, value):
    if hasattr(value, "detach"):            # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    if value.dtype.kind not in "iuf":
        raise TypeError(f"{key} must be a real number array, got dtype {value.dtype}")
    return value
