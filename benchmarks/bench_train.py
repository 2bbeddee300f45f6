"""Time one training epoch of the tutorial's model, npseq2seq beside its peers.

    python benchmarks/bench_train.py                 # all peers that are installed
    python benchmarks/bench_train.py --repeats 5 --peers npseq2seq pytorch
    python benchmarks/bench_train.py --torch-python /path/to/torch-venv/bin/python

Each library trains the state-passing encoder-decoder (SPEC.md, model A) for one
epoch on the same reversal-task data (batch 32, Adam at Keras's 0.001, Keras
initialisation), then decodes 1,000 held-out sequences greedily. Every library
runs in a process of its own (see common.py).

This machine's speed drifts by tens of percent within minutes, so the libraries
take turns: the epoch is cut into --segments stretches of whole batches, and
each library trains one stretch while the others wait, in the order A B, then
B A, so that every library meets the same machine on average. A library's
epoch time is the sum of its stretches (fit is called once per stretch, on
data shuffled once beforehand; Keras's fit costs about 0.09 s a call beyond its
batches, 2% of its epoch over 10 stretches). --segments 1 times whole epochs
one after the other.

Reported: the median epoch time over the repeats, the epoch's loss and
per-step accuracy, the exact-sequence accuracy, the process's peak memory, and
npseq2seq's time as a fraction of each peer's; under the table, the spread of
those fractions over the single stretches. Keras (TensorFlow) and PyTorch are
optional: without one, its row is skipped. The PyTorch peer is nn.LSTM encoder
and decoder, nn.Linear, cross-entropy and torch.optim.Adam on one-hot inputs,
starting from the same initial weights, on PyTorch's default threads (two
here); --peers pytorch-1-thread adds it on one thread.
"""

import argparse
import sys
import time

import numpy as np

import npseq2seq as ns
from common import (TurnTakingWorker, add_python_options, exact_sequences, interpreter,
                    keras_greedy, keras_tutorial_models, machine, median, missing, print_table,
                    own_peak_mb, report_result, torch_encoder_decoder, torch_greedy)


# Each trainer builds its library's model and returns train(start, stop), which
# trains on samples start..stop-1 and returns their mean loss and accuracy, and
# evaluate(), which returns the exact-sequence accuracy on the held-out set.

def npseq2seq_trainer(data, args, seed, workers=1):
    (src, tgt), (test_src, test_tgt) = data
    model = ns.EncoderDecoder(args.cardinality, args.units, seed=seed)

    def train(start, stop):     # with workers=2, the first stretch includes the worker's start
        history = model.fit(src[start:stop], tgt[start:stop], epochs=1, batch_size=32,
                            shuffle=False, verbose=0, workers=workers)
        return history.history["loss"][0], history.history["acc"][0]

    return train, lambda: model.evaluate(test_src, test_tgt)["seq_acc"]


def keras_trainer(data, args, seed):
    import keras

    keras.utils.set_random_seed(seed)
    (src, tgt), (test_src, test_tgt) = data
    f = args.cardinality
    model, encoder, decoder = keras_tutorial_models(f, args.units)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acc"])
    one_hot = np.eye(f, dtype=np.float32)
    shifted = np.concatenate([np.zeros_like(tgt[:, :1]), tgt[:, :-1]], axis=1)
    source, decoder_input, target = one_hot[src], one_hot[shifted], one_hot[tgt]

    def train(start, stop):
        rows = slice(start, stop)
        history = model.fit([source[rows], decoder_input[rows]], target[rows], epochs=1,
                            batch_size=32, shuffle=False, verbose=0)
        return history.history["loss"][0], history.history["acc"][0]

    def evaluate():
        decoded = keras_greedy(encoder, decoder, test_src, test_tgt.shape[1], f)
        return exact_sequences(decoded, test_tgt)

    return train, evaluate


