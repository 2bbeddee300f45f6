import io
import os
import re
import shlex
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npseq2seq import Adam, EncoderDecoder, load, pad_sequences, reversal_task
from npseq2seq.cli import build_model, build_parser, main, resume_command
from npseq2seq.sequence_files import counted_steps, target_array

SMALL = ["--samples", "6000", "--n-in", "5", "--n-out", "3", "--cardinality", "11",
         "--units", "32", "--epochs", "4", "--learning-rate", "0.01", "--test-samples", "200"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.npz"
    assert main(["train", *SMALL, "--verbose", "0", "--save", str(path)]) == 0
    return path


def test_train_prints_accuracy_and_ten_spot_checks(tmp_path, capsys):
    assert main(["train", *SMALL, "--verbose", "2", "--save", str(tmp_path / "m.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    accuracy = [line for line in lines if line.startswith("Accuracy: ")]
    assert len(accuracy) == 1 and accuracy[0].endswith("%")
    assert float(accuracy[0][len("Accuracy: "):-1]) >= 95
    spot = [line for line in lines if line.startswith("X=[")]
    assert len(spot) == 10
    x, y = spot[0].split(" y=")
    source = eval(x[2:])
    assert eval(y.split(", yhat=")[0]) == source[:3][::-1]


def test_train_reports_the_decode_feed_back_asks_for(tmp_path, capsys):
    path = tmp_path / "m.npz"
    options = ["--samples", "3000", "--n-in", "5", "--n-out", "3", "--cardinality", "11",
               "--units", "16", "--test-samples", "300", "--verbose", "0"]
    assert main(["train", *options, "--feed-back", "probabilities", "--save", str(path)]) == 0
    spot = [line for line in capsys.readouterr().out.splitlines() if line.startswith("X=[")]
    sources = np.array([eval(line[2:].split(" y=")[0]) for line in spot])
    shown = [eval(line.split("yhat=")[1]) for line in spot]
    model = load(path)
    assert shown == model.predict(sources, feed_back="probabilities").tolist()
    assert shown != model.predict(sources).tolist()         # the usual decode differs here


TINY = ["--samples", "400", "--n-in", "4", "--n-out", "2", "--cardinality", "9", "--units", "8",
        "--test-samples", "50", "--validation-split", "0.25"]


def weights_of(path):
    return load(path).get_weights()


def test_train_validation_split_and_patience_stop_and_keep_the_best_epoch(tmp_path, capsys):
    # at this learning rate val_loss rises in epoch 5 (2.093 to 2.157, here)
    stopped, four = tmp_path / "stopped.npz", tmp_path / "four.npz"
    assert main(["train", *TINY, "--epochs", "6", "--learning-rate", "1", "--patience", "0",
                 "--verbose", "2", "--save", str(stopped)]) == 0
    out = capsys.readouterr().out
    assert out.count(" - val_loss: ") == 5 and "Epoch 6/6" not in out
    assert ("Epoch 5: early stopping\n"
            "Restoring model weights from the end of the best epoch: 4.\n") in out
    assert main(["train", *TINY, "--epochs", "4", "--learning-rate", "1", "--verbose", "0",
                 "--save", str(four)]) == 0
    for a, b in zip(weights_of(stopped), weights_of(four)):
        np.testing.assert_array_equal(a, b)


def test_a_resumed_run_holds_out_the_same_rows(tmp_path, capsys):
    straight, checkpoint, resumed = (tmp_path / name for name in ("s.npz", "c.npz", "r.npz"))
    assert main(["train", *TINY, "--epochs", "2", "--verbose", "0", "--save", str(straight)]) == 0
    assert main(["train", *TINY, "--epochs", "1", "--verbose", "0",
                 "--checkpoint", str(checkpoint)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(checkpoint), "--epochs", "2", "--verbose", "2",
                 "--save", str(resumed)]) == 0
    assert " - val_loss: " in capsys.readouterr().out      # (no --validation-split given)
    for a, b in zip(weights_of(straight), weights_of(resumed)):
        np.testing.assert_array_equal(a, b)


def test_predict_reverses(trained, capsys):
    assert main(["predict", str(trained), "2", "7", "3", "5", "9"]) == 0
    assert capsys.readouterr().out.strip() == "3 7 2"


@pytest.mark.parametrize("tokens", [["2,7,3,5,9"], ["[2, 7, 3, 5, 9]"],
                                    ["[2,", "7,", "3,", "5,", "9]"]])   # pasted unquoted
def test_predict_takes_the_source_as_train_prints_it(trained, capsys, tokens):
    # train's spot checks print X=[2, 7, 3, 5, 9]; before, predict took only 2 7 3 5 9
    assert main(["predict", str(trained), *tokens]) == 0
    assert capsys.readouterr().out.strip() == "3 7 2"


@pytest.mark.parametrize("argv", [
    ["--beam-width", "2", "M", "2", "7", "3", "5", "9"],
    ["M", "--beam-width", "2", "2", "7", "3", "5", "9"],       # argparse left these over
    ["M", "2", "7", "--beam-width", "2", "3", "5", "9"],
    ["M", "2", "7", "3", "5", "9", "--beam-width", "2"],
])
def test_predict_takes_its_options_before_between_or_after_the_tokens(trained, capsys, argv):
    argv = [str(trained) if text == "M" else text for text in argv]
    assert main(["predict", *argv]) == 0
    beams = capsys.readouterr().out.splitlines()
    assert len(beams) == 2 and beams[0].startswith("3 7 2  (log p = ")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 99), min_size=1, max_size=6), st.data())
def test_predicts_options_may_go_anywhere_after_the_model_file(tokens, data):
    from npseq2seq.cli import _parsed
    units = [[str(t)] for t in tokens]                  # a token, or an option and its value
    for option in (["--steps", "4"], ["--beam-width", "2"]):
        units.insert(data.draw(st.integers(0, len(units))), option)
    args = _parsed(build_parser(), ["predict", "m.npz", *(w for unit in units for w in unit)])
    assert (args.model, args.tokens, args.steps, args.beam_width) == (
        "m.npz", [str(t) for t in tokens], 4, 2)


def test_an_unknown_option_among_predicts_tokens_is_still_a_usage_error(trained, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(trained), "--steps", "2", "1", "--bogus", "2"])
    assert exit_.value.code == 2 and capsys.readouterr().err == (
        "npseq2seq: error: unrecognized arguments: 1 --bogus 2 (see npseq2seq --help)\n")


