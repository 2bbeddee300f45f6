"""Peak resident memory of the tutorial's training run, npseq2seq beside its peers.

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --torch-python /path/to/torch-venv/bin/python

npseq2seq: `npseq2seq train` with its defaults (100,000 sequences, one epoch,
128 units, then the held-out accuracy), as a user runs it, and the same with
`--workers 2`, whose figure is the sum of its two processes' peaks (the
worker's read from /proc: Linux only, skipped elsewhere). Peers: the same run
in bench_train.py's PyTorch and Keras workers (data, one epoch in one piece,
1,000 decodes; in stretches, Keras's peak is lower).
Each command runs --repeats times in a fresh process, and the peak resident
set size (ru_maxrss, the figure `/usr/bin/time -v` prints) of each is read
with os.wait4; the table gives the median.
"""

import argparse
import os
import sys

from common import add_python_options, interpreter, machine, median, print_table, run_measured

HERE = os.path.dirname(os.path.abspath(__file__))
BAR_MB = 120        # issue 5: npseq2seq train under 120 MB


def commands(args):
    train = os.path.join(HERE, "bench_train.py")
    peer = ["--seed", "1", "--samples", "100000", "--segments", "1"]   # the epoch in one piece
    return {
        "npseq2seq train": [sys.executable, "-m", "npseq2seq", "train"],
        "npseq2seq train --workers 2": [sys.executable, "-m", "npseq2seq", "train",
                                        "--workers", "2"],
        "pytorch": [interpreter(args, "pytorch"), train, "--worker", "pytorch", *peer],
        "keras": [interpreter(args, "keras"), train, "--worker", "keras", *peer],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", nargs="+", default=["pytorch", "keras"],
                        choices=["pytorch", "keras"])
    add_python_options(parser)
    args = parser.parse_args()
    peaks = {}
    for name, command in commands(args).items():
        if not name.startswith("npseq2seq") and name not in args.peers:
            continue
        two_processes = "--workers" in command
        if two_processes and not os.path.isdir("/proc"):
            print(f"skipping {name}: its worker's peak is read from /proc, which this "
                  f"system does not have")
            continue
        for _ in range(args.repeats):
            status, peak_mb, _, errors = run_measured(command, with_children=two_processes)
            if status != 0:
                print(f"skipping {name}: {errors.strip().splitlines()[-1]}")
                break
            peaks.setdefault(name, []).append(peak_mb)
            print(f"{name}: peak {peak_mb:.0f} MB", flush=True)
    ours = median(peaks["npseq2seq train"])
    rows = [[name, f"{median(mb):.0f}", f"{median(mb) / ours:.1f}x",
             f"< {BAR_MB}" if name.startswith("npseq2seq") else ""]
            for name, mb in peaks.items()]
    print_table(f"peak resident memory of the tutorial's training run, median of "
                f"{args.repeats}, each run its own process\n{machine()}",
                ["run", "peak MB", "vs npseq2seq", "bar"], rows)


if __name__ == "__main__":
    main()
