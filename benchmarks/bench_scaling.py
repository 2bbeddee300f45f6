"""Where NumPy wins and where it does not: training speed against PyTorch as the
model, the batch and the source grow.

    python benchmarks/bench_scaling.py
    python benchmarks/bench_scaling.py --torch-python /path/to/torch-venv/bin/python

From the tutorial's setting (128 units, batch 32, 6 source steps, 3 target
steps, 51 classes), one size changes at a time: units 64 to 512, batch 32 to
512, source length 6 to 60. For each, both libraries train the encoder-decoder
with Adam (PyTorch as in bench_train.py); npseq2seq runs twice, with fit's
default workers=1 and with workers=2 (each batch shared with a second
process, on the other core). Each setting and run is a process of its own,
the three back to back for each setting; a training step's time is the
median over three timed stretches of --batches/3 steps, after WARMUP
untimed steps. PyTorch needs them: at the tutorial's size its first 50
steps took 8.1 ms each here, the next 350 5-6 ms.
The sweep runs --runs times; the table gives each setting's median step
times and the median (and range) of its runs' ratios. One sweep is not
enough on a shared machine: at the tutorial's size, three single sweeps one
after the other gave 1.01, 0.88 and 0.48 of PyTorch's time.
"""

import argparse
import functools
import time

import npseq2seq as ns
from common import (add_python_options, interpreter, machine, median, missing, print_table,
                    report_result, run_worker)

CARDINALITY = 51
BASE = {"units": 128, "batch": 32, "n_in": 6}
SWEEP = ([BASE] + [dict(BASE, units=u) for u in (64, 256, 512)]
         + [dict(BASE, batch=b) for b in (128, 512)] + [dict(BASE, n_in=n) for n in (20, 60)])


WARMUP = 50


def data(config, batches):
    return ns.reversal_task(config["batch"] * batches, n_in=config["n_in"],
                            cardinality=CARDINALITY, seed=1)


def seconds_per_step(train, batches):
    """train(first_batch, n_batches) runs n steps; median time of one over three stretches."""
    train(0, WARMUP)                                  # buffers, threads, caches, Adam's state
    stretch = max(batches // 3, 1)
    times = []
    for k in range(3):
        start = time.perf_counter()
        train(WARMUP + k * stretch, stretch)
        times.append((time.perf_counter() - start) / stretch)
    return median(times)


def npseq2seq_step(config, batches, workers=1):
    src, tgt = data(config, batches + WARMUP)
    model = ns.EncoderDecoder(CARDINALITY, config["units"], seed=1)
    b = config["batch"]

    def train(first, n):        # (workers=2: its second process starts in the warm-up)
        rows = slice(first * b, (first + n) * b)
        model.fit(src[rows], tgt[rows], batch_size=b, shuffle=False, verbose=0,
                  workers=workers)

    return seconds_per_step(train, batches)


def pytorch_step(config, batches):
    try:
        import torch
        from torch import nn
    except ImportError as error:
        missing("pytorch", error)
    src, tgt = (torch.from_numpy(a) for a in data(config, batches + WARMUP))
    f, u, b = CARDINALITY, config["units"], config["batch"]
    encoder, decoder = nn.LSTM(f, u, batch_first=True), nn.LSTM(f, u, batch_first=True)
    dense = nn.Linear(u, f)
    parameters = [*encoder.parameters(), *decoder.parameters(), *dense.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=0.001, eps=1e-7)
    one_hot = torch.eye(f)
    shifted = torch.cat([torch.zeros_like(tgt[:, :1]), tgt[:, :-1]], 1)

    def train(first, n):
        for k in range(first, first + n):
            rows = slice(k * b, (k + 1) * b)
            _, state = encoder(one_hot[src[rows]])
            outputs, _ = decoder(one_hot[shifted[rows]], state)
            loss = nn.functional.cross_entropy(dense(outputs).reshape(-1, f),
                                               tgt[rows].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return seconds_per_step(train, batches)


WORKERS = {"npseq2seq": npseq2seq_step,
           "npseq2seq-workers-2": functools.partial(npseq2seq_step, workers=2),
           "pytorch": pytorch_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=90, help="timed steps per setting")
    parser.add_argument("--runs", type=int, default=3,
                        help="sweeps; a setting's ratio is the median of its runs' ratios")
    parser.add_argument("--peers", nargs="+", default=list(WORKERS), choices=list(WORKERS),
                        help="what runs (default: all three)")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--setting", type=int, help=argparse.SUPPRESS)
    add_python_options(parser)
    args = parser.parse_args()
    if args.worker:
        return report_result(WORKERS[args.worker](SWEEP[args.setting], args.batches))
    # Setting by setting, the libraries one after the other (in an order that
    # turns), so that the machine's drift over minutes does not bias a ratio;
    # then the whole sweep again, --runs times.
    results = {name: [[] for _ in SWEEP] for name in args.peers}
    for run in range(args.runs):
        for k in range(len(SWEEP)):
            turn = (k + run) % len(args.peers)
            names = args.peers[turn:] + args.peers[:turn]
            for name in [name for name in names if name in results]:
                seconds, _ = run_worker(interpreter(args, name), __file__,
                                        ["--worker", name, "--setting", k, "--batches", args.batches])
                if seconds is None:             # not installed: skip it from now on
                    del results[name]
                else:
                    results[name][k].append(seconds)
    report(results, args.runs)


def report(results, runs):
    """One row a setting: each library's median step time, and each npseq2seq
    run's median ratio to PyTorch (its range over the runs)."""
    names = [name for name in WORKERS if name in results]
    compared = [name for name in names if name != "pytorch"] if "pytorch" in names else []
    rows = []
    for k, config in enumerate(SWEEP):
        times = {name: results[name][k] for name in names}
        row = [f"{config['units']}", f"{config['batch']}", f"{config['n_in']}"]
        row += [f"{1e3 * median(times[name]):.2f}" for name in names]
        for name in compared:
            ratios = sorted(a / b for a, b in zip(times[name], times["pytorch"]))
            row.append(f"{median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})")
        row.append(min(names, key=lambda name: median(times[name])))
        rows.append(row)
    print_table(f"one training step (ms), median over {runs} runs of the sweep (each: the median "
                f"of three stretches), each library in its own process\n{machine()}",
                ["units", "batch", "source steps", *(f"{name} ms" for name in names),
                 *(f"{name} / pytorch (range)" for name in compared), "fastest"], rows)


if __name__ == "__main__":
    main()
