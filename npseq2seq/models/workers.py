"""fit(workers=2): every batch shared between this process and a second one.

NumPy runs each elementwise call on one core, and a training batch of this
model is several hundred small calls; threads would take turns on Python's
GIL between them. So `fit(workers=2)` starts a second Python process (once per
model; it stays for the next fit) that trains the second half of every batch
while this process trains the first:

    1. each process runs forward and backward on its half of the batch, the
       loss gradient scaled by the half's share of the rows, so that the two
       halves' gradients add up to the whole batch's;
    2. each adds the two gradients over its half of the flat weight array and
       steps the optimizer there (every optimizer here is elementwise, so two
       halves of one step, stepped apart, are that step);
    3. neither starts the next batch before both halves are stepped.

Weights, gradients and optimizer state live in one memory-mapped file that
both processes map: on Linux an anonymous one (memfd_create), which the worker
is handed as an open descriptor, so no name is left behind whatever happens to
either process; elsewhere a named one (in /dev/shm where there is one, so in
memory, not on disk), unlinked as soon as the worker has mapped it. The two talk
over the worker's stdin and stdout, a byte or so a message (and once a fit,
the data: tokens in the narrowest type that holds them, arrays written from
their own memory; see narrowed and _framed); each side also
counts the messages it has sent in the shared file, and the other watches that
count for up to SPIN_SECONDS before it blocks on the pipe. Waking a process
blocked on a read is slow on this project's machine (a byte's round trip to a
process blocked for 2 ms took 61 us, against 9 us to one that had just run),
and a batch has four such waits; a watched count is seen within a microsecond.
Watching keeps the waiting process's core busy for at most SPIN_SECONDS;
fit(workers=2) is meant for a machine with two cores free anyway (with fewer
than two usable cores, neither process watches: see _Inbox).

The sums run in another order than in one process, so the weights differ from
`workers=1` by rounding; the same `workers` gives the same numbers every run.

Non-finite losses or gradients, and clipping (whose norms need the whole
gradient), are handled by this process alone, the worker waiting.
"""

import importlib
import mmap
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref

import numpy as np

from ..blas_threads import usable_cores
from ..child_process import python_command
from ..optimizers import get_optimizer

__all__ = ["TrainingWorker", "batch_rows", "narrowed", "squared_sum"]

# The shared file starts with a header: two int64 message counts (parent to worker,
# worker to parent), then float64 stats of the worker's half: loss, accuracy, sum of
# squared gradients. The arrays follow on a cache line of their own.
_COUNTS, _STATS, _HEADER_BYTES = 2, 3, 64
TO_WORKER, TO_PARENT = 0, 1
SPIN_SECONDS = 0.005    # how long a reader watches for a message before it blocks
START_SECONDS = 60      # how long a new worker may take to say it is ready


def batch_rows(order, batch_size, b):
    """The rows of batch b of an epoch's order."""
    return order[b * batch_size:(b + 1) * batch_size]


def halves(rows):
    """(this process's rows, the worker's): the first half, rounded up, and the rest."""
    first = (len(rows) + 1) // 2
    return rows[:first], rows[first:]


def train_share(model, source, target, mine, n, weights=None):
    """Zero the gradients (unless the model writes them) and train rows `mine` of
    a batch of n, scaled by their share: (loss, accuracy), each process's half of
    a batch (0, 0 for no rows). weights: fit's sample weights, or None."""
    if not len(mine):
        model._zero_grads()
        return 0.0, 0.0
    model._zero_grads_unless_written()
    return model._train_batch(source[mine], target[mine], share=len(mine) / n,
                              weights=None if weights is None else weights[mine])


def narrowed(x):
    """Integer tokens in the smallest unsigned type that holds them, for the worker
    (the tutorial's 100,000 sources and targets: 0.9 MB as uint8, 7.2 MB as
    int64); float arrays as they are. The models train on either to the same
    bits: tokens only pick rows."""
    if x.dtype.kind not in "iu" or x.size == 0:
        return x
    return x.astype(np.min_scalar_type(x.max()), copy=False)   # tokens are never negative


