"""What every sequence-to-sequence model here shares: weights in Keras order,
the training loop (`fit`), `evaluate`, `loss_and_gradients`, and input checks.

A model subclass provides
    layers                       {name: layer}, in Keras's `get_weights()` order
    _forward(source, target, workspaces=None)   -> logits (N, T_out, V), cache
    _logits(source, target, workspaces)          -> _forward's logits, stepped without
                                 caches (evaluate, loss; workspaces: {layer name:
                                 Workspace})
    _backward(dlogits, cache, workspaces=None, traces=None)
                                 adds every layer's gradients; or, marked
                                 @writes_gradients, writes them (each layer's
                                 backward once, with accumulate=False), and
                                 nothing zeroes them first (workspaces:
                                 {layer name: Workspace}; traces: {'encoder':
                                 dict, 'decoder': dict} for LSTM.backward's trace)
    predict(source, n_steps)     -> (N, n_steps) tokens
    get_config()                 the constructor's arguments
"""

import contextlib
import functools
import os
import queue
import signal
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from .. import blas_threads
from ..decoding import filled_after_end
from ..initializers import float_dtype, seed_sequence
from ..io import check_writable
from ..layers import LSTM, Dense
from ..layers.lstm import skipped_steps, is_token_array, shape_hint
from ..losses import accuracy, softmax_cross_entropy
from ..optimizers import Adam, get_optimizer
from ..tasks import check_finite, checked_indices, count as _count
from ..trace import GradientTrace
from ..workspace import Workspace
from .progress import History, ProgressBar
from .workers import TrainingWorker, batch_rows, squared_sum

__all__ = ["Seq2SeqModel", "KERAS_WEIGHT_NAMES", "TrainingInterrupted", "writes_gradients"]