def torch_trainer(data, args, seed):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    (src, tgt), (test_src, test_tgt) = data
    f, u = args.cardinality, args.units
    model = torch_encoder_decoder(ns.EncoderDecoder(f, u, seed=seed))  # Keras initialisation
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    one_hot = torch.eye(f)
    source, target = torch.from_numpy(src), torch.from_numpy(tgt)
    shifted = torch.cat([torch.zeros_like(target[:, :1]), target[:, :-1]], 1)

    def train(start, stop):
        loss_sum = acc_sum = 0.0
        for b in range(start, stop, 32):
            rows = slice(b, min(b + 32, stop))
            _, state = model.encoder(one_hot[source[rows]])
            outputs, _ = model.decoder(one_hot[shifted[rows]], state)
            logits = model.dense(outputs)
            loss = nn.functional.cross_entropy(logits.reshape(-1, f), target[rows].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            count = len(target[rows])
            loss_sum += loss.item() * count
            acc_sum += (logits.argmax(-1) == target[rows]).float().mean().item() * count
        return loss_sum / (stop - start), acc_sum / (stop - start)

    def evaluate():
        decoded = torch_greedy(model, test_src, test_tgt.shape[1])
        return exact_sequences(decoded, test_tgt)

    return train, evaluate


def npseq2seq_two_processes_trainer(data, args, seed):
    return npseq2seq_trainer(data, args, seed, workers=2)


def torch_one_thread_trainer(data, args, seed):
    """PyTorch on one thread, to show that its default (two here) is its best."""
    import torch

    torch.set_num_threads(1)
    return torch_trainer(data, args, seed)


PEERS = {"npseq2seq": npseq2seq_trainer, "npseq2seq-workers2": npseq2seq_two_processes_trainer,
         "keras": keras_trainer, "pytorch": torch_trainer,
         "pytorch-1-thread": torch_one_thread_trainer}
DEFAULT_PEERS = ["npseq2seq", "npseq2seq-workers2", "keras", "pytorch"]
OURS = ("npseq2seq", "npseq2seq-workers2")     # fit(workers=1), the default, and workers=2
BARS = {"pytorch": 0.7, "keras": 0.3}      # issue 5: npseq2seq's epoch at most this fraction
PAUSE = 0.3     # seconds between turns, for the last library's thread pools to fall idle


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--cardinality", type=int, default=51)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--segments", type=int, default=10,
                        help="stretches each epoch is cut into, taken in turns (default 10)")
    parser.add_argument("--peers", nargs="+", default=list(DEFAULT_PEERS), choices=list(PEERS),
                        help=f"default: {' '.join(DEFAULT_PEERS)}")
    parser.add_argument("--worker", choices=list(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    add_python_options(parser)
    return parser.parse_args()


def segments(args):
    """(start, stop) sample ranges of whole batches of 32 that cover one epoch."""
    batches = np.array_split(np.arange(-(-args.samples // 32)), args.segments)
    return [(int(b[0]) * 32, min(int(b[-1] + 1) * 32, args.samples)) for b in batches if len(b)]


def work(args):
    """In the worker process: one library, one seed; a stretch each time it is told.

    It waits for a line on stdin before each stretch and before the final
    evaluation (at end of input it goes on unprompted), and answers each
    stretch with its seconds, loss and accuracy.
    """
    (src, tgt), test = (ns.reversal_task(args.samples, cardinality=args.cardinality, seed=args.seed),
                        ns.reversal_task(1000, cardinality=args.cardinality, seed=10_000 + args.seed))
    order = np.random.default_rng(args.seed).permutation(args.samples)  # the epoch's shuffle
    try:
        train, evaluate = PEERS[args.worker](((src[order], tgt[order]), test), args, args.seed)
    except ImportError as error:
        missing(args.worker, error)
    report_result({"ready": True})
    for start, stop in segments(args):
        sys.stdin.readline()
        began = time.perf_counter()
        loss, acc = train(start, stop)
        report_result({"seconds": time.perf_counter() - began, "loss": loss, "acc": acc,
                       "samples": stop - start})
    sys.stdin.readline()                # evaluate once told (end of input), so that it
    # does not overlap another library's turn; the peak is the worker's own (this
    # script's own process, holding the data, may peak higher than a worker)
    report_result({"seq_acc": evaluate(), "peak_mb": own_peak_mb()})


def run_once(args, repeat):
    """One epoch of every library, taking turns; {name: result} for those installed."""
    workers = {}
    for name in list(args.peers):       # started one at a time: start-up is not timed
        worker = TurnTakingWorker(interpreter(args, name), __file__, [
            "--worker", name, "--seed", repeat + 1, "--samples", args.samples, "--units",
            args.units, "--cardinality", args.cardinality, "--segments", args.segments])
        if worker.started():
            workers[name] = worker
        else:
            args.peers.remove(name)     # not installed: not tried again next repeat
    stretches = {name: [] for name in workers}
    for k in range(len(segments(args))):
        for name in (list(workers) if k % 2 == 0 else list(workers)[::-1]):
            time.sleep(PAUSE)
            stretches[name].append(workers[name].turn())
    results = {}
    for name, worker in workers.items():
        final, peak_mb = worker.finish()
        parts = stretches[name]
        samples = sum(p["samples"] for p in parts)
        results[name] = {"seconds": sum(p["seconds"] for p in parts),
                         "loss": sum(p["loss"] * p["samples"] for p in parts) / samples,
                         "acc": sum(p["acc"] * p["samples"] for p in parts) / samples,
                         "seq_acc": final["seq_acc"], "peak_mb": peak_mb,
                         "stretches": [p["seconds"] for p in parts]}
    return results


def main():
    args = parse_args()
    if args.worker:
        return work(args)
    runs = {}
    for repeat in range(args.repeats):
        for name, result in run_once(args, repeat).items():
            runs.setdefault(name, []).append(result)
            print(f"{name} run {repeat + 1}: epoch {result['seconds']:.2f} s, loss "
                  f"{result['loss']:.4f}, seq_acc {result['seq_acc']:.4f}", flush=True)
    report(runs, args)


def report(runs, args):
    medians = {name: {key: median([r[key] for r in rs]) for key in rs[0] if key != "stretches"}
               for name, rs in runs.items()}
    ours = [name for name in OURS if name in medians]
    rows = []
    for name, m in medians.items():
        fractions = ["" if name in OURS else f"{medians[o]['seconds'] / m['seconds']:.2f}"
                     for o in ours]
        bar = f"<= {BARS[name]}" if name in BARS else ""
        rows.append([name, f"{m['seconds']:.2f}", f"{m['loss']:.4f}", f"{m['acc']:.4f}",
                     f"{100 * m['seq_acc']:.1f}%", f"{m['peak_mb']:.0f}", *fractions, bar])
    print_table(f"one epoch: {args.samples:,} samples, {args.units} units, batch 32; medians of "
                f"{args.repeats} runs, each library in its own process, taking turns in "
                f"{len(segments(args))} stretches\n{machine()}",
                ["library", "epoch s", "loss", "acc", "seq_acc", "peak MB",
                 *[f"{o} / peer" for o in ours], "bar"], rows)
    for o in ours:
        for name in runs:
            if name not in OURS:
                ratios = [a / b for ours_run, peer_run in zip(runs[o], runs[name])
                          for a, b in zip(ours_run["stretches"], peer_run["stretches"])]
                print(f"{o} / {name}, stretch by stretch: median {median(ratios):.2f}, "
                      f"range {min(ratios):.2f}-{max(ratios):.2f} ({len(ratios)} stretches)")


if __name__ == "__main__":
    main()