def test_a_negative_token_after_an_option_is_refused_as_a_token(trained, capsys):
    assert main(["predict", str(trained), "--steps", "2", "1", "-1"]) == 2
    assert capsys.readouterr().err == ("npseq2seq predict: error: the source: tokens must lie "
                                       "in 0..10, got values from -1 to 1\n")


@pytest.mark.parametrize("tokens, message", [
    (["1", "x", "3"], "the source: expected integers, got 'x'"),
    ([",", "[]"], "the source is empty: expected integers separated by spaces or commas"),
    (["1", "2", "99"], "the source: tokens must lie in 0..10, got values from 1 to 99"),
])
def test_predict_names_a_bad_source_as_it_names_a_bad_input_line(trained, capsys, tokens,
                                                                  message):
    assert main(["predict", str(trained), *tokens]) == 2
    assert capsys.readouterr().err == f"npseq2seq predict: error: {message}\n"


def test_evaluate_reports(trained, capsys):
    assert main(["evaluate", str(trained), "--samples", "200"]) == 0
    out = capsys.readouterr().out
    assert "seq_acc" in out and "Accuracy: " in out


def test_evaluate_reports_each_steps_accuracy_and_the_commonest_mistakes(tmp_path, capsys):
    path = tmp_path / "untrained.npz"          # untrained, so it makes mistakes to list
    model = EncoderDecoder(n_features=11, n_units=8, seed=0)
    model.metadata["task"] = {"n_in": 5, "n_out": 3, "cardinality": 11}
    model.save(path)
    assert main(["evaluate", str(path), "--samples", "300", "--seed", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    source, target = reversal_task(300, seed=5, **model.metadata["task"])
    predicted = model.predict(source, n_steps=3)
    right = [100 * np.count_nonzero(predicted[:, t] == target[:, t]) / 300 for t in range(3)]
    assert lines[2] == "By step: " + " ".join(f"{r:.2f}%" for r in right)
    prefix = "Commonest mistakes (true as predicted, times): "
    assert lines[3].startswith(prefix)
    listed = [entry.replace("(", "").replace(")", "").split()
              for entry in lines[3][len(prefix):].split(", ")]
    assert len(listed) == 5
    for i, _, j, times in listed:
        assert i != j
        assert np.count_nonzero((target == int(i)) & (predicted == int(j))) == int(times)
    wrong = (target != predicted)
    pairs = {(a, b) for a, b in zip(target[wrong].tolist(), predicted[wrong].tolist())}
    most = max(np.count_nonzero((target == a) & (predicted == b)) for a, b in pairs)
    assert int(listed[0][3]) == most


def test_feed_back_probabilities_decodes_as_the_tutorials_predict_sequence(trained, capsys):
    model = load(trained)
    source, target = reversal_task(300, seed=5, **model.metadata["task"])
    tutorial = model.predict(source, feed_back="probabilities")
    assert np.any(tutorial != model.predict(source))       # the two decodes differ here
    assert main(["evaluate", str(trained), "--samples", "300", "--seed", "5",
                 "--feed-back", "probabilities"]) == 0
    lines = capsys.readouterr().out.splitlines()
    exact = 100 * np.mean(np.all(tutorial == target, axis=1))
    assert lines[1] == f"Accuracy: {exact:.2f}%"
    by_step = [100 * np.mean(tutorial[:, t] == target[:, t]) for t in range(3)]
    assert lines[2] == "By step: " + " ".join(f"{r:.2f}%" for r in by_step)
    rows = np.flatnonzero(np.any(tutorial != model.predict(source), axis=1))[:3]
    path = trained.parent / "differ.txt"
    path.write_text("".join(" ".join(map(str, s)) + "\n" for s in source[rows]))
    assert main(["predict", str(trained), "--input", str(path), "--feed-back",
                 "probabilities"]) == 0
    assert capsys.readouterr().out == "".join(" ".join(map(str, t)) + "\n"
                                              for t in tutorial[rows])
    assert main(["predict", str(trained), *map(str, source[rows[0]]), "--feed-back",
                 "probabilities"]) == 0
    assert capsys.readouterr().out.split() == list(map(str, tutorial[rows[0]]))


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_feed_back_probabilities_takes_no_beam(trained, capsys, command):
    tokens = ["1", "2", "3", "4", "5"] if command == "predict" else []
    assert main([command, str(trained), *tokens, "--feed-back", "probabilities",
                 "--beam-width", "3"]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq {command}: error: --feed-back probabilities decodes greedily: it takes no "
        f"--beam-width, got --beam-width 3\n")


def test_evaluate_of_a_perfect_model_lists_no_mistakes(capsys):
    from npseq2seq.cli import report_mistakes
    target = np.array([[1, 2], [3, 4]])
    report_mistakes(target, target.copy(), n_classes=5)
    assert capsys.readouterr().out.splitlines() == [
        "By step: 100.00% 100.00%", "Commonest mistakes (true as predicted, times): none"]


def test_the_mistakes_of_an_end_token_model_name_its_end(capsys):
    from npseq2seq.cli import report_mistakes
    target = np.array([[3, 4, 0], [3, 0, 0], [4, 3, 0]])       # token 0 ends each
    predicted = np.array([[3, 0, 0], [3, 4, 0], [4, 0, 0]])   # two stop early, one goes on
    report_mistakes(target, predicted, n_classes=5, end_token=0)
    assert capsys.readouterr().out.splitlines()[1] == (     # ties in token order
        "Commonest mistakes (true as predicted, times): end as 4 (1), 3 as end (1), 4 as end (1)")


def test_gradcheck_passes_and_prints_the_table(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "encoder/kernel" in out and "PASSED" in out


def test_train_refuses_a_save_path_it_cannot_write_before_training(tmp_path, capsys):
    path = tmp_path / "missing" / "m.npz"
    assert main(["train", *SMALL, "--verbose", "2", "--save", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "Epoch" not in out and "Accuracy" not in out
    assert err.strip() == (f"npseq2seq train: error: cannot write {path}: the folder "
                           f"{path.parent} does not exist")


def test_gradcheck_of_a_saved_model(trained, capsys):
    assert main(["gradcheck", str(trained), "--samples", "2"]) == 0
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["predict", "missing.npz", "1", "2"], "no such model file: missing.npz"),
    # named by the options (before: "n_out must be at most n_in (6), got 9")
    (["train", "--n-out", "9"], "--n-out must be at most --n-in (6), got 9"),
    (["gradcheck", "--n-in", "2"], "--n-out must be at most --n-in (2), got 3"),
    (["bptt-trace", "--n-in", "2"], "--n-out must be at most --n-in (2), got 3"),
    (["train", "--patience", "2"], "--patience watches val_loss, so it needs --validation-split"),
    (["train", "--samples", "1", "--validation-split", "0.5"],
     "--validation-split 0.5 of 1 samples leaves 0 to train on; both parts need one at least"),
])
def test_user_errors_are_one_line_on_stderr(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bptt_trace_names_the_saved_models_target_length(trained, capsys):
    # before: "--n-out must be at most --n-in (1), got 3", of an --n-out never given
    assert main(["bptt-trace", str(trained), "--n-in", "1"]) == 2
    assert capsys.readouterr().err == (
        "npseq2seq bptt-trace: error: --n-in must be at least the saved model's target "
        "length (3), got 1\n")


@pytest.mark.parametrize("argv, message", [
    (["train", "--samples", "0"], "argument --samples: must be at least 1, got 0"),
    (["train", "--units", "3.5"], "argument --units: expected an integer, got '3.5'"),
    (["train", "--learning-rate", "-1"], "argument --learning-rate: must be a positive number, "
                                         "got -1"),
    (["train", "--seed", "-2"], "argument --seed: must be at least 0, got -2"),
    (["train", "--validation-split", "1"], "argument --validation-split: must be at least 0 and "
                                           "below 1, got 1"),
    (["train", "--learning-rate", "fast"], "argument --learning-rate: expected a number, "
                                           "got 'fast'"),
    (["bptt-trace", "--cardinality", "1"], "argument --cardinality: must be at least 2, got 1"),
])
def test_a_bad_option_value_is_named_by_its_option(argv, message, capsys):
    # before, the library named its own parameter: "n_samples must be at least 1, got 0"
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("how", [["1", "2", "3"], ["1", "2", "--beam-width", "2"],
                                 ["--input", "-"]])
def test_predict_with_an_untrained_model_asks_for_steps_in_cli_words(tmp_path, capsys,
                                                                     monkeypatch, how):
    path = tmp_path / "untrained.npz"
    EncoderDecoder(11, 4, seed=0).save(path)
    monkeypatch.setattr("sys.stdin", io.StringIO("1 2 3\n"))
    assert main(["predict", str(path), *how]) == 2
    assert capsys.readouterr().err == (f"npseq2seq predict: error: {path} was saved before any "
                                       f"training, so it does not know its output length: "
                                       f"pass --steps N\n")
    assert main(["predict", str(path), *how, "--steps", "2"]) == 0
    assert len(capsys.readouterr().out.split("\n")[0].split()) >= 2


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "{path}"], "{path} does not record the task it was trained on; pass "
                             "--source FILE --target FILE to evaluate it on pairs of yours"),
    (["train", "--resume", "{path}", "--epochs", "2"],
     "{path} was not written by `npseq2seq train`, so it does not say what data to continue on"),
])
def test_a_model_saved_from_python_untrained_is_refused_where_a_task_is_needed(
        tmp_path, capsys, argv, message):
    path = tmp_path / "untrained.npz"
    EncoderDecoder(11, 4, seed=0).save(path)
    assert main([arg.format(path=path) for arg in argv]) == 2
    assert capsys.readouterr().err == (f"npseq2seq {argv[0]}: error: "
                                       f"{message.format(path=path)}\n")


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(FileNotFoundError):
        main(["predict", "missing.npz", "1", "--debug"])


