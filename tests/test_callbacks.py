"""fit's callbacks, and the callbacks here against what Keras's own decide."""

import csv
import json
import os

import numpy as np
import pytest

import npseq2seq as ns

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "keras_callbacks.json")
with open(FIXTURE) as saved:
    KERAS = json.load(saved)                     # make_keras_callback_fixtures.py
EARLY_STOPPING_CASES, REDUCE_LR_CASES = KERAS["early_stopping"], KERAS["reduce_lr_on_plateau"]


def case_id(case):
    return f"{case['values']}-{case['settings']}"


class StandIn:
    """The model as the callbacks see it; its weights name the epoch they are from."""

    def __init__(self):
        self.stop_training, self.weights = False, [-1]
        self.optimizer = ns.SGD(learning_rate=0.01)

    def get_weights(self):
        return list(self.weights)

    def set_weights(self, weights):
        self.weights = list(weights)

    def save(self, path):
        self.saved = path


@pytest.mark.parametrize("case", EARLY_STOPPING_CASES, ids=case_id)
def test_early_stopping_decides_as_keras_does(case):
    callback, model = ns.EarlyStopping("val_loss", **case["settings"]), StandIn()
    callback.set_model(model)
    callback.on_train_begin({})
    epochs = 0
    for epoch, value in enumerate(case["values"]):      # as the fixture script fed Keras
        model.weights = [epoch]
        epochs += 1
        callback.on_epoch_end(epoch, {"loss": 0.0, "val_loss": value})
        if model.stop_training:
            break
    callback.on_train_end({})
    assert (epochs, callback.stopped_epoch, model.weights[0]) == (
        case["epochs_run"], case["stopped_epoch"], case["weights_from_epoch"])


@pytest.mark.parametrize("case", REDUCE_LR_CASES, ids=case_id)
def test_reduce_lr_on_plateau_cuts_as_keras_does(case):
    callback, model = ns.ReduceLROnPlateau("val_loss", **case["settings"]), StandIn()
    callback.set_model(model)
    callback.on_train_begin({})
    rates = []
    for epoch, value in enumerate(case["values"]):
        logs = {"loss": 0.0, "val_loss": value}
        callback.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == (rates or [0.01])[-1]     # the epoch's, before a cut
        rates.append(model.optimizer.learning_rate)
    assert rates == case["learning_rates"]


@pytest.mark.parametrize("case", KERAS["model_checkpoint"], ids=case_id)
def test_model_checkpoint_saves_as_keras_does(case, tmp_path):
    filepath = str(tmp_path / case["filepath"].replace(".keras", ".npz"))
    callback, model = ns.ModelCheckpoint(filepath, "val_loss", **case["settings"]), StandIn()
    callback.set_model(model)
    callback.on_train_begin({})
    saved = []
    for epoch, value in enumerate(case["values"]):
        model.saved = None
        callback.on_epoch_end(epoch, {"loss": 0.0, "val_loss": value})
        saved.append(model.saved and os.path.basename(model.saved).replace(".npz", ".keras"))
    assert saved == case["saved"]


