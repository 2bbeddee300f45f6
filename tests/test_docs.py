"""The teaching docs point at real code. Every linked line range lies inside the
function it names, and starts at the line its hidden marker quotes:

    [`lstm_step_backward`, lines 108-109](../npseq2seq/layers/lstm.py#L108-L109)<!-- do = dh * tanh_c -->

so an edit that moves the code fails here until the link is moved with it."""

import ast
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / name
        for name in ("bptt.md", "gradcheck.md", "real_valued.md", "embeddings.md",
                     "deeper_models.md", "attention.md", "variable_length.md",
                     "from_the_tutorial.md")]
LINK = re.compile(r"\[`([\w.]+)`, lines? (\d+)(?:-(\d+))?\]\(\.\./([\w/]+\.py)#L(\d+)(?:-L(\d+))?\)"
                  r"(?:<!-- (.+?) -->)?")


def links(doc):
    text = re.sub(r"\s*\n\s*", " ", doc.read_text())   # a link may wrap across lines
    return LINK.findall(text)


def function_span(path, dotted):
    """First and last line of function `name` or method `Class.name` in a file."""
    tree = ast.parse(path.read_text())
    *owner, name = dotted.split(".")
    scope = tree
    if owner:
        scope = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner[0])
    node = next(n for n in ast.walk(scope) if isinstance(n, ast.FunctionDef) and n.name == name)
    return node.lineno, node.end_lineno


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_linked_line_ranges_lie_in_the_named_function(doc):
    found = links(doc)
    assert found or doc.name != "bptt.md"          # the derivation must link its code
    for function, first, last, path, anchor_first, anchor_last, marker in found:
        last, anchor_last = last or first, anchor_last or anchor_first
        label = f"{doc.name}: {function} {first}-{last}"
        assert (first, last) == (anchor_first, anchor_last), f"{label}: text and anchor differ"
        start, end = function_span(ROOT / path, function)
        assert start <= int(first) <= int(last) <= end, f"{label}: outside lines {start}-{end}"
        lines = (ROOT / path).read_text().splitlines()[int(first) - 1:int(last)]
        assert marker, f"{label}: no <!-- marker --> quoting its first line"
        assert marker in lines[0], f"{label}: starts at {lines[0].strip()!r}, not {marker!r}"
        assert lines[-1].strip(), f"{label}: ends on a blank line"


def test_the_derivation_links_every_backward_equation():
    linked = {function for function, *_ in links(DOCS[0])}
    assert {"lstm_step_forward", "lstm_step_backward", "LSTM.backward",
            "LSTM._weight_gradients", "EncoderDecoder._backward",
            "shift_right", "softmax_cross_entropy"} <= linked


def run_examples(doc, replace=None, blocks=None):
    """Run a doc's Python blocks in order, in one namespace (a block may use what
    an earlier one defined); return the namespace. replace=(old, new): on the page
    with `old` (which must be there) replaced; blocks=k: the first k blocks only."""
    page = doc.read_text()
    if replace is not None:
        old, new = replace
        assert old in page
        page = page.replace(old, new)
    names = {}
    for block in re.findall(r"```python\n(.*?)```", page, re.S)[:blocks]:
        exec(compile(block, str(doc), "exec"), names)
    return names


def test_the_gradcheck_examples_run_and_pass(capsys):
    run_examples(DOCS[1])
    assert "PASSED" in capsys.readouterr().out


def test_the_real_valued_example_learns_what_it_says(capsys):
    names = run_examples(DOCS[2])
    printed = capsys.readouterr().out
    assert printed.startswith("held-out MSE: ")
    before, after = names["before"], names["after"]
    baseline, teacher_forced = names["baseline"], names["teacher_forced"]
    assert after < before / 20 and after < baseline / 20    # "a hundredth": some slack
    assert teacher_forced < after / 5                       # exposure bias shows
    assert f"{after:.4f} trained" in printed


def test_the_embeddings_example_checks_its_gradients_and_learns_what_it_says(capsys):
    names = run_examples(DOCS[3])
    printed = capsys.readouterr().out
    assert "PASSED" in printed and "FAILED" not in printed
    assert names["exact"](names["first"]) >= 0.99
    fixed, scratch = names["exact"](names["fixed"]), names["exact"](names["scratch"])
    assert fixed > scratch                                  # "helps a little"
    assert f"{fixed:.1%} with the fixed pretrained table, {scratch:.1%}" in printed


@pytest.mark.parametrize("use", ["d_y_vectors, y_cache", "d_x_vectors, x_cache"])
def test_the_embeddings_gradient_check_fails_without_either_use_of_the_table(use, capsys):
    run_examples(DOCS[3], replace=(f"    embedding.backward({use})", "    pass"),
                 blocks=3)                  # up to the gradient check
    table = capsys.readouterr().out.splitlines()
    assert "FAILED" in table[-1]
    assert [row.split()[-1] for row in table if row.startswith("embedding/")] != ["ok"]
    assert all(row.split()[-1] == "ok" for row in table if row.startswith(("encoder/", "dense/")))


