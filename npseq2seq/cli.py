"""The `npseq2seq` command: train, evaluate, predict, gradcheck, import, and for
learners bptt-trace (gradient flow through time), exercise and check (graded
gradient exercises).

`npseq2seq train` with no options is the tutorial's run: 100,000 reversal
sequences (6 integers in 1..50, the first 3 reversed), one epoch, 128 units,
batch 32, Adam; then the accuracy on 1,000 held-out sequences and ten spot
checks. Every user error ends as one line on stderr and exit status 2;
`--debug` shows the traceback instead.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np

from . import gradcheck
from .callbacks import EarlyStopping
from .child_process import python_command
from .io import check_writable, load, read_npz, torch_to_keras, write_atomically
from .keras_files import load_keras_file
from .metrics import accuracy_by_step, confusion_matrix, most_confused
from .models import EncoderDecoder, RepeatVectorSeq2Seq
from .models.base import DIVERGED_REMEDY, TrainingInterrupted, sequence_accuracy, training_rows
from .optimizers import Adam
from .sequence_files import (counted_steps, digest, file_name, parse_line, read_pairs,
                             sequence_blocks, several_lengths, source_array, target_array)
from .tasks import reversal_task
from .trace import check_plottable

MODELS = {"encoder-decoder": EncoderDecoder, "repeat-vector": RepeatVectorSeq2Seq}
END = 0     # what ends each target of a --target file whose targets have several lengths


def build_model(kind, cardinality, units, n_out, seed, dtype=np.float32, mask_zero=False,
                end_token=None):
    if kind == "repeat-vector":
        return RepeatVectorSeq2Seq(cardinality, units, n_out, seed=seed, dtype=dtype,
                                   mask_zero=mask_zero, end_token=end_token)
    return EncoderDecoder(cardinality, units, seed=seed, dtype=dtype, mask_zero=mask_zero,
                          end_token=end_token)


def main(argv=None):
    parser = build_parser()
    args = _parsed(parser, argv)
    try:
        return args.run(args) or 0
    except BrokenPipeError:
        # the reader went away (`npseq2seq train | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError, KeyError, FloatingPointError, ImportError) as error:
        if args.debug:
            raise
        print(f"npseq2seq {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"npseq2seq {args.command}: {str(interrupt) or 'interrupted'}", file=sys.stderr)
        return 130


def _parsed(parser, argv):
    """parse_args, but predict's tokens may come after its options: argparse
    matches the empty list of tokens with the model file and leaves
    `predict m.npz --steps 5 1 2 3`'s 1 2 3 over (CPython gh-59317, fixed only
    in releases from late 2024 on)."""
    args, left_over = parser.parse_known_args(argv)
    options = [text for text in left_over if text.startswith("-") and not text[1:].isdigit()]
    if left_over and not options and getattr(args, "tokens", None) is not None:
        args.tokens += left_over            # (-1, say, is a token, refused as one)
    elif left_over:
        parser.error(f"unrecognized arguments: {' '.join(left_over)}")
    return args


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (then exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="npseq2seq",
        description="The Keras encoder-decoder LSTM in pure NumPy: train it on the integer "
                    "reversal task, evaluate, predict, and check its gradients.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train(commands)
    add_evaluate(commands)
    add_predict(commands)
    add_gradcheck(commands)
    add_import(commands)
    add_bptt_trace(commands)
    add_exercise(commands)
    add_check(commands)
    return parser


def _command(commands, name, help_text, run):
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub.set_defaults(run=run)
    return sub


def at_least(minimum):
    """An argparse type: an integer of at least `minimum`. argparse puts the option's
    name before its message ("argument --samples: must be at least 1, got 0"), where the
    library, which checks too, would name its parameter (n_samples)."""
    def integer(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return integer


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def fraction(text):
    """An argparse type: a number in [0, 1)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def positive_number(text):
    """An argparse type: a finite number above zero."""
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


COUNT, SEED = at_least(1), at_least(0)
# train's reversal-task options: None when not given, so that --source can refuse them
TUTORIAL = {"samples": 100_000, "n_in": 6, "n_out": 3, "cardinality": 51, "test_samples": 1000}
DEFAULT_LEARNING_RATE = 0.002


def _add_task_options(sub, samples, n_in=6, n_out=3, cardinality=51):
    sub.add_argument("--samples", type=COUNT, default=samples,
                     help=f"sequences (default {samples})")
    sub.add_argument("--n-in", type=COUNT, default=n_in, help=f"source length (default {n_in})")
    sub.add_argument("--n-out", type=COUNT, default=n_out, help=f"target length (default {n_out})")
    sub.add_argument("--cardinality", type=at_least(2), default=cardinality,
                     help=f"vocabulary size incl. the start token 0 (default {cardinality})")


# -- train ---------------------------------------------------------------------