def squared_sum(grads):
    """grads . grads, one BLAS call; inf or NaN if any gradient is (or is huge)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.dot(grads, grads))


class TrainingWorker:
    """The second process of fit(workers=2), and the memory the two share."""

    def __init__(self, model):
        _check_importable(type(model))
        n = model._flat_params.size
        self.model, self.half = model, n // 2
        # the header, then params, this process's grads, the worker's, 3 slots
        nbytes = _HEADER_BYTES + 6 * n * model.dtype.itemsize
        path, self._mapping, descriptor = _shared_file(nbytes)
        try:
            self._arrays = _carve(self._mapping, n, model.dtype)
            counts, stats, params, grads, _, _ = self._arrays
            model._move_parameters(params, grads)
            self._process = _start(model, path, nbytes, descriptor)
            weakref.finalize(model, _stop, self._process)   # the worker goes with the model
            self._outbox = _Outbox(self._process.stdin, counts, TO_WORKER)
            self._inbox = _Inbox(self._process.stdout, counts, TO_PARENT)
            self._read_ready()                      # mapped: the file may go
        finally:
            if descriptor is None:
                _unlink(path)
            else:
                os.close(descriptor)
        self.stats, self._worker_grads, self.slot_arrays = stats, self._arrays[4], self._arrays[5]
        self._order, self._next_batch, self._weights, self._settings = None, None, None, None

    # -- a fit ------------------------------------------------------------------

    def start_fit(self, source, target, optimizer, weights=None):
        """Hand the worker the data and the optimizer; its state moves into shared memory."""
        if optimizer.slots is None:
            optimizer.slots = {name: [np.zeros_like(self.model._flat_params)]
                               for name in optimizer.slot_names}
        for (name, arrays), shared in zip(sorted(optimizer.slots.items()), self.slot_arrays):
            shared[...] = arrays[0]
            arrays[0] = shared
        self._send_object(("fit", narrowed(source), narrowed(target), weights,
                           optimizer.get_config(), sorted(optimizer.slots)))
        self._order, self._weights = None, weights

    def step(self, order, batch_size, b, source, target):
        """Train batch b of the epoch's order in the two processes, and step the
        optimizer: (loss, accuracy), as the model's own `_step`."""
        settings = self.model.optimizer.get_config()   # a callback may have changed them
        if order is not self._order or b != self._next_batch or settings != self._settings:
            self._send_object(("epoch", order, batch_size, b, settings))
            self._order, self._settings = order, settings
        self._next_batch = b + 1
        try:
            return self._step(batch_rows(order, batch_size, b), source, target, b)
        except FloatingPointError:      # raised between batches: the two are still in step
            raise
        except BaseException:           # anything else may leave the worker mid-batch
            self.close()
            raise

    def _step(self, rows, source, target, batch):
        model, optimizer = self.model, self.model.optimizer
        mine, n = halves(rows)[0], len(rows)
        self._send(b"g")
        loss, acc = train_share(model, source, target, mine, n, self._weights)
        own = squared_sum(model._flat_grads)
        self._read_reply(b"h")
        theirs = self.stats
        loss = float(loss * len(mine) + theirs[0] * (n - len(mine))) / n
        acc = float(acc * len(mine) + theirs[1] * (n - len(mine))) / n
        if not optimizer.clips and np.isfinite([loss, own, theirs[2]]).all():
            self._send(b"u" + struct.pack("<q", optimizer.iterations + 1))
            _step_own_part(model, optimizer, self._worker_grads, slice(0, self.half))
            self._read_reply(b"d")
        else:                       # this process alone: clipping, or a check that may fail
            self._send(b"s")
            model._flat_grads += self._worker_grads
            model._check_finite(loss, batch)
            model._update_weights()
        return loss, acc

    # -- the process --------------------------------------------------------------

    def alive(self):
        return self._process is not None and self._process.poll() is None

    def close(self):
        """Stop the worker (it exits when its pipe closes)."""
        process, self._process = self._process, None
        if process is not None:
            _stop(process)

    def _send(self, *parts):
        try:
            self._outbox.send(*parts)
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def _send_object(self, obj):
        self._send(b"p", *_framed(obj))

    def _read_reply(self, expected):
        reply = self._inbox.read(1)
        if reply == expected:
            return
        if reply == b"e":
            try:
                details = _read_object(self._process.stdout)
            except EOFError:
                raise self._died() from None
            self.close()
            raise RuntimeError(f"fit's worker process failed:\n{details}")
        raise self._died()

    def _read_ready(self):
        """Wait for the new worker's "ready". One still silent after START_SECONDS
        is stopped and named: stuck, or running another npseq2seq, which reads
        this one's messages otherwise and would wait for ever."""
        timed_out = threading.Event()

        def stop():
            timed_out.set()
            self._process.kill()

        watchdog = threading.Timer(START_SECONDS, stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            self._read_reply(b"r")
        except RuntimeError:
            if not timed_out.is_set():
                raise
            raise RuntimeError(f"fit's worker process was not ready after {START_SECONDS:g} s "
                               f"and was stopped: stuck, or running another npseq2seq than "
                               f"this process (was it reinstalled since it was imported?)"
                               ) from None
        finally:
            watchdog.cancel()

    def _died(self):
        process = self._process
        self.close()
        code = None if process is None else process.poll()
        return RuntimeError(f"fit's worker process stopped unexpectedly (exit code {code}); "
                            f"the weights are those after the last whole batch, and the "
                            f"next fit starts a new worker")


def _step_own_part(model, optimizer, their_grads, part):
    """Each process's share of an update: add the other's gradients over `part`
    of the flat weights to its own, and step the optimizer there."""
    grads = model._flat_grads
    grads[part] += their_grads[part]
    optimizer.update_part(model._flat_params, grads, part)


class _Outbox:
    """Messages to the other process: written to its pipe, then counted in the
    shared header (in that order, so a counted message is in the pipe)."""

    def __init__(self, stream, counts, direction):
        self.stream, self.counts, self.direction = stream, counts, direction

    def send(self, *parts):
        _write(self.stream, parts)
        self.counts[self.direction] += 1


class _Inbox:
    """Messages from the other process. read() takes a message's first bytes:
    it watches the shared count for up to SPIN_SECONDS, then reads the pipe
    (which blocks only if the message has not come yet).

    Watching pays only while the other process runs on another core. On one
    core it takes the core from the process it waits for: under taskset -c 0, a
    batch of the tutorial's model took 17.7 ms against 2.9 ms for workers=1
    (100 batches, the worker's start included). So with fewer than two usable
    cores the inbox does not watch: then 3.4 ms against 2.6 (1,000 batches,
    after the start)."""

    def __init__(self, stream, counts, direction):
        self.stream, self.counts, self.direction = stream, counts, direction
        self.seen = 0
        self.spin_seconds = SPIN_SECONDS if usable_cores() >= 2 else 0

    def read(self, size):
        self.seen += 1
        counts, direction, seen = self.counts, self.direction, self.seen
        deadline = time.perf_counter() + self.spin_seconds
        while counts[direction] < seen and time.perf_counter() < deadline:
            pass
        return self.stream.read(size)


def _framed(obj):
    """obj pickled for a pipe, as parts to write in turn: a header (the number of
    out-of-band buffers, the pickle's length, each buffer's), the pickle, the
    buffers. Arrays go out of band (pickle protocol 5): written from their own
    memory and read into the reader's once, not copied into a pickle on either
    side (a fit's data in one copy, the worker's, where there were four)."""
    buffers = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    lengths = [len(views), len(data), *(view.nbytes for view in views)]
    return [struct.pack(f"<{len(lengths)}q", *lengths), data, *views]


def _write(stream, parts):
    for part in parts:
        stream.write(part)
    stream.flush()


def _read_object(stream):
    """The object of _framed's parts, read from stream."""
    (n_buffers,) = struct.unpack("<q", _read_exactly(stream, 8))
    length, *buffer_lengths = struct.unpack(f"<{n_buffers + 1}q",
                                            _read_exactly(stream, 8 * (n_buffers + 1)))
    data = _read_exactly(stream, length)
    return pickle.loads(data, buffers=[_read_exactly(stream, n) for n in buffer_lengths])


def _read_exactly(stream, n):
    """n bytes from stream, into a bytearray of their own (arrays unpickled from
    it are writable); EOFError if the stream ends first."""
    data = bytearray(n)
    view, done = memoryview(data), 0
    while done < n:
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError(f"the pipe closed after {done} of {n} bytes")
        done += got
    return data


def _stop(process):
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _shared_file(nbytes):
    """A new file of nbytes, mapped: (its path, mapping, None), a named file to be
    unlinked, or on Linux (None, mapping, its descriptor), one with no name, which
    the worker is handed open."""
    if hasattr(os, "memfd_create"):
        try:
            descriptor = os.memfd_create("npseq2seq-fit")
        except OSError:             # (a sandbox may refuse it: a named file then)
            pass
        else:
            try:
                os.ftruncate(descriptor, nbytes)
                mapping = mmap.mmap(descriptor, nbytes)
            except BaseException:
                os.close(descriptor)
                raise
            return None, mapping, descriptor
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    handle, path = tempfile.mkstemp(prefix="npseq2seq-fit-", dir=folder)
    try:
        os.ftruncate(handle, nbytes)
        return path, mmap.mmap(handle, nbytes), None
    except BaseException:
        _unlink(path)
        raise
    finally:
        os.close(handle)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:         # Windows keeps a mapped file; it goes when the mapping does
        pass


def _carve(mapping, n, dtype):
    """counts (2,) int64, stats (3,) float64, params, grads (this process), grads
    (worker), [3 slots]."""
    counts = np.frombuffer(mapping, np.int64, _COUNTS)
    stats = np.frombuffer(mapping, np.float64, _STATS, counts.nbytes)
    offset = _HEADER_BYTES
    arrays = []
    for _ in range(6):
        arrays.append(np.frombuffer(mapping, dtype, n, offset))
        offset += n * dtype.itemsize
    params, grads, worker_grads = arrays[:3]
    return counts, stats, params, grads, worker_grads, arrays[3:]


def _check_importable(cls):
    """The worker builds its model from the class's module and name (see _start)."""
    where = ("inside a function" if "<locals>" in cls.__qualname__ else
             "in the script being run (__main__)" if cls.__module__ == "__main__" else None)
    if where is not None:
        raise TypeError(f"fit(workers=2) builds the model again in a second process, which "
                        f"imports its class by module and name; {cls.__qualname__} is "
                        f"defined {where}, where that process cannot find it: define it at "
                        f"the top level of a module, or train with workers=1")


def _start(model, path, nbytes, descriptor=None):
    """The worker: this module's _main in the same Python, BLAS on one thread, pipes for
    talk; `descriptor` (if not None) stays open in it, under the same number."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    process = subprocess.Popen(python_command(f"from {__name__} import _main; _main()"),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                               pass_fds=() if descriptor is None else (descriptor,))
    setup = (type(model).__module__, type(model).__qualname__, model.get_config(), path,
             descriptor, nbytes, [entry for entry in sys.path if isinstance(entry, str)])
    _write(process.stdin, _framed(setup))
    return process


# -- the worker's side ------------------------------------------------------------

class _Worker:
    def __init__(self, commands, replies):
        self.commands = commands
        module, name, config, path, descriptor, nbytes, parent_path = self._receive()
        # the model's module is found where the parent found it (a module beside
        # the parent's script, say), this npseq2seq staying first
        sys.path.extend(entry for entry in parent_path if entry not in sys.path)
        cls = getattr(importlib.import_module(module), name)
        self.model = cls(**config)
        if descriptor is None:                      # the named file
            with open(path, "r+b") as f:
                self.mapping = mmap.mmap(f.fileno(), nbytes)
        else:                                       # handed over open: mapped, done with
            self.mapping = mmap.mmap(descriptor, nbytes)
            os.close(descriptor)
        n = self.model._flat_params.size
        counts, self.stats, params, their_grads, grads, self.slot_arrays = _carve(
            self.mapping, n, self.model.dtype)
        self.inbox = _Inbox(commands, counts, TO_WORKER)
        self.outbox = _Outbox(replies, counts, TO_PARENT)
        self.model._move_parameters(params, grads, keep=True)
        self.their_grads, self.half = their_grads, n // 2
        self._reply(b"r")

    def run(self):
        while True:
            command = self.inbox.read(1)
            if command == b"":
                return                              # the parent closed the pipe
            if command == b"p":
                self._setup(self._receive())
            elif command == b"g":
                self._train_half()

    def _setup(self, message):
        if message[0] == "fit":
            _, self.source, self.target, self.weights, config, slot_names = message
            self.optimizer = get_optimizer(config["name"])
            _take_settings(self.optimizer, config)
            self.optimizer.slots = {name: [shared] for name, shared
                                    in zip(slot_names, self.slot_arrays)}
        else:
            _, self.order, self.batch_size, self.batch, config = message
            _take_settings(self.optimizer, config)

    def _train_half(self):
        model = self.model
        rows = batch_rows(self.order, self.batch_size, self.batch)
        n, mine = len(rows), halves(rows)[1]
        loss, acc = train_share(model, self.source, self.target, mine, n, self.weights)
        self.stats[:] = loss, acc, squared_sum(model._flat_grads)
        self.batch += 1
        self._reply(b"h")
        command = self.inbox.read(1)
        if command == b"u":
            (self.optimizer.iterations,) = struct.unpack("<q", self.commands.read(8))
            self.optimizer.iterations -= 1          # update_part counts this step
            _step_own_part(model, self.optimizer, self.their_grads, slice(self.half, None))
            self._reply(b"d")

    def _receive(self):
        return _read_object(self.commands)

    def _reply(self, message):
        self.outbox.send(message)


def _take_settings(optimizer, config):
    """Set the optimizer's settings to the parent's, from its get_config (each
    key an attribute of that name). Unchecked: the parent's optimizer was, and
    a callback may since have set what a constructor refuses (a rate of 0)."""
    for name, value in config.items():
        if name != "name":
            setattr(optimizer, name, value)


def _main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    commands, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr                        # a stray print must not reach the pipe
    try:
        _Worker(commands, replies).run()
    except BaseException:
        try:
            _write(replies, [b"e", *_framed(traceback.format_exc())])
        except OSError:
            pass
        raise SystemExit(1)

