"""The README is what a newcomer runs first: its examples must run as printed, its
names must exist, and its command synopsis must name the options the commands take.
Each test here fails when the code moves and the README stays behind."""

import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

import npseq2seq as ns
from npseq2seq import cli

README = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
NUMBER = re.compile(r"\d+\.\d+e[-+]\d+")       # the figures a gradient check prints


def fenced_blocks():
    """(info string, text) of each ``` block of the README, in order."""
    blocks, kind, lines = [], None, []
    for line in README.splitlines():
        if line.lstrip().startswith("```"):
            if kind is None:
                kind, lines = line.lstrip()[3:].strip(), []
            else:
                blocks.append((kind, "".join(f"{kept}\n" for kept in lines)))
                kind = None
        elif kind is not None:
            lines.append(line)
    return blocks


def python_block(first_line):
    """The README's ```python block that starts with first_line."""
    found = [text for kind, text in fenced_blocks() if kind == "python"
             and text.startswith(first_line)]
    assert len(found) == 1, f"expected one python block starting {first_line!r}"
    return found[0]


def shell_lines():
    """(command, line) for each line of the README's plain ``` blocks that runs
    `npseq2seq COMMAND` or continues such a line (indented)."""
    command = None
    for kind, block in fenced_blocks():
        for line in block.splitlines() if kind == "" else ():
            starts = re.match(r"npseq2seq ([\w-]+)", line)
            if starts:
                command = starts.group(1)
            elif not line.startswith(" "):
                command = None
            if command:
                yield command, line


def subcommands():
    parser = cli.build_parser()
    return next(action.choices for action in parser._actions
                if isinstance(action.choices, dict))


def test_the_own_pairs_example_writes_trains_and_predicts_what_it_says(tmp_path, monkeypatch,
                                                                      capsys):
    block = next(text for kind, text in fenced_blocks() if "sorts_in.txt" in text)
    write, train, predict = block.splitlines()
    monkeypatch.chdir(tmp_path)
    code = shlex.split(write)
    assert code[:2] == ["python", "-c"]
    subprocess.run([sys.executable, "-c", code[2]], check=True)
    assert cli.main(shlex.split(train)[1:]) == 0
    accuracy = re.search(r"Accuracy: (\S+)% on the 2,000 held-out pairs", capsys.readouterr().out)
    claimed = re.search(r"`Accuracy: (\S+)% on the 2,000 held-out pairs`", README)
    assert accuracy.group(1) == claimed.group(1)
    command, wanted = predict.split("# prints: ")
    assert cli.main(shlex.split(command)[1:]) == 0
    assert capsys.readouterr().out == wanted + "\n"


def test_the_api_example_runs_and_gives_the_shapes_its_comments_say(tmp_path, monkeypatch,
                                                                    capsys):
    code = python_block("import copy")
    assert "n_samples=100_000" in code
    code = code.replace("n_samples=100_000", "n_samples=3_200")     # 100 batches, not 3,125
    monkeypatch.chdir(tmp_path)                                      # it saves model.npz
    names = {}
    exec(compile(code, "README.md (Python API)", "exec"), names)
    assert names["pred"].shape == (1000, 3)
    assert names["step_probs"].shape == (1000, 3, 51)
    np.testing.assert_array_equal(names["step_probs"].argmax(-1), names["pred"])
    assert names["seqs"].shape == (1000, 3, 3) and names["log_p"].shape == (1000, 3)
    np.testing.assert_array_equal(names["pred3"], names["seqs"][:, 0])
    assert names["counts"].shape == (51, 51)
    assert names["h"].shape == names["c"].shape == (5, 128)
    assert names["probs"].shape == (5, 51)
    assert set(names["history"].history) == {"loss", "acc"}
    assert len(names["grads"]) == len(names["weights"]) == 8
    assert (tmp_path / "model.npz").is_file()
    assert "Epoch 1/1" in capsys.readouterr().out
    # the repeat-vector model's steps, run with the example's names
    exec(compile(python_block("rv = "), "README.md (decode_step)", "exec"), names)
    last = names["rv"].predict_proba(names["test_src"][:5])[:, 2]
    np.testing.assert_allclose(names["probs"], last, rtol=1e-6, atol=1e-7)
    assert names["context"].shape == (5, 128)


def test_the_gradient_check_example_prints_the_table_the_readme_shows(capsys):
    code = python_block("import numpy as np\nimport npseq2seq as ns\nfrom npseq2seq import")
    exec(compile(code, "README.md (Checking gradients)", "exec"), {})
    printed = NUMBER.sub("N", capsys.readouterr().out).splitlines()
    shown = README.split(code, 1)[1].split("```\n```\n", 1)[1].split("```", 1)[0]
    shown = [line for line in NUMBER.sub("N", shown).splitlines() if line != "..."]
    assert shown and all(line in printed for line in shown), (shown, printed)
    assert [printed.index(line) for line in shown] == sorted(printed.index(line)
                                                             for line in shown)


def test_every_ns_name_in_the_readme_exists():
    names = set(re.findall(r"\bns\.([A-Za-z_]\w*)", README))
    assert {"EncoderDecoder", "reversal_task", "load"} <= names
    assert sorted(name for name in names if not hasattr(ns, name)) == []


def test_every_model_method_in_the_readme_exists():
    model = ns.EncoderDecoder(5, 3, seed=0)
    names = set(re.findall(r"\bmodel\.([A-Za-z_]\w*)", README))
    names -= {"npz", "keras", "h5"}             # file names: model.npz, model.keras, model.h5
    assert {"fit", "predict", "decode_step"} <= names
    assert sorted(name for name in names if not hasattr(model, name)) == []


def test_the_command_synopsis_lists_every_command():
    listed = {command for command, _ in shell_lines()}
    assert listed == set(subcommands())


def test_every_option_the_readme_shows_is_one_its_command_takes():
    helps = {name: sub.format_help() for name, sub in subcommands().items()}
    unknown = [(command, option) for command, line in shell_lines()
               for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", line)
               if not re.search(rf"(?<![\w-]){option}(?![\w-])", helps[command])]
    assert unknown == []


@pytest.mark.parametrize("option", ["--workers", "--beam-width", "--model"])
def test_the_option_check_sees_options_on_wrapped_lines_and_in_comments(option):
    assert option in {o for _, line in shell_lines() for o in re.findall(r"--[\w-]+", line)}


def test_every_benchmark_command_names_a_script_and_options_it_defines():
    root = pathlib.Path(__file__).resolve().parent.parent
    shared = (root / "benchmarks" / "common.py").read_text()    # --torch-python and kin
    commands = re.findall(r"python (benchmarks/\w+\.py)([^`#\n]*)", README)
    assert len({script for script, _ in commands}) >= 8
    for script, arguments in commands:
        assert (root / script).is_file(), script
        defined = (root / script).read_text() + shared
        for option in re.findall(r"--[a-z][\w-]*", arguments):
            assert f'"{option}"' in defined, (script, option)