def add_train(commands):
    sub = _command(commands, "train", "train a model on the reversal task (defaults: the "
                   "tutorial's run), or on pairs of yours (--source, --target)", run_train)
    _add_task_options(sub, samples=100_000)
    sub.add_argument("--source", metavar="FILE",
                     help="train on your own pairs instead: FILE holds a source a line "
                          "(integers, as predict --input reads them); sources of several "
                          "lengths are padded at the front with 0, which the model then "
                          "skips (mask_zero), so their tokens start at 1; --cardinality "
                          "defaults to the largest token + 1")
    sub.add_argument("--target", metavar="FILE",
                     help="with --source: the targets, line k the target of source line k; "
                          "targets of several lengths each end with token 0, which the model "
                          "learns to put out and predict stops at, so their tokens start at 1")
    sub.add_argument("--model", choices=sorted(MODELS), default="encoder-decoder",
                     help="encoder-decoder (the tutorial's, default): (h, c) handed over, "
                          "teacher forcing; repeat-vector: the encoder's h repeated n_out times")
    sub.add_argument("--units", type=COUNT, default=128, help="LSTM units (default 128)")
    sub.add_argument("--epochs", type=at_least(0), default=1, help="epochs (default 1)")
    sub.add_argument("--batch-size", type=COUNT, default=32, help="batch size (default 32)")
    sub.add_argument("--learning-rate", type=positive_number,
                     help="Adam's learning rate (default 0.002; Keras's default 0.001 reaches "
                          "98.9-99.2%% exact after one epoch, 0.002 reaches 99.7-100%%)")
    sub.add_argument("--clipnorm", type=positive_number, metavar="N",
                     help="clip each weight's gradient to norm N (Keras's Adam(clipnorm=N)), "
                          "for a run whose loss stops being finite")
    sub.add_argument("--seed", type=SEED, default=1, help="seed for data and weights (default 1)")
    sub.add_argument("--test-samples", type=COUNT, default=1000,
                     help="held-out sequences for the accuracy (default 1000)")
    sub.add_argument("--validation-split", type=fraction, default=0.0, metavar="F",
                     help="hold out the last fraction F of the training sequences and report "
                          "val_loss, val_acc and val_seq_acc on them after every epoch "
                          "(default 0: none)")
    sub.add_argument("--patience", type=at_least(0), metavar="N",
                     help="stop when val_loss has not improved for N epochs, and keep the "
                          "best epoch's weights (needs --validation-split)")
    sub.add_argument("--save", metavar="PATH", help="write the trained model to PATH (.npz)")
    sub.add_argument("--checkpoint", metavar="PATH",
                     help="save the model to PATH after every epoch and on Ctrl-C")
    sub.add_argument("--resume", metavar="PATH",
                     help="continue the training saved in checkpoint PATH up to --epochs "
                          "(task, sizes, seed, validation split and optimizer come from the "
                          "checkpoint; --learning-rate and --clipnorm, if given, change its "
                          "optimizer's)")
    sub.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bar (default), 2 one line per epoch, "
                          "without the bar (as Keras's)")
    sub.add_argument("--workers", type=int, choices=(1, 2), default=1,
                     help="processes sharing each batch (default 1; 2 uses a second core, "
                          "and the weights differ from 1 by rounding)")
    _add_feed_back(sub)
    sub.set_defaults(**dict.fromkeys(TUTORIAL))


def run_train(args):
    if args.save:
        check_writable(args.save)               # before training, not after
    model, checkpoint, pairs = _resumed(args) if args.resume else _fresh(args)
    setup = model.metadata["training"]
    held_out, stopper = _validation(args, setup)
    if pairs is None:
        source, target, test = _reversal_data(model)
    else:
        source, target = pairs
        test = _held_out(source, target, held_out)
    weights = _counted(model, target)
    try:
        # a diverging run ends in one line (the FloatingPointError), not NumPy's warnings first
        with np.errstate(over="ignore", invalid="ignore"):
            model.fit(source, target, epochs=args.epochs, initial_epoch=model.epochs_done,
                      batch_size=setup["batch_size"], verbose=args.verbose,
                      checkpoint=checkpoint, workers=args.workers, validation_split=held_out,
                      callbacks=stopper, optimizer=_optimizer(args, model),
                      sample_weight=weights)
    except FloatingPointError as error:     # its advice, in this command's options
        remedy = "Lower --learning-rate, or clip gradients with --clipnorm 1"
        raise FloatingPointError(str(error).replace(DIVERGED_REMEDY, remedy)) from None
    except TrainingInterrupted as interrupt:
        if interrupt.checkpoint is None:
            raise
        raise KeyboardInterrupt(f"training interrupted {interrupt.where}; saved "
                                f"{shlex.quote(str(interrupt.checkpoint))}; to go on: "
                                f"{resume_command(args, interrupt.checkpoint)}") from None
    report_accuracy(model, *test, feed_back=args.feed_back)
    if args.save:
        model.save(args.save)
        print(f"saved {args.save}")


