"""What the benchmark scripts share: running each library in a process of its
own, and printing tables of medians.

Each library runs in a fresh process. In one process, PyTorch's and OpenBLAS's
thread pools compete for the two cores and slow both (npseq2seq's epoch went
from 11 s to 20 s beside PyTorch), and peak memory could not be told apart.
A peer that is not installed is skipped with a message. `--torch-python` and
`--keras-python` run a peer with another interpreter, for when PyTorch and
TensorFlow live in different virtual environments (each needs npseq2seq
installed too: `pip install -e .`).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MISSING = 3          # a worker's exit status when its library is not installed
WORKER_ENVIRONMENT = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def add_python_options(parser):
    parser.add_argument("--torch-python", default=sys.executable, metavar="PATH",
                        help="the Python that runs the PyTorch peer (default: this one)")
    parser.add_argument("--keras-python", default=sys.executable, metavar="PATH",
                        help="the Python that runs the Keras peer (default: this one)")


def interpreter(args, library):
    """The Python that runs a peer: --torch-python for pytorch and its variants
    (pytorch-1-thread), --keras-python for keras, this one for npseq2seq."""
    family = library.split("-")[0]
    return {"pytorch": args.torch_python, "keras": args.keras_python}.get(family, sys.executable)


def run_worker(python, script, arguments):
    """Run `python script --worker ...` in a fresh process.

    Returns (result dict printed as JSON on the worker's last line, peak
    resident memory in MB), or (None, None) when the worker's library is missing.
    """
    command = [python, script, *map(str, arguments)]
    status, peak_mb, output, errors = run_measured(command)
    if status == MISSING:
        print(f"skipping: {errors.strip().splitlines()[-1]}", flush=True)
        return None, None
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{errors}")
    return json.loads(output.strip().splitlines()[-1]), peak_mb


def run_measured(command, with_children=False):
    """Run a command; return (exit status, peak resident memory in MB, stdout, stderr).

    with_children: the peak is the command's own plus each of its child
    processes' (see wait_measured_with_children).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   env=WORKER_ENVIRONMENT)
        wait = wait_measured_with_children if with_children else wait_measured
        status, peak_mb = wait(process)
        out.seek(0)
        err.seek(0)
        return status, peak_mb, out.read().decode(), err.read().decode()


def wait_measured(process):
    """Wait for a child to exit; return (exit status, its peak resident memory in MB).

    The figure is ru_maxrss, which on Linux is at least the parent's own peak:
    exec carries the peak of the memory the child started with, its parent's,
    into the child's (a child of a 400 MB parent reports 400 MB). Measure from
    a small parent, or have the child report own_peak_mb() itself."""
    # wait4 gives this child's own resource use, its peak RSS included
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024


def wait_measured_with_children(process):
    """As wait_measured, but the peak is the sum of the child's and those of the
    processes it starts (each one's peak, VmHWM, read from /proc every 50 ms
    while the child runs: Linux only). A sum of peaks counts the shared
    libraries, and any peaks that did not coincide, in full: an upper bound."""
    peaks, own = {}, 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        own = max(own, _peak_kib(process.pid))
        for child in _children_of(process.pid):
            peaks[child] = max(peaks.get(child, 0), _peak_kib(child))
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    # wait4's figure is the larger of the child's own peak and those of the
    # processes it waited for: the child's own if it is the larger, else the
    # last reading of its own
    if usage.ru_maxrss > max(peaks.values(), default=0):
        own = usage.ru_maxrss
    return process.returncode, (own + sum(peaks.values())) / 1024


def _children_of(parent):
    children = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()     # after "(name)"
        except (OSError, IndexError):                  # not a process, or gone
            continue
        if int(fields[1]) == parent:                   # the parent's pid
            children.append(int(entry))
    return children


def own_peak_mb():
    """This process's own peak resident memory in MB, VmHWM (Linux), which exec
    resets; None where there is no /proc."""
    kib = _peak_kib("self")
    return kib / 1024 if kib else None


def _peak_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:                                    # gone: its last reading stands
        pass
    return 0


