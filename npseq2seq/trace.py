"""Gradient flow through time: how large dL/dh_t and dL/dc_t are at every step.

Backpropagation through time carries the loss's gradient from the decoder's
outputs back to the first source token. At every step it passes through

    dh_{t-1} = dz_t @ U.T          the hidden-state path (a matrix product and
                                   the gates' derivatives, each below 1)
    dc_{t-1} = dc_t * f_t          the cell-state path (only the forget gate)

so its size changes with distance. `model.loss_and_gradients(..., trace=True)`
returns a GradientTrace with the L2 norm, over the batch, of dL/dh_t and
dL/dc_t at every step of encoder and decoder; print it for a table with a bar
chart, or `plot` it. `npseq2seq bptt-trace` does both from the command line.
"""

import importlib.util
import os
from dataclasses import dataclass

import numpy as np

from .io import check_writable, write_atomically

__all__ = ["GradientTrace", "check_plottable"]

NO_MATPLOTLIB = "plotting needs matplotlib, which is not installed; pip install matplotlib"


def check_plottable(path):
    """Raise now if GradientTrace.plot(path) could not write its file (the
    folder missing or not writable, or no matplotlib), so that a command asked
    for a plot fails before its work, not after."""
    check_writable(path)
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(NO_MATPLOTLIB)


@dataclass(frozen=True)
class GradientTrace:
    """Norms of dL/dh_t and dL/dc_t per step. Entry t-1 of each array is step t."""

    encoder_dh: np.ndarray
    encoder_dc: np.ndarray
    decoder_dh: np.ndarray
    decoder_dc: np.ndarray
    loss: float
    batch_size: int

    @classmethod
    def from_layers(cls, traces, loss, batch_size):
        """From the dicts LSTM.backward filled: {'encoder': {'dh', 'dc'}, 'decoder': ...}."""
        enc, dec = traces["encoder"], traces["decoder"]
        return cls(enc["dh"], enc["dc"], dec["dh"], dec["dc"], float(loss), int(batch_size))

    def rows(self):
        """[(layer, step, |dL/dh_t|, |dL/dc_t|)] in forward order: encoder 1..T, decoder 1..T'."""
        return ([("encoder", t + 1, h, c) for t, (h, c)
                 in enumerate(zip(self.encoder_dh, self.encoder_dc))] +
                [("decoder", t + 1, h, c) for t, (h, c)
                 in enumerate(zip(self.decoder_dh, self.decoder_dc))])

    def table(self, bar_width=24):
        """The rows as text, with a bar per norm on a shared log scale."""
        rows = self.rows()
        scale = _LogScale([v for row in rows for v in row[2:]], bar_width)
        lines = [f"Gradient flow through time (loss {self.loss:.4f}, batch of {self.batch_size})",
                 "norms over the batch; backpropagation runs from the last row up",
                 f"{'layer':<8} {'step':>4}  {'|dL/dh_t|':>9}  {'':<{bar_width}}  {'|dL/dc_t|':>9}"]
        for layer, step, dh, dc in rows:
            lines.append(f"{layer:<8} {step:>4}  {dh:>9.2e}  {scale.bar(dh):<{bar_width}}  "
                         f"{dc:>9.2e}  {scale.bar(dc)}")
        lines.append(scale.legend())
        return "\n".join(lines)

    __str__ = table

    def plot(self, path, title=None):
        """Draw both norms against position on a log axis into an image file (needs matplotlib)."""
        try:
            import matplotlib
        except ImportError:
            raise ImportError(NO_MATPLOTLIB) from None
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.rows()
        position = np.arange(1, len(rows) + 1)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.semilogy(position, [r[2] for r in rows], "o-", label="|dL/dh_t|")
        ax.semilogy(position, [r[3] for r in rows], "s-", label="|dL/dc_t|")
        ax.axvline(len(self.encoder_dh) + 0.5, color="grey", linestyle=":")
        ax.set_xticks(position, [f"{layer[0]}{step}" for layer, step, _, _ in rows])
        ax.set_xlabel("step (e = encoder, d = decoder); the decoder's outputs are the loss")
        ax.set_ylabel("norm over the batch")
        ax.set_title(title or f"Gradient flow through time (loss {self.loss:.3f})")
        ax.legend()
        fig.tight_layout()
        image_format = os.path.splitext(str(path))[1][1:].lower() or "png"
        try:
            write_atomically(path, lambda file: fig.savefig(file, format=image_format))
        finally:
            plt.close(fig)


class _LogScale:
    """Bar lengths proportional to log(value) between the smallest and largest value."""

    def __init__(self, values, width):
        positive = [v for v in values if v > 0]
        self.width = width
        self.low = min(positive, default=1.0)
        self.high = max(positive, default=1.0)

    def bar(self, value):
        if value <= 0:
            return ""
        if self.high == self.low:
            return "#" * self.width
        fraction = np.log(value / self.low) / np.log(self.high / self.low)
        return "#" * (1 + int(round(fraction * (self.width - 1))))

    def legend(self):
        if self.high == self.low:
            return f"bars: every norm is {self.high:.2e}"
        per_mark = (self.high / self.low) ** (1 / (self.width - 1))
        return (f"bars on a log scale: one # = {self.low:.2e}, a full bar = {self.high:.2e}; "
                f"each further # is a factor of {per_mark:.3g}")
