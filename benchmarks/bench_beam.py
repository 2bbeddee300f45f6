"""What beam search buys and costs: exact-sequence accuracy and decoding time by width.

    python benchmarks/bench_beam.py                      # 20,000 to 100,000 samples
    python benchmarks/bench_beam.py --samples 40000 --widths 1 3

For each training-set size: the encoder-decoder trained one epoch as `npseq2seq
train` trains it (seed 1, learning rate 0.002, the CLI's data split), then the
exact-sequence accuracy on the same 1,000 held-out sequences decoded greedily
(width 1) and by beam search of each width, and the median time of `--runs`
decodes of 10,000 sequences at each width. Fewer samples leave a model less
sure of itself, where a wider search has more to find.
"""

import argparse
import time

import numpy as np

import npseq2seq as ns
from common import exact_sequences, machine, median, print_table


def trained(samples, seed=1):
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    model = ns.EncoderDecoder(51, 128, seed=seed)
    model.fit(*ns.reversal_task(samples, seed=train_seed), verbose=0,
              optimizer=ns.Adam(learning_rate=0.002))
    return model, ns.reversal_task(1000, seed=test_seed)


def exact(model, source, target, width):
    return exact_sequences(model.predict(source, n_steps=3, beam_width=width), target)


def decode_seconds(model, source, width, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict(source, n_steps=3, beam_width=width)
        times.append(time.perf_counter() - start)
    return median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[20_000, 40_000, 100_000])
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 3, 5, 10])
    parser.add_argument("--runs", type=int, default=5, help="decodes timed at each width")
    args = parser.parse_args()
    print(machine())
    many, _ = ns.reversal_task(10_000, seed=99)
    for samples in args.samples:
        model, (source, target) = trained(samples)
        model.predict(many, n_steps=3)                  # threads and buffers made
        rows = [[str(width), f"{100 * exact(model, source, target, width):.1f}%",
                 f"{decode_seconds(model, many, width, args.runs):.3f}"]
                for width in args.widths]
        print_table(f"trained on {samples:,} samples", ["width", "exact", "10,000 in (s)"], rows)


if __name__ == "__main__":
    main()
