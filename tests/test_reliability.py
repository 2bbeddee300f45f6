"""Bad input, interrupted and diverging training, resumable runs."""

import os
import re
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import npseq2seq as ns
from npseq2seq.cli import main

V, UNITS = 7, 4
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


# --- interrupted and diverging training -------------------------------------------

class InterruptAt(ns.Adam):
    """Adam that sends this process Ctrl-C (SIGINT) during its k-th update."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def update(self, pairs):
        super().update(pairs)
        if self.iterations == self.k:
            os.kill(os.getpid(), signal.SIGINT)


SOURCE, TARGET = ns.reversal_task(200, n_in=4, n_out=2, cardinality=V, seed=1)  # 13 batches


def fit_13_batches(model, epochs, **options):
    return model.fit(SOURCE, TARGET, epochs=epochs, batch_size=16, verbose=0, **options)


def straight_run(epochs):
    """The model the interrupted runs must end with, trained without a break."""
    model = ns.EncoderDecoder(V, 6, seed=3)
    fit_13_batches(model, epochs)
    return model


def stopped_and_loaded(path, batch, message):
    """Two epochs begun with a checkpoint at path and Ctrl-C in update `batch`
    (the error must match `message`); the model loaded from the checkpoint."""
    stopped = ns.EncoderDecoder(V, 6, seed=3)
    with pytest.raises(KeyboardInterrupt, match=message):
        fit_13_batches(stopped, 2, optimizer=InterruptAt(batch), checkpoint=path)
    return ns.load(path)


def test_ctrl_c_saves_a_checkpoint_and_resuming_is_bit_identical(tmp_path):
    resumed = stopped_and_loaded(tmp_path / "ckpt.npz", 5,
                                 "after batch 5 of 13 in epoch 1; saved")
    assert resumed.unfinished_epoch["batches_done"] == 5 and resumed.epochs_done == 0
    history = fit_13_batches(resumed, 2)
    assert weights_equal(straight_run(2), resumed)
    assert len(history.history["loss"]) == 2 and resumed.epochs_done == 2


def test_ctrl_c_in_an_epochs_last_batch_stops_at_the_epochs_end(tmp_path):
    resumed = stopped_and_loaded(tmp_path / "ckpt.npz", 13, "at the end of epoch 1; saved")
    assert resumed.epochs_done == 1 and resumed.unfinished_epoch is None
    fit_13_batches(resumed, 1)          # the one epoch left (fit's epochs are the call's)
    assert weights_equal(straight_run(2), resumed)


def test_ctrl_c_without_a_checkpoint_keeps_the_place_in_memory():
    stopped = ns.EncoderDecoder(V, 6, seed=3)
    with pytest.raises(KeyboardInterrupt) as interrupt:
        fit_13_batches(stopped, 1, optimizer=InterruptAt(5))
    assert str(interrupt.value) == "training interrupted after batch 5 of 13 in epoch 1"
    assert interrupt.value.where == "after batch 5 of 13 in epoch 1"    # for the CLI's words
    assert interrupt.value.checkpoint is None
    fit_13_batches(stopped, 1)          # the same model finishes the epoch
    assert weights_equal(straight_run(1), stopped)


def test_checkpoint_after_every_epoch(tmp_path):
    source, target = ns.reversal_task(64, n_in=4, n_out=2, cardinality=V, seed=1)
    model = ns.EncoderDecoder(V, 6, seed=3)
    path = tmp_path / "ckpt.npz"
    model.fit(source, target, epochs=2, verbose=0, checkpoint=path)
    saved = ns.load(path)
    assert saved.epochs_done == 2 and saved.unfinished_epoch is None
    assert weights_equal(model, saved)


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_an_unwritable_checkpoint_fails_before_training(tmp_path, where):
    source, target = ns.reversal_task(64, n_in=4, n_out=2, cardinality=V, seed=1)
    model = ns.EncoderDecoder(V, 6, seed=3)
    before = model.get_weights()
    path = tmp_path / "nowhere" / "ckpt.npz" if where == "missing folder" else tmp_path
    with pytest.raises(OSError, match=re.escape(f"cannot write {path}: ")):
        model.fit(source, target, epochs=1, verbose=0, checkpoint=path)
    assert model.epochs_done == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert os.listdir(tmp_path) == []


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_weights(tmp_path, monkeypatch):
    source, target = ns.reversal_task(96, n_in=4, n_out=2, cardinality=V, seed=1)
    reference = ns.EncoderDecoder(V, 6, seed=3)
    reference.fit(source, target, epochs=1, batch_size=32, verbose=0)  # three batches
    model = ns.EncoderDecoder(V, 6, seed=3)
    path = tmp_path / "ckpt.npz"
    model.fit(source, target, epochs=1, batch_size=32, verbose=0, checkpoint=path)
    before = ns.load(path)
    real = model._train_batch
    calls = []

    def nan_on_third_batch(src, tgt, **options):
        calls.append(1)
        loss, acc = real(src, tgt, **options)
        return (float("nan") if len(calls) == 3 else loss), acc

    monkeypatch.setattr(model, "_train_batch", nan_on_third_batch)
    weights_after_two = []
    original_update = model.optimizer.update

    def record(pairs):
        original_update(pairs)
        weights_after_two[:] = model.get_weights()

    monkeypatch.setattr(model.optimizer, "update", record)
    with pytest.raises(FloatingPointError, match="loss stopped being finite.*epoch 2, batch 3.*clipnorm"):
        model.fit(source, target, epochs=1, batch_size=32, verbose=0, checkpoint=path)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights_after_two))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert weights_equal(ns.load(path), before)  # the file still holds the last good epoch


@pytest.mark.parametrize("value, stops", [(np.nan, True), (np.inf, True), (-np.inf, True),
                                          (1e30, False), (-3e38, False)])
def test_the_gradient_check_tells_huge_from_non_finite(value, stops):
    """The check sums squares (it overflows for huge gradients); only a real
    NaN or infinity may stop training."""
    model = ns.EncoderDecoder(V, 6, seed=3)
    model._flat_grads[7] = value
    if stops:
        with pytest.raises(FloatingPointError, match="gradient stopped being finite"):
            model._check_finite(1.0, 0)
    else:
        model._check_finite(1.0, 0)


def test_same_seed_same_losses_and_predictions_across_runs():
    source, target = ns.reversal_task(200, n_in=4, n_out=2, cardinality=V, seed=4)
    runs = []
    for _ in range(2):
        model = ns.RepeatVectorSeq2Seq(V, 6, 2, seed=9)
        history = model.fit(source, target, epochs=2, verbose=0)
        runs.append((history.history, model.predict(source), model.get_weights()))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][2], runs[1][2]))


# --- the CLI ----------------------------------------------------------------------------

SMALL = ["--samples", "300", "--n-in", "4", "--n-out", "2", "--cardinality", "7",
         "--units", "6", "--test-samples", "20", "--verbose", "0"]


def test_cli_resume_continues_to_the_same_weights(tmp_path, capsys):
    straight, half = tmp_path / "straight.npz", tmp_path / "half.npz"
    assert main(["train", *SMALL, "--epochs", "2", "--save", str(straight)]) == 0
    assert main(["train", *SMALL, "--epochs", "1", "--checkpoint", str(half)]) == 0
    assert main(["train", "--resume", str(half), "--epochs", "2", "--verbose", "0"]) == 0
    assert weights_equal(ns.load(straight), ns.load(half))
    capsys.readouterr()
    assert main(["train", "--resume", str(half), "--epochs", "2"]) == 2
    assert "already trained 2 epoch(s)" in capsys.readouterr().err


def test_cli_resume_numbers_the_epochs_it_trains_as_epochs_of_the_whole_run(tmp_path, capsys):
    half = tmp_path / "half.npz"
    assert main(["train", *SMALL, "--epochs", "2", "--checkpoint", str(half)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(half), "--epochs", "4", "--verbose", "2"]) == 0
    epochs = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert epochs == ["Epoch 3/4", "Epoch 4/4"]
    assert ns.load(half).epochs_done == 4


@pytest.mark.parametrize("argv", [
    ["train", "--epochs", "x"], ["frobnicate"], ["predict"], ["train", "--units", "0"],
    ["train", "--batch-size", "0", "--samples", "10"], ["train", "--samples", "-5"],
    ["train", "--n-out", "9"], ["evaluate", "nowhere.npz"], ["gradcheck", "--units", "-1"],
])
def test_cli_user_errors_are_one_line_and_exit_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err


def test_cli_refuses_a_corrupt_model_file(tmp_path, capsys):
    path = tmp_path / "model.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    assert main(["predict", str(path), "1", "2"]) == 2
    assert "is not an npseq2seq model file: it is not an .npz archive, or not a whole one" \
        in capsys.readouterr().err


# --- fuzzing every entry point --------------------------------------------------------

def any_array():
    dtypes = st.sampled_from([np.int64, np.int8, np.uint8, np.float32, np.float64, np.bool_,
                              np.complex64, np.dtype("<U2")])
    return dtypes.flatmap(lambda dtype: arrays(
        dtype, array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)))


def accept_only_clear_errors(call):
    """The call either succeeds or raises ValueError/TypeError with a message."""
    try:
        return call()
    except (ValueError, TypeError) as error:
        assert str(error), "an error must say what is wrong"
        return None


MODELS = [ns.EncoderDecoder(V, UNITS, seed=0), ns.RepeatVectorSeq2Seq(V, UNITS, 2, seed=0)]


@FUZZ
@given(source=any_array(), target=any_array(), which=st.sampled_from([0, 1]))
def test_fit_and_evaluate_accept_only_good_input(source, target, which):
    model = MODELS[which]
    before = model.get_weights()
    history = accept_only_clear_errors(lambda: model.fit(source, target, verbose=0))
    if history is None:
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    else:
        assert np.isfinite(history.history["loss"][0])
        result = model.evaluate(source, target)
        assert 0 <= result["seq_acc"] <= 1 and np.isfinite(result["loss"])
    accept_only_clear_errors(lambda: model.evaluate(source, target))


@FUZZ
@given(source=any_array(), n_steps=st.one_of(st.integers(-2, 4), st.floats(), st.none()))
def test_predict_and_encode_accept_only_good_input(source, n_steps):
    for model in MODELS:
        predicted = accept_only_clear_errors(lambda: model.predict(source, n_steps=n_steps))
        if predicted is not None:
            assert predicted.shape[0] == np.asarray(source).shape[0]
            assert predicted.dtype.kind == "i" and predicted.min() >= 0 and predicted.max() < V
        state = accept_only_clear_errors(lambda: model.encode(source))
        if state is not None:
            assert state[0].shape == (np.asarray(source).shape[0], UNITS)


@FUZZ
@given(inputs=any_array(), h=any_array(), c=any_array())
def test_decode_step_accepts_only_good_input(inputs, h, c):
    model = MODELS[0]
    result = accept_only_clear_errors(lambda: model.decode_step(inputs, (h, c)))
    if result is not None:
        probs, (h2, c2) = result
        assert probs.shape == (np.asarray(inputs).shape[0], V)
        np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


@FUZZ
@given(context=any_array(), h=any_array(), c=any_array(), first=st.booleans())
def test_repeat_vector_decode_step_accepts_only_good_input(context, h, c, first):
    model = MODELS[1]
    state = None if first else (h, c)
    result = accept_only_clear_errors(lambda: model.decode_step(context, state))
    if result is not None:
        probs, (h2, c2) = result
        assert probs.shape == (np.asarray(context).shape[0], V) == (len(h2), V)
        np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


@FUZZ
@given(index=st.integers(0, 7), replacement=any_array())
def test_set_weights_accepts_only_good_input(index, replacement):
    model = ns.EncoderDecoder(V, UNITS, seed=0)
    weights = model.get_weights()
    before = model.get_weights()
    weights[index] = replacement
    if accept_only_clear_errors(lambda: model.set_weights(weights)) is None:
        shapes_fit = np.shape(replacement) == before[index].shape
        if not shapes_fit or replacement.dtype.kind not in "iuf":
            assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@FUZZ
@given(n_samples=st.one_of(st.integers(-3, 5), st.floats(), st.text(max_size=2)),
       n_in=st.integers(-1, 5), n_out=st.integers(-1, 5), cardinality=st.integers(-1, 5))
def test_reversal_task_accepts_only_good_sizes(n_samples, n_in, n_out, cardinality):
    result = accept_only_clear_errors(
        lambda: ns.reversal_task(n_samples, n_in, n_out, cardinality, seed=0))
    if result is not None:
        source, target = result
        assert source.shape == (n_samples, n_in) and target.shape == (n_samples, n_out)
        assert np.array_equal(target, source[:, :n_out][:, ::-1])


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int32, np.complex64, "text"])
@pytest.mark.parametrize("make", [lambda dtype: ns.LSTM(3, 2, dtype=dtype),
                                  lambda dtype: ns.Dense(3, 2, dtype=dtype),
                                  lambda dtype: ns.EncoderDecoder(V, UNITS, dtype=dtype),
                                  lambda dtype: ns.RepeatVectorSeq2Seq(V, UNITS, 2, dtype=dtype),
                                  lambda dtype: MODELS[0].astype(dtype)])
def test_a_dtype_other_than_float32_or_float64_is_refused_by_name(make, dtype):
    # int32 used to fail at the first exp, complex64 to train with warnings
    given = repr(dtype) if isinstance(dtype, str) else np.dtype(dtype).name
    with pytest.raises(TypeError, match=f"^dtype must be float32 or float64, got {given}$"):
        make(dtype)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), ("a", TypeError), (1.5, TypeError)])
@pytest.mark.parametrize("make", [lambda seed: ns.LSTM(3, 2, seed=seed),
                                  lambda seed: ns.Dense(3, 2, seed=seed),
                                  lambda seed: ns.EncoderDecoder(V, UNITS, seed=seed),
                                  lambda seed: ns.RepeatVectorSeq2Seq(V, UNITS, 2, seed=seed),
                                  lambda seed: ns.reversal_task(3, seed=seed)])
def test_a_bad_seed_is_named(make, seed, error):
    # NumPy's own words were 'expected non-negative integer' and 'SeedSequence expects int
    # or sequence of ints for entropy not a'
    with pytest.raises(error, match=f"^seed must be None or a non-negative integer, "
                                    f"got {re.escape(repr(seed))}$"):
        make(seed)


@settings(max_examples=60, deadline=None)
@given(content=st.binary(max_size=300))
def test_load_refuses_any_foreign_bytes(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        ns.load(path)


def test_load_refuses_a_pickled_array(tmp_path):
    good = tmp_path / "good.npz"
    ns.EncoderDecoder(V, UNITS, seed=0).save(good)
    with np.load(good) as data:
        arrays = dict(data)
    arrays["weights/dense/bias"] = np.array([object()] * V, dtype=object)
    bad = tmp_path / "pickled.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match="not a readable model file"):
        ns.load(bad)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.npz"
    model = ns.EncoderDecoder(V, UNITS, seed=0)
    model.target_length = 2
    model.save(path)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens=st.lists(st.one_of(st.integers(-100, 100), st.text(max_size=3),
                                st.sampled_from([",", "[", "]", "1,", "[2,", "3]"])), max_size=8))
def test_cli_predict_any_arguments(saved_model, tokens):
    try:
        code = main(["predict", str(saved_model), *map(str, tokens)])
    except SystemExit as exit_:
        code = exit_.code
    assert code == (0 if _a_good_source(tokens) else 2)


def _a_good_source(arguments):
    """The README's rule: integers in range, separated by spaces or commas, in
    brackets or not, across the arguments; at least one."""
    fields = [f for f in re.split(r"[\s,\[\]]+", " ".join(map(str, arguments))) if f]
    return bool(fields) and all(_in_range(field) for field in fields)


def _in_range(field):
    try:
        return 0 <= int(field) < V
    except ValueError:
        return False
