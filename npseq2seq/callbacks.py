"""Callbacks for `fit`, as Keras's: objects told when training begins, after
every epoch and when it ends.

fit(callbacks=[...]) calls, on each callback that has them:

    set_model(model)                  before training
    set_params(params)                {'verbose', 'epochs', 'steps'}: fit's
                                      settings, steps the batches an epoch
    on_train_begin(logs)              logs: {}
    on_epoch_begin(epoch, logs)       epoch counted from 0; logs: {}
    on_train_batch_begin(batch, logs) batch counted from 0 in each epoch; logs: {}
    on_train_batch_end(batch, logs)   logs: the epoch's 'loss' and 'acc' so far
                                      (as the progress bar shows them);
                                      on_batch_begin and on_batch_end, Keras's
                                      older names, serve too
    on_test_begin(logs)               with validation, after the epoch's last
                                      batch; logs: {}
    on_test_batch_begin(batch, logs)  each validation batch (of fit's
                                      batch_size, as Keras's); logs: {}
    on_test_batch_end(batch, logs)    logs: the validation's 'loss' and 'acc'
                                      so far
    on_test_end(logs)                 logs: evaluate's figures ('loss', 'acc',
                                      'seq_acc'), the epoch's val_ ones
    on_epoch_end(epoch, logs)         logs: the epoch's figures ('loss', 'acc',
                                      and 'val_loss', 'val_acc', 'val_seq_acc'
                                      with validation); what a callback adds
                                      to it goes into History too
    on_train_end(logs)                logs: the last epoch's figures

A callback stops training by setting model.stop_training = True; fit then
ends after the epoch in hand. Ctrl-C and errors end fit without on_train_end.
evaluate(callbacks=[...]) calls set_model, set_params ({'verbose': 0,
'epochs': 1, 'steps'}) and the four on_test_ methods, as Keras's evaluate.

Here: EarlyStopping, LearningRateScheduler, ReduceLROnPlateau,
ModelCheckpoint, CSVLogger and LambdaCallback, each following the Keras 3
callback of that name (tests/test_callbacks.py checks all but
LearningRateScheduler and LambdaCallback against what Keras's own decide or
write, and the order of the calls against a Keras fit's).
"""

import csv
import numbers
import os
import string

__all__ = ["CSVLogger", "EarlyStopping", "LambdaCallback", "LearningRateScheduler",
           "ModelCheckpoint", "ReduceLROnPlateau"]

# the figures fit reports (the val_ ones with validation), and which way is better
_BETTER = {"loss": "min", "acc": "max", "val_loss": "min", "val_acc": "max", "val_seq_acc": "max"}


