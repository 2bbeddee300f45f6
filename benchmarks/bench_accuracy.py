"""Exact-sequence accuracy of the default `npseq2seq train` runs, over seeds and epochs.

    python benchmarks/bench_accuracy.py                       # both designs, CLI defaults
    python benchmarks/bench_accuracy.py --learning-rate 0.001 # Keras's learning rate

The reversal task as `npseq2seq train` sets it up (100,000 samples, 6 in, 3 out,
cardinality 51, 128 units, batch 32, Adam), seeds 1-5 for the encoder-decoder
after one epoch, and the RepeatVector model (seed 1) after each of 5 epochs;
accuracy on the same 1,000 held-out sequences the CLI uses for each seed. For
the encoder-decoder, also decoded as the tutorial's predict_sequence does
(feed_back="probabilities": from the all-zero vector, each softmax fed back).
"""

import argparse
import time

import numpy as np

import npseq2seq as ns


def data(seed, samples):
    train_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    return ns.reversal_task(samples, seed=train_seed), ns.reversal_task(1000, seed=test_seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=5, help="for the RepeatVector model")
    args = parser.parse_args()
    print(f"learning rate {args.learning_rate}")
    for seed in args.seeds:
        (src, tgt), (test_src, test_tgt) = data(seed, args.samples)
        model = ns.EncoderDecoder(51, 128, seed=seed)
        start = time.perf_counter()
        model.fit(src, tgt, verbose=0, optimizer=ns.Adam(learning_rate=args.learning_rate))
        seconds = time.perf_counter() - start
        accuracy = model.evaluate(test_src, test_tgt)["seq_acc"]
        tutorial = model.evaluate(test_src, test_tgt, feed_back="probabilities")["seq_acc"]
        print(f"encoder-decoder seed {seed}: {100 * accuracy:.2f}% after 1 epoch "
              f"({seconds:.1f} s); {100 * tutorial:.2f}% decoded as the tutorial's "
              f"predict_sequence")
    (src, tgt), (test_src, test_tgt) = data(args.seeds[0], args.samples)
    model = ns.RepeatVectorSeq2Seq(51, 128, 3, seed=args.seeds[0])
    model.optimizer = ns.Adam(learning_rate=args.learning_rate)
    for epoch in range(1, args.epochs + 1):
        model.fit(src, tgt, verbose=0)
        accuracy = model.evaluate(test_src, test_tgt)["seq_acc"]
        print(f"repeat-vector seed {args.seeds[0]}: {100 * accuracy:.2f}% after {epoch} epoch(s)")


if __name__ == "__main__":
    main()