def test_model_checkpoint_in_fit_keeps_the_best_epochs_model(tmp_path, capsys):
    """Held-out targets in the other order than trained, at a high learning rate:
    val_loss goes 2.06, 1.94, 1.88, 1.92, 1.77, 1.85, so the best epoch is the fifth."""
    source, target, (held_source, held_target) = task()
    best = tmp_path / "models" / "best.npz"                 # (a folder that is made)
    every = str(tmp_path / "epoch-{epoch}-{val_loss:.4f}.npz")
    model = ns.EncoderDecoder(9, 8, seed=1)
    history = model.fit(source, target, epochs=6, verbose=0, optimizer=ns.Adam(0.2),
                        validation_data=(held_source, held_target[:, ::-1]), callbacks=[
        ns.ModelCheckpoint(best, save_best_only=True, verbose=1), ns.ModelCheckpoint(every)])
    losses = history.history["val_loss"]
    best_epoch = int(np.argmin(losses))
    assert best_epoch == 4 and losses[3] > losses[2]
    assert ns.load(best).epochs_done == best_epoch + 1
    named = sorted(path.name for path in tmp_path.glob("epoch-*.npz"))
    assert named == sorted(f"epoch-{k + 1}-{loss:.4f}.npz" for k, loss in enumerate(losses))
    kept = ns.load(tmp_path / f"epoch-{best_epoch + 1}-{losses[best_epoch]:.4f}.npz")
    for a, b in zip(ns.load(best).get_weights(), kept.get_weights()):
        np.testing.assert_array_equal(a, b)
    out = capsys.readouterr().out
    assert f"Epoch 1: val_loss improved from None to {losses[0]:.5f}, saving model to {best}" in out
    assert f"Epoch 4: val_loss did not improve from {losses[2]:.5f}" in out


@pytest.mark.parametrize("make, error, message", [
    (lambda p: ns.ModelCheckpoint(p / "best.keras"), ValueError,
     r"must end in \.npz, got '.*best\.keras'"),
    (lambda p: ns.ModelCheckpoint(p / "m.npz", monitor="val_los"), ValueError,
     "monitor must be one of fit's figures"),
    (lambda p: ns.ModelCheckpoint(p / "m-{epoch}-{val_los:.2f}.npz"), ValueError,
     "filepath names val_los; it can name acc, epoch, learning_rate, loss, val_acc"),
])
def test_model_checkpoint_refuses_what_it_cannot_do(tmp_path, make, error, message):
    with pytest.raises(error, match=message):
        make(tmp_path)


def test_model_checkpoint_names_a_figure_fit_does_not_report(tmp_path):
    source, target, _ = task()
    model = ns.EncoderDecoder(9, 8, seed=1)
    with pytest.raises(ValueError, match=r"^ModelCheckpoint's filepath names 'val_loss', which "
                                         r"this fit does not report \(it reports loss, acc\); "
                                         r"the val_ figures"):
        model.fit(source, target, epochs=1, verbose=0,
                  callbacks=[ns.ModelCheckpoint(tmp_path / "m-{val_loss:.2f}.npz")])
    assert model.epochs_done == 0                                # refused before training
    with pytest.raises(ValueError, match=r"filepath names 'learning_rate', which this fit does "
                                         r"not report \(it reports loss, acc\); a "
                                         r"LearningRateScheduler or ReduceLROnPlateau listed "
                                         r"before this callback logs learning_rate"):
        model.fit(source, target, epochs=1, verbose=0,          # no scheduler logs the rate
                  callbacks=[ns.ModelCheckpoint(tmp_path / "m-{learning_rate}.npz")])
    model.fit(source, target, epochs=2, initial_epoch=1, verbose=0, callbacks=[
        ns.LearningRateScheduler(lambda epoch, rate: rate),
        ns.ModelCheckpoint(tmp_path / "m-{learning_rate}.npz")])
    assert (tmp_path / "m-0.001.npz").exists()


def test_model_checkpoint_watches_only_when_it_saves_the_best(tmp_path):
    source, target, _ = task()
    model = ns.EncoderDecoder(9, 8, seed=1)
    model.fit(source, target, epochs=1, verbose=0,             # no validation: fine
              callbacks=[ns.ModelCheckpoint(tmp_path / "m.npz")])
    assert (tmp_path / "m.npz").exists()
    with pytest.raises(ValueError, match="ModelCheckpoint monitors 'val_loss', which this fit "
                                         "does not report"):
        model.fit(source, target, epochs=1, verbose=0,
                  callbacks=[ns.ModelCheckpoint(tmp_path / "m.npz", save_best_only=True)])