def _optimizer(args, model):
    """A new run's Adam; a resumed run's own, with --learning-rate and --clipnorm
    applied if given (the remedies a run that stopped being finite is told of)."""
    if not args.resume:
        rate = DEFAULT_LEARNING_RATE if args.learning_rate is None else args.learning_rate
        return Adam(learning_rate=rate, clipnorm=args.clipnorm)
    optimizer = model.optimizer
    if args.learning_rate is not None:
        optimizer.learning_rate = args.learning_rate
    if args.clipnorm is not None:
        optimizer.clipvalue = optimizer.global_clipnorm = None     # one kind at a time
        optimizer.clipnorm = args.clipnorm
    return optimizer


def _reversal_data(model):
    """The training pairs and the held-out ones of a reversal-task run."""
    setup, task = model.metadata["training"], model.metadata["task"]
    train_seed, test_seed = np.random.SeedSequence(setup["seed"]).spawn(2)
    source, target = reversal_task(setup["samples"], seed=train_seed, **task)
    return source, target, reversal_task(setup["test_samples"], seed=test_seed, **task)


def _held_out(source, target, held_out):
    """What a run on the user's pairs reports its accuracy on: the validation
    rows, if any, else the training pairs themselves (and it says which)."""
    kept = training_rows(len(source), held_out)
    if held_out:
        return source[kept:], target[kept:], f"on the {len(source) - kept:,} held-out pairs"
    return source, target, "on the training pairs (hold some out with --validation-split F)"


def resume_command(args, checkpoint):
    """The command that continues this run from its checkpoint, with the options
    a checkpoint does not keep (the task, sizes, seed and split it keeps)."""
    words = ["npseq2seq", "train", "--resume", str(checkpoint), "--epochs", str(args.epochs)]
    for option, value, default in (("--patience", args.patience, None),
                                   ("--workers", args.workers, 1), ("--save", args.save, None),
                                   ("--feed-back", args.feed_back, "tokens")):
        if value != default:
            words += [option, str(value)]
    return shlex.join(words)


def _validation(args, setup):
    """(validation_split, callbacks) for fit, from --validation-split (kept in the
    checkpoint, so a resumed run holds out the same rows) and --patience."""
    held_out, n = setup.get("validation_split", 0.0), setup["samples"]   # (0: older files)
    if args.patience is not None and not held_out:
        raise ValueError("--patience watches val_loss, so it needs --validation-split")
    kept = training_rows(n, held_out)
    if held_out and not 0 < kept < n:
        raise ValueError(f"--validation-split {held_out} of {n} samples leaves {kept} to "
                         f"train on; both parts need one at least")
    stopper = [] if args.patience is None else [
        EarlyStopping(patience=args.patience, restore_best_weights=True, verbose=1)]
    return held_out, stopper


def _check_lengths(n_in, n_out):
    """The options' names for the library's 'n_out must be at most n_in'."""
    if n_out > n_in:
        raise ValueError(f"--n-out must be at most --n-in ({n_in}), got {n_out}")


def _fresh(args):
    """A new model for this run, and the user's pairs (None for the reversal task)."""
    if not _pair_files_given(args):
        _tutorial_task(args)
        pairs, n_out, rows, masked, end = None, args.n_out, args.samples, False, None
        trains_on = {"task": {"n_in": args.n_in, "n_out": args.n_out,
                              "cardinality": args.cardinality}}
    else:
        *pairs, masked, end = _own_pairs(args)
        n_out, rows = pairs[1].shape[1], len(pairs[0])
        trains_on = {"data": {"source": _recorded(args.source), "target": _recorded(args.target),
                              "sha256": digest(*pairs)}}
    model = build_model(args.model, args.cardinality, args.units, n_out, args.seed,
                        mask_zero=masked, end_token=end)
    model.metadata.update(trains_on)
    model.metadata["training"] = {"samples": rows, "seed": args.seed,
                                  "test_samples": args.test_samples,
                                  "batch_size": args.batch_size,
                                  "validation_split": args.validation_split}
    return model, args.checkpoint, pairs


def _pair_files_given(args):
    """Whether --source and --target were given (train's and evaluate's); one
    without the other is an error."""
    if (args.source is None) != (args.target is None):
        raise ValueError("--source and --target go together: give both files")
    return args.source is not None


def _recorded(path):
    """A data file's path as a checkpoint keeps it: absolute ('-', standard input, as is)."""
    return path if path == "-" else os.path.abspath(path)


def _tutorial_task(args):
    """The reversal task's options, the tutorial's where not given."""
    for name, default in TUTORIAL.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    _check_lengths(args.n_in, args.n_out)


def _own_pairs(args):
    """(source, target, whether the sources were padded, the targets' end token
    or None): --source and --target read; --cardinality set from them if not
    given."""
    given = [name for name in ("samples", "n_in", "n_out", "test_samples")
             if getattr(args, name) is not None]
    if given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(f"{options} describe the reversal task; with --source and --target "
                         f"the pairs come from the files (hold some out with "
                         f"--validation-split F)")
    sources, targets = read_pairs(args.source, args.target, args.cardinality)
    end = END if several_lengths(targets) else None
    source = source_array(sources, args.source, padded=True)
    target = target_array(targets, args.target, end)
    if args.cardinality is None:
        args.cardinality = max(2, int(max(source.max(), target.max())) + 1)
    return source, target, several_lengths(sources), end


def _pairs_for(model, source_path, target_path):
    """(source, target) from two files, read as the model was trained: sources
    padded if it has mask_zero, targets ended if it has an end_token."""
    sources, targets = read_pairs(source_path, target_path, model.n_features)
    return (source_array(sources, source_path, padded=model.mask_zero),
            target_array(targets, target_path, model.end_token, model.target_length))


def _counted(model, target):
    """fit's and evaluate's sample_weight: the steps up to each target's end
    for a model with an end token, else None (every step)."""
    return None if model.end_token is None else counted_steps(target, model.end_token)


def _resumed(args):
    model = load(args.resume)
    metadata = model.metadata
    if "training" not in metadata or not ("task" in metadata or "data" in metadata):
        raise ValueError(f"{args.resume} was not written by `npseq2seq train`, so it does not "
                         f"say what data to continue on")
    if args.epochs <= model.epochs_done:
        raise ValueError(f"{args.resume} has already trained {model.epochs_done} epoch(s); "
                         f"pass --epochs larger than that to train more")
    if "data" not in metadata and (args.source or args.target):
        raise ValueError(f"{args.resume} trained on the reversal task, not on pairs from "
                         f"files: drop --source and --target to go on with it")
    pairs = _checkpoint_pairs(args, model) if "data" in metadata else None
    return model, args.checkpoint or args.resume, pairs


def _checkpoint_pairs(args, model):
    """The pairs a checkpoint trained on, from its recorded files or from
    --source and --target, checked to be the same pairs."""
    data = model.metadata["data"]
    paths = (args.source or data["source"], args.target or data["target"])
    try:
        source, target = _pairs_for(model, *paths)
    except FileNotFoundError as error:
        raise ValueError(f"{error.filename} is gone: pass --source and --target to where "
                         f"the pairs {args.resume} trained on are now") from None
    pairs = source, target
    if digest(*pairs) != data["sha256"]:
        shown = [file_name(path) for path in paths]
        raise ValueError(f"{shown[0]} and {shown[1]} are not the pairs {args.resume} trained "
                         f"on (they have changed since): the run cannot go on exactly; pass "
                         f"the files it trained on with --source and --target")
    data["source"], data["target"] = map(_recorded, paths)   # where the next resume looks
    return pairs


def report_accuracy(model, source, target, label=None, spot_checks=10, feed_back="tokens"):
    predicted = model.predict(source, n_steps=target.shape[1], feed_back=feed_back)
    exact = sequence_accuracy(target, predicted, _counted(model, target))
    print(f"Accuracy: {100 * exact:.2f}%" + (f" {label}" if label else ""))
    for x, y, yhat in zip(source[:spot_checks], target, predicted):
        print(f"X={_as_given(model, x)} y={_until_end(model, y)}, "
              f"yhat={_until_end(model, yhat)}")


def _as_given(model, source):
    """A source as its file gave it: without the padding a mask_zero model skips."""
    return (source[source != 0] if model.mask_zero else source).tolist()


def _until_end(model, tokens):
    """The tokens of a target or decode before its first end token, as a list."""
    tokens = tokens.tolist()
    if model.end_token in tokens:
        return tokens[:tokens.index(model.end_token)]
    return tokens


# -- evaluate, predict ---------------------------------------------------------------

def add_evaluate(commands):
    sub = _command(commands, "evaluate", "evaluate a saved model on new reversal sequences, "
                   "or on pairs of yours (--source, --target): loss, accuracy (whole and "
                   "by step), the commonest mistakes", run_evaluate)
    sub.add_argument("model", help="a model file written by `train --save`")
    sub.add_argument("--samples", type=COUNT, help="sequences (default 1000)")
    sub.add_argument("--seed", type=SEED, help="seed for the sequences (default 12345)")
    sub.add_argument("--source", metavar="FILE",
                     help="evaluate on your own pairs instead: a source a line, as train "
                          "--source reads them")
    sub.add_argument("--target", metavar="FILE", help="with --source: the targets, a line each")
    sub.add_argument("--beam-width", type=COUNT, default=1, metavar="K",
                     help="decode by beam search of width K (default: 1, greedy)")
    _add_feed_back(sub)


def _add_feed_back(sub):
    sub.add_argument("--feed-back", choices=("tokens", "probabilities"), default="tokens",
                     help="what the decoder reads at each step: tokens (each step's argmax, "
                          "from token 0; the default) or probabilities (each step's whole "
                          "softmax, from the all-zero vector, as the tutorial's "
                          "predict_sequence); greedy only")


def _check_feed_back(args):
    if args.feed_back != "tokens" and args.beam_width > 1:
        raise ValueError(f"--feed-back {args.feed_back} decodes greedily: it takes no "
                         f"--beam-width, got --beam-width {args.beam_width}")


def run_evaluate(args):
    _check_feed_back(args)
    model = load(args.model)
    if not _pair_files_given(args):
        source, target = _reversal_sample(args, model)
    elif args.samples is not None or args.seed is not None:
        raise ValueError("--samples and --seed make reversal sequences; with --source and "
                         "--target the pairs come from the files")
    else:
        source, target = _pairs_for(model, args.source, args.target)
    counted = _counted(model, target)
    result, predicted = model._evaluate(source, target, beam_width=args.beam_width,
                                        sample_weight=counted, feed_back=args.feed_back)
    # acc, Keras's, counts every step; after an end token those are padding
    acc = "" if counted is not None else f" - acc {result['acc']:.4f}"
    print(f"loss {result['loss']:.4f}{acc} - seq_acc {result['seq_acc']:.4f}")
    print(f"Accuracy: {100 * result['seq_acc']:.2f}%")
    report_mistakes(target, predicted, model.n_features, counted, end_token=model.end_token)


def _reversal_sample(args, model):
    task, data = model.metadata.get("task"), model.metadata.get("data")
    if data is not None:
        raise ValueError(f"{args.model} was trained on pairs of yours ({data['source']}, "
                         f"{data['target']}), not on the reversal task: pass --source FILE "
                         f"--target FILE to evaluate it")
    if task is None:
        raise ValueError(f"{args.model} does not record the task it was trained on; pass "
                         f"--source FILE --target FILE to evaluate it on pairs of yours")
    samples = 1000 if args.samples is None else args.samples
    return reversal_task(samples, seed=12345 if args.seed is None else args.seed, **task)


def report_mistakes(target, predicted, n_classes, counted=None, top=5, end_token=None):
    """Where the decodes go wrong: each step's accuracy and the commonest swaps
    (on the counted steps only, if given). The end token is named `end`: "5 as
    end" is a decode that stopped early, "end as 5" one that went on."""
    by_step = " ".join("-" if np.isnan(a) else f"{100 * a:.2f}%"     # NaN: none that long
                       for a in accuracy_by_step(target, predicted, counted))
    print(f"By step: {by_step}")
    mistakes = most_confused(confusion_matrix(target, predicted, n_classes, counted), top)
    named = {end_token: "end"}
    listed = ", ".join(f"{named.get(i, i)} as {named.get(j, j)} ({times})"
                       for i, j, times in mistakes)
    print(f"Commonest mistakes (true as predicted, times): {listed or 'none'}")


def add_predict(commands):
    sub = _command(commands, "predict", "decode a source sequence given as arguments, or "
                   "every line of a file, with a saved model", run_predict)
    sub.add_argument("model", help="a model file written by `train --save`")
    sub.add_argument("tokens", nargs="*",
                     help="the source integers: 22 17 23, 22,17,23 or [22, 17, 23] (as "
                          "train's spot checks print them)")
    sub.add_argument("--input", metavar="FILE",
                     help="decode each line of FILE instead (- for standard input): integers "
                          "separated by spaces or commas, any length a line, UTF-8 or ASCII; "
                          "prints one line each, in order, as it reads (8,192 lines at a "
                          "time, so a file of any size; at a terminal, each line as typed)")
    sub.add_argument("--steps", type=COUNT,
                     help="output length (default: the trained length; for a model trained "
                          "on targets of several lengths, the most steps: each output stops "
                          "before its end token)")
    sub.add_argument("--beam-width", type=COUNT, default=1, metavar="K",
                     help="beam search: print the K likeliest sequences found, best first, "
                          "each with its log-probability (with --input, the best only; "
                          "default: 1, greedy)")
    _add_feed_back(sub)


PREDICT_BLOCK = 8192    # lines predict --input reads and decodes at a time


def run_predict(args):
    if (args.input is None) == (not args.tokens):
        raise ValueError("give the source tokens as arguments or --input FILE, one of the two")
    _check_feed_back(args)
    model = _model_to_predict(args)
    if args.input is not None:                  # decoded as read, a block at a time
        typed = args.input == "-" and sys.stdin.isatty()    # each line answered as typed
        block = 1 if typed else PREDICT_BLOCK
        for sources in sequence_blocks(args.input, model.n_features, block):
            decoded = predict_each(model, sources, args.steps, args.beam_width, args.feed_back)
            sys.stdout.write("".join(_shown(model, tokens) + "\n" for tokens in decoded))
            sys.stdout.flush()
        return
    source = np.array([parse_line(" ".join(args.tokens), "the source", model.n_features)])
    if args.beam_width == 1:
        print(_shown(model, model.predict(source, n_steps=args.steps,
                                          feed_back=args.feed_back)[0]))
        return
    _print_beams(model, source, args.beam_width, args.steps)


def _model_to_predict(args):
    """The saved model, if it can decode --steps steps."""
    model = load(args.model)
    if args.steps is None and model.target_length is None:
        raise ValueError(f"{args.model} was saved before any training, so it does not know "
                         f"its output length: pass --steps N")
    fixed = getattr(model, "n_out", None)               # a repeat-vector model's
    if args.steps is not None and fixed is not None and args.steps != fixed:
        raise ValueError(f"--steps must be {fixed} for {args.model}, a repeat-vector model "
                         f"(its output length is fixed when it is built), got {args.steps}")
    return model


def _print_beams(model, source, beam_width, steps):
    """The beam_width likeliest sequences found for one source, best first, with log p."""
    if not hasattr(model, "beam_search"):
        raise ValueError("--beam-width prints the beams of an encoder-decoder model: a "
                         "repeat-vector model's decoder never reads its own outputs, so it has "
                         "none; its likeliest sequence is what --input FILE --beam-width K "
                         "prints")
    sequences, log_probs = model.beam_search(source, beam_width, steps)
    for tokens, log_p in zip(sequences[0], log_probs[0]):
        print(f"{_shown(model, tokens)}  (log p = {log_p:.4f})")


def _shown(model, tokens):
    """A decode as predict prints it: '3 1 2', its tokens before the model's end token."""
    return " ".join(map(str, _until_end(model, tokens)))


def predict_each(model, sources, n_steps, beam_width, feed_back="tokens"):
    """model.predict over sequences of any lengths: a batch a length, results in order."""
    rows_of_length = {}
    for row, source in enumerate(sources):
        rows_of_length.setdefault(len(source), []).append(row)
    decoded = [None] * len(sources)
    for rows in rows_of_length.values():
        batch = np.array([sources[row] for row in rows], dtype=np.int64)
        predicted = model.predict(batch, n_steps=n_steps, beam_width=beam_width,
                                  feed_back=feed_back)
        for row, tokens in zip(rows, predicted):
            decoded[row] = tokens
    return decoded


# -- gradcheck -----------------------------------------------------------------------

def add_gradcheck(commands):
    sub = _command(commands, "gradcheck",
                   "check the whole model's gradients against finite differences (float64)",
                   run_gradcheck)
    sub.add_argument("model_file", nargs="?", help="check this saved model's weights "
                     "(default: a small random model)")
    sub.add_argument("--model", choices=sorted(MODELS), default="encoder-decoder")
    sub.add_argument("--units", type=COUNT, default=4, help="LSTM units (default 4)")
    _add_task_options(sub, samples=3, n_in=5, n_out=3, cardinality=7)
    sub.add_argument("--seed", type=SEED, default=0)
    sub.add_argument("--full", action="store_true",
                     help=f"check every weight even in a model of more than {FULL_CHECK_LIMIT:,} "
                          f"(slow); by default such a model is checked along random directions")


FULL_CHECK_LIMIT = 5_000


def run_gradcheck(args):
    if args.model_file:
        model = load(args.model_file).astype(np.float64)
        task = model.metadata.get("task") or {"n_in": args.n_in, "n_out": args.n_out,
                                              "cardinality": model.n_features}
    else:
        _check_lengths(args.n_in, args.n_out)
        task = {"n_in": args.n_in, "n_out": args.n_out, "cardinality": args.cardinality}
        model = build_model(args.model, args.cardinality, args.units, args.n_out, args.seed,
                            np.float64)
    source, target = reversal_task(args.samples, seed=args.seed, **task)
    weights = sum(w.size for w in model.get_weights())
    direction_only = weights > FULL_CHECK_LIMIT and not args.full
    if direction_only:
        print(f"{weights:,} weights: checking one random direction per array "
              f"(--full checks every weight)")
    report = gradcheck.check_model(model, source, target, direction_only=direction_only)
    print(report)
    return 0 if report.passed else 1


# -- bptt-trace ------------------------------------------------------------------------

