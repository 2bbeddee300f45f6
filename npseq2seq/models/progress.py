"""Keras-style training output and the History that `fit` returns."""

import sys
import time

__all__ = ["History", "ProgressBar"]


class History:
    """Per-epoch metrics, as Keras's: `history.history["loss"][epoch]`; and, as
    Keras's, `params` ({'verbose', 'epochs', 'steps'}: fit's settings, steps the
    batches an epoch) and `model`, the model fit trained."""

    def __init__(self, params=None, model=None):
        self.history = {}
        self.epoch = []
        self.params, self.model = params or {}, model

    def record(self, epoch, metrics):
        self.epoch.append(epoch)
        for name, value in metrics.items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, history={self.history})"


class ProgressBar:
    """`3125/3125 [==============================] - 5s 2ms/step - loss: 0.6344 - acc: 0.7968`.

    On a terminal it redraws in place (at most ten times a second); in a pipe or
    log file it writes only the finished line, so logs stay readable.
    verbose: 0 silent, 1 bar, 2 one line per epoch without the bar, as Keras 2
    writes it (the tutorial's Keras; its bar is verbose=1's):
    `3125/3125 - 5s - loss: 0.6344 - acc: 0.7968 - 5s/epoch - 2ms/step`.
    """

    width = 30

    def __init__(self, total, verbose=1, stream=None):
        self.total, self.verbose = total, verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.start = self.last_draw = time.perf_counter()

    def update(self, done, metrics):
        if not self.live:
            return
        now = time.perf_counter()
        if now - self.last_draw >= 0.1:
            self.last_draw = now
            eta = (now - self.start) / done * (self.total - done)
            self._write(f"\r{self._bar(done)} - ETA: {clock(eta)}{self._metrics(metrics)}")

    def finish(self, metrics):
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        per_step = duration(elapsed / max(self.total, 1), "step")
        if self.verbose == 2:
            self._write(f"{self._count(self.total)} - {elapsed:.0f}s{self._metrics(metrics)}"
                        f" - {duration(elapsed, 'epoch')} - {per_step}\n")
            return
        prefix = "\r" if self.live else ""
        self._write(f"{prefix}{self._bar(self.total)} - {elapsed:.0f}s {per_step}"
                    f"{self._metrics(metrics)}\n")

    def _bar(self, done):
        filled = int(self.width * done / max(self.total, 1))
        arrow = ">" if filled < self.width else ""
        bar = ("=" * filled + arrow).ljust(self.width, ".")[:self.width]
        return f"{self._count(done)} [{bar}]"

    def _count(self, done):
        return f"{done:>{len(str(self.total))}}/{self.total}"

    @staticmethod
    def _metrics(metrics):
        # as Keras: a figure of 0.001 or less in exponent form (0.0000 would hide it)
        return "".join(f" - {name}: {value:.4f}" if abs(value) > 1e-3 else
                       f" - {name}: {value:.4e}" for name, value in metrics.items())

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


def duration(seconds, unit):
    """A time as Keras's progress bar writes it: '5s/epoch' from a second up
    (and for 0), '2ms/step' from a millisecond, '281us/step' below."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def clock(seconds):
    """A time left as Keras's bar writes it: '42s', '1:05', '1:00:05' (its
    thresholds on the unrounded time, its %d formats, which cut fractions off)."""
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, seconds % 3600 // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds
