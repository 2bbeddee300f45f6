"""A/B: how long a training batch takes at one revision against another.

    python benchmarks/bench_ab.py HEAD~1 HEAD [REV ...] [--processes 14] [--pairs 20]

Each revision (a git revision, or `.` for the working tree) is exported as a
package of its own name, so that all of them train the tutorial's model side
by side in one process and meet the same spells of the machine. Within a
process each of `pairs` stretches of 100 batches trains every model in turn,
in a random order, and the process reports, for each revision, the median
over stretches of its time over the first revision's.

Where a model's buffers land in memory moved its batch time by up to 5%
between otherwise identical runs (the same code, built first or second, was
5% faster or slower depending on the process), so one process does not tell
a 2% change from none. Each process therefore builds the models in a random
order after allocations of random sizes, and the table gives the geometric
mean and the range of the ratios over all processes. It also says whether
each revision's weights after training equal the first's to the bit.
"""

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from common import machine, print_table

SAMPLES_PER_STRETCH = 3200      # 100 batches of 32


def export(revision, directory, name):
    """The package npseq2seq at `revision` (`.`: the working tree), as directory/name."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if revision == ".":
        command = ["tar", "-c", "-C", root, "npseq2seq"]
    else:
        command = ["git", "-C", root, "archive", revision, "npseq2seq"]
    made = subprocess.run(command, capture_output=True)
    if made.returncode != 0:
        sys.exit(f"cannot export revision {revision!r} of {root}: "
                 f"{made.stderr.decode().strip() or 'exit status %d' % made.returncode}")
    subprocess.run(["tar", "-x", "-C", directory], input=made.stdout, check=True)
    os.rename(os.path.join(directory, "npseq2seq"), os.path.join(directory, name))


def one_process(directory, names, seed, pairs):
    """Train a model of each package in turn. {name: {'ratio': the median over
    stretches of its time over the first package's, 'batch_us': its fastest
    stretch a batch, 'same_weights': whether its weights end equal to the first's}}."""
    import importlib

    import numpy as np

    sys.path.insert(0, directory)
    packages = {name: importlib.import_module(name) for name in names}
    rng = random.Random(seed)
    source, target = packages[names[0]].reversal_task(SAMPLES_PER_STRETCH * pairs, seed=1)
    models, padding = {}, []
    for name in rng.sample(names, len(names)):
        padding.append(np.empty(rng.randrange(1, 300_000), np.uint8))
        padding.append([bytes(rng.randrange(1, 5000)) for _ in range(rng.randrange(1, 50))])
        models[name] = packages[name].EncoderDecoder(n_features=51, n_units=128, seed=1)
    times = {name: [] for name in names}
    for k in range(pairs):
        rows = slice(SAMPLES_PER_STRETCH * k, SAMPLES_PER_STRETCH * (k + 1))
        for name in rng.sample(names, len(names)):
            start = time.perf_counter()
            models[name].fit(source[rows], target[rows], verbose=0)
            times[name].append(time.perf_counter() - start)
    first = models[names[0]].get_weights()
    return {name: {"ratio": statistics.median(t / t0 for t, t0 in zip(times[name], times[names[0]])),
                   "batch_us": min(times[name]) / 100 * 1e6,
                   "same_weights": all(np.array_equal(a, b) for a, b in
                                       zip(first, models[name].get_weights()))}
            for name in names}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="*", help="git revisions; `.` for the working tree")
    parser.add_argument("--processes", type=int, default=14)
    parser.add_argument("--pairs", type=int, default=20, help="stretches of 100 batches a process")
    parser.add_argument("--worker", nargs=3, metavar=("DIRECTORY", "NAMES", "SEED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        directory, names, seed = args.worker
        print(json.dumps(one_process(directory, names.split(","), int(seed), args.pairs)))
        return
    if len(args.revisions) < 2:
        parser.error("give at least two revisions")
    with tempfile.TemporaryDirectory() as directory:
        names = [f"npseq2seq_ab{i}" for i in range(len(args.revisions))]
        for revision, name in zip(args.revisions, names):
            export(revision, directory, name)
        results = []
        for seed in range(args.processes):
            command = [sys.executable, __file__, "--pairs", str(args.pairs),
                       "--worker", directory, ",".join(names), str(seed)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"process {seed + 1} failed:\n{done.stderr}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            ratios = "  ".join(f"{results[-1][n]['ratio']:.3f}" for n in names[1:])
            print(f"process {seed + 1}/{args.processes}: time over {args.revisions[0]}'s {ratios}",
                  flush=True)
    rows = []
    for revision, name in zip(args.revisions, names):
        ratios = [r[name]["ratio"] for r in results]
        mean = math.exp(statistics.fmean(math.log(x) for x in ratios))
        rows.append([revision, f"{statistics.median(r[name]['batch_us'] for r in results):.0f}",
                     f"{mean:.3f}", f"{min(ratios):.3f}-{max(ratios):.3f}",
                     "yes" if all(r[name]["same_weights"] for r in results) else "no"])
    print_table(f"a training batch of the tutorial's model, {args.processes} processes of "
                f"{args.pairs} stretches of 100 batches\n{machine()}",
                ["revision", "us a batch (fastest stretch)", "time / first's (geo. mean)",
                 "range over processes", "same weights"], rows)


if __name__ == "__main__":
    main()
