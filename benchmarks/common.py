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

MISSING = 3          # a worker's exit status when its library is not installed


def add_python_options(parser):
    parser.add_argument("--torch-python", default=sys.executable, metavar="PATH",
                        help="the Python that runs the PyTorch peer (default: this one)")
    parser.add_argument("--keras-python", default=sys.executable, metavar="PATH",
                        help="the Python that runs the Keras peer (default: this one)")


def interpreter(args, library):
    return {"pytorch": args.torch_python, "keras": args.keras_python}.get(library, sys.executable)


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


def run_measured(command):
    """Run a command; return (exit status, peak resident memory in MB, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        # wait4 gives this child's own resource use, its peak RSS included
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (process.returncode, usage.ru_maxrss / 1024, out.read().decode(),
                err.read().decode())


def report_result(result):
    """A worker's last act: its result as one JSON line."""
    print(json.dumps(result), flush=True)


def missing(library, error):
    print(f"{library} is not installed ({error})", file=sys.stderr)
    sys.exit(MISSING)


def median(values):
    return statistics.median(values)


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
