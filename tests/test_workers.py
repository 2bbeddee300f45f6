"""fit(workers=2): each batch shared between this process and a worker process.

The worker sums its half of every batch in another order, so the weights may
differ from workers=1 by rounding only: in float64 that is ~1e-15, so any
wrong row, share, slot or step count shows up as a difference far above it.
"""

import copy
import glob
import io
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from npseq2seq import EncoderDecoder, LambdaCallback, RepeatVectorSeq2Seq, reversal_task
from npseq2seq.models import workers as workers_module
from npseq2seq.optimizers import SGD, Adam, RMSprop

SOURCE, TARGET = reversal_task(400, seed=3)
SAMPLES = 203           # 6 batches of 32 and one of 11: halves of 6 and 5


def trained(workers, model_class=EncoderDecoder, optimizer=None, epochs=2, **kwargs):
    model = model_class(n_features=51, n_units=16, seed=5, dtype=np.float64, **kwargs)
    history = model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], epochs=epochs, verbose=0,
                        optimizer=optimizer, workers=workers)
    return model, history


def assert_same_up_to_rounding(a, b):
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("optimizer", [None, lambda: SGD(0.1, momentum=0.9),
                                       lambda: RMSprop(centered=True, momentum=0.5)],
                         ids=["adam", "sgd-momentum", "rmsprop-centered"])
def test_two_processes_train_the_weights_one_process_does(optimizer):
    one, history_one = trained(1, optimizer=optimizer and optimizer())
    two, history_two = trained(2, optimizer=optimizer and optimizer())
    assert_same_up_to_rounding(one, two)
    for key in ("loss", "acc"):
        np.testing.assert_allclose(history_two.history[key], history_one.history[key], rtol=1e-12)
    assert two.optimizer.iterations == one.optimizer.iterations == 2 * 7
    for name, arrays in one.optimizer.slots.items():
        np.testing.assert_allclose(two.optimizer.slots[name][0], arrays[0], rtol=1e-9, atol=1e-15)


def test_two_processes_give_the_same_numbers_every_run():
    first, _ = trained(2)
    second, _ = trained(2)
    for x, y in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_every_message_is_counted_so_no_reader_waits_out_its_watch():
    # a reply sent but not counted would leave the parent's watch a message
    # behind, spinning out SPIN_SECONDS before every read; one counted twice
    # would end its watches early. Only the pipe would keep the numbers right.
    model, _ = trained(2)
    worker = model._worker
    counts = worker._arrays[0]
    # the worker counts a reply just after writing it, so this process may have
    # read the last one before it was counted (on one core, where no one
    # watches, it often has): give the count a moment to catch up
    deadline = time.monotonic() + 10
    while counts[workers_module.TO_PARENT] < worker._inbox.seen and time.monotonic() < deadline:
        time.sleep(0.001)
    assert worker._inbox.seen == counts[workers_module.TO_PARENT] > 2 * 7
    assert counts[workers_module.TO_WORKER] > 2 * 7


def test_a_parent_that_does_not_watch_blocks_on_the_pipe_and_gets_the_same_numbers(
        monkeypatch):
    watching, _ = trained(2)
    monkeypatch.setattr(workers_module, "SPIN_SECONDS", 0)
    blocking, _ = trained(2)
    for x, y in zip(watching.get_weights(), blocking.get_weights()):
        np.testing.assert_array_equal(x, y)


class _CountsThatArriveOnTheThirdLook:
    """A shared count whose message shows on the third look; counts the looks."""

    def __init__(self):
        self.looks = 0

    def __getitem__(self, direction):
        self.looks += 1
        return 1 if self.looks >= 3 else 0


@pytest.mark.parametrize("cores, looks", [(1, 1), (2, 3), (8, 3)])
def test_the_inbox_watches_the_count_only_with_a_second_core(monkeypatch, cores, looks):
    # on one core, watching would keep the other process, the one that sends
    # the message, off the core (a batch 6x slower than workers=1)
    monkeypatch.setattr(workers_module, "usable_cores", lambda: cores)
    monkeypatch.setattr(workers_module, "SPIN_SECONDS", 60)     # ends at the message
    counts = _CountsThatArriveOnTheThirdLook()
    inbox = workers_module._Inbox(io.BytesIO(b"h"), counts, workers_module.TO_PARENT)
    assert inbox.read(1) == b"h"
    assert counts.looks == looks


def test_the_repeat_vector_model_trains_in_two_processes_too():
    one, _ = trained(1, RepeatVectorSeq2Seq, n_out=3)
    two, _ = trained(2, RepeatVectorSeq2Seq, n_out=3)
    assert_same_up_to_rounding(one, two)


