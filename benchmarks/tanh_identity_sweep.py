"""How far the LSTM's candidate g = 2 / (1 + exp(-2x)) - 1 is from tanh(x), over every float32.

    python benchmarks/tanh_identity_sweep.py

With the sigmoid, `LSTM._gate_activation` makes tanh(z_c) in the same exp pass
as the sigmoids (see `_sigmoid_tanh_rows`). This runs that activation on every
float32 x in [-10, 10] (about 2.2 billion values, in chunks; a minute or two)
and prints the largest absolute error against tanh computed in float64. Beyond
10, both are 1 to within float32's rounding. The bound the docstrings state
is 2e-7; NumPy's float32 exp differs between CPUs, so it is worth rerunning
on a new machine.
"""

import numpy as np

from npseq2seq import LSTM
from common import machine

CHUNK = 1 << 22


def worst_error(sign, activate):
    """(largest |g - tanh x|, its x) over the float32 x of one sign with |x| <= 10."""
    top = int(np.float32(10).view(np.uint32))
    worst, where = 0.0, 0.0
    z = np.empty((CHUNK, 4), np.float32)
    for start in range(0, top + 1, CHUNK):
        bits = np.arange(start, min(start + CHUNK, top + 1), dtype=np.uint32)
        x = bits.view(np.float32) * np.float32(sign)
        gates = z[:len(x)]
        gates[:] = 0
        gates[:, 2] = x                       # the candidate's block of a 1-unit layer
        with np.errstate(over="ignore"):
            activate(gates, gates[:, 2:3], None)
        error = np.abs(gates[:, 2].astype(np.float64) - np.tanh(x.astype(np.float64)))
        k = int(error.argmax())
        if error[k] > worst:
            worst, where = float(error[k]), float(x[k])
    return worst, where


def main():
    activate = LSTM(1, 1)._gate_activation()
    print(f"g = 2 / (1 + exp(-2x)) - 1 against tanh(x), every float32 in [-10, 10]\n{machine()}")
    for sign in (1, -1):
        worst, where = worst_error(sign, activate)
        print(f"  x {'>=' if sign > 0 else '<='} 0: largest error {worst:.3g} at x = {where:.7g}")


if __name__ == "__main__":
    main()
