"""Dense: y = x @ kernel + bias, applied to the last axis.

On 3-D input (N, T, u) it is applied at every time step with the same weights,
which is what Keras's `Dense` (and `TimeDistributed(Dense)`) does. The layer is
linear: the model applies softmax together with the loss (see losses.py), where
the gradient of the pair is the simple `p - y`.

Backward, with dy = dL/dy:
    dkernel += x.T @ dy      (summed over batch and time)
    dbias   += sum of dy over batch and time
    dx       = dy @ kernel.T
"""

import numpy as np

from ..initializers import float_dtype, glorot_uniform, make_rng
from ..tasks import count
from ..workspace import empty

__all__ = ["Dense"]


class Dense:
    """Fully connected layer with Keras names: kernel (input_dim, units), bias (units,).

    The kernel starts glorot_uniform, the bias at zero (Keras defaults).
    """

    def __init__(self, input_dim, units, seed=None, dtype=np.float32):
        rng = make_rng(seed)
        self.input_dim, self.units = count("input_dim", input_dim), count("units", units)
        self.dtype = dtype = float_dtype(dtype)
        self.params = {
            "kernel": glorot_uniform(rng, (self.input_dim, self.units), dtype),
            "bias": np.zeros(self.units, dtype),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def __repr__(self):
        return f"Dense(input_dim={self.input_dim}, units={self.units}, dtype={self.dtype.name!r})"

    def zero_grads(self):
        for g in self.grads.values():
            g.fill(0)

    def forward(self, x, workspace=None):
        """x (..., input_dim) -> y (..., units), cache. Buffers from `workspace` if given."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"Dense input must end in {self.input_dim} features, got shape {x.shape}")
        rows = x.size // self.input_dim
        x_flat = empty(workspace, "x", (rows, self.input_dim), self.dtype)
        np.copyto(x_flat.reshape(x.shape), x)      # one contiguous (rows, D) block
        y = self.apply(x_flat, empty(workspace, "y", (rows, self.units), self.dtype))
        return y.reshape(*x.shape[:-1], self.units), x_flat

    def apply(self, x, out):
        """x (N, input_dim) @ kernel + bias, written into out (N, units); returns out.

        For inference loops: no checks and no cache. `forward` calls it on its
        contiguous copy of the rows, so the two give the same numbers.
        """
        np.matmul(x, self.params["kernel"], out=out)
        out += self.params["bias"]
        return out

    def backward(self, dy, cache, workspace=None, accumulate=True):
        """dy (..., units) -> dx (..., input_dim); adds into `grads` (accumulate
        False writes into them, replacing what is there, as LSTM.backward)."""
        x_flat = cache
        if np.shape(dy)[-1:] != (self.units,) or np.size(dy) != len(x_flat) * self.units:
            raise ValueError(f"dy must have the outputs' shape, {len(x_flat)} rows of "
                             f"{self.units}, got shape {np.shape(dy)}")
        dy_flat = np.reshape(dy, (-1, self.units))

        def buffer(name, *shape):
            return empty(workspace, name, shape, self.dtype)

        if accumulate:
            dkernel = buffer("dkernel", self.input_dim, self.units)
            self.grads["kernel"] += np.matmul(x_flat.T, dy_flat, out=dkernel)
            self.grads["bias"] += np.sum(dy_flat, axis=0, out=buffer("dbias", self.units))
        else:
            np.matmul(x_flat.T, dy_flat, out=self.grads["kernel"])
            np.sum(dy_flat, axis=0, out=self.grads["bias"])
        dx = np.matmul(dy_flat, self.params["kernel"].T, out=buffer("dx", *x_flat.shape))
        return dx.reshape(*np.shape(dy)[:-1], self.input_dim)