@pytest.mark.parametrize("case", KERAS["csv_logger"], ids=lambda case: str(case["settings"]))
def test_csv_logger_writes_the_file_keras_writes(case, tmp_path):
    path = tmp_path / "log.csv"
    if case["before"] is not None:
        path.write_bytes(case["before"].encode())
    callback = ns.CSVLogger(path, **case["settings"])
    callback.on_train_begin({})
    for epoch, logs in enumerate(case["epochs"]):
        callback.on_epoch_end(epoch, dict(logs))
    callback.on_train_end({})
    assert path.read_bytes() == case["file"].encode()


def test_csv_logger_in_fit_logs_history(tmp_path):
    source, target, held = task()
    path = tmp_path / "log.csv"
    model = ns.EncoderDecoder(9, 8, seed=1)
    history = model.fit(source, target, epochs=3, verbose=0, validation_data=held,
                        callbacks=[ns.LearningRateScheduler(lambda epoch, rate: rate / 2),
                                   ns.CSVLogger(path)])
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row.pop("epoch")) for row in rows] == history.epoch
    assert {name: [float(row[name]) for row in rows] for name in rows[0]} == history.history
    model.fit(source, target, epochs=4, initial_epoch=3, verbose=0, validation_data=held,
              callbacks=[ns.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and lines[-1].startswith("3,")     # one header, four epochs


def test_the_fixture_covers_stops_restores_and_full_runs():
    outcomes = {(c["epochs_run"] < len(c["values"]),
                 c["weights_from_epoch"] != c["epochs_run"] - 1) for c in EARLY_STOPPING_CASES}
    assert outcomes == {(True, True), (True, False), (False, True), (False, False)}


def task():
    source, target = ns.reversal_task(96, n_in=4, n_out=2, cardinality=9, seed=1)
    held = ns.reversal_task(32, n_in=4, n_out=2, cardinality=9, seed=2)
    return source, target, held


class Recorder:
    def __init__(self, stop_after=None):
        self.calls, self.stop_after = [], stop_after

    def set_model(self, model):
        self.model = model
        self.calls.append("set_model")

    def on_train_begin(self, logs):
        self.calls.append(("begin", logs))

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(("epoch", epoch))

    def on_epoch_end(self, epoch, logs):
        self.calls.append((epoch, sorted(logs)))
        if epoch == self.stop_after:
            self.model.stop_training = True

    def on_train_end(self, logs):
        self.calls.append(("end", sorted(logs)))


def test_fit_tells_its_callbacks_and_stops_when_one_asks():
    source, target, held = task()
    model, recorder = ns.EncoderDecoder(9, 8, seed=1), Recorder(stop_after=1)
    history = model.fit(source, target, epochs=5, verbose=0, validation_data=held,
                        callbacks=[recorder, object()])        # (one with no methods at all)
    figures = ["acc", "loss", "val_acc", "val_loss", "val_seq_acc"]
    assert recorder.calls == ["set_model", ("begin", {}), ("epoch", 0), (0, figures),
                              ("epoch", 1), (1, figures), ("end", figures)]
    assert history.epoch == [0, 1] and model.epochs_done == 2


class ParamsRecorder:
    def __init__(self):
        self.seen, self.begun, self.events = None, [], []

    def set_params(self, params):
        self.seen = dict(params)

    def on_epoch_begin(self, epoch, logs):
        self.begun.append(epoch)
        self.events.append(["epoch_begin", epoch])

    def on_epoch_end(self, epoch, logs):
        self.events.append(["epoch_end", epoch])

    def on_train_batch_begin(self, batch, logs):
        self.events.append(["batch_begin", batch])

    def on_train_batch_end(self, batch, logs):
        self.events.append(["batch_end", batch, sorted(logs)])

    def on_test_begin(self, logs):
        self.events.append(["test_begin", sorted(logs)])

    def on_test_batch_begin(self, batch, logs):
        self.events.append(["test_batch_begin", batch])

    def on_test_batch_end(self, batch, logs):
        self.events.append(["test_batch_end", batch, sorted(logs)])

    def on_test_end(self, logs):
        self.events.append(["test_end", sorted(set(logs) - {"seq_acc"})])   # (ours: not Keras's)


@pytest.mark.parametrize("case", KERAS["fit_params"], ids=lambda case: str(case["settings"]))
def test_fit_tells_its_settings_as_keras_does(case, capsys):
    """set_params, History.params, History.epoch and History.model, against a tiny
    Keras fit with the same rows, batch size, epochs, verbosity and split."""
    settings = dict(case["settings"])
    source, target = ns.reversal_task(settings.pop("rows"), n_in=4, n_out=2, cardinality=9,
                                      seed=2)
    model, recorder = ns.EncoderDecoder(9, 4, seed=2), ParamsRecorder()
    history = model.fit(source, target, callbacks=[recorder], **settings)
    assert recorder.seen == case["set_params"]
    assert history.params == case["history_params"]
    assert history.epoch == case["history_epoch"] and recorder.begun == case["epochs_begun"]
    assert (history.model is model) == case["history_model_is_model"]
    assert recorder.events == case["events"]      # epochs, batches, tests, in Keras's order


@pytest.mark.parametrize("case", KERAS["evaluate_calls"], ids=lambda case: str(case["settings"]))
def test_evaluate_tells_its_callbacks_what_keras_evaluate_does(case):
    source, target = ns.reversal_task(case["settings"]["rows"], n_in=4, n_out=2, cardinality=9,
                                      seed=2)
    recorder = ParamsRecorder()
    ns.EncoderDecoder(9, 4, seed=2).evaluate(source, target, callbacks=[recorder],
                                             batch_size=case["settings"]["batch_size"])
    assert recorder.seen == case["set_params"] and recorder.events == case["events"]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_test_hooks_are_told_the_validation_figures_as_they_come(workers, capsys):
    source, target, held = task()
    told = []
    callback = ns.LambdaCallback(on_test_batch_end=lambda batch, logs: told.append(logs),
                                 on_test_end=lambda logs: told.append(logs))
    model, plain = ns.EncoderDecoder(9, 8, seed=1), ns.EncoderDecoder(9, 8, seed=1)
    history = model.fit(source, target, batch_size=16, verbose=0, validation_data=held,
                        callbacks=[callback], workers=workers).history
    expected = plain.fit(source, target, batch_size=16, verbose=0, validation_data=held,
                         workers=workers).history
    assert len(told) == -(-len(held[0]) // 16) + 1              # each batch, then the end
    assert told[-1] == {name: history[f"val_{name}"][0] for name in ("loss", "acc", "seq_acc")}
    assert told[-2] == pytest.approx({"loss": told[-1]["loss"], "acc": told[-1]["acc"]},
                                     rel=1e-12)
    for name in ("val_loss", "val_acc", "val_seq_acc"):         # in batches of 16: rounding
        assert history[name] == pytest.approx(expected[name], rel=1e-6)
    first = held[0][:16], held[1][:16]
    assert told[0] == pytest.approx({name: plain.evaluate(*first)[name] for name in
                                     ("loss", "acc")}, rel=1e-6)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_lambda_callback_is_told_each_batch_the_epochs_figures_so_far(workers, capsys):
    source, target = ns.reversal_task(100, n_in=4, n_out=2, cardinality=9, seed=2)
    told = []
    callback = ns.LambdaCallback(
        on_train_begin=lambda logs: told.append(("begin", logs)),
        on_train_batch_end=lambda batch, logs: told.append((batch, logs)),
        on_epoch_end=lambda epoch, logs: told.append(("epoch", epoch, dict(logs))),
        on_batch_begin=lambda batch, logs: told.append(("batch begins", batch)))
    history = ns.EncoderDecoder(9, 4, seed=2).fit(source, target, batch_size=32, verbose=0,
                                                  callbacks=[callback], workers=workers)
    assert [entry[0] for entry in told] == ["begin", "batch begins", 0, "batch begins", 1,
                                            "batch begins", 2, "batch begins", 3, "epoch"]
    last = told[-2][1]
    assert last == {"loss": history.history["loss"][0], "acc": history.history["acc"][0]}
    assert told[-1][2] == last


def test_a_lambda_callback_takes_functions_only_and_keeps_other_arguments():
    with pytest.raises(TypeError, match="on_epoch_end must be a function, got int 3"):
        ns.LambdaCallback(on_epoch_end=3)
    assert ns.LambdaCallback(name="mine").name == "mine"


@pytest.mark.parametrize("workers", [1, 2])
def test_early_stopping_restores_the_best_epochs_weights(workers, capsys):
    source, target, held = task()
    model, first_epoch_only = ns.EncoderDecoder(9, 8, seed=1), ns.EncoderDecoder(9, 8, seed=1)
    # min_delta=10: no epoch after the first counts as better, so it stops at the second
    stopper = ns.EarlyStopping(min_delta=10, patience=1, restore_best_weights=True, verbose=1)
    history = model.fit(source, target, epochs=6, verbose=0, validation_data=held,
                        workers=workers, callbacks=[stopper])
    assert capsys.readouterr().out == ("Epoch 2: early stopping\n"
                                       "Restoring model weights from the end of the best "
                                       "epoch: 1.\n")
    assert len(history.epoch) == 2 and stopper.stopped_epoch == 1 and stopper.best_epoch == 0
    first_epoch_only.fit(source, target, epochs=1, verbose=0, workers=workers)
    for a, b in zip(model.get_weights(), first_epoch_only.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.evaluate(*held) == first_epoch_only.evaluate(*held)


class Watcher:
    monitor = "val_accuracy"        # Keras 3's name; here it is val_acc


@pytest.mark.parametrize("callbacks, validation, error, message", [
    ([ns.EarlyStopping()], False, ValueError,
     "EarlyStopping monitors 'val_loss', which this fit does not report (it reports loss, acc); "
     "the val_ figures need validation_data or validation_split"),
    ([Watcher()], True, ValueError, "Watcher monitors 'val_accuracy', which this fit does "
     "not report (it reports loss, acc, val_loss, val_acc, val_seq_acc)"),
    (ns.EarlyStopping("loss"), False, TypeError,
     "callbacks must be a list, got EarlyStopping; for one, pass [callback]"),
])
def test_bad_callbacks_are_refused_before_training(callbacks, validation, error, message):
    source, target, held = task()
    model = ns.EncoderDecoder(9, 8, seed=1)
    before = model.get_weights()
    with pytest.raises(error) as raised:
        model.fit(source, target, verbose=0, callbacks=callbacks,
                  validation_data=held if validation else None)
    assert str(raised.value) == message
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options, message", [
    ({"monitor": "val_accuracy"}, "monitor must be one of fit's figures, loss, acc, val_loss, "
                                  "val_acc, val_seq_acc, got 'val_accuracy'"),
    ({"monitor": "seq_acc"}, "monitor must be one of fit's figures, loss, acc, val_loss, "
                             "val_acc, val_seq_acc, got 'seq_acc'"),
    ({"mode": "up"}, "mode must be 'auto', 'min' or 'max', got 'up'"),
    ({"patience": 1.5}, "patience must be a whole number at least 0, got 1.5"),
    ({"start_from_epoch": -1}, "start_from_epoch must be a whole number at least 0, got -1"),
    ({"min_delta": "0.1"}, "min_delta must be a number, got '0.1'"),
])
def test_early_stopping_refuses_bad_options(options, message):
    with pytest.raises(ValueError) as raised:
        ns.EarlyStopping(**options)
    assert str(raised.value) == message


def test_numpy_numbers_are_taken_for_options():
    stopper = ns.EarlyStopping(patience=np.int64(2), min_delta=np.float32(0.5))
    assert stopper.patience == 2 and stopper.min_delta == 0.5


def test_reduce_lr_on_plateau_in_fit_logs_each_epochs_rate_and_cuts_after_it():
    source, target, _ = task()
    model = ns.EncoderDecoder(9, 8, seed=1)
    cut = ns.ReduceLROnPlateau("loss", patience=0, min_delta=10)    # every epoch but the first
    history = model.fit(source, target, epochs=3, verbose=0, optimizer=ns.Adam(0.01),
                        callbacks=[cut])
    assert history.history["learning_rate"] == [0.01, 0.01, 0.001]
    assert model.optimizer.learning_rate == pytest.approx(0.0001)


def test_a_checkpoint_keeps_the_rate_a_callback_cut_at_the_epochs_end(tmp_path):
    source, target, _ = task()
    model, path = ns.EncoderDecoder(9, 8, seed=1), tmp_path / "ckpt.npz"
    cut = ns.ReduceLROnPlateau("loss", patience=0, min_delta=10)
    model.fit(source, target, epochs=2, verbose=0, optimizer=ns.Adam(0.01), callbacks=[cut],
              checkpoint=path)
    assert ns.load(path).optimizer.learning_rate == model.optimizer.learning_rate == 0.001


@pytest.mark.parametrize("options, message", [
    ({"factor": 1.0}, "factor must be above 0 and below 1, got 1.0"),
    ({"factor": 0}, "factor must be above 0 and below 1, got 0"),
    ({"min_lr": -1}, "min_lr must be a number at least 0, got -1"),
    ({"cooldown": -1}, "cooldown must be a whole number at least 0, got -1"),
    ({"monitor": "val_accuracy"}, "monitor must be one of fit's figures, loss, acc, val_loss, "
                                  "val_acc, val_seq_acc, got 'val_accuracy'"),
])
def test_reduce_lr_on_plateau_refuses_bad_options(options, message):
    with pytest.raises(ValueError) as raised:
        ns.ReduceLROnPlateau(**options)
    assert str(raised.value) == message


def test_auto_mode_wants_accuracy_up_and_loss_down():
    assert ns.EarlyStopping("val_seq_acc").mode == ns.EarlyStopping("acc").mode == "max"
    assert ns.EarlyStopping("val_loss").mode == ns.EarlyStopping("loss").mode == "min"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_learning_rate_schedule_trains_as_setting_the_rate_by_hand(workers, capsys):
    source, target, _ = task()
    scheduled, by_hand = ns.EncoderDecoder(9, 8, seed=1), ns.EncoderDecoder(9, 8, seed=1)
    halving = ns.LearningRateScheduler(lambda epoch, rate: rate / 2 if epoch else rate,
                                       verbose=1)
    history = scheduled.fit(source, target, epochs=3, verbose=0, workers=workers,
                            optimizer=ns.Adam(0.01), callbacks=[halving])
    assert history.history["learning_rate"] == [0.01, 0.005, 0.0025]
    assert capsys.readouterr().out.splitlines() == [
        f"Epoch {k}: LearningRateScheduler setting learning rate to {rate}."
        for k, rate in ((1, 0.01), (2, 0.005), (3, 0.0025))]
    by_hand.fit(source, target, verbose=0, workers=workers, optimizer=ns.Adam(0.01))
    for epoch, rate in ((1, 0.005), (2, 0.0025)):
        by_hand.optimizer.learning_rate = rate
        by_hand.fit(source, target, epochs=epoch + 1, initial_epoch=epoch, verbose=0,
                    workers=workers)
    for a, b in zip(scheduled.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [None, -0.1, float("nan"), "0.1", True])
def test_a_schedule_that_returns_no_learning_rate_is_named_before_the_epoch(rate):
    source, target, _ = task()
    model = ns.EncoderDecoder(9, 8, seed=1)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"^schedule\(0, ...\) must return a learning rate, "
                                         r"a finite number at least 0, got "):
        model.fit(source, target, verbose=0, callbacks=[ns.LearningRateScheduler(
            lambda epoch, learning_rate: rate)])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="schedule must be a function"):
        ns.LearningRateScheduler(0.01)