def add_bptt_trace(commands):
    sub = _command(commands, "bptt-trace",
                   "print the norms of dL/dh_t and dL/dc_t at every step: gradient flow "
                   "through time", run_bptt_trace)
    sub.add_argument("model_file", nargs="?", help="trace this saved model (default: a new, "
                     "untrained model; see --train)")
    sub.add_argument("--model", choices=sorted(MODELS), default="encoder-decoder")
    sub.add_argument("--units", type=COUNT, default=128, help="LSTM units (default 128)")
    sub.add_argument("--samples", type=COUNT, default=100,
                     help="sequences in the traced batch (default 100)")
    sub.add_argument("--n-in", type=COUNT, help="source length (default 6, or the saved model's)")
    sub.add_argument("--n-out", type=COUNT, default=3, help="target length (default 3)")
    sub.add_argument("--cardinality", type=at_least(2), default=51,
                     help="vocabulary size (default 51)")
    sub.add_argument("--train", type=at_least(0), default=0, metavar="N",
                     help="first train the model for one epoch on N new sequences")
    sub.add_argument("--seed", type=SEED, default=1, help="seed for weights and data (default 1)")
    sub.add_argument("--plot", metavar="FILE.png", help="also draw the trace (needs matplotlib)")


def run_bptt_trace(args):
    if args.plot:
        check_plottable(args.plot)          # before the work (a --train run), not after
    model, task = _traced_model(args)
    train_seed, batch_seed = np.random.SeedSequence(args.seed).spawn(2)
    if args.train:
        source, target = reversal_task(args.train, seed=train_seed, **task)
        model.fit(source, target, epochs=1, verbose=0, optimizer=Adam(learning_rate=0.002))
        print(f"trained one epoch on {args.train:,} sequences")
    source, target = reversal_task(args.samples, seed=batch_seed, **task)
    _, _, trace = model.loss_and_gradients(source, target, trace=True)
    print(f"{type(model).__name__}, {model.n_units} units, source length {task['n_in']}, "
          f"target length {task['n_out']}")
    print(trace)
    if args.plot:
        trace.plot(args.plot)
        print(f"saved {args.plot}")


def _traced_model(args):
    if args.model_file:
        model = load(args.model_file)
        task = dict(model.metadata.get("task") or {"n_out": model.target_length or args.n_out,
                                                   "cardinality": model.n_features, "n_in": 6})
    else:
        model = build_model(args.model, args.cardinality, args.units, args.n_out, args.seed)
        task = {"n_in": 6, "n_out": args.n_out, "cardinality": args.cardinality}
    if args.n_in is not None:
        task["n_in"] = args.n_in
    if not args.model_file:
        _check_lengths(task["n_in"], task["n_out"])
    elif task["n_out"] > task["n_in"]:      # the target length came from the file, not --n-out
        raise ValueError(f"--n-in must be at least the saved model's target length "
                         f"({task['n_out']}), got {task['n_in']}")
    return model, task


# -- exercise, check ----------------------------------------------------------------------

def add_exercise(commands):
    sub = _command(commands, "exercise", "print a gradient exercise's template to fill in "
                   "(no NAME: list the exercises)", run_exercise)
    sub.add_argument("name", nargs="?", help="the exercise, e.g. lstm-step-backward")
    _exercises_option(sub)
    sub.add_argument("--validate", action="store_true",
                     help="instead of the template, check that the exercise (no NAME: each "
                          "one) is well made: its reference, template and mistakes graded as "
                          "answers")


def _exercises_option(sub):
    sub.add_argument("--exercises", metavar="FILE.py",
                     help="a teacher's file of Exercise(...) objects to use instead of the "
                          "built-in exercises (see docs/writing_exercises.md)")


def _exercise_hint(exercises_path):
    option = "" if exercises_path is None else f" --exercises {shlex.quote(exercises_path)}"
    return (f"npseq2seq exercise NAME{option} > answer.py prints one; "
            f"npseq2seq check answer.py{option} grades it")


def run_exercise(args):
    from . import exercises

    chosen = (list(exercises.EXERCISES.values()) if args.exercises is None
              else exercises.load_exercises(args.exercises))
    if args.name is not None:
        chosen = [exercises.get_exercise(args.name, chosen)]
    if args.validate:
        reports = [exercises.validate(exercise) for exercise in chosen]
        print("\n\n".join(map(str, reports)))
        return 0 if all(report.passed for report in reports) else 1
    if args.name is None:
        width = max(len(exercise.name) for exercise in chosen)
        for exercise in chosen:
            print(f"{exercise.name:<{width}}  {exercise.function_name}: {exercise.summary}")
        print(_exercise_hint(args.exercises))
        return
    print(chosen[0].template, end="")


CHECK_TIMEOUT = 60      # seconds


def add_check(commands):
    sub = _command(commands, "check", "grade the exercise functions a file defines, saying "
                   "where any error is", run_check)
    sub.add_argument("file", help="a .py file defining e.g. lstm_step_backward")
    _exercises_option(sub)
    sub.add_argument("--timeout", type=positive_number, default=CHECK_TIMEOUT, metavar="SECONDS",
                     help=f"stop an answer still running after this long (default "
                          f"{CHECK_TIMEOUT})")