def test_clipping_runs_in_this_process_and_still_matches():
    one, _ = trained(1, optimizer=Adam(0.05, clipnorm=0.01))
    two, _ = trained(2, optimizer=Adam(0.05, clipnorm=0.01))
    assert_same_up_to_rounding(one, two)


def test_the_worker_stays_for_the_next_fit_and_follows_set_weights():
    model, _ = trained(2, epochs=1)
    worker = model._worker
    reference, _ = trained(1, epochs=1)
    weights = [w * 0.5 for w in reference.get_weights()]
    for m in (model, reference):
        m.set_weights(weights)
        m.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2 if m is model else 1)
    assert model._worker is worker and worker.alive()
    assert_same_up_to_rounding(reference, model)


class StopLearning:
    """A learning-rate schedule: 0 after the first epoch. Keeps each epoch's weights."""

    def set_model(self, model):
        self.model, self.weights = model, [model.get_weights()]

    def on_epoch_end(self, epoch, logs):
        self.weights.append(self.model.get_weights())
        self.model.optimizer.learning_rate = 0.0


@pytest.mark.parametrize("optimizer", [Adam, SGD, RMSprop], ids=lambda o: o.__name__)
def test_a_learning_rate_a_callback_changes_reaches_the_second_process(optimizer):
    # before, the worker kept stepping its half with the rate fit started with
    model, schedule = EncoderDecoder(51, 8, seed=2), StopLearning()
    model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2, epochs=3,
              optimizer=optimizer(learning_rate=0.01), callbacks=[schedule])
    start, first, second, third = schedule.weights
    for a, b, c, d in zip(start, first, second, third):
        assert not np.array_equal(a, b)             # the first epoch learned
        np.testing.assert_array_equal(b, c)         # then nothing, in either half
        np.testing.assert_array_equal(b, d)
    model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2)   # a next fit at 0
    for a, b in zip(first, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", [Adam, SGD], ids=lambda o: o.__name__)
def test_a_learning_rate_a_batch_callback_changes_reaches_the_second_process_at_once(optimizer):
    # a batch hook may change the optimizer mid-epoch; before, the worker saw it next epoch
    weights = []

    def stop_after_batch_2(batch, logs):
        weights.append(model.get_weights())
        if batch == 2:
            model.optimizer.learning_rate = 0.0

    model = EncoderDecoder(51, 8, seed=2)
    stopper = LambdaCallback(on_train_batch_end=stop_after_batch_2)
    model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2, batch_size=32,
              optimizer=optimizer(learning_rate=0.01), callbacks=[stopper])
    assert len(weights) > 4
    for later in weights[3:]:
        for a, b in zip(weights[2], later):
            np.testing.assert_array_equal(a, b)     # no step after batch 2, in either half


