"""Time one training epoch of the tutorial's model, npseq2seq beside its peers.

    python benchmarks/bench_train.py                 # all peers that are installed
    python benchmarks/bench_train.py --repeats 5 --peers npseq2seq pytorch
    python benchmarks/bench_train.py --torch-python /path/to/torch-venv/bin/python

Each library trains the state-passing encoder-decoder (SPEC.md, model A) for one
epoch on the same reversal-task data (batch 32, Adam at Keras's 0.001, Keras
initialisation), then decodes 1,000 held-out sequences greedily. Every run is a
fresh process (see common.py). Reported: the median epoch time over the
repeats, the epoch's loss and per-step accuracy, the exact-sequence accuracy,
the process's peak memory, and npseq2seq's time as a fraction of each peer's.
Keras (TensorFlow) and PyTorch are optional: without one, its row is skipped.
The PyTorch peer is nn.LSTM encoder and decoder, nn.Linear, cross-entropy and
torch.optim.Adam on one-hot inputs, starting from the same initial weights.
"""

import argparse
import time

import numpy as np

import npseq2seq as ns
from common import (add_python_options, interpreter, keras_greedy, keras_tutorial_models,
                    machine, median, missing, print_table, report_result, run_worker,
                    torch_encoder_decoder, torch_greedy)


def run_npseq2seq(data, args, seed):
    (src, tgt), (test_src, test_tgt) = data
    model = ns.EncoderDecoder(args.cardinality, args.units, seed=seed)
    start = time.perf_counter()
    history = model.fit(src, tgt, epochs=1, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    seq_acc = model.evaluate(test_src, test_tgt)["seq_acc"]
    return seconds, history.history["loss"][0], history.history["acc"][0], seq_acc


def run_keras(data, args, seed):
    import keras

    keras.utils.set_random_seed(seed)
    (src, tgt), (test_src, test_tgt) = data
    f = args.cardinality
    model, encoder, decoder = keras_tutorial_models(f, args.units)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acc"])
    one_hot = np.eye(f, dtype=np.float32)
    shifted = np.concatenate([np.zeros_like(tgt[:, :1]), tgt[:, :-1]], axis=1)
    start = time.perf_counter()
    history = model.fit([one_hot[src], one_hot[shifted]], one_hot[tgt], epochs=1,
                        batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    decoded = keras_greedy(encoder, decoder, test_src, test_tgt.shape[1], f)
    seq_acc = float(np.mean(np.all(decoded == test_tgt, axis=1)))
    return seconds, history.history["loss"][0], history.history["acc"][0], seq_acc


def run_torch(data, args, seed):
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
    start = time.perf_counter()
    order = torch.randperm(len(src))
    loss_sum = acc_sum = 0.0
    for b in range(0, len(src), 32):
        rows = order[b:b + 32]
        _, state = model.encoder(one_hot[source[rows]])
        outputs, _ = model.decoder(one_hot[shifted[rows]], state)
        logits = model.dense(outputs)
        loss = nn.functional.cross_entropy(logits.reshape(-1, f), target[rows].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(rows)
        acc_sum += (logits.argmax(-1) == target[rows]).float().mean().item() * len(rows)
    seconds = time.perf_counter() - start
    decoded = torch_greedy(model, test_src, test_tgt.shape[1])
    seq_acc = float(np.mean(np.all(decoded == test_tgt, axis=1)))
    return seconds, loss_sum / len(src), acc_sum / len(src), seq_acc


PEERS = {"npseq2seq": run_npseq2seq, "keras": run_keras, "pytorch": run_torch}
BARS = {"pytorch": 0.7, "keras": 0.3}      # issue 5: npseq2seq's epoch at most this fraction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--cardinality", type=int, default=51)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--worker", choices=list(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    add_python_options(parser)
    return parser.parse_args()


def work(args):
    """In the worker process: one library, one seed."""
    data = (ns.reversal_task(args.samples, cardinality=args.cardinality, seed=args.seed),
            ns.reversal_task(1000, cardinality=args.cardinality, seed=10_000 + args.seed))
    try:
        seconds, loss, acc, seq_acc = PEERS[args.worker](data, args, args.seed)
    except ImportError as error:
        missing(args.worker, error)
    report_result({"seconds": seconds, "loss": loss, "acc": acc, "seq_acc": seq_acc})


def main():
    args = parse_args()
    if args.worker:
        return work(args)
    runs = {}
    for repeat in range(args.repeats):
        for name in list(args.peers):
            result, peak_mb = run_worker(interpreter(args, name), __file__, [
                "--worker", name, "--seed", repeat + 1, "--samples", args.samples,
                "--units", args.units, "--cardinality", args.cardinality])
            if result is None:
                args.peers.remove(name)
                continue
            runs.setdefault(name, []).append({**result, "peak_mb": peak_mb})
            print(f"{name} run {repeat + 1}: epoch {result['seconds']:.2f} s, loss "
                  f"{result['loss']:.4f}, seq_acc {result['seq_acc']:.4f}", flush=True)
    report(runs, args)


def report(runs, args):
    medians = {name: {key: median([r[key] for r in rs]) for key in rs[0]}
               for name, rs in runs.items()}
    ours = medians.get("npseq2seq", {}).get("seconds")
    rows = []
    for name, m in medians.items():
        fraction = "" if ours is None or name == "npseq2seq" else f"{ours / m['seconds']:.2f}"
        bar = f"<= {BARS[name]}" if name in BARS else ""
        rows.append([name, f"{m['seconds']:.2f}", f"{m['loss']:.4f}", f"{m['acc']:.4f}",
                     f"{100 * m['seq_acc']:.1f}%", f"{m['peak_mb']:.0f}", fraction, bar])
    print_table(f"one epoch: {args.samples:,} samples, {args.units} units, batch 32; medians of "
                f"{args.repeats} runs, each in its own process\n{machine()}",
                ["library", "epoch s", "loss", "acc", "seq_acc", "peak MB",
                 "npseq2seq / peer", "bar"], rows)


if __name__ == "__main__":
    main()