class _Watch:
    """A figure watched for improvement, as Keras's MonitorCallback: which
    figure, which way is better, and by how much it must beat the best."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str) or monitor not in _BETTER:
            raise ValueError(f"monitor must be one of fit's figures, {', '.join(_BETTER)}, "
                             f"got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(min_delta, numbers.Real) or isinstance(min_delta, bool):
            raise ValueError(f"min_delta must be a number, got {min_delta!r}")
        self.monitor, self.min_delta = monitor, abs(float(min_delta))
        self.mode = _BETTER[monitor] if mode == "auto" else mode
        self.model = None

    def set_model(self, model):
        self.model = model

    def figures_read(self):
        """[(how, figure)]: the figures this callback reads from fit's logs, which
        fit checks it reports before training."""
        return [(f"{type(self).__name__} monitors", self.monitor)]

    def _watched(self, logs):
        if self.monitor not in logs:        # (fit checks this before training)
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, which these "
                             f"logs lack (they hold {', '.join(logs)})")
        return logs[self.monitor]

    def _improves_on(self, reference, value):
        """Whether value beats reference (None: anything does) by more than min_delta."""
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference


def _whole(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a whole number at least 0, got {value!r}")
    return value


class EarlyStopping(_Watch):
    """Stop fit when a figure has stopped improving, as Keras's EarlyStopping.

    monitor     the figure to watch: 'val_loss' (default), 'val_acc',
                'val_seq_acc', or the training 'loss' or 'acc'. The val_
                figures need validation_data or validation_split.
    min_delta   how much a figure must improve on the best so far to count
                (by more than min_delta)
    patience    epochs without improvement after which training stops
    mode        'min', 'max', or 'auto' (loss: min; acc, seq_acc: max)
    baseline    a figure to beat: until one does, no epoch counts as an
                improvement that resets the patience
    restore_best_weights
                at the end of training (stopped early or not), go back to
                the weights of the best epoch
    start_from_epoch
                epochs to train before watching
    verbose     1: say when it stops and which weights it restores

    After fit: stopped_epoch (0 if it did not stop training; else counted
    from 0), best, best_epoch.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0, verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.baseline = _whole("patience", patience), baseline
        self.start_from_epoch = _whole("start_from_epoch", start_from_epoch)
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        """Forget the last fit's watch: one EarlyStopping can serve several fits."""
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs):
        current = self._watched(logs)
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._improves_on(self.best, current):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self._improves_on(self.baseline, current):
                self.wait = 0
            return
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class LearningRateScheduler:
    """Set the learning rate before every epoch, as Keras's LearningRateScheduler.

    schedule    schedule(epoch, learning_rate) -> the epoch's learning rate
                (epoch counted from 0; learning_rate the optimizer's now)
    verbose     1: say the rate each epoch

    The rate of each epoch goes into History as 'learning_rate'.
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"schedule must be a function (epoch, learning_rate) -> learning "
                            f"rate, got {type(schedule).__name__}")
        self.schedule, self.verbose, self.model = schedule, verbose, None

    def set_model(self, model):
        self.model = model

    def on_epoch_begin(self, epoch, logs=None):
        rate = self.schedule(epoch, float(self.model.optimizer.learning_rate))
        if not (isinstance(rate, numbers.Real) and not isinstance(rate, bool)
                and 0 <= rate < float("inf")):
            raise ValueError(f"schedule({epoch}, ...) must return a learning rate, a finite "
                             f"number at least 0, got {rate!r}")
        self.model.optimizer.learning_rate = float(rate)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(rate)}.")

    def on_epoch_end(self, epoch, logs):
        logs["learning_rate"] = self.model.optimizer.learning_rate


class ReduceLROnPlateau(_Watch):
    """Cut the learning rate when a figure has stopped improving, as Keras's.

    monitor, mode, min_delta
                as EarlyStopping's (min_delta 1e-4 here, as Keras's)
    factor      the cut: the rate becomes rate * factor (0 < factor < 1)
    patience    epochs without improvement before a cut
    cooldown    epochs after a cut before it watches again
    min_lr      the rate is never cut below this
    verbose     1: say each cut

    Each epoch's rate goes into History as 'learning_rate'.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if not (isinstance(factor, numbers.Real) and 0 < factor < 1):
            raise ValueError(f"factor must be above 0 and below 1, got {factor!r}")
        if not (isinstance(min_lr, numbers.Real) and min_lr >= 0):
            raise ValueError(f"min_lr must be a number at least 0, got {min_lr!r}")
        self.factor, self.min_lr, self.verbose = float(factor), float(min_lr), verbose
        self.patience, self.cooldown = _whole("patience", patience), _whole("cooldown", cooldown)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs):
        logs["learning_rate"] = self.model.optimizer.learning_rate
        current = self._watched(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves_on(self.best, current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and self._cut(epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _cut(self, epoch):
        """Cut the rate, unless it is at min_lr already; whether it was cut."""
        optimizer = self.model.optimizer
        if not optimizer.learning_rate > self.min_lr:
            return False
        optimizer.learning_rate = max(optimizer.learning_rate * self.factor, self.min_lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                  f"{optimizer.learning_rate}.")
        return True


class ModelCheckpoint(_Watch):
    """Save the model after every epoch, or after each best one, as Keras's.

    filepath    where to save (`model.save`, read back with ns.load): a .npz
                path, formatted with the epoch (counted from 1) and the
                epoch's figures, as Keras's: 'model-{epoch:02d}-{val_loss:.3f}.npz'.
                Its folder is made if missing.
    monitor, mode
                as EarlyStopping's; watched only with save_best_only
    save_best_only
                save only when the figure beats the best so far (the first
                epoch always does, unless initial_value_threshold is given)
    initial_value_threshold
                a figure to beat before the first save
    verbose     1: say each save, and each epoch that did not improve

    Saves whole models (weights, optimizer, shuffling state), each written
    whole or not at all; Keras's save_weights_only and batch-wise save_freq
    have no counterpart here.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto", initial_value_threshold=None):
        super().__init__(monitor, mode, 0.0)
        filepath = os.fspath(filepath)
        if not filepath.endswith(".npz"):
            raise ValueError(f"ModelCheckpoint writes npseq2seq's .npz files (ns.load reads "
                             f"them); its filepath must end in .npz, got {filepath!r}")
        known = {"epoch", "learning_rate", *_BETTER}
        fields = {field for _, field, _, _ in string.Formatter().parse(filepath) if field}
        if fields - known:
            raise ValueError(f"ModelCheckpoint's filepath names {', '.join(sorted(fields - known))}"
                             f"; it can name {', '.join(sorted(known))}")
        self.path_figures = sorted(fields - {"epoch"})
        self.filepath, self.verbose = filepath, verbose
        self.save_best_only, self.best = bool(save_best_only), initial_value_threshold

    def figures_read(self):
        """The monitor, watched only with save_best_only, and the figures the
        filepath names (but learning_rate: a scheduler listed earlier may log it,
        and on_epoch_end says so if none does)."""
        watched = super().figures_read() if self.save_best_only else []
        return watched + [("ModelCheckpoint's filepath names", figure)
                          for figure in self.path_figures if figure != "learning_rate"]

    def on_train_begin(self, logs=None):
        """A folder that cannot be written fails now, not after the first epoch."""
        folder = os.path.dirname(os.path.abspath(self.filepath))
        if "{" not in folder:
            os.makedirs(folder, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"ModelCheckpoint cannot write into {folder}")

    def on_epoch_end(self, epoch, logs):
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as missing:
            figure = missing.args[0]
            hint = ("the val_ figures need validation_data or validation_split"
                    if figure.startswith("val_") else "a LearningRateScheduler or "
                    "ReduceLROnPlateau listed before this callback logs learning_rate")
            raise ValueError(f"ModelCheckpoint's filepath names {figure!r}, which this fit does "
                             f"not report (it reports {', '.join(logs)}); {hint}") from None
        if self.save_best_only and not self._improved(epoch, logs, path):
            return
        if self.verbose and not self.save_best_only:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.model.save(path)

    def _improved(self, epoch, logs, path):
        """Whether the watched figure beats the best (which it then becomes)."""
        current = self._watched(logs)
        best = "None" if self.best is None else f"{self.best:.5f}"
        if not self._improves_on(self.best, current):
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
            return False
        if self.verbose:
            print(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                  f"saving model to {path}")
        self.best = current
        return True


class CSVLogger:
    """Write each epoch's figures to a CSV file as it ends, as Keras's CSVLogger.

    filename    the file, replaced when fit starts; with append=True added to
                instead (with no header if it has a first line already)
    separator   between fields

    The columns, as Keras's: 'epoch' (counted from 0), then the first epoch's
    figures sorted by name; with no val_ figures among them, a val_ column
    for each, written 'NA'. Lines end in \\r\\n (the csv module's Excel
    dialect), as Keras's files do.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.file = self.writer = self.keys = None
        self.header = True

    def on_train_begin(self, logs=None):
        self.on_train_end()
        header = not (self.append and os.path.exists(self.filename) and _first_line(self.filename))
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.header, self.writer, self.keys = header, None, None

    def on_epoch_end(self, epoch, logs):
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, ["epoch", *self.keys],
                                         delimiter=self.separator)
            if self.header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None and not self.file.closed:
            self.file.close()
        self.writer = None


class LambdaCallback:
    """A callback made of functions, as Keras's: each given function is called
    at its event with that event's arguments (see the top of this module).

        ns.LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))

    Other keyword arguments become attributes, as in Keras (on_batch_end=f,
    say, Keras's older name for on_train_batch_end).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        self.__dict__.update(kwargs)
        events = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                  "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                  "on_train_batch_begin": on_train_batch_begin,
                  "on_train_batch_end": on_train_batch_end}
        for name, function in events.items():
            if function is not None:
                if not callable(function):
                    raise TypeError(f"{name} must be a function, got "
                                    f"{type(function).__name__} {function!r}")
                setattr(self, name, function)


def _first_line(path):
    with open(path, newline="") as file:
        return file.readline()

