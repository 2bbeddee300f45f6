"""Time and peak memory of the inference entry points: encode, predict, evaluate, loss.

    python benchmarks/bench_inference.py
    python benchmarks/bench_inference.py --sizes long --calls encode evaluate

Each (model, call, size) runs in a fresh process, so its peak resident set
size (ru_maxrss, as `/usr/bin/time -v` prints it) is the call's own plus
the data's and Python's. In that process the call runs --repeats times on
an untrained model of 128 units over 51 tokens; the table gives the median
time. Sizes: `tutorial` is 100,000 sources of 6 tokens, 3 out; `long` is
2,000 sources of 400, 40 out (the tutorial thread's "400 in, 40 out").
To measure another revision's code, put it first on PYTHONPATH: the worker
processes inherit it.
"""

import argparse
import json
import os
import sys
import time

from common import machine, median, print_table, report_result, run_measured

SIZES = {"tutorial": (100_000, 6, 3), "long": (2_000, 400, 40)}
MODELS = ("encoder-decoder", "repeat-vector")
CALLS = ("encode", "predict", "evaluate", "loss")


def worker(model_name, call, size, repeats):
    import npseq2seq as ns

    n, n_in, n_out = SIZES[size]
    source, target = ns.reversal_task(n, n_in=n_in, n_out=n_out, cardinality=51, seed=1)
    model = (ns.EncoderDecoder(51, 128, seed=1) if model_name == "encoder-decoder"
             else ns.RepeatVectorSeq2Seq(51, 128, n_out, seed=1))
    run = {"encode": lambda: model.encode(source),
           "predict": lambda: model.predict(source, n_steps=n_out),
           "evaluate": lambda: model.evaluate(source, target),
           "loss": lambda: model.loss(source, target)}[call]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    report_result({"seconds": median(times), "figure": first_figure(result),
                   "version": ns.__file__})


def first_figure(result):
    """A number to tell two revisions' results apart by: the loss, or the first
    element of h or of the predicted tokens."""
    import numpy as np

    if isinstance(result, dict):
        return result["loss"]
    return float(np.ravel(result[0] if isinstance(result, tuple) else result)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--calls", nargs="+", default=list(CALLS), choices=CALLS)
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "CALL", "SIZE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker, args.repeats)
    rows = []
    for size in args.sizes:
        for model_name in args.models:
            for call in args.calls:
                rows.append(measure(model_name, call, size, args.repeats))
    print(f"npseq2seq from {rows[0][-1]}" if rows else "nothing to measure")
    print_table(f"Inference, untrained, 128 units, 51 tokens; median of {args.repeats} calls "
                f"in one process, its peak RSS ({machine()})",
                ["size", "model", "call", "seconds", "peak MB", "figure"],
                [row[:-1] for row in rows])


def measure(model_name, call, size, repeats):
    command = [sys.executable, os.path.abspath(__file__), "--repeats", str(repeats),
               "--worker", model_name, call, size]
    status, peak_mb, out, errors = run_measured(command)
    if status != 0:
        raise SystemExit(f"{model_name} {call} {size} failed: {errors.strip()[-400:]}")
    result = json.loads(out.strip().splitlines()[-1])
    n, n_in, n_out = SIZES[size]
    return [f"{size} ({n:,} x {n_in} -> {n_out})", model_name, call,
            f"{result['seconds']:.3f}", f"{peak_mb:.0f}", f"{result['figure']:.6g}",
            os.path.dirname(result["version"])]


if __name__ == "__main__":
    main()