def writes_gradients(backward):
    """Mark a model's _backward as writing every gradient (each layer's backward
    once, with accumulate=False): training then does not zero the gradients
    before a batch (a pass over all of them). A _backward without the mark, such
    as a subclass's override, adds into them, and gets them zeroed first."""
    backward.writes_gradients = True
    return backward


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped fit after a batch. where: the text saying when (e.g. "after
    batch 5 of 13 in epoch 1"); checkpoint: the path saved to, or None."""

    def __init__(self, where, checkpoint=None):
        saved = ("" if checkpoint is None else
                 f"; saved {checkpoint}, load it and call fit again to continue")
        super().__init__(f"training interrupted {where}{saved}")
        self.where, self.checkpoint = where, checkpoint


# Both designs: encoder LSTM, decoder LSTM, Dense, in Keras's get_weights() order.
KERAS_WEIGHT_NAMES = ["encoder/kernel", "encoder/recurrent_kernel", "encoder/bias",
                      "decoder/kernel", "decoder/recurrent_kernel", "decoder/bias",
                      "dense/kernel", "dense/bias"]


class Seq2SeqModel:
    """Base class; see EncoderDecoder and RepeatVectorSeq2Seq."""

    layers = {}

    def _build(self, n_features, n_units, decoder_input_dim, recurrent_activation, seed, dtype,
               mask_zero=False, end_token=None):
        """Encoder LSTM, decoder LSTM and Dense, and the state every model keeps.

        One seed makes two independent streams: the initial weights (drawn in
        Keras's layer order) and the shuffling order in `fit`.
        """
        self.n_features = _count("n_features", n_features, minimum=2)
        self.n_units = _count("n_units", n_units)
        self.mask_zero = bool(mask_zero)
        self.end_token = None if end_token is None else _token("end_token", end_token,
                                                               self.n_features)
        self.recurrent_activation, self.seed = recurrent_activation, seed
        self.dtype = dtype = float_dtype(dtype)
        init_seed, shuffle_seed = seed_sequence(seed).spawn(2)
        rng = np.random.default_rng(init_seed)
        u = self.n_units
        self.encoder = LSTM(self.n_features, u, recurrent_activation, seed=rng, dtype=dtype)
        self.decoder = LSTM(decoder_input_dim, u, recurrent_activation, seed=rng, dtype=dtype)
        self.dense = Dense(u, self.n_features, seed=rng, dtype=dtype)
        self.layers = {"encoder": self.encoder, "decoder": self.decoder, "dense": self.dense}
        self._pack_parameters()
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        self.optimizer = None
        self.target_length = None
        self.metadata = {}      # free-form, saved with the model (the CLI keeps the task here)
        self.epochs_done = 0
        self.unfinished_epoch = None    # where Ctrl-C stopped an epoch (see fit)

    # -- what it is -------------------------------------------------------------

    def __repr__(self):
        """The call that builds this model (from get_config): EncoderDecoder(n_features=51, ...)"""
        settings = ", ".join(f"{name}={value!r}" for name, value in self.get_config().items())
        return f"{type(self).__name__}({settings})"

    def count_params(self):
        """The number of weights, as Keras's count_params."""
        return sum(param.size for _, param in self._named_params())

    def summary(self):
        """Print the layers, what each puts out and its weights, as Keras's summary."""
        rows = [("layer", "type", "output shape", "params")]
        rows += [(name, kind, shape, f"{self._layer_size(name):,}")
                 for name, kind, shape in self._flow()]
        rows.append(("total", "", "", f"{self.count_params():,}"))
        a, b, c, d = (max(len(row[k]) for row in rows) for k in range(4))
        print(repr(self))
        for name, kind, shape, size in rows:
            print(f"{name:<{a}}  {kind:<{b}}  {shape:<{c}}  {size:>{d}}")
        trained = (f"trained {self.epochs_done} epoch(s) on targets of length "
                   f"{self.target_length}" if self.epochs_done else "untrained")
        print(f"(N: sequences in a batch; {trained})")

    def _layer_size(self, name):
        layer = self.layers.get(name)
        return 0 if layer is None else sum(param.size for param in layer.params.values())

    # -- copies (copy.deepcopy, pickle) -------------------------------------------

    # kept for speed, made again when needed: scratch buffers, fit's worker process
    _REMADE = ("_workspaces", "_predict_workspaces", "_worker")

    def __getstate__(self):
        """What a copy takes: everything but the attributes in _REMADE (a worker
        process cannot be copied, and the buffers are scratch)."""
        return {name: value for name, value in self.__dict__.items()
                if name not in self._REMADE}

    def __setstate__(self, state):
        """A copy's weights are copied arrays, no longer views into its flat
        array: make them views again (else the optimizer would step an array
        the layers do not read)."""
        self.__dict__.update(state)
        self._move_parameters(self._flat_params, self._flat_grads, keep=True)

    # -- weights --------------------------------------------------------------

    def _named_params(self):
        """[('encoder/kernel', array), ...] in Keras order (the arrays themselves)."""
        return [(f"{layer_name}/{name}", param)
                for layer_name, layer in self.layers.items()
                for name, param in layer.params.items()]

    def get_weights(self):
        """Copies of every weight, in the order and shapes Keras's model.get_weights() gives."""
        return [param.copy() for _, param in self._named_params()]

    def set_weights(self, weights):
        """Set every weight from a list in get_weights() order; shapes must match exactly."""
        named = self._named_params()
        weights = list(weights)
        if len(weights) != len(named):
            raise ValueError(f"set_weights expects {len(named)} arrays "
                             f"({', '.join(n for n, _ in named)}), got {len(weights)}")
        checked = [self._checked_weight(name, param, w) for (name, param), w in zip(named, weights)]
        for (_, param), w in zip(named, checked):
            param[...] = w

    @staticmethod
    def _checked_weight(name, param, value):
        value = np.asarray(value)
        if value.shape != param.shape:
            raise ValueError(f"weight {name} must have shape {param.shape}, got {value.shape}")
        if value.dtype.kind not in "iuf":
            raise TypeError(f"weight {name} must be a real number array, got dtype {value.dtype}")
        check_finite(value, f"weight {name}")
        return value

    def _pack_parameters(self):
        """Make every layer's params (and grads) views into one flat array.

        The optimizer then updates all weights with a handful of whole-array
        operations instead of a handful per weight: the same numbers, faster.
        """
        total = sum(param.size for _, param in self._named_params())
        self._move_parameters(np.empty(total, self.dtype), np.zeros(total, self.dtype))

    def _move_parameters(self, flat_params, flat_grads, keep=False):
        """Make every layer's params and grads views into these flat arrays.

        The weights are copied in first, unless keep=True (flat_params holds them
        already: fit's worker process maps the weights its parent wrote).
        """
        offset, self._variables = 0, []
        for layer in self.layers.values():
            for key, param in layer.params.items():
                part = slice(offset, offset + param.size)
                view = flat_params[part].reshape(param.shape)
                if not keep:
                    view[...] = param
                layer.params[key] = view
                layer.grads[key] = flat_grads[part].reshape(param.shape)
                self._variables.append(part)
                offset += param.size
        self._flat_params, self._flat_grads = flat_params, flat_grads

    def _update_weights(self):
        """One optimizer step. clipnorm clips each Keras weight apart, as Keras's
        does: the optimizer is told where they lie in the flat array (only then,
        so that a subclass's update(pairs) of before still serves)."""
        pairs = [(self._flat_params, self._flat_grads)]
        if self.optimizer.clipnorm is None:
            self.optimizer.update(pairs)
        else:
            self.optimizer.update(pairs, variables=[self._variables])

    def _zero_grads(self):
        self._flat_grads.fill(0)

    def _zero_grads_unless_written(self):
        """Before a batch: zero the gradients, unless _backward writes them all."""
        if not getattr(self._backward, "writes_gradients", False):
            self._zero_grads()

    def _param_grad_pairs(self):
        return [(layer.params[k], layer.grads[k])
                for layer in self.layers.values() for k in layer.params]

    # -- weights from and for Keras and PyTorch ----------------------------------------

    @classmethod
    def from_keras_weights(cls, weights, recurrent_activation="sigmoid", **kwargs):
        """A model holding Keras's weights: the list `model.get_weights()` gives.

        The sizes are read from the arrays. Choose `recurrent_activation` as
        the Keras model was built: 'sigmoid' (the default since Keras 2.3),
        'hard_sigmoid' for Keras 2.0-2.2, 'hard_sigmoid_keras3' for a Keras 3
        model built with recurrent_activation='hard_sigmoid'. Other arguments
        (dtype, seed, n_out for RepeatVectorSeq2Seq) go to the constructor.
        """
        weights = list(weights)
        model = cls._sized_for(weights, recurrent_activation, kwargs)
        model.set_weights(weights)
        return model

    @classmethod
    def _sized_for(cls, weights, recurrent_activation, kwargs):
        """A model of the sizes Keras-ordered `weights` have (not yet holding them)."""
        names = KERAS_WEIGHT_NAMES
        if len(weights) != len(names):
            raise ValueError(f"{cls.__name__} needs {len(names)} Keras arrays ({', '.join(names)}), "
                             f"got {len(weights)}")
        for name, w in zip(names[:2], weights[:2]):
            if np.ndim(w) != 2:
                raise ValueError(f"{name} must be a 2-D array, got shape {np.shape(w)}")
        sizes = {"n_features": np.shape(weights[0])[0], "n_units": np.shape(weights[1])[0]}
        return cls(**sizes, recurrent_activation=recurrent_activation, **kwargs)

    def to_torch_state_dict(self):
        """The weights as NumPy arrays keyed like PyTorch's nn.LSTM / nn.Linear state dicts."""
        from ..io import keras_to_torch

        return keras_to_torch(self.get_weights())

    @classmethod
    def from_torch_state_dict(cls, state, recurrent_activation="sigmoid", **kwargs):
        """A model from 'encoder.weight_ih_l0', ..., 'dense.bias' arrays (or tensors)."""
        from ..io import torch_to_keras

        weights = torch_to_keras(state)
        model = cls._sized_for(weights, recurrent_activation, kwargs)
        model._check_torch_shapes(state)
        model.set_weights(weights)
        return model

    def _check_torch_shapes(self, state):
        """ValueError naming the first array of a state dict whose shape is not this
        model's, as the state dict names and shapes it (not as Keras would)."""
        for key, expected in self.to_torch_state_dict().items():
            given = tuple(np.shape(state[key]))
            if given != expected.shape:
                raise ValueError(f"{key} must have shape {expected.shape} for "
                                 f"{self.n_features} tokens and {self.n_units} units (read from "
                                 f"encoder.weight_ih_l0 and encoder.weight_hh_l0), got {given}")

    def astype(self, dtype):
        """A copy of this model computing in `dtype` (float64 for gradient checks)."""
        config = dict(self.get_config(), dtype=float_dtype(dtype).name)
        copy = type(self)(**config)
        copy.set_weights(self.get_weights())
        copy.target_length, copy.metadata = self.target_length, dict(self.metadata)
        return copy

    # -- training -------------------------------------------------------------

    def loss(self, source, target, sample_weight=None, batch_size=1024):
        """Mean cross-entropy (teacher-forced where the model uses it); no
        gradients, so no caches. sample_weight: as fit's. More than batch_size
        pairs go through in chunks of at most that many, as in evaluate (whose
        loss this then is), so memory stays that of one chunk: 100,000
        tutorial pairs at once took 1.6 GB."""
        source, target = self._check_pair(source, target)
        self._check_target_length(target)
        weights = self._checked_sample_weight(sample_weight, target)
        if len(source) > _count("batch_size", batch_size):
            return float(self._score_sums(source, target, weights, batch_size)[0] / len(source))
        logits = self._logits(source, target, self._new_workspaces())
        return weighted_cross_entropy(logits, target, weights)[0]

    def loss_and_gradients(self, source, target, trace=False, sample_weight=None):
        """Mean cross-entropy on a batch and dL/d(every weight), in get_weights() order.

        trace=True also returns a GradientTrace: the norms of dL/dh_t and
        dL/dc_t at every step of encoder and decoder (gradient flow through
        time; print it for a table with bars). sample_weight: as fit's.
        """
        source, target = self._check_pair(source, target)
        weights = self._checked_sample_weight(sample_weight, target)
        self._zero_grads_unless_written()
        traces = {"encoder": {}, "decoder": {}} if trace else None
        loss, _ = self._train_batch(source, target, traces, weights=weights)
        grads = [grad.copy() for _, grad in self._param_grad_pairs()]
        if not trace:
            return loss, grads
        return loss, grads, GradientTrace.from_layers(traces, loss, len(source))

    def _train_batch(self, source, target, traces=None, share=1.0, weights=None):
        """Forward and backward on one batch; gradients go into the layers' grads
        (added, or written: see _zero_grads_unless_written).

        The layers reuse their buffers from batch to batch (see workspace.py).
        traces: None, or {layer name: dict} for the LSTMs' gradient-norm traces.
        share: this batch's fraction of a larger batch (fit's workers train the
        halves of one): the gradients are scaled by it, the loss is not.
        weights: None, or the batch's sample weights (N, T_out).
        """
        if getattr(self, "_workspaces", None) is None:
            self._workspaces = {name: Workspace() for name in self.layers}
        logits, cache = self._forward(source, target, self._workspaces)
        loss, dlogits = weighted_cross_entropy(logits, target, weights)
        if share != 1:
            dlogits *= share
        self._backward(dlogits, cache, self._workspaces, traces or {})
        return loss, accuracy(logits, target)

    def fit(self, source, target, epochs=1, batch_size=32, shuffle=True, verbose=1,
            optimizer=None, checkpoint=None, workers=1, initial_epoch=0,
            validation_data=None, validation_split=0.0, callbacks=None, sample_weight=None):
        """Train with mini-batches, as Keras's fit: shuffled each epoch, Adam by default.

        source      (N, T_in) tokens or (N, T_in, V) one-hot / features
        target      (N, T_out) tokens or (N, T_out, V) one-hot
        epochs, initial_epoch
                    as Keras's: train epochs initial_epoch + 1 to `epochs`
                    (none if initial_epoch >= epochs). They number the epochs
                    in the progress output and in History.epoch; to go on
                    from a checkpoint to 5 epochs in all, pass epochs=5,
                    initial_epoch=model.epochs_done.
        checkpoint  a path: the model (weights, optimizer, shuffling state) is
                    saved there after every epoch, and when Ctrl-C stops
                    training (after the batch in hand). A model loaded from
                    such a file continues exactly where it stopped: an
                    interrupted epoch is finished first and counts as one of
                    `epochs`. A path that cannot be written raises OSError
                    before the first batch.
        workers     1, or 2: every batch is shared between this process and a
                    second one, on another core (see workers.py). The second
                    process starts with the first such fit (0.15-0.17 s
                    here) and stays for the next. The weights differ from
                    workers=1 by rounding only. That process imports the
                    model's class: a subclass must be defined at the top
                    level of a module (not in a function, nor in the script
                    being run). With one usable core it still works, but
                    slower than workers=1 (1.3x here, under taskset -c 0).
        validation_data
                    a (source, target) pair, or (source, target, sample_weight),
                    to evaluate after every epoch: `evaluate`'s figures on it
                    join the epoch's, as 'val_loss', 'val_acc' and
                    'val_seq_acc', in History and on the progress line
        validation_split
                    a fraction in [0, 1), as Keras's: the last rows of source
                    and target (and sample_weight) before any shuffling
                    become validation_data and are not trained on
        sample_weight
                    None, or weights (N,) (a sequence's, for all its steps) or
                    (N, T_out) (a step's: 0 leaves padding out), as Keras's:
                    a batch's loss is sum(w * loss_step) / (its steps), so
                    weights scale the gradient; 'acc' stays unweighted (Keras
                    weights only its weighted_metrics). Keras 3 itself takes
                    per-sequence weights only as (N, 1) for sequence outputs.
        callbacks   a list of objects told of the training's progress, as
                    Keras's (see callbacks.py): ns.EarlyStopping, say. One
                    that sets model.stop_training = True ends fit after the
                    epoch in hand
        Returns a History with per-epoch 'loss' and 'acc' (per-step accuracy),
        and the 'val_' figures with validation; its params and model as Keras's.
        A loss or gradient that stops being finite ends training with
        FloatingPointError; the weights stay those of the last good batch.
        """
        source, target = self._check_pair(source, target)
        weights = self._checked_sample_weight(sample_weight, target)
        (source, target, weights), validation = self._held_out(
            (source, target, weights), validation_data, validation_split)
        epochs, initial_epoch, batch_size = _checked_fit_options(
            epochs, initial_epoch, batch_size, verbose, shuffle, workers, checkpoint)
        callbacks = _checked_callbacks(callbacks, validation is not None)
        if optimizer is not None or getattr(self, "optimizer", None) is None:
            self.optimizer = get_optimizer(optimizer or Adam())
        self.target_length = target.shape[1]
        params = {"verbose": verbose, "epochs": epochs, "steps": -(-len(source) // batch_size)}
        history, self.stop_training = History(dict(params), self), False
        _tell(callbacks, "set_model", self)
        _tell(callbacks, "set_params", params)
        _tell(callbacks, "on_train_begin", {})
        with _ctrl_c_after_batch() as interrupted, \
                self._steps_in(workers, source, target, weights) as step:
            for epoch in range(initial_epoch, epochs):
                _tell(callbacks, "on_epoch_begin", epoch, {})
                if verbose:
                    print(f"Epoch {epoch + 1}/{epochs}", flush=True)
                metrics = self._run_epoch(source, target, batch_size, shuffle, verbose,
                                          interrupted, checkpoint, step, validation, callbacks)
                self.epochs_done += 1
                _tell(callbacks, "on_epoch_end", epoch, metrics)   # (which may add to it)
                history.record(epoch, metrics)
                if checkpoint is not None:      # after the callbacks: a cut rate is kept
                    self.save(checkpoint)
                if self.stop_training:
                    break
                if interrupted.is_set() and epoch + 1 < epochs:
                    self._stop(checkpoint, f"at the end of epoch {self.epochs_done}")
        _tell(callbacks, "on_train_end", {name: values[-1]
                                          for name, values in history.history.items()})
        return history

    @contextlib.contextmanager
    def _steps_in(self, workers, source, target, weights):
        """Yields step(order, batch_size, b, source, target) -> (loss, acc): trains batch
        b of the epoch's order and steps the optimizer, in `workers` processes."""
        if workers == 1:
            yield functools.partial(self._step, weights=weights)
            return
        worker = getattr(self, "_worker", None)
        if worker is None or not worker.alive():
            worker = self._worker = TrainingWorker(self)
        worker.start_fit(source, target, self.optimizer, weights)
        with blas_threads.single_threaded():        # the other core is the worker's
            yield worker.step

    def _step(self, order, batch_size, b, source, target, weights=None):
        rows = batch_rows(order, batch_size, b)
        self._zero_grads_unless_written()
        loss, acc = self._train_batch(source[rows], target[rows],
                                      weights=None if weights is None else weights[rows])
        self._check_finite(loss, b)
        self._update_weights()
        return loss, acc

    def _run_epoch(self, source, target, batch_size, shuffle, verbose, interrupted, checkpoint,
                   step, validation, callbacks=()):
        """One epoch's batches (from an interrupted one's next batch), then the
        validation, if any: the epoch's figures."""
        n = source.shape[0]
        resumed, self.unfinished_epoch = self.unfinished_epoch, None
        if resumed is not None:       # replay the interrupted epoch's shuffle
            self.shuffle_rng.bit_generator.state = resumed["shuffle_state"]
        start_state = self.shuffle_rng.bit_generator.state
        order = self.shuffle_rng.permutation(n) if shuffle else np.arange(n)
        n_batches = -(-n // batch_size)
        first = 0 if resumed is None else resumed["batches_done"]
        sums = {"loss": 0.0, "acc": 0.0} if resumed is None else dict(resumed["sums"])
        progress = ProgressBar(n_batches, verbose)
        begins, ends = _batch_hooks(callbacks)
        for b in range(first, n_batches):
            for hook in begins:
                hook(b, {})
            loss, acc = step(order, batch_size, b, source, target)
            seen = min((b + 1) * batch_size, n)
            rows = seen - b * batch_size
            sums = {"loss": sums["loss"] + loss * rows, "acc": sums["acc"] + acc * rows}
            so_far = {name: total / seen for name, total in sums.items()}
            progress.update(b + 1, so_far)
            for hook in ends:
                hook(b, dict(so_far))
            if interrupted.is_set() and b + 1 < n_batches:
                self.unfinished_epoch = {"shuffle_state": start_state, "batches_done": b + 1,
                                         "sums": sums}
                self._stop(checkpoint, f"after batch {b + 1} of {n_batches} in epoch "
                                       f"{self.epochs_done + 1}")
        metrics = {name: total / n for name, total in sums.items()}
        if validation is not None:
            metrics.update(self._validated(validation, batch_size, callbacks))
        progress.finish(metrics)
        return metrics

    def _validated(self, validation, batch_size, callbacks):
        """The val_ figures of an epoch: evaluate's, on (source, target, weights).
        With test-batch hooks, in fit's batch_size, as Keras's; else in
        evaluate's larger chunks, over threads (the same up to rounding)."""
        source, target, weights = validation
        in_batches = batch_size if any(_test_batch_hooks(callbacks)) else 1024
        figures = self._evaluate(source, target, in_batches, sample_weight=weights,
                                 callbacks=callbacks)[0]
        return {f"val_{name}": value for name, value in figures.items()}

    def _held_out(self, data, validation_data, validation_split):
        """fit's (source, target, weights) to train on, and its validation
        (source, target, weights or None), or None."""
        if validation_data is not None and validation_split:
            raise ValueError("pass validation_data or validation_split, not both")
        if validation_data is None:
            return _split_off(data, validation_split)
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3)):
            given = (f"a {type(validation_data).__name__} of {len(validation_data)}"
                     if isinstance(validation_data, (tuple, list))
                     else type(validation_data).__name__)
            raise ValueError(f"validation_data must be a (source, target) pair or a (source, "
                             f"target, sample_weight) triple, got {given}")
        source, target = self._check_pair(*validation_data[:2], "validation ")
        self._check_target_length(target, "validation targets")
        weights = (self._checked_sample_weight(validation_data[2], target, "validation ")
                   if len(validation_data) == 3 else None)
        return data, (source, target, weights)

    def _checked_sample_weight(self, sample_weight, target, what=""):
        """None, or the weights as (N, T_out) in the model's dtype: one a step."""
        if sample_weight is None:
            return None
        weights = np.asarray(sample_weight)
        if weights.dtype.kind not in "biuf":                # booleans: a mask, 1 and 0
            raise TypeError(f"{what}sample_weight must be numbers, got dtype {weights.dtype}")
        n, steps = target.shape[:2]
        if weights.shape not in ((n,), (n, 1), (n, steps)):
            raise ValueError(f"{what}sample_weight must have shape ({n},) (a weight a "
                             f"sequence) or ({n}, {steps}) (a weight a step), got "
                             f"{weights.shape}")
        check_finite(weights, f"{what}sample_weight", minimum=0)
        weights = weights.reshape(n, -1)                    # (n, 1) or (n, steps)
        return np.ascontiguousarray(np.broadcast_to(weights, (n, steps)), dtype=self.dtype)

    def _ended(self, decoded):
        """Decoded tokens (N, T) with every step after a row's end_token set to
        end_token (in place, and returned); as they are without one."""
        return decoded if self.end_token is None else filled_after_end(decoded, self.end_token)

    def _source_skipped(self, source):
        """The encoder's masked steps, (T, N, 1) True at token 0, with mask_zero;
        else (or if no step is masked) None. source: checked."""
        if not self.mask_zero:
            return None
        if not is_token_array(source):
            raise ValueError(f"this model has mask_zero=True: token 0 of an integer source "
                             f"is padding. A one-hot or real-valued source (shape "
                             f"{source.shape}) has no token 0; pass tokens, e.g. "
                             f"source.argmax(-1) for one-hot rows")
        return skipped_steps(source != 0, source.shape[:2])

    def _check_target_length(self, target, what="targets"):
        """ValueError if the model cannot put out targets of this length (a
        repeat-vector model's is fixed); any length will do here."""

    def _check_finite(self, loss, batch):
        # a NaN or inf anywhere makes the sum of squares non-finite (one BLAS call);
        # only if it is, look element by element (huge finite gradients overflow it too)
        grads = self._flat_grads
        squares = squared_sum(grads)
        if np.isfinite(loss) and (np.isfinite(squares) or np.all(np.isfinite(grads))):
            return
        what = "loss" if not np.isfinite(loss) else "gradient"
        raise FloatingPointError(
            f"the {what} stopped being finite (loss {loss}) in epoch {self.epochs_done + 1}, "
            f"batch {batch + 1}: training stopped, and the weights are those after the last "
            f"good batch. {DIVERGED_REMEDY}")

    def _stop(self, checkpoint, where):
        if checkpoint is not None:
            self.save(checkpoint)
        raise TrainingInterrupted(where, checkpoint)

    # -- evaluation -----------------------------------------------------------

    def evaluate(self, source, target, batch_size=1024, beam_width=1, threads=None,
                 sample_weight=None, callbacks=None, feed_back="tokens"):
        """{'loss', 'acc', 'seq_acc'} on held-out data.

        loss and acc are Keras's: teacher-forced cross-entropy and per-step
        accuracy. seq_acc is the tutorial's figure: the fraction of sequences
        whose decode (`predict`, greedy or with `beam_width`, and `feed_back`)
        equals the target exactly. batch_size pairs go through the
        teacher-forced pass at a time; threads as for predict. sample_weight, as fit's, weighs
        the loss (as Keras's; acc counts every step, as Keras's). seq_acc
        compares the steps that weigh above 0 only, and leaves out the
        sequences none of whose steps do (NaN if that is all of them): a
        target mask as sample_weight leaves the padding out. callbacks, as
        Keras's evaluate: set_model, set_params, then on_test_begin({}),
        on_test_batch_begin(batch, {}) and on_test_batch_end(batch, the loss
        and acc so far) for each batch_size pairs (in turn, in this thread),
        and on_test_end(the figures).
        """
        callbacks = _callback_list(callbacks)
        if callbacks:
            source, target = self._check_pair(source, target)
            n_batches = -(-len(source) // _count("batch_size", batch_size))
            _tell(callbacks, "set_model", self)
            _tell(callbacks, "set_params", {"verbose": 0, "epochs": 1, "steps": n_batches})
        return self._evaluate(source, target, batch_size, beam_width, threads, sample_weight,
                              callbacks, feed_back)[0]

    def _evaluate(self, source, target, batch_size=1024, beam_width=1, threads=None,
                  sample_weight=None, callbacks=(), feed_back="tokens"):
        """evaluate's figures, and the decoded sequences they came from (N, T).

        The teacher-forced pass goes through chunks of at most batch_size
        pairs, and the decoding through predict's, each spread over threads
        as predict spreads its chunks (with test-batch hooks in callbacks,
        the teacher-forced pass goes through batches of batch_size in turn)."""
        source, target = self._check_pair(source, target)
        batch_size, beam_width = _count("batch_size", batch_size), _count("beam_width", beam_width)
        _checked_feed_back(feed_back, beam_width)       # before the teacher-forced pass
        self._check_target_length(target)
        weights = self._checked_sample_weight(sample_weight, target)
        _tell(callbacks, "on_test_begin", {})
        loss_sum, acc_sum = self._score_sums(source, target, weights, batch_size, threads,
                                             _test_batch_hooks(callbacks))
        predicted = self.predict(source, n_steps=target.shape[1], beam_width=beam_width,
                                 threads=threads, feed_back=feed_back)
        tokens = target if is_token_array(target) else np.argmax(target, axis=-1)
        n = len(source)
        # Python floats, as Keras's (and History's); np.float64 prints as np.float64(...)
        figures = {"loss": float(loss_sum / n), "acc": float(acc_sum / n),
                   "seq_acc": sequence_accuracy(tokens, predicted, weights)}
        _tell(callbacks, "on_test_end", dict(figures))
        return figures, predicted

    def _score_sums(self, source, target, weights, batch_size, threads=None,
                    test_hooks=((), ())):
        """(cross-entropy, per-step accuracy), each summed over the pairs (checked),
        in chunks of at most batch_size over threads; with test-batch hooks
        (begins, ends), in batches of batch_size in turn, telling each."""
        data = (source, target) if weights is None else (source, target, weights)
        if any(test_hooks):
            return self._scored_in_turn(data, batch_size, *test_hooks)
        sums = self._in_batches(data, batch_size, threads, self._scored, join=False)
        return np.concatenate(sums).sum(axis=0)          # in the chunks' order, every time

    def _scored_in_turn(self, data, batch_size, begins, ends):
        """_scored's sums over batches of batch_size pairs, in order and in this
        thread, with each batch's test hooks (logs: the loss and acc so far)."""
        n, totals = len(data[0]), np.zeros(2)
        for b, start in enumerate(range(0, n, batch_size)):
            for hook in begins:
                hook(b, {})
            with _PREDICT_TURN:                 # (not while a hook runs: it may predict)
                totals += self._scored(_rows(data, start, start + batch_size),
                                       self._inference_workspaces())[0]
            seen = min(start + batch_size, n)
            for hook in ends:
                hook(b, {"loss": float(totals[0] / seen), "acc": float(totals[1] / seen)})
        return totals

    def _scored(self, data, workspaces):
        """[[cross-entropy, per-step accuracy]], each summed over a chunk's pairs.
        data: (source, target) or (source, target, sample weights)."""
        source, target, weights = (*data, None)[:3]
        logits = self._logits(source, target, workspaces)
        rows = len(source)
        return np.array([[float(weighted_cross_entropy(logits, target, weights)[0]) * rows,
                          float(accuracy(logits, target)) * rows]])

    # -- inference ----------------------------------------------------------------

    def encode(self, source, batch_size=512, threads=None):
        """The encoder's final (h, c), each (N, n_units): the context vector.

        EncoderDecoder starts its decoder from (h, c); RepeatVectorSeq2Seq
        passes on only h, repeated. As in predict, the encoder steps without
        caches (memory O(N u) whatever the source length), in chunks of at
        most `batch_size` sources, spread over `threads`.
        """
        source = self._check_sequences("source", source)
        return self._in_batches(source, batch_size, threads, self._encoded)

    def _encoded(self, source, workspaces):
        with np.errstate(over="ignore"):            # see LSTM.stepper
            h, c = self.encoder._final_state(source, workspaces["encoder"],
                                             self._source_skipped(source))
        return h.copy(), c.copy()                   # the buffers serve the next chunk

    def _inference_workspaces(self, thread=0):
        """Buffers for predict, kept between calls (apart from training's): one set a thread."""
        sets = getattr(self, "_predict_workspaces", None)
        if sets is None:
            sets = self._predict_workspaces = []
        while len(sets) <= thread:
            sets.append(self._new_workspaces())
        return sets[thread]

    def _new_workspaces(self):
        """{layer name: Workspace}, empty: buffers for one pass at a time."""
        return {name: Workspace() for name in self.layers}

    def _in_batches(self, source, batch_size, threads, decode, join=True):
        """decode(chunk, workspaces) over chunks of at most `batch_size` sources, joined in order.

        source: an array, or a tuple of arrays with as many rows, cut into
        chunks together (a chunk is then the tuple of their rows). decode
        gives a row for each of its sources (or a tuple of such arrays);
        with join=False it may give anything, and the list of its results,
        in order, is returned.

        Chunks bound the memory. With several threads and enough sources, each
        thread takes the next chunk as it finishes one, decodes it with
        workspaces of its own, and BLAS runs single-threaded meanwhile (see
        blas_threads.py). Calls from different threads take turns: they would
        share the workspaces, and each uses every core anyway.
        """
        batch_size = _count("batch_size", batch_size)
        threads = _thread_count(threads, len(_first(source)))
        with _PREDICT_TURN:
            return self._decode_chunks(source, batch_size, threads, decode, join)

    def _decode_chunks(self, source, batch_size, threads, decode, join):
        """The chunks in `threads` threads, or in this thread if one is asked for
        or BLAS cannot be made single-threaded."""
        alone = contextlib.nullcontext(False)
        with blas_threads.single_threaded() if threads > 1 else alone as single:
            threads = threads if single else 1
            bounds = _chunk_bounds(len(_first(source)), batch_size, threads)
            chunks = [_rows(source, start, end) for start, end in zip(bounds, bounds[1:])]
            if len(chunks) == 1 and join:               # (one source a call: no copy)
                return decode(chunks[0], self._inference_workspaces())
            results = _Joined(bounds) if join else _InOrder(len(chunks))
            if threads == 1:
                workspaces = self._inference_workspaces()
                for k, chunk in enumerate(chunks):
                    results.put(k, decode(chunk, workspaces))
            else:
                _decode_shared(chunks, decode, results.put, _thread_pool(threads),
                               [self._inference_workspaces(k) for k in range(threads)])
            return results.whole()

    # -- files ------------------------------------------------------------------

    def save(self, path):
        """Write weights, config and optimizer state to a .npz file (atomically)."""
        from ..io import save

        save(self, path)

    # -- input checks ---------------------------------------------------------

    def _check_pair(self, source, target, what=""):
        """Both checked (see _check_sequences); `what` prefixes their names in errors."""
        source = self._check_sequences(f"{what}source", source)
        target = self._check_sequences(f"{what}target", target)
        if source.shape[0] != target.shape[0]:
            raise ValueError(f"{what}source and target must have the same number of samples, got "
                             f"{source.shape[0]} and {target.shape[0]}")
        return source, target

    def _check_state(self, state, n, made_by="encode or decode_step"):
        """The decoder's state (h, c), each (n, n_units), as the model's dtype."""
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"state must be the pair (h, c) returned by {made_by}, "
                            f"got {type(state).__name__}")
        return tuple(self._check_units(f"state {name}", s, n, "one row per input")
                     for name, s in zip("hc", state))

    def _check_units(self, name, s, n, rows):
        """s as an (n, n_units) finite array of the model's dtype (n None: any
        number of rows but 0); `rows` says in the error what a row is."""
        s = np.asarray(s)
        wanted = (len(s) if n is None and s.ndim == 2 and len(s) else n, self.n_units)
        if s.dtype.kind not in "iuf" or s.shape != wanted:
            raise ValueError(f"{name} must be a ({n or 'samples'}, {self.n_units}) float array "
                             f"({rows}), got {s.dtype} of shape {s.shape}")
        check_finite(s, name)
        return s.astype(self.dtype, copy=False)

    def _check_sequences(self, name, x):
        """Tokens (N, T) in 0..V-1, or finite vectors (N, T, V); V = n_features."""
        x = np.asarray(x)
        v = self.n_features
        if x.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be integer tokens or float vectors, got dtype {x.dtype}")
        if is_token_array(x):
            if x.ndim != 2:
                raise ValueError(f"{name} tokens must have shape (samples, steps), got shape "
                                 f"{x.shape}{shape_hint(name, x, v)}")
            x = checked_indices(x, v, f"{name} tokens")
        else:
            if x.ndim != 3 or x.shape[2] != v:
                raise ValueError(f"{name} must have shape (samples, steps, {v}) or be integer "
                                 f"tokens (samples, steps), got shape {x.shape}"
                                 f"{shape_hint(name, x, v)}")
            check_finite(x, name)
            x = x.astype(self.dtype, copy=False)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name} needs at least one sample and one step, got shape {x.shape}")
        return x


def _checked_fit_options(epochs, initial_epoch, batch_size, verbose, shuffle, workers,
                         checkpoint):
    """fit's options checked before training: (epochs, initial_epoch, batch_size)."""
    counts = (_count("epochs", epochs, minimum=0),
              _count("initial_epoch", initial_epoch, minimum=0), _count("batch_size", batch_size))
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if not isinstance(shuffle, (bool, np.bool_)):    # ('no' would be true)
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if workers not in (1, 2) or isinstance(workers, bool):
        raise ValueError(f"workers must be 1 or 2, got {workers!r}")
    if checkpoint is not None:
        check_writable(checkpoint)          # now, not after the first epoch
    return counts


def _checked_feed_back(feed_back, beam_width=1):
    """predict's feed_back, checked (with its beam_width, which must be 1 unless
    the tokens are fed back)."""
    if not isinstance(feed_back, str) or feed_back not in ("tokens", "probabilities"):
        raise ValueError(f"feed_back must be 'tokens' (each step's argmax, from token 0) or "
                         f"'probabilities' (each step's softmax, from the all-zero vector: the "
                         f"tutorial's predict_sequence), got {feed_back!r}")
    if feed_back != "tokens" and _count("beam_width", beam_width) > 1:
        raise ValueError("beam search feeds back each beam's tokens: beam_width > 1 takes "
                         f"feed_back='tokens', got {feed_back!r}")
    return feed_back


def _token(name, value, n_features):
    """`value` as an int, if it is a token of the vocabulary, 0..n_features-1."""
    value = _count(name, value, minimum=0)
    if value >= n_features:
        raise ValueError(f"{name} must be a token, 0..{n_features - 1}, got {value}")
    return value


def sequence_accuracy(target, predicted, weights=None):
    """The fraction of sequences decoded right at every step, as a float.
    With weights (N, T), only the steps weighing above 0 are compared, and
    only the sequences with such a step counted (NaN if none is)."""
    if weights is None:
        return float(np.mean(np.all(predicted == target, axis=1)))
    counted = weights > 0
    right = np.all((predicted == target) | ~counted, axis=1)
    sequences = np.any(counted, axis=1)
    n = np.count_nonzero(sequences)
    return float(np.count_nonzero(right & sequences) / n) if n else float("nan")


def weighted_cross_entropy(logits, target, weights=None):
    """(loss, dL/dlogits) of softmax cross-entropy, with Keras's sample weights:
    sum(w * loss_step) / (the number of steps), so a weight of 2 counts a step
    twice and 0 leaves it out (the mean is over all steps, as Keras's
    'sum_over_batch_size'). weights: None (all 1) or (N, T), as the steps."""
    if weights is None:
        return softmax_cross_entropy(logits, target)
    total = float(weights.sum())
    if total == 0:                  # nothing weighs: Keras's loss is 0, and so its gradient
        return 0.0, np.zeros_like(logits)
    loss, dlogits = softmax_cross_entropy(logits, target, mask=weights)   # sum(w l) / sum(w)
    scale = total / weights.size
    dlogits *= scale
    return loss * scale, dlogits


# what fit's FloatingPointError advises (the command puts it in its own options' terms)
DIVERGED_REMEDY = "Lower the learning rate, or clip gradients with optimizer=Adam(clipnorm=1.0)"


def _checked_callbacks(callbacks, validation):
    """fit's callbacks as a list; one that watches a figure (a `monitor`, as
    Keras's do) must watch one this fit reports, else ValueError before training."""
    callbacks = _callback_list(callbacks)
    reported = ["loss", "acc"] + (["val_loss", "val_acc", "val_seq_acc"] if validation else [])
    for callback in callbacks:
        for what, figure in _figures_read(callback):
            if figure not in reported:
                hint = "" if validation else ("; the val_ figures need validation_data or "
                                              "validation_split")
                raise ValueError(f"{what} {figure!r}, which this fit does not report (it "
                                 f"reports {', '.join(reported)}){hint}")
    return callbacks


def _callback_list(callbacks):
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list, got {type(callbacks).__name__}; "
                        f"for one, pass [callback]")
    return list(callbacks)


