"""Make NumPy's BLAS single-threaded for a while, so our own threads can share the cores.

Batched `predict` splits its chunks among threads, one per core. Each thread
spends most of its time in NumPy calls that release the GIL, so the threads run
side by side, the elementwise work included (NumPy runs that on one core).
But OpenBLAS runs every matrix product on all cores, and products started from
two threads at once then fight over them. So while our threads run, OpenBLAS
is told to use one thread, and afterwards it gets its old count back.

NumPy has no API for this. As threadpoolctl does, we call OpenBLAS's own
`openblas_set_num_threads` in the library NumPy loaded (NumPy's wheels carry
it as scipy_openblas). Where no such library is found (NumPy built on MKL or
Accelerate, say), `single_threaded()` yields False and callers run serially.

While the block runs, the whole process has single-threaded BLAS, other
threads' products included. Nested and concurrent blocks are counted: the old
count comes back when the last one ends.

After products on all cores, OpenBLAS's idle worker spins on a core for a
while (a tenth of a second or so). Threads started then share that core with
it: a predict of a few hundred sequences right after other BLAS work can be
slower in two threads than in one.
"""

import contextlib
import ctypes
import glob
import os
import threading

import numpy as np

__all__ = ["single_threaded", "usable_cores"]

# OpenBLAS's names, plain and with the prefixes and suffixes of NumPy's builds
_PREFIXES = ("", "scipy_")
_SUFFIXES = ("", "64_")

_lock = threading.Lock()
_depth = 0
_saved = None
_controls = []          # [(set, get)] once found, [None] when there is nothing to find


def usable_cores():
    """How many cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def single_threaded():
    """Within the block, OpenBLAS uses one thread. Yields whether that could be done."""
    global _depth, _saved
    control = _control()
    if control is None:
        yield False
        return
    set_threads, get_threads = control
    with _lock:
        if _depth == 0:
            _saved = get_threads()
            set_threads(1)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                set_threads(_saved)


def _control():
    """(set, get) for the OpenBLAS NumPy loaded, or None; looked up once."""
    with _lock:
        if not _controls:
            _controls.append(_find_control())
        return _controls[0]


def _find_control():
    for path in _openblas_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                set_name = f"{prefix}openblas_set_num_threads{suffix}"
                get_name = f"{prefix}openblas_get_num_threads{suffix}"
                if hasattr(library, set_name) and hasattr(library, get_name):
                    set_threads, get_threads = getattr(library, set_name), getattr(library, get_name)
                    set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                    get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                    return set_threads, get_threads
    return None


def _openblas_paths():
    """Files of the OpenBLAS libraries this process has loaded (Linux), NumPy's
    own first (SciPy may have loaded another); elsewhere those shipped with NumPy."""
    site = os.path.dirname(os.path.dirname(np.__file__))
    shipped = [os.path.join(site, "numpy.libs"), os.path.join(site, "numpy", ".dylibs")]
    try:
        with open("/proc/self/maps") as maps:
            # address, permissions, offset, device, inode, then the path (spaces and all)
            loaded = {line.split(maxsplit=5)[-1].strip() for line in maps
                      if "openblas" in line.lower()}
    except OSError:
        return [path for folder in shipped for path in sorted(glob.glob(
            os.path.join(folder, "*openblas*")))]
    return sorted((path for path in loaded if os.path.isfile(path)),
                  key=lambda path: (os.path.dirname(path) not in shipped, path))