def test_a_model_trained_in_two_processes_can_be_copied():
    # the worker process and the shared memory stay with the original
    model, _ = trained(2, epochs=1)
    copied = copy.deepcopy(model)
    assert model._worker.alive() and getattr(copied, "_worker", None) is None
    np.testing.assert_array_equal(copied.predict(SOURCE[:50]), model.predict(SOURCE[:50]))
    for m in (model, copied):
        m.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=1)
    for a, b in zip(model.get_weights(), copied.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_batch_of_one_leaves_the_worker_nothing_to_do():
    one = EncoderDecoder(51, 8, seed=2, dtype=np.float64)
    two = EncoderDecoder(51, 8, seed=2, dtype=np.float64)
    one.fit(SOURCE[:5], TARGET[:5], batch_size=1, verbose=0)
    two.fit(SOURCE[:5], TARGET[:5], batch_size=1, verbose=0, workers=2)
    assert_same_up_to_rounding(one, two)


def test_a_non_finite_loss_stops_training_with_the_last_good_weights():
    model, _ = trained(2, epochs=1)
    model.dense.params["bias"][0] = np.nan          # the first batch's loss is not finite
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="loss"):
        model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2)
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)
    model.set_weights([np.zeros_like(w) for w in before])    # and the worker is in step
    model.fit(SOURCE[:64], TARGET[:64], verbose=0, workers=2)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_a_worker_that_dies_mid_fit_is_named_and_the_next_fit_starts_another(monkeypatch):
    model, _ = trained(2, epochs=1)
    worker, real = model._worker, model._train_batch

    def killing_on_the_third_batch(*args, **kwargs):
        if model.optimizer.iterations == 7 + 2 and worker.alive():
            worker._process.kill()
            worker._process.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "_train_batch", killing_on_the_third_batch)
    with pytest.raises(RuntimeError, match="worker process stopped unexpectedly"):
        model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2)
    assert model.optimizer.iterations == 7 + 2 and not worker.alive()
    model.fit(SOURCE[:SAMPLES], TARGET[:SAMPLES], verbose=0, workers=2)
    assert model._worker is not worker and model._worker.alive()


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="the file goes elsewhere")
@pytest.mark.parametrize("anonymous", [True, False])
def test_the_shared_file_is_gone_once_the_worker_has_mapped_it(monkeypatch, anonymous):
    if not anonymous and hasattr(os, "memfd_create"):    # where there is no memfd_create
        monkeypatch.delattr(os, "memfd_create")
    model, _ = trained(2, epochs=1)
    assert model._worker.alive()
    assert glob.glob(os.path.join("/dev/shm", "npseq2seq-fit-*")) == []
    assert_same_up_to_rounding(trained(1, epochs=1)[0], model)     # it trained, both ways


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux's memfd_create")
def test_the_shared_memory_has_no_name_to_leave_behind():
    # a parent killed hard while its worker started left its named file in /dev/shm
    before = set(glob.glob("/dev/shm/*"))
    path, mapping, descriptor = workers_module._shared_file(4096)
    try:
        assert path is None and descriptor is not None and set(glob.glob("/dev/shm/*")) == before
        mapping[:5] = b"hello"
        # as the worker finds it: the descriptor handed over, under the same number
        code = f"import mmap; print(mmap.mmap({descriptor}, 4096)[:5])"
        read = subprocess.run([sys.executable, "-c", code], pass_fds=(descriptor,),
                              capture_output=True, text=True)
        assert read.stdout.strip() == "b'hello'"
    finally:
        mapping.close()
        os.close(descriptor)


@pytest.mark.parametrize("workers", [0, 3, 1.5, True, "2"])
def test_workers_must_be_one_or_two(workers):
    model = EncoderDecoder(51, 8, seed=1)
    with pytest.raises(ValueError, match=f"workers must be 1 or 2, got {workers!r}"):
        model.fit(SOURCE[:8], TARGET[:8], verbose=0, workers=workers)


@pytest.mark.parametrize("largest, dtype", [(50, np.uint8), (255, np.uint8), (256, np.uint16),
                                            (70_000, np.uint32)])