def test_a_reader_that_goes_away_ends_the_command_quietly(trained, tmp_path):
    # `npseq2seq predict ... | head -1`: the rest of the output has nowhere to go
    path = tmp_path / "many.txt"
    path.write_text("2 7 3 5 9\n" * 50_000)            # 300 KB out: more than a pipe holds
    with subprocess.Popen([sys.executable, "-m", "npseq2seq", "predict", str(trained),
                           "--input", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout.readline() == b"3 7 2\n"
        process.stdout.close()
        errors = process.stderr.read()
        assert process.wait(timeout=60) == 0 and errors == b""


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_during_train_says_where_it_stopped_and_exits_130():
    with subprocess.Popen([sys.executable, "-m", "npseq2seq", "train", "--samples", "200000",
                           "--units", "8", "--verbose", "2"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout.readline() == "Epoch 1/1\n"    # Ctrl-C is handled from here on
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 130
    assert re.fullmatch(r"npseq2seq train: training interrupted after batch \d+ of 6250 in "
                        r"epoch 1\n", errors)


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_with_a_checkpoint_says_how_to_go_on(tmp_path):
    path = tmp_path / "a checkpoint.npz"
    with subprocess.Popen([sys.executable, "-m", "npseq2seq", "train", "--samples", "200000",
                           "--units", "8", "--epochs", "3", "--verbose", "2",
                           "--checkpoint", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout.readline() == "Epoch 1/3\n"
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 130
    quoted = f"'{path}'"
    assert re.fullmatch(rf"npseq2seq train: training interrupted after batch \d+ of 6250 in "
                        rf"epoch 1; saved {re.escape(quoted)}; to go on: npseq2seq train "
                        rf"--resume {re.escape(quoted)} --epochs 3\n", errors)
    saved = load(path)
    assert isinstance(saved, EncoderDecoder) and saved.unfinished_epoch["batches_done"] > 0


def test_the_command_that_goes_on_keeps_what_the_checkpoint_does_not():
    parser = build_parser()
    first = parser.parse_args(["train", "--epochs", "5", "--validation-split", "0.1",
                               "--patience", "2", "--workers", "2", "--save", "my model.npz",
                               "--checkpoint", "c.npz", "--feed-back", "probabilities"])
    command = resume_command(first, "c.npz")
    assert command == ("npseq2seq train --resume c.npz --epochs 5 --patience 2 --workers 2 "
                       "--save 'my model.npz' --feed-back probabilities")
    again = parser.parse_args(shlex.split(command)[1:])
    assert (again.resume, again.epochs, again.patience, again.workers, again.save,
            again.feed_back) == ("c.npz", 5, 2, 2, "my model.npz", "probabilities")


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "npseq2seq", "train", "--help"],
                            capture_output=True, text=True, check=True)
    assert "--learning-rate" in result.stdout and "--save" in result.stdout


def test_repeat_vector_model_through_the_cli(tmp_path, capsys):
    path = tmp_path / "rv.npz"
    argv = ["train", "--model", "repeat-vector", *SMALL, "--epochs", "6", "--verbose", "0",
            "--save", str(path)]
    assert main(argv) == 0
    assert main(["predict", str(path), "2", "7", "3", "5", "9"]) == 0
    assert main(["evaluate", str(path), "--samples", "100"]) == 0
    assert main(["gradcheck", str(path), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "RepeatVectorSeq2Seq gradient check" in out and "PASSED" in out
    assert main(["gradcheck", "--model", "repeat-vector"]) == 0
    capsys.readouterr()
    assert main(["predict", str(path), "2", "7", "3", "--steps", "3"]) == 0
    assert main(["predict", str(path), "2", "7", "3", "--steps", "5"]) == 2
    assert capsys.readouterr().err.endswith(
        "--steps must be 3 for " + str(path) + ", a repeat-vector model (its output length is "
        "fixed when it is built), got 5\n")


def test_predict_decodes_every_line_of_a_file_in_order(trained, tmp_path, capsys):
    path = tmp_path / "sources.txt"
    path.write_text("2 7 3 5 9\n[1, 4, 10, 6, 2]\n8,1,1\n5 5 2 9\n  3 6 9 2 4  \n")
    assert main(["predict", str(trained), "--input", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    model = load(trained)
    sources = [[2, 7, 3, 5, 9], [1, 4, 10, 6, 2], [8, 1, 1], [5, 5, 2, 9], [3, 6, 9, 2, 4]]
    expected = [" ".join(map(str, model.predict(np.array([s]))[0])) for s in sources]
    assert lines == expected
    assert lines[0] == "3 7 2" and lines[1] == "10 4 1"


def test_predict_decodes_a_file_a_block_at_a_time_as_it_does_whole(trained, tmp_path, capsys,
                                                                    monkeypatch):
    # (1,000,000 lines: 466 MB held whole, 65 MB a block of 8,192 at a time)
    rng = np.random.default_rng(3)
    lines = [" ".join(map(str, rng.integers(1, 11, rng.integers(3, 7)))) for _ in range(23)]
    path = tmp_path / "sources.txt"
    path.write_text("\n".join(lines) + "\n")
    assert main(["predict", str(trained), "--input", str(path)]) == 0
    whole = capsys.readouterr().out
    monkeypatch.setattr("npseq2seq.cli.PREDICT_BLOCK", 5)        # 23 lines: 5 blocks
    assert main(["predict", str(trained), "--input", str(path)]) == 0
    assert capsys.readouterr().out == whole and len(whole.splitlines()) == 23
    lines[17] = "4 x 2"                                 # in the fourth block
    path.write_text("\n".join(lines) + "\n")
    assert main(["predict", str(trained), "--input", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "".join(whole.splitlines(keepends=True)[:15])     # the blocks before it
    assert err == f"npseq2seq predict: error: {path} line 18: expected integers, got 'x'\n"


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(st.integers(-3, 60).map(str), st.sampled_from(
    [" ", "  ", "\t", ",", ", ", "[", "]", "x", "1.5", "+4", "\u00a0", "\u0663", ""])),
    max_size=12), n_tokens=st.sampled_from([None, 11, 51]))
def test_the_quick_reading_of_a_line_takes_what_parse_line_takes_or_leaves_it_to_it(
        parts, n_tokens):
    from npseq2seq.sequence_files import _quick_tokens, parse_line
    line = "".join(parts) + "\n"
    quick = _quick_tokens(line, n_tokens)
    try:
        parsed = parse_line(line, "a line", n_tokens)
    except ValueError:
        assert quick is None
    else:                           # a line of integers and white space is read quickly
        assert quick == parsed if not any(c in line for c in ",[]") else quick is None


def test_predict_reads_standard_input_and_takes_a_beam(trained, monkeypatch, capsys):
    import io

    from npseq2seq import load
    monkeypatch.setattr("sys.stdin", io.StringIO("2 7 3 5 9\n8 1 1 4 4\n"))
    assert main(["predict", str(trained), "--input", "-", "--beam-width", "3"]) == 0
    model = load(trained)
    best = model.predict(np.array([[2, 7, 3, 5, 9], [8, 1, 1, 4, 4]]), beam_width=3)
    assert capsys.readouterr().out.splitlines() == [" ".join(map(str, row)) for row in best]


def test_predict_answers_each_line_typed_at_a_terminal_before_reading_the_next(
        trained, monkeypatch, capsys):
    answers = []

    class Terminal:             # what a person types: the next line only after an answer
        def isatty(self):
            return True

        def __iter__(self):
            for line in ("2 7 3 5 9\n", "8 1 1 4 4\n"):
                yield line
                answers.append(capsys.readouterr().out)

    monkeypatch.setattr("sys.stdin", Terminal())
    assert main(["predict", str(trained), "--input", "-"]) == 0
    model = load(trained)
    expected = [" ".join(map(str, model.predict(np.array([s]))[0])) + "\n"
                for s in ([2, 7, 3, 5, 9], [8, 1, 1, 4, 4])]
    assert answers == expected


@pytest.mark.parametrize("text, argv_tokens, message", [
    ("1 2\n\n3 4\n", [], "line 2 is empty: expected integers separated by spaces or commas"),
    ("1 2\n3 x4\n", [], "line 2: expected integers, got 'x4'"),
    ("1 2\n3 4\n5 99 6 -1\n", [], "line 3: tokens must lie in 0..10, got values from -1 to 99"),
    ("1 2\n-1 4\n", [], "line 2: tokens must lie in 0..10, got values from -1 to 4"),
    ("", [], "holds no sequences"),
    ("1 2\n", ["5"], "give the source tokens as arguments or --input FILE, one of the two"),
])
def test_predict_input_errors_name_the_line(trained, tmp_path, capsys, text, argv_tokens,
                                            message):
    path = tmp_path / "sources.txt"
    path.write_text(text)
    assert main(["predict", str(trained), *argv_tokens, "--input", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("npseq2seq predict: error: ") and message in err


def test_predict_input_may_start_with_a_byte_order_mark(trained, tmp_path, capsys):
    path = tmp_path / "sources.txt"
    path.write_bytes(b"\xef\xbb\xbf2 7 3 5 9\r\n8 1 1\r\n")      # Notepad's UTF-8
    assert main(["predict", str(trained), "--input", str(path)]) == 0
    with_mark = capsys.readouterr().out
    path.write_bytes(b"2 7 3 5 9\n8 1 1\n")
    assert main(["predict", str(trained), "--input", str(path)]) == 0
    assert with_mark == capsys.readouterr().out and len(with_mark.splitlines()) == 2


def test_predict_input_that_is_not_utf8_is_named(trained, tmp_path, capsys):
    path = tmp_path / "sources.txt"
    path.write_bytes("2 7 3 5 9\n".encode("utf-16"))
    assert main(["predict", str(trained), "--input", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} is not UTF-8 text" in err and "expected lines of integers" in err


def test_predict_needs_tokens_or_a_file(trained, capsys):
    assert main(["predict", str(trained)]) == 2
    assert "one of the two" in capsys.readouterr().err


# -- train and evaluate on pairs of the user's own, from files ------------------------

def write_pairs(folder, n, seed=0, name="pairs"):
    """n pairs of a task of the user's: 4 tokens in 1..7, out their sorted order."""
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 8, (n, 4))
    target = np.sort(source, axis=1)[:, :3]
    paths = folder / f"{name}_source.txt", folder / f"{name}_target.txt"
    paths[0].write_text("".join(" ".join(map(str, row)) + "\n" for row in source))
    paths[1].write_text("".join(", ".join(map(str, row)) + "\n" for row in target))
    return (*map(str, paths), source, target)


SETTINGS = ["--units", "16", "--batch-size", "16", "--learning-rate", "0.01", "--verbose", "0"]
OWN = [*SETTINGS, "--epochs", "2"]


def trained_on_a_quarter_held_out(folder, capsys, source_path, target_path, kind):
    """`train` on the two files with OWN's settings, the last quarter held out:
    (the saved model, what it printed, its path)."""
    saved = folder / "own.npz"
    assert main(["train", "--source", source_path, "--target", target_path, *OWN,
                 "--model", kind, "--validation-split", "0.25", "--save", str(saved)]) == 0
    return load(saved), capsys.readouterr().out, saved


@pytest.mark.parametrize("kind", ["encoder-decoder", "repeat-vector"])
def test_train_on_pairs_from_files_is_fit_on_those_arrays(tmp_path, capsys, kind):
    source_path, target_path, source, target = write_pairs(tmp_path, 400)
    model, out, _ = trained_on_a_quarter_held_out(tmp_path, capsys, source_path, target_path,
                                                  kind)
    assert model.n_features == 8                           # the largest token + 1
    assert model.metadata["data"]["source"] == source_path
    expected = build_model(kind, 8, 16, 3, seed=1)
    expected.fit(source, target, epochs=2, batch_size=16, verbose=0, validation_split=0.25,
                 optimizer=Adam(learning_rate=0.01))
    for ours, theirs in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    held_out = np.all(expected.predict(source[300:], n_steps=3) == target[300:], axis=1)
    assert f"Accuracy: {100 * held_out.mean():.2f}% on the 100 held-out pairs\n" in out
    assert "X=[" in out


def test_evaluate_reads_pairs_from_files_and_a_model_trained_on_them_asks_for_them(
        tmp_path, capsys):
    source_path, target_path, source, target = write_pairs(tmp_path, 200)
    test_source, test_target, *arrays = write_pairs(tmp_path, 50, seed=1, name="test")
    saved = tmp_path / "own.npz"
    assert main(["train", "--source", source_path, "--target", target_path, *OWN,
                 "--save", str(saved)]) == 0
    assert "Accuracy: " in capsys.readouterr().out
    assert main(["evaluate", str(saved), "--source", test_source, "--target", test_target]) == 0
    lines = capsys.readouterr().out.splitlines()
    result = load(saved).evaluate(*arrays)
    assert lines[0] == (f"loss {result['loss']:.4f} - acc {result['acc']:.4f} - "
                        f"seq_acc {result['seq_acc']:.4f}")
    assert main(["evaluate", str(saved)]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq evaluate: error: {saved} was trained on pairs of yours ({source_path}, "
        f"{target_path}), not on the reversal task: pass --source FILE --target FILE to "
        f"evaluate it\n")


def test_a_run_on_pairs_from_files_reports_the_training_accuracy_without_a_split(
        tmp_path, capsys):
    source_path, target_path, *_ = write_pairs(tmp_path, 100)
    assert main(["train", "--source", source_path, "--target", target_path, *OWN]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^Accuracy: \d+\.\d\d% on the training pairs \(hold some out with "
                     r"--validation-split F\)$", out, re.M)


def assert_a_resumed_run_ends_where_a_straight_one_does(folder, source_path, target_path):
    """Two epochs straight, and one then one more from the checkpoint, end in the
    same weights; returns the checkpoint's path."""
    straight, checkpoint, resumed = (folder / name for name in ("s.npz", "c.npz", "r.npz"))
    files = ["--source", source_path, "--target", target_path]
    assert main(["train", *files, *OWN, "--save", str(straight)]) == 0
    assert main(["train", *files, *SETTINGS, "--epochs", "1", "--checkpoint", str(checkpoint)]) == 0
    assert main(["train", "--resume", str(checkpoint), "--epochs", "2", "--verbose", "0",
                 "--save", str(resumed)]) == 0
    for a, b in zip(weights_of(straight), weights_of(resumed)):
        np.testing.assert_array_equal(a, b)
    return checkpoint


def test_a_resumed_run_on_pairs_from_files_ends_where_a_straight_one_does(tmp_path, capsys):
    source_path, target_path, *_ = write_pairs(tmp_path, 200)
    checkpoint = assert_a_resumed_run_ends_where_a_straight_one_does(tmp_path, source_path,
                                                                     target_path)
    capsys.readouterr()
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in (source_path, target_path):
        os.rename(path, moved / os.path.basename(path))
    assert main(["train", "--resume", str(checkpoint), "--epochs", "3", "--verbose", "0",
                 "--source", str(moved / "pairs_source.txt"),
                 "--target", str(moved / "pairs_target.txt")]) == 0
    assert load(checkpoint).metadata["data"]["source"] == str(moved / "pairs_source.txt")
    source_path, target_path = (str(moved / name) for name in ("pairs_source.txt",
                                                                "pairs_target.txt"))
    with open(target_path, "a") as more:
        more.write("1 2 3\n")
    with open(source_path, "a") as more:
        more.write("3 2 1 4\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(checkpoint), "--epochs", "4"]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq train: error: {source_path} and {target_path} are not the pairs "
        f"{checkpoint} trained on (they have changed since): the run cannot go on exactly; "
        f"pass the files it trained on with --source and --target\n")
    os.remove(source_path)
    assert main(["train", "--resume", str(checkpoint), "--epochs", "4"]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq train: error: {source_path} is gone: pass --source and --target to "
        f"where the pairs {checkpoint} trained on are now\n")


@pytest.mark.parametrize("sources, targets, options, message", [
    ("1 2\n3 4\n", "1\n2 0\n", [],
     "{t} line 2 holds token 0, which ends each target of several lengths: number the "
     "tokens from 1"),
    ("1 2\n3 4 0\n", "1\n2\n", [],
     "{s} line 2 holds token 0, which pads sources of several lengths (the encoder skips "
     "it): number the tokens from 1"),
    ("1 2\n3 4\n", "1\n", [],
     "{s} has 2 lines and {t} 1: expected a target line for every source line"),
    ("1 2\n3 -4\n", "1\n2\n", [], "{s} line 2: tokens must be 0 or more, got -4"),
    ("1 2\n3 9\n", "1\n2\n", ["--cardinality", "5"],
     "{s} line 2: tokens must lie in 0..4, got values from 3 to 9"),
    ("1 2\n", "1\n", ["--n-in", "2", "--test-samples", "5"],
     "--n-in, --test-samples describe the reversal task; with --source and --target the "
     "pairs come from the files (hold some out with --validation-split F)"),
])
def test_bad_pair_files_are_named(tmp_path, capsys, sources, targets, options, message):
    s, t = tmp_path / "s.txt", tmp_path / "t.txt"
    s.write_text(sources)
    t.write_text(targets)
    assert main(["train", "--source", str(s), "--target", str(t), *options]) == 2
    assert capsys.readouterr().err == (f"npseq2seq train: error: "
                                       f"{message.format(s=s, t=t)}\n")


@pytest.mark.parametrize("argv, message", [
    (["train", "--source", "s.txt"], "train: error: --source and --target go together: "
                                     "give both files"),
    (["evaluate", "m.npz", "--target", "t.txt"], "evaluate: error: --source and --target go "
                                                  "together: give both files"),
    (["train", "--source", "-", "--target", "-"], "train: error: the sources and the targets "
                                                  "cannot both come from standard input"),
])
def test_source_and_target_go_together(capsys, tmp_path, argv, message):
    EncoderDecoder(11, 4, seed=0).save(tmp_path / "m.npz")
    argv = [str(tmp_path / a) if a.endswith((".npz", ".txt")) else a for a in argv]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"npseq2seq {message}\n"


def test_evaluate_refuses_reversal_options_beside_pair_files(tmp_path, capsys):
    source_path, target_path, *_ = write_pairs(tmp_path, 20)
    path = tmp_path / "m.npz"
    EncoderDecoder(8, 4, seed=0).save(path)
    assert main(["evaluate", str(path), "--source", source_path, "--target", target_path,
                 "--samples", "5"]) == 2
    assert capsys.readouterr().err == (
        "npseq2seq evaluate: error: --samples and --seed make reversal sequences; with "
        "--source and --target the pairs come from the files\n")


def test_a_reversal_checkpoint_refuses_pair_files_on_resume(tmp_path, capsys):
    checkpoint = tmp_path / "c.npz"
    assert main(["train", *TINY, "--epochs", "1", "--verbose", "0",
                 "--checkpoint", str(checkpoint)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(checkpoint), "--epochs", "2",
                 "--source", "s.txt", "--target", "t.txt"]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq train: error: {checkpoint} trained on the reversal task, not on pairs "
        f"from files: drop --source and --target to go on with it\n")


def test_a_run_whose_loss_stops_being_finite_is_told_the_commands_remedies(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # NumPy's overflow warnings would print first
        assert main(["train", *TINY, "--learning-rate", "3e38", "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1                  # one line: no NumPy overflow warnings first
    assert err.startswith("npseq2seq train: error: the loss stopped being finite")
    assert err.endswith("Lower --learning-rate, or clip gradients with --clipnorm 1\n")


def test_clipnorm_and_a_new_learning_rate_reach_a_fresh_and_a_resumed_run(tmp_path, capsys):
    checkpoint = tmp_path / "c.npz"
    assert main(["train", *TINY, "--epochs", "1", "--clipnorm", "2", "--verbose", "0",
                 "--checkpoint", str(checkpoint)]) == 0
    first = load(checkpoint).optimizer
    assert (first.learning_rate, first.clipnorm) == (0.002, 2.0)
    assert main(["train", "--resume", str(checkpoint), "--epochs", "2", "--verbose", "0"]) == 0
    kept = load(checkpoint).optimizer
    assert (kept.learning_rate, kept.clipnorm, kept.iterations) == (0.002, 2.0, 2 * 10)
    assert main(["train", "--resume", str(checkpoint), "--epochs", "3", "--verbose", "0",
                 "--learning-rate", "0.0005", "--clipnorm", "0.5"]) == 0
    changed = load(checkpoint).optimizer
    assert (changed.learning_rate, changed.clipnorm, changed.iterations) == (0.0005, 0.5, 3 * 10)


def test_sources_of_several_lengths_are_padded_and_skipped_as_fit_with_mask_zero(tmp_path,
                                                                                 capsys):
    rng = np.random.default_rng(6)
    sources = [rng.integers(1, 8, rng.integers(3, 7)).tolist() for _ in range(300)]
    targets = [sorted(s)[:3] for s in sources]            # the three smallest, in order
    source_path, target_path = tmp_path / "s.txt", tmp_path / "t.txt"
    source_path.write_text("".join(" ".join(map(str, s)) + "\n" for s in sources))
    target_path.write_text("".join(" ".join(map(str, t)) + "\n" for t in targets))
    saved = tmp_path / "m.npz"
    assert main(["train", "--source", str(source_path), "--target", str(target_path), *OWN,
                 "--save", str(saved)]) == 0
    model = load(saved)
    assert model.mask_zero
    expected = build_model("encoder-decoder", 8, 16, 3, seed=1, mask_zero=True)
    padded = pad_sequences(sources, dtype=np.int64)
    expected.fit(padded, np.array(targets), epochs=2, batch_size=16, verbose=0,
                 optimizer=Adam(learning_rate=0.01))
    for ours, theirs in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    capsys.readouterr()
    assert main(["evaluate", str(saved), "--source", str(source_path),
                 "--target", str(target_path)]) == 0
    result = expected.evaluate(padded, np.array(targets))
    assert capsys.readouterr().out.splitlines()[0] == (
        f"loss {result['loss']:.4f} - acc {result['acc']:.4f} - seq_acc {result['seq_acc']:.4f}")
    assert main(["predict", str(saved), "5", "2", "7"]) == 0     # a short source, unpadded
    assert capsys.readouterr().out.strip() == " ".join(
        map(str, expected.predict(np.array([[5, 2, 7]]), n_steps=3)[0]))


def write_reversals_of_several_lengths(folder, n, seed=7):
    """n sources of 2 to 5 tokens in 1..7, and their reversals as targets."""
    rng = np.random.default_rng(seed)
    sources = [rng.integers(1, 8, rng.integers(2, 6)).tolist() for _ in range(n)]
    targets = [s[::-1] for s in sources]
    paths = folder / "s.txt", folder / "t.txt"
    for path, lines in zip(paths, (sources, targets)):
        path.write_text("".join(" ".join(map(str, line)) + "\n" for line in lines))
    return (*map(str, paths), sources, targets)


def ended(targets, steps):
    """docs/variable_length.md's targets: each followed by 0, padded with 0."""
    return np.array([t + [0] * (steps - len(t)) for t in targets])


@pytest.mark.parametrize("kind", ["encoder-decoder", "repeat-vector"])
def test_targets_of_several_lengths_end_with_0_and_train_as_fit_with_the_padding_weighed_out(
        tmp_path, capsys, kind):
    source_path, target_path, sources, targets = write_reversals_of_several_lengths(tmp_path, 400)
    model, out, saved = trained_on_a_quarter_held_out(tmp_path, capsys, source_path,
                                                      target_path, kind)
    assert (model.end_token, model.target_length, model.mask_zero) == (0, 6, True)
    source, target = pad_sequences(sources, dtype=np.int64), ended(targets, 6)
    lengths = np.array([len(t) for t in targets])
    weights = np.arange(6) <= lengths[:, None]              # the tokens and one end
    expected = build_model(kind, 8, 16, 6, seed=1, mask_zero=True, end_token=0)
    expected.fit(source, target, epochs=2, batch_size=16, verbose=0, validation_split=0.25,
                 sample_weight=weights, optimizer=Adam(learning_rate=0.01))
    for ours, theirs in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    decoded = expected.predict(source[300:])
    right = [d[:n + 1].tolist() == t[:n + 1].tolist()
             for d, t, n in zip(decoded, target[300:], lengths[300:])]
    assert f"Accuracy: {100 * np.mean(right):.2f}% on the 100 held-out pairs\n" in out
    first = decoded[0].tolist()
    shown = first[:first.index(0)] if 0 in first else first
    assert f"X={sources[300]} y={targets[300]}, yhat={shown}\n" in out
    assert main(["evaluate", str(saved), "--source", source_path, "--target", target_path]) == 0
    lines = capsys.readouterr().out.splitlines()
    result = expected.evaluate(source, target, sample_weight=weights)
    assert lines[0] == f"loss {result['loss']:.4f} - seq_acc {result['seq_acc']:.4f}"
    assert main(["predict", str(saved), "6", "2", "7"]) == 0
    decoded = expected.predict(np.array([[6, 2, 7]]))[0].tolist()
    assert capsys.readouterr().out == " ".join(
        map(str, decoded[:decoded.index(0)] if 0 in decoded else decoded)) + "\n"


def test_a_resumed_run_on_targets_of_several_lengths_ends_where_a_straight_one_does(
        tmp_path, capsys):
    source_path, target_path, *_ = write_reversals_of_several_lengths(tmp_path, 200)
    assert_a_resumed_run_ends_where_a_straight_one_does(tmp_path, source_path, target_path)


def test_evaluate_pads_ended_targets_to_the_trained_length_and_counts_only_their_steps(
        tmp_path, capsys):
    model = EncoderDecoder(8, 8, seed=0, end_token=0, mask_zero=True)
    model.target_length = 5
    model.save(tmp_path / "m.npz")
    (tmp_path / "s.txt").write_text("1 2 3\n4 5\n")
    (tmp_path / "t.txt").write_text("3 2 1\n5 4\n")
    assert main(["evaluate", str(tmp_path / "m.npz"), "--source", str(tmp_path / "s.txt"),
                 "--target", str(tmp_path / "t.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_step = lines[2].split()[2:]
    assert len(by_step) == 5 and by_step[4] == "-"          # no target reaches step 5
    went_on = model.predict(np.array([[1, 2, 3], [4, 5, 0]]))[[0, 1], [3, 2]]
    assert np.all(went_on != 0) and f"end as {went_on[0]}" in lines[3]    # not "0 as ..."
    (tmp_path / "t.txt").write_text("3 2 1\n5\n")
    EncoderDecoder(8, 8, seed=0, mask_zero=True).save(tmp_path / "one_length.npz")
    assert main(["evaluate", str(tmp_path / "one_length.npz"), "--source", str(tmp_path / "s.txt"),
                 "--target", str(tmp_path / "t.txt")]) == 2
    assert "t.txt line 2 has 1 tokens and line 1 has 3: the models take sequences of one" in (
        capsys.readouterr().err)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=6), min_size=1, max_size=8),
       st.integers(0, 9), st.integers(0, 9))
def test_ended_targets_give_back_each_target_and_its_end_and_nothing_else(targets, end, more):
    end = 0 if any(end in t for t in targets) else end         # none may use the end token
    longest = max(map(len, targets))
    array = target_array(targets, "t.txt", end, length=longest + more)
    counted = counted_steps(array, end)
    assert array.shape == (len(targets), longest + max(1, more))
    for row, steps, target in zip(array, counted, targets):
        assert row[steps].tolist() == target + [end]            # the tokens, then one end
        assert np.all(row[~steps] == end)                       # then padding
