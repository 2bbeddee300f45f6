"""Peak memory and time of `npseq2seq predict MODEL --input FILE` on a big file.

    python benchmarks/bench_predict_file.py                  # 1,000,000 lines
    python benchmarks/bench_predict_file.py --lines 200000

A model trained briefly (`npseq2seq train --samples 3200`, the tutorial's sizes
otherwise: a decode costs the same whatever the weights), a file of --lines
tutorial sources (6 tokens each), and the command run --repeats times, each in
a fresh process: the median wall time and peak resident memory (ru_maxrss, the
figure `/usr/bin/time -v` prints). predict --input reads and decodes 8,192
lines at a time, so its peak should not grow with the file. (This script keeps
NumPy out of its own process: a child's peak counts what it shared with its
parent before it started the command.)
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

from common import machine, median, print_table, run_measured


def write_sources(path, lines):
    """`lines` lines of 6 random tokens 1..50, written a block at a time."""
    rng = random.Random(0)
    with open(path, "w") as file:
        for start in range(0, lines, 10_000):
            file.writelines(" ".join(str(rng.randint(1, 50)) for _ in range(6)) + "\n"
                            for _ in range(min(10_000, lines - start)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model, sources = os.path.join(folder, "model.npz"), os.path.join(folder, "sources.txt")
        subprocess.run([sys.executable, "-m", "npseq2seq", "train", "--samples", "3200",
                        "--verbose", "0", "--save", model], check=True, stdout=subprocess.DEVNULL)
        write_sources(sources, args.lines)
        command = [sys.executable, "-m", "npseq2seq", "predict", model, "--input", sources]
        seconds, peaks = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            status, peak_mb, out, errors = run_measured(command)
            seconds.append(time.perf_counter() - start)
            if status != 0 or out.count("\n") != args.lines:
                sys.exit(f"predict failed: {errors.strip()}")
            peaks.append(peak_mb)
            print(f"{seconds[-1]:.2f} s, peak {peak_mb:.0f} MB", flush=True)
    print_table(f"npseq2seq predict --input on {args.lines:,} lines of 6 tokens, median of "
                f"{args.repeats}, each run its own process\n{machine()}",
                ["seconds", "lines/s", "peak MB"],
                [[f"{median(seconds):.2f}", f"{args.lines / median(seconds):,.0f}",
                  f"{median(peaks):.0f}"]])


if __name__ == "__main__":
    main()