def test_tokens_go_to_the_worker_in_the_smallest_type_that_holds_them(largest, dtype):
    tokens = np.array([[0, largest], [largest // 2, 1]], np.int64)
    narrow = workers_module.narrowed(tokens)
    assert narrow.dtype == dtype
    np.testing.assert_array_equal(narrow, tokens)


def test_float_and_empty_arrays_go_as_they_are():
    vectors = np.ones((2, 3, 4), np.float32)
    empty = np.zeros((0, 3), np.int64)
    assert workers_module.narrowed(vectors) is vectors
    assert workers_module.narrowed(empty) is empty


def test_fit_hands_the_worker_its_tokens_narrowed(monkeypatch):
    sent, framed = [], workers_module._framed

    def recording(obj):
        sent.append(obj)
        return framed(obj)

    monkeypatch.setattr(workers_module, "_framed", recording)
    trained(2, epochs=1)
    (fit,) = [message for message in sent if message[0] == "fit"]
    for given, narrow in zip((SOURCE[:SAMPLES], TARGET[:SAMPLES]), fit[1:3]):
        assert given.dtype == np.int64 and narrow.dtype == np.uint8
        np.testing.assert_array_equal(narrow, given)


def test_arrays_cross_the_pipe_whole_in_any_layout():
    grid = np.arange(24.0).reshape(4, 6)
    arrays = [grid, np.asfortranarray(grid), grid[:, ::-2], np.zeros((0, 3), np.int64),
              np.arange(5, dtype=np.uint8)]
    parts = workers_module._framed(("fit", arrays, {"lr": 0.5}))
    stream = io.BufferedReader(io.BytesIO(b"".join(bytes(part) for part in parts)))
    tag, back, config = workers_module._read_object(stream)
    assert (tag, config, len(back)) == ("fit", {"lr": 0.5}, len(arrays))
    for given, got in zip(arrays, back):
        assert got.dtype == given.dtype and got.flags.writeable
        np.testing.assert_array_equal(got, given)


def test_an_array_is_written_from_its_own_memory_not_copied_into_the_pickle():
    data = np.arange(100_000, dtype=np.float32)
    header, pickled, *buffers = workers_module._framed(("fit", data))
    assert len(pickled) < 1000
    (buffer,) = buffers
    assert np.shares_memory(np.frombuffer(buffer, np.float32), data)


class _Trickle(io.RawIOBase):
    """A pipe that hands over at most 7 bytes a read, as a pipe may."""

    def __init__(self, data):
        self.data = memoryview(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(7, len(buffer), len(self.data))
        buffer[:n], self.data = self.data[:n], self.data[n:]
        return n


def test_a_message_that_comes_in_pieces_is_read_whole():
    arrays = (np.arange(50.0), np.arange(3, dtype=np.uint8))
    whole = b"".join(bytes(part) for part in workers_module._framed(arrays))
    back = workers_module._read_object(_Trickle(whole))
    assert len(back) == len(arrays)
    for got, given in zip(back, arrays):
        np.testing.assert_array_equal(got, given)


def test_a_pipe_that_closes_mid_message_is_an_eof_error():
    whole = b"".join(bytes(part) for part in workers_module._framed(np.arange(100)))
    stream = io.BufferedReader(io.BytesIO(whole[:-10]))
    with pytest.raises(EOFError, match="after 790 of 800 bytes"):
        workers_module._read_object(stream)


def test_a_worker_that_cannot_start_sends_back_its_traceback(monkeypatch):
    model = EncoderDecoder(n_features=51, n_units=8, seed=1)
    config = model.get_config()
    monkeypatch.setattr(model, "get_config", lambda: {**config, "no_such_option": 1})
    with pytest.raises(RuntimeError, match="(?s)worker process failed:.*Traceback.*"
                                           "TypeError.*no_such_option"):
        model.fit(SOURCE[:8], TARGET[:8], verbose=0, workers=2)


def test_a_model_class_the_worker_cannot_import_is_named_before_it_starts(monkeypatch):
    class Local(EncoderDecoder):
        pass

    started = []
    monkeypatch.setattr(workers_module, "_start", lambda *args: started.append(args))
    model = Local(n_features=51, n_units=8, seed=1)
    with pytest.raises(TypeError, match=r"Local is defined inside a function.*workers=1"):
        model.fit(SOURCE[:8], TARGET[:8], verbose=0, workers=2)
    Local.__qualname__, Local.__module__ = "Scripted", "__main__"
    with pytest.raises(TypeError, match=r"Scripted is defined in the script being run"):
        model.fit(SOURCE[:8], TARGET[:8], verbose=0, workers=2)
    assert started == []
    model.fit(SOURCE[:8], TARGET[:8], verbose=0)        # workers=1 trains it


def test_the_worker_imports_this_npseq2seq_not_one_in_the_working_folder(tmp_path, monkeypatch):
    # python -c puts the working folder first on sys.path: a checkout of another
    # version there made the worker import that one (and, speaking another
    # protocol, hang)
    (tmp_path / "npseq2seq").mkdir()
    (tmp_path / "npseq2seq" / "__init__.py").write_text(
        "raise ImportError('the npseq2seq of the working folder')\n")
    monkeypatch.chdir(tmp_path)
    one, _ = trained(1, epochs=1)
    two, _ = trained(2, epochs=1)
    assert_same_up_to_rounding(one, two)


def test_the_worker_finds_the_model_module_where_this_process_found_it(tmp_path, monkeypatch):
    # e.g. a module beside the script being run, which is on the script's
    # sys.path but not on that of the worker's `python -c`
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "my_models.py").write_text(
        "from npseq2seq import EncoderDecoder\n\n\n"
        "class MyModel(EncoderDecoder):\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(folder))
    from my_models import MyModel
    one, _ = trained(1, epochs=1)
    two, _ = trained(2, model_class=MyModel, epochs=1)
    assert_same_up_to_rounding(one, two)


def test_a_worker_that_is_never_ready_is_stopped_and_named(monkeypatch):
    monkeypatch.setattr(workers_module, "START_SECONDS", 0.5)
    monkeypatch.setattr(workers_module, "python_command",
                        lambda code: [sys.executable, "-c", "import time; time.sleep(60)"])
    model = EncoderDecoder(n_features=51, n_units=8, seed=1)
    with pytest.raises(RuntimeError, match="not ready after 0.5 s and was stopped"):
        model.fit(SOURCE[:8], TARGET[:8], verbose=0, workers=2)
    model.fit(SOURCE[:8], TARGET[:8], verbose=0)        # workers=1 trains it