def run_check(args):
    """Grade in a child process: an answer that never returns is stopped after
    --timeout seconds, and one that ends its process (os._exit, a crash) is named,
    not taken for a pass. The child hands its reports back in a file."""
    with tempfile.TemporaryDirectory() as folder:
        result_path = os.path.join(folder, "result.json")
        command = python_command("import sys; from npseq2seq.cli import check_child; "
                                 "check_child(*sys.argv[1:])", args.file, result_path,
                                 *([] if args.exercises is None else [args.exercises]))
        try:
            child = subprocess.run(command, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{args.file}: the answer was still running after "
                               f"{args.timeout:g} s (an endless loop?), so it was stopped; "
                               f"--timeout SECONDS allows more") from None
        if not os.path.exists(result_path):
            code = child.returncode
            how = f"exit status {code}" if code >= 0 else f"killed by signal {-code}"
            raise ChildProcessError(f"{args.file}: the answer ended the grading process "
                                    f"({how}) before it was graded")
        with open(result_path) as file:
            result = json.load(file)
    if "error" in result:
        raise ValueError(result["error"])
    print("\n\n".join(result["reports"]))
    return 0 if result["passed"] else 1


def check_child(path, result_path, exercises_path=None):
    """`check`'s child process: grade the file (against the exercises in
    exercises_path, if given), write the reports (or the error) as JSON, and
    exit at once. Python would wait at exit for threads the answer started, and
    a graded answer would be reported as still running."""
    from . import exercises

    try:
        chosen = None if exercises_path is None else exercises.load_exercises(exercises_path)
        reports = exercises.check_file(path, exercises=chosen)
        result = {"reports": [str(report) for report in reports],
                  "passed": all(report.passed for report in reports)}
    except (ValueError, OSError) as error:
        result = {"error": str(error)}
    write_atomically(result_path, lambda file: file.write(json.dumps(result).encode()))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# -- import ----------------------------------------------------------------------------

def add_import(commands):
    sub = _command(commands, "import", "turn Keras or PyTorch weights into an npseq2seq model file",
                   run_import)
    sub.add_argument("weights", help="a .keras, .weights.h5 or Keras 2 .h5 file (needs h5py), "
                     "or a .npz of Keras's get_weights() list (np.savez('w.npz', "
                     "*model.get_weights())) or of a PyTorch state dict's arrays "
                     "('encoder.weight_ih_l0', ...)")
    sub.add_argument("--out", required=True, metavar="PATH", help="the model file to write")
    sub.add_argument("--model", choices=sorted(MODELS), default=None,
                     help="the design, for .npz input (default encoder-decoder)")
    sub.add_argument("--recurrent-activation", default=None,
                     choices=["sigmoid", "hard_sigmoid", "hard_sigmoid_keras3"],
                     help="as the model was trained: sigmoid (default), hard_sigmoid (Keras "
                          "2.0-2.2), hard_sigmoid_keras3 (Keras 3); read from a .keras file "
                          "or a whole-model .h5")
    sub.add_argument("--n-in", type=COUNT, default=6,
                     help="source length, for evaluate (default 6)")
    sub.add_argument("--n-out", type=COUNT, default=None,
                     help="output length (default: a .keras or whole-model .h5 file's "
                          "RepeatVector length, else 3)")


def run_import(args):
    if args.weights.endswith((".keras", ".h5")):
        model = load_keras_file(args.weights, args.recurrent_activation, args.n_out)
    else:
        model = _model_from_npz(args)
    model.target_length = args.n_out or model.target_length or 3
    model.metadata["task"] = {"n_in": args.n_in, "n_out": model.target_length,
                              "cardinality": model.n_features}
    model.save(args.out)
    print(f"{type(model).__name__}: {model.n_features} features, {model.n_units} units; "
          f"saved {args.out}")


def _model_from_npz(args):
    arrays = read_npz(args.weights, "weights file", "a .npz of weight arrays")
    if "__config__" in arrays:
        raise ValueError(f"{args.weights} is an npseq2seq model file already: no import "
                         f"needed (npseq2seq evaluate / predict read it, ns.load loads it)")
    if any(name.startswith("encoder.") for name in arrays):
        weights = torch_to_keras(arrays)
    else:
        names = sorted(arrays, key=lambda n: int(n[4:]) if n.startswith("arr_") else -1)
        if names != [f"arr_{i}" for i in range(len(names))]:
            raise ValueError(f"{args.weights}: expected arr_0 .. arr_7 (np.savez of Keras's "
                             f"get_weights()) or PyTorch keys, got {sorted(arrays)}")
        weights = [arrays[name] for name in names]
    cls = MODELS[args.model or "encoder-decoder"]
    extra = {"n_out": args.n_out or 3} if cls is RepeatVectorSeq2Seq else {}
    return cls.from_keras_weights(weights, args.recurrent_activation or "sigmoid", **extra)


if __name__ == "__main__":
    sys.exit(main())
