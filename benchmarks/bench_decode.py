"""Time greedy decoding, npseq2seq beside its peers, on the same weights.

    python benchmarks/bench_decode.py
    python benchmarks/bench_decode.py --torch-python /path/to/torch-venv/bin/python

Two workloads, each library in its own process (see common.py):
- batched: greedy decoding of 10,000 reversal sources at once (encoder once,
  then 3 decoder steps fed their own argmax); the median of --repeats runs,
  as sequences per second. PyTorch runs under torch.no_grad(), with its
  default threads. npseq2seq runs as a user calls it (its threads share the
  sequences out, one per core) and, for comparison, with threads=1.
  The libraries take turns: --rounds rounds, each in the order A B C, then
  C B A, and so on, so that a slow spell of this shared machine falls on all
  of them. A library's figure is the median over its rounds; the speed-up is
  the median of the per-round ratios, and the report gives their spread.
- one at a time: one source per call, as a user decoding requests one by one;
  the median latency over --singles sources. Keras runs the tutorial's loop
  (encoder model.predict, then decoder model.predict once per output step).
All peers decode with npseq2seq's initial weights (speed does not depend on
their values), and the table reports how many decodes agree with npseq2seq's.
"""

import argparse
import time

import numpy as np

import npseq2seq as ns
from common import (add_python_options, exact_sequences, interpreter, keras_greedy,
                    keras_tutorial_models, machine, median, missing, print_table,
                    report_result, run_worker, torch_encoder_decoder, torch_greedy)

CARDINALITY, UNITS, N_OUT = 51, 128, 3


def model_and_data(args):
    model = ns.EncoderDecoder(CARDINALITY, UNITS, seed=1)
    model.target_length = N_OUT
    source, _ = ns.reversal_task(args.sequences, cardinality=CARDINALITY, seed=2)
    return model, source


def timed(decode, source, args):
    """(median seconds for the whole batch, median seconds per single, decodes)."""
    decoded = decode(source)            # also the warm-up
    batch = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        decode(source)
        batch.append(time.perf_counter() - start)
    single = []
    for row in range(args.singles):
        start = time.perf_counter()
        decode(source[row:row + 1])
        single.append(time.perf_counter() - start)
    return median(batch), median(single), np.asarray(decoded).tolist()


def work_npseq2seq(args):
    model, source = model_and_data(args)
    return timed(model.predict, source, args)


def work_npseq2seq_one_thread(args):
    model, source = model_and_data(args)
    return timed(lambda src: model.predict(src, threads=1), source, args)


def work_pytorch(args):
    model, source = model_and_data(args)
    modules = torch_encoder_decoder(model)
    return timed(lambda src: torch_greedy(modules, src, N_OUT), source, args)


def work_keras(args):
    model, source = model_and_data(args)
    training, encoder, decoder = keras_tutorial_models(CARDINALITY, UNITS)
    training.set_weights(model.get_weights())
    args.singles = min(args.singles, 10)     # about 0.2 s each
    return timed(lambda src: keras_greedy(encoder, decoder, src, N_OUT, CARDINALITY),
                 source, args)


WORKERS = {"npseq2seq": work_npseq2seq, "npseq2seq-1-thread": work_npseq2seq_one_thread,
           "pytorch": work_pytorch, "keras": work_keras}
BATCH_BAR = {"pytorch": 2.0}       # issue 5: npseq2seq at least 2x PyTorch's sequences/s
SINGLE_BAR_MS = 0.3                # issue 5: npseq2seq under 0.3 ms a sequence


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns each library takes (see above)")
    parser.add_argument("--singles", type=int, default=300,
                        help="sources decoded one at a time (Keras: 10)")
    parser.add_argument("--peers", nargs="+", default=list(WORKERS), choices=list(WORKERS))
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    add_python_options(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        try:
            batch, single, decoded = WORKERS[args.worker](args)
        except ImportError as error:
            missing(args.worker, error)
        return report_result({"batch": batch, "single": single, "decoded": decoded})
    rounds, peers = [], list(args.peers)
    for r in range(args.rounds):
        results = {}
        for name in (peers if r % 2 == 0 else peers[::-1]):
            result, _ = run_worker(interpreter(args, name), __file__, [
                "--worker", name, "--sequences", args.sequences, "--repeats", args.repeats,
                "--singles", args.singles])
            if result is None:
                peers.remove(name)              # not installed: not tried again
                continue
            results[name] = result
            print(f"round {r + 1}, {name}: batch {result['batch']:.3f} s, one sequence "
                  f"{1e3 * result['single']:.3f} ms", flush=True)
        rounds.append(results)
    report(rounds, args)


def report(rounds, args):
    """Medians over the rounds; the speed-up is the median of per-round ratios."""
    names = [name for name in WORKERS if name in rounds[-1]]
    ours = "npseq2seq" if "npseq2seq" in names else None
    batch_rows, single_rows = [], []
    for name in names:
        batch = median([r[name]["batch"] for r in rounds])
        single = median([r[name]["single"] for r in rounds])
        last = rounds[-1]
        agree = ("" if ours is None else
                 f"{100 * exact_sequences(last[name]['decoded'], last[ours]['decoded']):.1f}%")
        speed = ""
        if ours is not None and name != ours:
            ratios = [r[name]["batch"] / r[ours]["batch"] for r in rounds]
            speed = f"{median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        batch_rows.append([name, f"{batch:.3f}", f"{args.sequences / batch:,.0f}", agree, speed,
                           f">= {BATCH_BAR[name]}x" if name in BATCH_BAR else ""])
        single_rows.append([name, f"{1e3 * single:.3f}",
                            f"< {SINGLE_BAR_MS}" if name == ours else ""])
    print_table(f"batched greedy decoding of {args.sequences:,} sequences: medians over "
                f"{len(rounds)} rounds of {args.repeats} runs, each library in its own process\n"
                f"{machine()}", ["library", "seconds", "sequences/s", "same as npseq2seq",
                                 "npseq2seq speed-up (range)", "bar"], batch_rows)
    print_table(f"one sequence per call, median over {args.singles} sources (Keras: 10) "
                f"and {len(rounds)} rounds", ["library", "ms/sequence", "bar"], single_rows)


if __name__ == "__main__":
    main()
