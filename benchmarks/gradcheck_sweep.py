"""Run the finite-difference gradient checks over many shapes and report the worst.

    python benchmarks/gradcheck_sweep.py

Every check is float64 with centred differences (eps 1e-5); the figure is the
largest relative error |a - n| / (|a| + |n|) over every array of every check.
"""

import numpy as np

import npseq2seq as ns
from npseq2seq import gradcheck
from npseq2seq.activations import RECURRENT_ACTIVATIONS


def lstm_reports():
    for activation in sorted(RECURRENT_ACTIVATIONS):
        for steps in range(1, 13):
            rng = np.random.default_rng(steps)
            layer = ns.LSTM(3, 4, recurrent_activation=activation, seed=steps, dtype=np.float64)
            state = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))
            yield f"LSTM {activation} T={steps}", gradcheck.check_lstm(
                layer, rng.standard_normal((2, steps, 3)), state, seed=steps)
            token_layer = ns.LSTM(6, 4, recurrent_activation=activation, seed=steps,
                                  dtype=np.float64)
            yield f"LSTM tokens {activation} T={steps}", gradcheck.check_lstm(
                token_layer, rng.integers(0, 6, (2, steps)), state)


def model_reports():
    for seed in range(5):
        source, target = ns.reversal_task(3, 5, 3, cardinality=7, seed=seed)
        for model in (ns.EncoderDecoder(7, 4, seed=seed, dtype=np.float64),
                      ns.RepeatVectorSeq2Seq(7, 4, 3, seed=seed, dtype=np.float64)):
            yield f"{type(model).__name__} seed={seed}", gradcheck.check_model(model, source, target)


def other_reports():
    rng = np.random.default_rng(0)
    yield "Dense", gradcheck.check_dense(ns.Dense(4, 5, seed=0, dtype=np.float64),
                                         rng.standard_normal((2, 3, 4)))
    yield "softmax cross-entropy", gradcheck.check_softmax_cross_entropy(
        rng.standard_normal((2, 3, 6)), rng.integers(0, 6, (2, 3)))
    yield "mean squared error", gradcheck.check_mean_squared_error(
        rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3, 6)))
    yield "mean absolute error", gradcheck.check_mean_absolute_error(
        rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3, 6)))


def main():
    worst = ("", 0.0)
    count = 0
    for source in (lstm_reports(), model_reports(), other_reports()):
        for name, report in source:
            count += 1
            assert report.passed, f"{name}\n{report}"
            if report.max_error > worst[1]:
                worst = (name, report.max_error)
    print(f"{count} gradient checks passed; largest relative error {worst[1]:.2e} ({worst[0]})")


if __name__ == "__main__":
    main()
