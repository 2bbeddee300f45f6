"""Print the numbers quoted in docs/gradcheck.md (run: python docs/gradcheck_examples.py)."""

from functools import partial

import numpy as np

from npseq2seq import lstm_step_forward
from npseq2seq.exercises.lstm import random_weights, step_backward
from npseq2seq.gradcheck import check_gradients, numerical_gradient, relative_error


def lstm_step_problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x, h, c = rng.standard_normal((3, 4)), *rng.standard_normal((2, 3, 3))
    arrays = [np.asarray(a, dtype) for a in (x, h, c, *random_weights(rng))]
    r_h, r_c = (np.asarray(a, dtype) for a in rng.standard_normal((2, 3, 3)))

    def loss():
        h_t, c_t, _ = lstm_step_forward(*arrays)
        return float(np.sum(r_h * h_t) + np.sum(r_c * c_t))

    return arrays, loss, r_h, r_c


def step_size_table():
    arrays, loss, r_h, r_c = lstm_step_problem()
    _, _, cache = lstm_step_forward(*arrays)
    exact = step_backward(r_h, r_c, cache)[3]           # dW
    W = arrays[3]
    print("h        one-sided  centred(3)  centred(5)   (float64, dL/dW of one LSTM step)")
    for h in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10):
        one_sided = np.zeros_like(W)
        base = loss()
        for k in np.ndindex(W.shape):
            W[k] += h
            one_sided[k] = (loss() - base) / h
            W[k] -= h
        row = [relative_error(one_sided, exact)]
        row += [relative_error(numerical_gradient(loss, W, h, points), exact) for points in (3, 5)]
        print(f"{h:<8.0e} " + "  ".join(f"{e:9.1e}" for e in row))


def float32_error():
    arrays, loss, r_h, r_c = lstm_step_problem(dtype=np.float32)
    _, _, cache = lstm_step_forward(*arrays)
    exact = step_backward(*(np.float64(a) for a in (r_h, r_c)), tuple(
        np.float64(a) if isinstance(a, np.ndarray) else a for a in cache))[3]
    W = arrays[3]
    for h in (1e-2, 1e-3, 1e-4):
        numeric = np.zeros(W.shape)
        for k in np.ndindex(W.shape):
            W[k] += np.float32(h)
            up = loss()
            W[k] -= np.float32(2 * h)
            down = loss()
            W[k] += np.float32(h)
            numeric[k] = (up - down) / (2 * h)
        print(f"float32, centred(3), h={h:.0e}: relative error {relative_error(numeric, exact):.1e}")


def bug_reports():
    arrays, loss, r_h, r_c = lstm_step_problem()
    names = ("x", "h_prev", "c_prev", "W", "U", "b")
    titles = {None: "none", "sign f": "dz for the forget gate has the wrong sign",
              "no h path": "dc misses the path through h_t",
              "dc_prev": "dc_prev = dc (the forget gate left out)"}
    for fault, title in titles.items():
        _, _, cache = lstm_step_forward(*arrays)
        grads = partial(step_backward, fault=fault)(r_h, r_c, cache)
        report = check_gradients(loss, dict(zip(names, arrays)), dict(zip(names, grads)),
                                 title=f"LSTM step, mistake: {title}")
        print(report, end="\n\n")


if __name__ == "__main__":
    step_size_table()
    print()
    float32_error()
    print()
    bug_reports()
