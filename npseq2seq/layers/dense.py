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

from ..initializers import glorot_uniform, make_rng

__all__ = ["Dense"]


class Dense:
    """Fully connected layer with Keras names: kernel (input_dim, units), bias (units,).

    The kernel starts glorot_uniform, the bias at zero (Keras defaults).
    """

    def __init__(self, input_dim, units, seed=None, dtype=np.float32):
        rng = make_rng(seed)
        self.input_dim, self.units = int(input_dim), int(units)
        self.dtype = np.dtype(dtype)
        self.params = {
            "kernel": glorot_uniform(rng, (self.input_dim, self.units), dtype),
            "bias": np.zeros(self.units, dtype),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def zero_grads(self):
        for g in self.grads.values():
            g.fill(0)

    def forward(self, x):
        """x (..., input_dim) -> y (..., units), cache."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"Dense input must end in {self.input_dim} features, got shape {x.shape}")
        y = x @ self.params["kernel"]
        y += self.params["bias"]
        return y, x

    def backward(self, dy, cache):
        """dy (..., units) -> dx (..., input_dim); adds into `grads`."""
        x = cache
        x_flat = x.reshape(-1, self.input_dim)
        dy_flat = dy.reshape(-1, self.units)
        self.grads["kernel"] += x_flat.T @ dy_flat
        self.grads["bias"] += dy_flat.sum(axis=0)
        return dy @ self.params["kernel"].T