def _figures_read(callback):
    """[(how, figure)]: the figures a callback will read from fit's logs, as the
    callbacks of callbacks.py say (figures_read); another is taken to read its
    `monitor`, if it has one, as Keras's callbacks name it."""
    if hasattr(callback, "figures_read"):
        return callback.figures_read()
    monitor = getattr(callback, "monitor", None)
    return [] if monitor is None else [(f"{type(callback).__name__} monitors", monitor)]


def _batch_hooks(callbacks):
    """The callbacks' (on_train_batch_begin, on_train_batch_end) methods, each
    a list; Keras's older names on_batch_begin and on_batch_end serve too."""
    def methods(name, older):
        found = (getattr(c, name, None) or getattr(c, older, None) for c in callbacks)
        return [method for method in found if method is not None]

    return (methods("on_train_batch_begin", "on_batch_begin"),
            methods("on_train_batch_end", "on_batch_end"))


def _test_batch_hooks(callbacks):
    """The callbacks' (on_test_batch_begin, on_test_batch_end) methods, each a list."""
    return tuple([method for method in (getattr(c, name, None) for c in callbacks)
                  if method is not None]
                 for name in ("on_test_batch_begin", "on_test_batch_end"))


def _tell(callbacks, event, *arguments):
    """Call callback.event(*arguments) on each callback that has that method."""
    for callback in callbacks:
        method = getattr(callback, event, None)
        if method is not None:
            method(*arguments)


