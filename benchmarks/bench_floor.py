"""How close one training epoch is to what NumPy cannot avoid, measured on this machine.

    python benchmarks/bench_floor.py

For the tutorial's run (batch 32, 6 source and 3 target steps, 128 units, 51
classes, float32), one training batch needs at least:
- products: the recurrent product of every step but the encoder's first,
  dh_{t-1} = dz U^T of every step but the encoder's first (made as U dz^T, the
  faster of the two here: see LSTM._back_through_U), the weight gradients
  of both LSTMs (each one product over all steps of the stacked rows
  [h_{t-1} | x_t | 1], as npseq2seq makes them), and Dense's three products;
- transcendentals: exp over all four gate blocks (the sigmoid's; the
  candidate's tanh comes from the same pass, as 2 / (1 + exp(-2x)) - 1) and
  tanh over the cell state, at every step; exp for the softmax;
- Adam: its twelve whole-array passes (Keras's update, each a rounding step)
  over all 190,000 weights.
Each is timed here, in a loop with the real shapes, as the minimum of several
runs, and multiplied up to the 3,125 batches of the epoch. Everything else
(the cheap elementwise passes, Python, NumPy's per-call cost) is overhead, and
the last lines are npseq2seq's own batch: the fastest of six stretches of
100 batches of `fit`.
"""

import time

import numpy as np

import npseq2seq as ns
from common import machine, print_table

N, T_IN, T_OUT, U, V, BATCHES = 32, 6, 3, 128, 51, 3125
rng = np.random.default_rng(0)


def array(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def best_of(work, repeats=7, number=200):
    """The fastest of `repeats` timings of `number` calls, per call, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            work()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def products():
    h, dz, Uk = array(N, U), array(N, 4 * U), array(U, 4 * U)
    step_out, back_out = np.empty((N, 4 * U), np.float32), np.empty((U, N), np.float32)
    steps = T_IN - 1 + T_OUT
    stacked = {t: array(t * N, U + V + 1) for t in (T_IN, T_OUT)}   # [h_{t-1} | x_t | 1]
    dzs = {t: array(t * N, 4 * U) for t in (T_IN, T_OUT)}
    d_stacked = np.empty((U + V + 1, 4 * U), np.float32)
    x, dy, Wd = array(N * T_OUT, U), array(N * T_OUT, V), array(U, V)
    logits, dWd, dx = (np.empty(s, np.float32) for s in ((N * T_OUT, V), (U, V), (N * T_OUT, U)))

    def batch():
        for _ in range(steps):
            np.matmul(h, Uk, out=step_out)
            np.matmul(Uk, dz.T, out=back_out)
        for t in (T_IN, T_OUT):
            np.matmul(stacked[t].T, dzs[t], out=d_stacked)
        np.matmul(x, Wd, out=logits)
        np.matmul(x.T, dy, out=dWd)
        np.matmul(dy, Wd.T, out=dx)
    return best_of(batch, number=50)


def transcendentals():
    z, c, out4, out = array(N, 4 * U), array(N, U), np.empty((N, 4 * U), np.float32), \
        np.empty((N, U), np.float32)
    logits, probs = array(N * T_OUT, V), np.empty((N * T_OUT, V), np.float32)

    def batch():
        for _ in range(T_IN + T_OUT):
            np.exp(z, out=out4)
            np.tanh(c, out=out)
        np.exp(logits, out=probs)
    return best_of(batch, number=50)


def adam():
    model = ns.EncoderDecoder(V, U, seed=0)
    params, grads = model._flat_params, model._flat_grads
    grads[:] = rng.standard_normal(grads.size) * 1e-3
    optimizer = ns.Adam()
    return best_of(lambda: optimizer.update([(params, grads)]), number=50)


def npseq2seq_batch():
    """A batch of `fit`, timed as the floor's parts are: the fastest of several stretches."""
    src, tgt = ns.reversal_task(N * 650, seed=1)
    model = ns.EncoderDecoder(V, U, seed=1)
    model.fit(src[:N * 50], tgt[:N * 50], verbose=0)            # warm-up
    times = []
    for k in range(6):
        rows = slice(N * (50 + 100 * k), N * (150 + 100 * k))
        start = time.perf_counter()
        model.fit(src[rows], tgt[rows], verbose=0)
        times.append((time.perf_counter() - start) / 100)
    return min(times)


def main():
    parts = [("matrix products", products()), ("exp and tanh", transcendentals()),
             ("Adam's 12 passes", adam())]
    floor = sum(seconds for _, seconds in parts)
    ours = npseq2seq_batch()
    rows = [[name, f"{1e6 * s:.0f}", f"{BATCHES * s:.2f}"] for name, s in parts]
    rows += [["floor (sum)", f"{1e6 * floor:.0f}", f"{BATCHES * floor:.2f}"],
             ["npseq2seq fit", f"{1e6 * ours:.0f}", f"{BATCHES * ours:.2f}"],
             ["  of which overhead", f"{1e6 * (ours - floor):.0f}",
              f"{BATCHES * (ours - floor):.2f}  ({(ours - floor) / ours:.0%})"]]
    print_table(f"what one training batch cannot avoid, and npseq2seq's batch\n{machine()}",
                ["work", "us per batch", "s per epoch"], rows)


if __name__ == "__main__":
    main()