def test_the_deeper_models_check_their_gradients_and_learn_what_they_say(capsys):
    names = run_examples(DOCS[4])
    printed = capsys.readouterr().out
    assert names["stacked_report"].passed and names["bidirectional_report"].passed
    exact, source = names["exact"], names["test_source"]
    stacked = exact(names["stacked_decode"](names["deep"], source))
    bidirectional = exact(names["bidirectional_decode"](names["both_ways"], source))
    assert stacked >= 0.99 and bidirectional >= 0.99
    assert f"stacked {stacked:.1%}, bidirectional {bidirectional:.1%}" in printed


@pytest.mark.parametrize("wrong, right, report", [
    ("e2.backward(None, cache_e2, d_state=d_state_2)",
     "e2.backward(None, cache_e2, d_state=d_state_1)", "stacked"),
    ("e1.backward(d_outputs_1, cache_e1, d_state=d_state_1)",
     "e1.backward(None, cache_e1, d_state=d_state_1)", "stacked"),
    ("d_state=(dh[:, :u], dc[:, :u])", "d_state=(dh[:, u:], dc[:, u:])", "bidirectional"),
])
def test_the_deeper_models_gradient_checks_catch_a_misrouted_gradient(wrong, right, report,
                                                                      capsys):
    names = run_examples(DOCS[4], replace=(wrong, right), blocks=5)   # up to `check`
    model = names[report](seed=0, units=3, dtype=np.float64)
    assert not names["check"](names[f"{report}_loss"], model).passed


def test_the_attention_example_learns_where_to_look(capsys):
    names = run_examples(DOCS[5])
    printed = capsys.readouterr().out
    assert names["report"].passed
    with_attention, without = names["with_attention"], names["without"]
    assert with_attention >= 0.99 and without < 0.2         # "nearly all", "one in twelve"
    assert f"{with_attention:.1%} with attention, {without:.1%} without" in printed
    mean_weights = names["looked_at"].mean(axis=0)          # (output steps, source steps)
    assert mean_weights.argmax(axis=1).tolist() == [7, 6, 5, 4, 3, 2, 1, 0]
    assert mean_weights.max(axis=1).min() > 0.5


@pytest.mark.parametrize("wrong, right", [
    ("    d_keys += d_scores.transpose(0, 2, 1) @ queries\n", ""),
    ("    d_queries += d_combined[..., :u]", "    pass"),
    ("(d_weights - np.sum(d_weights * weights, axis=-1, keepdims=True))", "d_weights"),
])
def test_the_attention_gradient_check_catches_a_missing_term(wrong, right, capsys):
    names = run_examples(DOCS[5], replace=(wrong, right),
                         blocks=3)              # attention, the model, the check
    assert not names["report"].passed


def test_the_variable_length_example_learns_more_with_the_mask(capsys):
    names = run_examples(DOCS[6])
    printed = capsys.readouterr().out
    source, target, mask = names["source"], names["target"], names["target_mask"]
    first = f"{source[0]} {target[0]} {mask[0].astype(int)}"
    assert printed.splitlines()[0] == first and f"`{first}`" in DOCS[6].read_text()
    with_mask, without = names["with_mask"], names["without"]
    assert with_mask > without + 0.05                       # the mask is worth having
    assert f"{with_mask:.1%} with the encoder's mask, {without:.1%} without" in printed
    from_model = names["from_model"]                        # the models' own two masks
    assert from_model > without + 0.05
    assert f"EncoderDecoder(mask_zero=True) with sample_weight: {from_model:.1%}" in printed
    assert names["scored"]["seq_acc"] == from_model         # evaluate leaves the padding out
    assert f"evaluate's seq_acc, the padding left out: {from_model:.1%}" in printed


def test_the_tutorials_script_here_decodes_as_its_loop_does(capsys):
    text = (ROOT / "docs" / "from_the_tutorial.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", text, re.S)
    assert "ns.reversal_task(100_000," in code
    code = code.replace("ns.reversal_task(100_000,", "ns.reversal_task(3_200,")   # 100 batches
    exec(compile(code, "docs/from_the_tutorial.md", "exec"), {})    # it asserts the two agree
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"Accuracy: \d+\.\d\d%", lines[-11])
    for line in lines[-10:]:
        source, target, _ = re.fullmatch(r"X=(\[.*\]) y=(\[.*\]), yhat=(\[.*\])", line).groups()
        assert eval(target) == eval(source)[:3][::-1]