def training_rows(n, fraction):
    """How many of n samples validation_split=fraction leaves to train on (Keras's rule)."""
    return int(n * (1 - fraction))


def _split_off(data, fraction):
    """(data, None), or with fraction > 0 the last rows held out, as Keras's
    validation_split does: (the first rows of each array, the last rows).
    data: (source, target, weights or None)."""
    if not (isinstance(fraction, (int, float, np.floating)) and not isinstance(fraction, bool)
            and 0 <= fraction < 1):
        raise ValueError(f"validation_split must be a fraction in [0, 1), got {fraction!r}")
    if not fraction:
        return data, None
    n = data[0].shape[0]
    kept = training_rows(n, fraction)
    if not 0 < kept < n:
        raise ValueError(f"validation_split={fraction} of {n} samples leaves {kept} to train "
                         f"on and {n - kept} to validate; each needs at least one")
    return (tuple(None if a is None else a[:kept] for a in data),
            tuple(None if a is None else a[kept:] for a in data))


MIN_SOURCES_PER_THREAD = 256     # two threads of 128 each were 1.0-1.3x as fast as one, of 256 1.5x
_PREDICT_TURN = threading.Lock()  # one predict at a time (see Seq2SeqModel._in_batches)
_THREAD_POOLS = {}                # (pid, threads) -> ThreadPoolExecutor, used under _PREDICT_TURN


