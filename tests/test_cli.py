import io
import re
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest

from npseq2seq import EncoderDecoder, load, reversal_task
from npseq2seq.cli import build_parser, main, resume_command

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


def test_evaluate_of_a_perfect_model_lists_no_mistakes(capsys):
    from npseq2seq.cli import report_mistakes
    target = np.array([[1, 2], [3, 4]])
    report_mistakes(target, target.copy(), n_classes=5)
    assert capsys.readouterr().out.splitlines() == [
        "By step: 100.00% 100.00%", "Commonest mistakes (true as predicted, times): none"]


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
    (["evaluate", "{path}"], "{path} does not record the task it was trained on; use the "
                             "Python API's model.evaluate(source, target)"),
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
                               "--checkpoint", "c.npz"])
    command = resume_command(first, "c.npz")
    assert command == ("npseq2seq train --resume c.npz --epochs 5 --patience 2 --workers 2 "
                       "--save 'my model.npz'")
    again = parser.parse_args(shlex.split(command)[1:])
    assert (again.resume, again.epochs, again.patience, again.workers, again.save) == (
        "c.npz", 5, 2, 2, "my model.npz")


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


def test_predict_reads_standard_input_and_takes_a_beam(trained, monkeypatch, capsys):
    import io

    from npseq2seq import load
    monkeypatch.setattr("sys.stdin", io.StringIO("2 7 3 5 9\n8 1 1 4 4\n"))
    assert main(["predict", str(trained), "--input", "-", "--beam-width", "3"]) == 0
    model = load(trained)
    best = model.predict(np.array([[2, 7, 3, 5, 9], [8, 1, 1, 4, 4]]), beam_width=3)
    assert capsys.readouterr().out.splitlines() == [" ".join(map(str, row)) for row in best]


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