class TurnTakingWorker:
    """A worker process that does one stretch of work each time it is told.

    The worker prints one JSON line when it is ready, one after each turn (it
    waits for a line on its stdin before each), and a last one with its final
    result. Its stderr goes to a file: TensorFlow writes a lot there.
    """

    def __init__(self, python, script, arguments):
        self.command = [python, script, *map(str, arguments)]
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, text=True,
                                        env=WORKER_ENVIRONMENT)

    def started(self):
        """Wait until the worker is ready: True, or False (and a message) if its
        library is not installed."""
        if self.process.stdout.readline():
            return True
        status, _ = wait_measured(self.process)
        if status == MISSING:
            print(f"skipping: {self._error_text().strip().splitlines()[-1]}", flush=True)
            return False
        raise self._failure("failed")

    def turn(self):
        """Let the worker do its next stretch; return what it reports."""
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return self._read()

    def finish(self):
        """(the worker's final result, its peak resident memory in MB: the peak it
        reported itself as 'peak_mb', else wait_measured's, an upper bound)."""
        self.process.stdin.close()
        result = self._read()
        status, peak_mb = wait_measured(self.process)
        if status != 0:
            raise self._failure("failed")
        return result, result.get("peak_mb") or peak_mb

    def _read(self):
        for line in self.process.stdout:       # anything a library prints is skipped
            if line.startswith("{"):
                return json.loads(line)
        wait_measured(self.process)
        raise self._failure("stopped early")

    def _failure(self, what):
        """A RuntimeError naming the command, with all it wrote to stderr."""
        return RuntimeError(f"{' '.join(self.command)} {what}:\n{self._error_text()}")

    def _error_text(self):
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")


def report_result(result):
    """A worker's last act: its result as one JSON line."""
    print(json.dumps(result), flush=True)


def missing(library, error):
    print(f"{library} is not installed ({error})", file=sys.stderr)
    sys.exit(MISSING)


def median(values):
    return statistics.median(values)


def exact_sequences(decoded, target):
    """The fraction of sequences decoded exactly: rows of tokens equal in full."""
    import numpy as np

    return float(np.mean(np.all(np.equal(decoded, target), axis=1)))


def print_table(title, header, rows):
    """rows: lists of already formatted cells; the first column left-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    for row in [header, *rows]:
        cells = [f"{row[0]:<{widths[0]}}"] + [f"{c:>{w}}" for c, w in zip(row[1:], widths[1:])]
        print("  ".join(cells))


def machine():
    """One line naming the CPU, the core count and the NumPy/BLAS in use."""
    import platform

    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    except TypeError:       # NumPy before 1.25 prints its configuration only
        blas = {}
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy "
            f"{np.__version__} with {blas.get('name', '?')} {blas.get('version', '')}".strip())


# -- the peers' models, shared by the benchmarks (each imports its library only when called)

def torch_encoder_decoder(model):
    """nn.LSTM encoder and decoder and nn.Linear (a ModuleDict) holding an
    npseq2seq EncoderDecoder's weights."""
    import torch
    from torch import nn

    f, u = model.n_features, model.n_units
    modules = nn.ModuleDict({"encoder": nn.LSTM(f, u, batch_first=True),
                             "decoder": nn.LSTM(f, u, batch_first=True),
                             "dense": nn.Linear(u, f)})
    state = model.to_torch_state_dict()
    modules.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    return modules


def torch_greedy(modules, source, n_steps):
    """Greedy decoding under torch.no_grad(): encode, then feed each argmax back in."""
    import torch

    one_hot = torch.eye(modules.dense.out_features)
    with torch.no_grad():
        _, state = modules.encoder(one_hot[torch.from_numpy(source)])
        token, decoded = torch.zeros(len(source), dtype=torch.long), []
        for _ in range(n_steps):
            output, state = modules.decoder(one_hot[token][:, None], state)
            token = modules.dense(output[:, 0]).argmax(-1)
            decoded.append(token)
        return torch.stack(decoded, 1).numpy()


def keras_tutorial_models(f, u):
    """The tutorial's define_models: a training model on one-hot (source, shifted
    target), and an encoder and a one-step decoder sharing its layers."""
    import keras
    from keras import layers

    encoder_input, decoder_input = layers.Input((None, f)), layers.Input((None, f))
    _, h, c = layers.LSTM(u, return_state=True)(encoder_input)
    decoder_lstm = layers.LSTM(u, return_sequences=True, return_state=True)
    dense = layers.Dense(f, activation="softmax")
    training = keras.Model([encoder_input, decoder_input],
                           dense(decoder_lstm(decoder_input, initial_state=[h, c])[0]))
    encoder = keras.Model(encoder_input, [h, c])
    state_h, state_c = layers.Input((u,)), layers.Input((u,))
    step_output, step_h, step_c = decoder_lstm(decoder_input, initial_state=[state_h, state_c])
    decoder = keras.Model([decoder_input, state_h, state_c], [dense(step_output), step_h, step_c])
    return training, encoder, decoder


def keras_greedy(encoder, decoder, source, n_steps, f):
    """The tutorial's loop: encoder.predict, then decoder.predict once per output step."""
    import numpy as np

    one_hot = np.eye(f, dtype=np.float32)
    state = encoder.predict(one_hot[source], verbose=0)
    token, decoded = np.zeros(len(source), np.int64), []
    for _ in range(n_steps):
        probs, *state = decoder.predict([one_hot[token][:, None], *state], verbose=0)
        token = probs[:, 0].argmax(-1)
        decoded.append(token)
    return np.stack(decoded, 1)
