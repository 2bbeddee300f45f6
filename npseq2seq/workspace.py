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

A workspace keeps one array per name: asked for another shape, it lets the
old array go. So its memory is bounded by one call's needs, however many
batch sizes pass through it. It also keeps what a layer makes from one of its
arrays (`made_from`: the per-step views of a time-major buffer), until asked
with another array. A copy of a workspace (copy.deepcopy, pickle) starts empty.
"""

import numpy as np

__all__ = ["Workspace", "empty"]


class Workspace:
    """A store of reusable arrays, one per name."""

    def __init__(self):
        self._arrays = {}
        self._made = {}

    def made_from(self, name, array, make):
        """make(array) (views of it, say), kept with the array: made again only
        when asked with another array. One is kept per name, as arrays are."""
        kept = self._made.get(name)
        if kept is None or kept[0] is not array:
            kept = self._made[name] = (array, make(array))
        return kept[1]

    def __getstate__(self):
        """A copy (copy.deepcopy, pickle) starts empty: the arrays are scratch, and
        copied views would no longer be views of the copied arrays."""
        return {}

    def __setstate__(self, state):
        self.__init__()

    def empty(self, name, shape, dtype):
        array = self._arrays.get(name)
        if array is None or array.shape != tuple(shape) or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array

    @property
    def nbytes(self):
        return sum(a.nbytes for a in self._arrays.values())


def empty(workspace, name, shape, dtype):
    """An uninitialised array: from `workspace` if one is given, else new."""
    if workspace is None:
        return np.empty(shape, dtype)
    return workspace.empty(name, shape, dtype)
