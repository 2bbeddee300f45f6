"""Arrays kept from one call to the next, so a training loop does not allocate
its big temporaries afresh for every batch.

A fresh NumPy array of more than 128 KiB comes straight from the operating
system, and every page of it faults on first touch: for this model that was a
fifth of the training time. A layer given a `Workspace` takes its buffers from
it instead: the same array for the same name and shape, every batch.

The price is aliasing: arrays a call takes from a workspace (its outputs and
its cache included) are overwritten by the next call that uses the same
workspace. The training loop consumes each batch's results before the next;
calls without a workspace (the default) return arrays of their own.
"""

import numpy as np

__all__ = ["Workspace", "empty"]


class Workspace:
    """A store of reusable arrays, keyed by name, shape and dtype."""

    def __init__(self):
        self._arrays = {}

    def empty(self, name, shape, dtype):
        key = (name, tuple(shape), np.dtype(dtype))
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = np.empty(shape, dtype)
        return array

    @property
    def nbytes(self):
        return sum(a.nbytes for a in self._arrays.values())


def empty(workspace, name, shape, dtype):
    """An uninitialised array: from `workspace` if one is given, else new."""
    if workspace is None:
        return np.empty(shape, dtype)
    return workspace.empty(name, shape, dtype)