def _thread_count(threads, n_sources):
    """Threads for predict: `threads` (default: one per core), fewer for few sources."""
    most = n_sources // MIN_SOURCES_PER_THREAD
    if threads is None:
        threads = 1 if most < 2 else blas_threads.usable_cores()    # (a system call)
    else:
        threads = _count("threads", threads)
    return max(1, min(threads, most))


def _thread_pool(threads):
    """A pool of `threads` threads, kept for the next predict.

    Fresh threads made decoding 10,000 sequences twice as slow here (0.42-0.48 s
    against 0.19-0.26 s). A process forked from this one has the pool but not
    its threads, so it gets a pool of its own.
    """
    key = (os.getpid(), threads)
    if key not in _THREAD_POOLS:
        _THREAD_POOLS[key] = ThreadPoolExecutor(threads, "npseq2seq-predict")
    return _THREAD_POOLS[key]


def _first(arrays):
    """The array, or the first of a tuple of arrays (see _in_batches)."""
    return arrays[0] if isinstance(arrays, tuple) else arrays


def _rows(arrays, start, end):
    """Rows start to end of the array, or of each of a tuple of arrays."""
    if isinstance(arrays, tuple):
        return tuple(array[start:end] for array in arrays)
    return arrays[start:end]


def _chunk_bounds(n, batch_size, threads):
    """Bounds of equal chunks of at most batch_size, their number a multiple of threads.

    Equal chunks, so that the threads finish together: 1,100 sources in two
    threads are four chunks of 275, not 512, 512 and 76.
    """
    chunks = -(-n // batch_size)
    chunks = min(n, threads * -(-chunks // threads))
    return [k * n // chunks for k in range(chunks + 1)]


def _decode_shared(chunks, decode, put, pool, workspace_sets):
    """decode every chunk in the pool's threads, one workspace set each, and hand
    put(k, result) chunk k's result.

    Each thread takes the next chunk when it finishes one, so a thread on a
    slower core (this machine has one) does fewer: for 10,000 sequences 4%
    faster here than a fixed half for each thread. If a decode fails, the
    other threads take no more chunks, and the error is raised once all have
    stopped (the caller's workspaces and BLAS setting are theirs till then).
    So is Ctrl-C while this thread waits for them.
    """
    waiting = queue.SimpleQueue()
    for k in range(len(chunks)):
        waiting.put(k)

    def work(workspaces):
        while (k := _next_or_none(waiting)) is not None:
            try:
                put(k, decode(chunks[k], workspaces))
            except BaseException:
                _drop_the_rest(waiting)                     # the others stop too
                raise

    parts = [pool.submit(work, workspaces) for workspaces in workspace_sets]
    try:
        wait(parts)
    except BaseException:       # Ctrl-C: the threads finish the chunk in hand, take no more
        _drop_the_rest(waiting)
        wait(parts)
        raise
    for part in parts:
        part.result()           # raises the error of the first that failed, in this order


def _next_or_none(waiting):
    try:
        return waiting.get_nowait()
    except queue.Empty:
        return None


def _drop_the_rest(waiting):
    """Empty the queue of chunks, so that no thread takes another."""
    while _next_or_none(waiting) is not None:
        pass


class _Joined:
    """The chunks' results (arrays, or tuples of arrays), joined in order: each is
    copied into arrays for all the rows as it comes, so the parts are not all
    held beside the whole (encode's answer was held twice). The arrays are made
    from the first result to come, whichever chunk it is."""

    def __init__(self, bounds):
        self.bounds, self.arrays, self.is_tuple = bounds, None, False
        self.lock = threading.Lock()

    def put(self, k, result):
        items = result if isinstance(result, tuple) else (result,)
        with self.lock:
            if self.arrays is None:
                self.is_tuple = isinstance(result, tuple)
                self.arrays = tuple(np.empty((self.bounds[-1], *item.shape[1:]), item.dtype)
                                    for item in items)
        for whole, item in zip(self.arrays, items):
            whole[self.bounds[k]:self.bounds[k + 1]] = item

    def whole(self):
        return self.arrays if self.is_tuple else self.arrays[0]


class _InOrder:
    """The chunks' results as they are, listed in the chunks' order."""

    def __init__(self, count):
        self.results = [None] * count

    def put(self, k, result):
        self.results[k] = result

    def whole(self):
        return self.results


@contextlib.contextmanager
def _ctrl_c_after_batch():
    """While training, Ctrl-C sets a flag instead of raising mid-batch.

    Raising inside an optimizer update would leave half the weights stepped;
    the loop checks the flag between batches and stops cleanly. (Only the main
    thread can take signals; elsewhere Ctrl-C is left alone.)
    """
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
