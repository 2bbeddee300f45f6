"""The exercise grader: correct answers pass, and broken ones get the right diagnosis.

The student answers here are written the way a student would write them, not
copied from the grader's reference; each broken answer is a correct one with a
single line changed, as a real mistake would be.
"""

import ast
import signal

import numpy as np
import pytest

from npseq2seq import Adam, Embedding, exercises, lstm_step_backward, softmax_cross_entropy
from npseq2seq.cli import main

STEP = '''
import numpy as np

def lstm_step_backward(dh, dc, cache):
    x, h_prev, c_prev, i, f, g, o, tanh_c, W, U, _ = cache
    do = dh * tanh_c
    dc_total = dc + dh * o * (1 - tanh_c ** 2)
    di = dc_total * g
    df = dc_total * c_prev
    dg = dc_total * i
    dz_i = di * i * (1 - i)
    dz_f = df * f * (1 - f)
    dz_g = dg * (1 - g ** 2)
    dz_o = do * o * (1 - o)
    dz = np.hstack([dz_i, dz_f, dz_g, dz_o])
    dx = dz @ W.T
    dh_prev = dz @ U.T
    dc_prev = dc_total * f
    dW = x.T @ dz
    dU = h_prev.T @ dz
    db = dz.sum(axis=0)
    return dx, dh_prev, dc_prev, dW, dU, db
'''

SEQUENCE = '''
import numpy as np
from npseq2seq import lstm_step_backward

def lstm_backward(d_outputs, d_state, caches):
    n, T, u = d_outputs.shape
    dx = np.zeros((n, T, caches[0][0].shape[1]))
    dW, dU, db = np.zeros_like(caches[0][8]), np.zeros_like(caches[0][9]), np.zeros(4 * u)
    dh_next, dc_next = d_state
    for t in range(T - 1, -1, -1):
        dh = d_outputs[:, t] + dh_next
        dx[:, t], dh_next, dc_next, dW_t, dU_t, db_t = lstm_step_backward(dh, dc_next, caches[t])
        dW += dW_t
        dU += dU_t
        db += db_t
    return dx, dh_next, dc_next, dW, dU, db
'''

MASKED = '''
import numpy as np
from npseq2seq import lstm_step_backward

def masked_lstm_backward(d_outputs, d_state, caches, mask):
    n, T, u = d_outputs.shape
    dx = np.zeros((n, T, caches[0][0].shape[1]))
    dW, dU, db = np.zeros_like(caches[0][8]), np.zeros_like(caches[0][9]), np.zeros(4 * u)
    dh_next, dc_next = d_state
    for t in range(T - 1, -1, -1):
        keep = mask[:, t][:, None] * 1.0
        dh = d_outputs[:, t] + dh_next
        dx[:, t], dh_cell, dc_cell, dW_t, dU_t, db_t = lstm_step_backward(
            keep * dh, keep * dc_next, caches[t])
        dh_next = dh_cell + (1 - keep) * dh
        dc_next = dc_cell + (1 - keep) * dc_next
        dW += dW_t
        dU += dU_t
        db += db_t
    return dx, dh_next, dc_next, dW, dU, db
'''

# the student's lstm_backward (above), called for each LSTM
ENCODER_DECODER = SEQUENCE + '''

def encoder_decoder_backward(d_outputs, encoder_caches, decoder_caches):
    n, _, u = d_outputs.shape
    zeros = np.zeros((n, u))
    d_decoder_inputs, dh0, dc0, dW_dec, dU_dec, db_dec = lstm_backward(
        d_outputs, (zeros, zeros), decoder_caches)
    unread = np.zeros((n, len(encoder_caches), u))          # nothing reads the encoder's outputs
    d_source, _, _, dW_enc, dU_enc, db_enc = lstm_backward(unread, (dh0, dc0), encoder_caches)
    return d_source, d_decoder_inputs, dW_enc, dU_enc, db_enc, dW_dec, dU_dec, db_dec
'''

REPEAT_VECTOR = SEQUENCE + '''

def repeat_vector_backward(d_outputs, encoder_caches, decoder_caches):
    n, _, u = d_outputs.shape
    zeros = np.zeros((n, u))
    d_repeated, _, _, dW_dec, dU_dec, db_dec = lstm_backward(d_outputs, (zeros, zeros),
                                                             decoder_caches)
    dh = d_repeated.sum(axis=1)                 # every copy of h adds its gradient
    unread = np.zeros((n, len(encoder_caches), u))
    d_source, _, _, dW_enc, dU_enc, db_enc = lstm_backward(unread, (dh, zeros), encoder_caches)
    return d_source, dW_enc, dU_enc, db_enc, dW_dec, dU_dec, db_dec
'''

SOFTMAX = '''
import numpy as np

def softmax_cross_entropy_backward(logits, targets):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    n, t, v = logits.shape
    y = np.zeros_like(p)
    for a in range(n):
        for b in range(t):
            y[a, b, targets[a, b]] = 1
    grad = (p - y) / (n * t)
    return grad
'''

EMBEDDING = '''
import numpy as np

def embedding_backward(tokens, d_outputs, vocabulary_size):
    n, t, width = d_outputs.shape
    d_table = np.zeros((vocabulary_size, width))
    for a in range(n):
        for b in range(t):
            d_table[tokens[a, b]] += d_outputs[a, b]
    return d_table
'''

ADAM = '''
import numpy as np

def adam_update(param, grad, m, v, iteration, learning_rate=0.001, beta_1=0.9,
                beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    alpha = learning_rate * np.sqrt(1 - beta_2 ** iteration) / (1 - beta_1 ** iteration)
    param = param - alpha * m / (np.sqrt(v) + epsilon)
    return param, m, v
'''


def function_from(source, name, old=None, new=None):
    """Run a student's source (with one line changed) and return its function."""
    if old is not None:
        assert old in source, old
        source = source.replace(old, new)
    namespace = {}
    exec(compile(source, "<student>", "exec"), namespace)
    return namespace[name]


def grade(source, name, old=None, new=None):
    return exercises.check(function_from(source, name, old, new))


def rows(report):
    return {row.output: row.verdict for row in report.rows}


# -- right answers pass ------------------------------------------------------------------

@pytest.mark.parametrize("source, name", [(STEP, "lstm_step_backward"),
                                          (SEQUENCE, "lstm_backward"),
                                          (MASKED, "masked_lstm_backward"),
                                          (ENCODER_DECODER, "encoder_decoder_backward"),
                                          (REPEAT_VECTOR, "repeat_vector_backward"),
                                          (SOFTMAX, "softmax_cross_entropy_backward"),
                                          (EMBEDDING, "embedding_backward"),
                                          (ADAM, "adam_update")])
def test_a_correct_answer_passes(source, name):
    report = grade(source, name)
    assert report.passed, str(report)
    assert "PASSED" in str(report)


def test_the_librarys_own_functions_pass():
    assert exercises.check(lstm_step_backward).passed

    def softmax_cross_entropy_backward(logits, targets):
        return softmax_cross_entropy(logits, targets)[1]

    def adam_update(param, grad, m, v, iteration, learning_rate, beta_1, beta_2, epsilon):
        adam = Adam(learning_rate, beta_1, beta_2, epsilon)
        adam.set_state({"iterations": iteration - 1, "slots": {"m": [m], "v": [v]}})
        adam.update([(param, grad)])
        return param, adam.slots["m"][0], adam.slots["v"][0]

    assert exercises.check(softmax_cross_entropy_backward).passed
    assert exercises.check(adam_update).passed


# -- the LSTM step: which gate, which kind of mistake ---------------------------------

def test_wrong_sign_on_one_gate_is_named():
    report = grade(STEP, "lstm_step_backward", "dz_f = df * f", "dz_f = -df * f")
    assert not report.passed
    verdicts = rows(report)
    assert verdicts["dc_prev"] == "ok"
    for weight in ("dW", "dU", "db"):
        assert verdicts[weight].startswith("gate f: sign error"), verdicts[weight]
        assert "i, c, o ok" in verdicts[weight]
    assert any("the forget gate f" in f and f.startswith("where") for f in report.findings)
    assert any("forget gate f has the wrong sign" in f for f in report.findings)


def test_missing_tanh_derivative_is_named():
    report = grade(STEP, "lstm_step_backward", "dz_g = dg * (1 - g ** 2)", "dz_g = dg")
    assert rows(report)["db"].startswith("gate c: wrong")
    assert any("tanh's derivative is missing for the candidate" in f for f in report.findings)


def test_missing_path_through_h_is_named():
    report = grade(STEP, "lstm_step_backward",
                   "dc_total = dc + dh * o * (1 - tanh_c ** 2)", "dc_total = dc")
    assert any("dc misses the path through h_t" in f for f in report.findings)


def test_transposed_weight_gradient_is_named():
    report = grade(STEP, "lstm_step_backward", "dW = x.T @ dz", "dW = dz.T @ x")
    assert rows(report)["dW"].startswith("transposed")
    assert all(verdict == "ok" for name, verdict in rows(report).items() if name != "dW")


def test_constant_factor_is_named():
    report = grade(STEP, "lstm_step_backward", "db = dz.sum(axis=0)", "db = 2 * dz.sum(axis=0)")
    assert rows(report)["db"] == "off by a constant factor: 2 times too large"


def test_changing_an_argument_in_place_is_reported():
    report = grade(STEP, "lstm_step_backward", "dc_total = dc + dh",
                   "dc += dh * o * (1 - tanh_c ** 2)\n    dc_total = dc + 0 * dh")
    assert all(verdict == "ok" for verdict in rows(report).values())
    assert not report.passed
    assert any("changed its argument 'dc' in place" in f for f in report.findings)


# -- the whole sequence: which time step, what is not carried or not added -----------

def test_gradient_not_carried_to_the_previous_step_is_named():
    # the step's dh_prev is thrown away: every step sees only d_state's dh
    report = grade(SEQUENCE, "lstm_backward", "dx[:, t], dh_next, dc_next,", "dx[:, t], _, dc_next,")
    assert "wrong at steps 1-4, right at 5" in rows(report)["dx"]
    assert any("from step 5 to step 4" in f for f in report.findings)
    assert any("dh_prev is not carried to step t-1" in f for f in report.findings)
    assert not any("dc_prev is not carried" in f for f in report.findings)


def test_cell_state_not_carried_is_named():
    report = grade(SEQUENCE, "lstm_backward", "lstm_step_backward(dh, dc_next, caches[t])",
                   "lstm_step_backward(dh, 0 * dc_next, caches[t])")
    assert any("dc_prev is not carried to step t-1" in f for f in report.findings)
    assert not any("dh_prev is not carried" in f for f in report.findings)


def test_forgotten_accumulation_is_named():
    report = grade(SEQUENCE, "lstm_backward", "dU += dU_t", "dU = dU_t")
    verdicts = rows(report)
    assert [name for name, v in verdicts.items() if v != "ok"] == ["dU"]
    assert any("dU is assigned at every step instead of summed" in f for f in report.findings)


def test_output_gradient_not_added_is_named():
    report = grade(SEQUENCE, "lstm_backward", "dh = d_outputs[:, t] + dh_next", "dh = dh_next")
    assert any("d_outputs[:, t] is not added in" in f for f in report.findings)


# -- past masked steps: what reaches the cell, what goes by it --------------------------

@pytest.mark.parametrize("old, new, mistake", [
    ("dh_next = dh_cell + (1 - keep) * dh", "dh_next = dh_cell",
     "dh is not carried past a masked step"),
    ("dc_next = dc_cell + (1 - keep) * dc_next", "dc_next = dc_cell",
     "dc is not carried past a masked step"),
    ("keep * dh, keep * dc_next, caches[t])", "dh, dc_next, caches[t])",
     "a masked step's cell gets gradient"),
    ("dh = d_outputs[:, t] + dh_next", "dh = keep * d_outputs[:, t] + dh_next",
     "d_outputs is dropped at masked steps"),
    ("keep = mask[:, t][:, None] * 1.0", "keep = 1.0 - mask[:, t][:, None]",
     "the mask is the wrong way round"),
    ("keep = mask[:, t][:, None] * 1.0", "keep = np.ones((n, 1))", "the mask is not used"),
])
def test_masked_bptt_mistakes_are_named(old, new, mistake):
    report = grade(MASKED, "masked_lstm_backward", old, new)
    assert not report.passed
    named = [f for f in report.findings if f.startswith("likely mistake")]
    assert len(named) == 1 and mistake in named[0], str(report)


def test_a_masked_steps_gradient_not_carried_shows_where_the_padding_starts():
    report = grade(MASKED, "masked_lstm_backward", "dh_next = dh_cell + (1 - keep) * dh",
                   "dh_next = dh_cell")
    # rows padded at the end lose d_state's dh there: the error enters before step 4
    assert any("from step 4 to step 3" in f for f in report.findings), str(report)


# -- the encoder-decoder: the hand-over of (h, c) ---------------------------------------

@pytest.mark.parametrize("new, mistake", [
    ("(zeros, zeros), encoder_caches)", "the encoder gets no gradient"),
    ("(dh0, zeros), encoder_caches)", "dc is not handed over"),
    ("(zeros, dc0), encoder_caches)", "dh is not handed over"),
    ("(dc0, dh0), encoder_caches)", "dh0 and dc0 are swapped"),
])
def test_encoder_decoder_hand_over_mistakes_are_named(new, mistake):
    report = grade(ENCODER_DECODER, "encoder_decoder_backward", "(dh0, dc0), encoder_caches)",
                   new)
    assert rows(report)["d_decoder_inputs"] == rows(report)["dW_dec"] == "ok", str(report)
    assert rows(report)["dW_enc"] != "ok"
    named = [f for f in report.findings if f.startswith("likely mistake")]
    assert len(named) == 1 and mistake in named[0], str(report)


def test_encoder_decoder_decoder_inputs_left_at_zero_is_named():
    report = grade(ENCODER_DECODER, "encoder_decoder_backward",
                   "    return d_source, d_decoder_inputs,",
                   "    d_decoder_inputs = np.zeros_like(d_decoder_inputs)\n"
                   "    return d_source, d_decoder_inputs,")
    assert [name for name, verdict in rows(report).items() if verdict != "ok"] == [
        "d_decoder_inputs"]
    assert any("the exercise asks for it all the same" in f for f in report.findings), str(report)


def test_encoder_decoder_weights_summed_as_if_shared_is_named():
    report = grade(ENCODER_DECODER, "encoder_decoder_backward",
                   "return d_source, d_decoder_inputs, dW_enc, dU_enc, db_enc, dW_dec,",
                   "dW_enc = dW_dec = dW_enc + dW_dec\n"
                   "    dU_enc = dU_dec = dU_enc + dU_dec\n"
                   "    db_enc = db_dec = db_enc + db_dec\n"
                   "    return d_source, d_decoder_inputs, dW_enc, dU_enc, db_enc, dW_dec,")
    assert any("each LSTM has weights of its own" in f for f in report.findings), str(report)


def test_a_bptt_mistake_in_the_shared_loop_is_named_in_the_encoder_decoder():
    report = grade(ENCODER_DECODER, "encoder_decoder_backward", "dU += dU_t", "dU = dU_t")
    assert rows(report)["dU_enc"] != "ok" and rows(report)["dU_dec"] != "ok"
    named = [f for f in report.findings if f.startswith("likely mistake")]
    assert len(named) == 1 and "dU is assigned at every step" in named[0], str(report)


def test_the_encoder_decoder_template_grades_both_functions(tmp_path, capsys):
    answer = tmp_path / "answer.py"
    assert main(["exercise", "encoder-decoder-backward"]) == 0
    answer.write_text(capsys.readouterr().out)
    assert main(["check", str(answer)]) == 1
    printed = capsys.readouterr().out
    assert printed.count("not implemented yet") == 2
    assert "lstm-backward (lstm_backward)" in printed
    assert "encoder-decoder-backward (encoder_decoder_backward)" in printed


@pytest.mark.parametrize("changes, mistake", [
    ([("dh = d_repeated.sum(axis=1)", "dh = d_repeated.mean(axis=1)")],
     "the copies' gradients are averaged"),
    ([("dh = d_repeated.sum(axis=1)", "dh = d_repeated[:, -1]")],
     "only the last copy's gradient reaches the encoder"),
    ([("d_repeated, _, _, dW_dec", "d_repeated, dh0, dc0, dW_dec"),      # the other design's
      ("(dh, zeros), encoder_caches)", "(dh + dh0, dc0), encoder_caches)")],
     "the decoder's (dh0, dc0) are handed to the encoder as in the other design"),
])
def test_repeat_vector_hand_over_mistakes_are_named(changes, mistake):
    source = REPEAT_VECTOR
    for old, new in changes:
        assert old in source
        source = source.replace(old, new)
    report = grade(source, "repeat_vector_backward")
    assert rows(report)["dW_dec"] == "ok" and rows(report)["dW_enc"] != "ok", str(report)
    named = [f for f in report.findings if f.startswith("likely mistake")]
    assert len(named) == 1 and mistake in named[0], str(report)


# -- softmax cross-entropy and Adam ------------------------------------------------------

def test_softmax_gradient_summed_not_averaged_is_named():
    report = grade(SOFTMAX, "softmax_cross_entropy_backward", "(p - y) / (n * t)", "(p - y)")
    assert rows(report)["dlogits"] == "off by a constant factor: 12 times too large"
    assert any("divided by N*T" in f for f in report.findings)


def test_softmax_sign_is_named():
    report = grade(SOFTMAX, "softmax_cross_entropy_backward", "(p - y) / (n * t)",
                   "(y - p) / (n * t)")
    assert rows(report)["dlogits"].startswith("sign error")


def test_the_layers_own_embedding_gradient_passes():
    def embedding_backward(tokens, d_outputs, vocabulary_size):
        layer = Embedding(vocabulary_size, d_outputs.shape[-1], dtype=np.float64)
        layer.backward(d_outputs, tokens)
        return layer.grads["embeddings"]

    assert exercises.check(embedding_backward).passed


@pytest.mark.parametrize("old, new, verdict, mistake", [
    ("""    for a in range(n):
        for b in range(t):
            d_table[tokens[a, b]] += d_outputs[a, b]""",
     "    d_table[tokens] += d_outputs", "wrong", "NumPy's += on repeated indices"),
    ("    return d_table", "    return d_table / (n * t)",
     "off by a constant factor: 20 times too small", "divided by N*T"),
    ("    return d_table", "    return d_outputs.reshape(n * t, width)",
     "shape (20, 3), expected (7, 3)", "a row per place (N*T rows)"),
    ("    return d_table", "    return d_table / np.maximum(np.bincount(tokens.ravel(), "
     "minlength=vocabulary_size), 1)[:, None]", "wrong", "averaged over its places"),
])
def test_embedding_mistakes_are_named(old, new, verdict, mistake):
    report = grade(EMBEDDING, "embedding_backward", old, new)
    assert rows(report)["d_table"].startswith(verdict), str(report)
    [finding] = report.findings
    assert finding.startswith("likely mistake: ") and mistake in finding, str(report)


@pytest.mark.parametrize("wrong, verdict", [
    ("(p - y) / (2 * n * t)", "off by a constant factor: 2 times too small"),
    ("(y - p) / (n * t) * 3", "off by a constant factor: 3 times too large and of the wrong "
                              "sign"),
    ("(p - y) / (n * t) * 1.5", "off by a constant factor: 1.5 times too large"),
    ("0 * (p - y)", "all zeros: never computed, or never added in"),
    ("(p - y) / (n * t) * np.nan", "contains NaN or infinity"),
    ("((p - y) / (n * t))[:, :2]", "shape (4, 2, 5), expected (4, 3, 5)"),
])
def test_the_grader_says_how_a_wrong_array_is_wrong(wrong, verdict):
    report = grade(SOFTMAX, "softmax_cross_entropy_backward", "(p - y) / (n * t)", wrong)
    assert not report.passed
    assert rows(report)["dlogits"] == verdict


def test_adam_without_bias_correction_is_named():
    report = grade(ADAM, "adam_update",
                   "np.sqrt(1 - beta_2 ** iteration) / (1 - beta_1 ** iteration)", "1")
    verdicts = rows(report)
    assert verdicts["m"] == "ok" and verdicts["v"] == "ok"
    assert verdicts["param step"].startswith("off by a constant factor")
    assert any("no bias correction" in f for f in report.findings)


def test_adam_pytorch_epsilon_is_named():
    report = grade(ADAM, "adam_update", "param = param - alpha * m / (np.sqrt(v) + epsilon)",
                   "param = param - learning_rate * (m / (1 - beta_1 ** iteration)) / "
                   "(np.sqrt(v / (1 - beta_2 ** iteration)) + epsilon)")
    assert any("PyTorch's form" in f for f in report.findings)


@pytest.mark.parametrize("returned, verdict", [
    ("param[:1], m, v", "shape (1, 4), expected (3, 4)"),      # before: "missing (returned
    ("'param', m, v", "not an array (a str)"),                 # None)", for both
    ("None, m, v", "missing (returned None)"),
])
def test_adam_names_a_param_that_is_no_step_as_it_is(returned, verdict):
    report = grade(ADAM, "adam_update", "return param, m, v", f"return {returned}")
    assert rows(report)["param step"] == verdict


# -- what a student can get wrong around the maths ----------------------------------------

def test_an_exception_is_reported_with_its_line(tmp_path):
    path = tmp_path / "answer.py"
    path.write_text(STEP.replace("dx = dz @ W.T", "dx = dz @ W"))
    [report] = exercises.check_file(str(path))
    assert not report.passed
    assert report.error.startswith("it raised ValueError") and "(line 16: dx = dz @ W)" in report.error


def test_wrong_number_of_outputs_is_reported():
    report = grade(STEP, "lstm_step_backward", "return dx, dh_prev, dc_prev, dW, dU, db",
                   "return dx, dW, dU, db")
    assert "must return 6 values" in report.error and "got 4 values" in report.error


def test_check_needs_a_known_function_name():
    with pytest.raises(ValueError, match="cannot tell which exercise"):
        exercises.check(lambda a, b: a)
    with pytest.raises(ValueError, match="no exercise 'nope'"):
        exercises.template("nope")
    with pytest.raises(TypeError, match="check needs the student's function, got str"):
        exercises.check("lstm_step_backward")           # the name, not the function


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_every_template_is_valid_python_and_not_implemented(name, tmp_path):
    source = exercises.template(name)
    ast.parse(source)
    path = tmp_path / "answer.py"
    path.write_text(source)
    reports = exercises.check_file(str(path))
    # (the encoder-decoder's template also holds lstm_backward, to fill in first)
    assert [report.exercise.name for report in reports][-1] == name
    assert all(report.error.startswith("not implemented yet") for report in reports)


# -- the commands ------------------------------------------------------------------------

def test_exercise_command_lists_and_prints_templates(capsys):
    assert main(["exercise"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in exercises.EXERCISES)
    assert main(["exercise", "adam"]) == 0
    assert capsys.readouterr().out == exercises.template("adam")


def test_check_command_grades_a_file(tmp_path, capsys):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(STEP + SOFTMAX)
    bad.write_text(STEP.replace("dc_prev = dc_total * f", "dc_prev = dc_total"))
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASSED") == 2
    assert main(["check", str(bad)]) == 1
    assert "dc_prev = dc * f" in capsys.readouterr().out


def test_check_grades_with_this_npseq2seq_not_one_in_the_working_folder(
        tmp_path, monkeypatch, capsys):
    answer = tmp_path / "good.py"
    answer.write_text(STEP)
    (tmp_path / "npseq2seq").mkdir()
    (tmp_path / "npseq2seq" / "__init__.py").write_text(
        "raise ImportError('the npseq2seq of the working folder')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "good.py"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_check_command_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["check", str(empty)]) == 2
    assert "defines none of the exercise functions" in capsys.readouterr().err
    broken = tmp_path / "broken.py"
    broken.write_text("def lstm_step_backward(:\n")
    assert main(["check", str(broken)]) == 2
    assert "could not be imported: SyntaxError" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("def lstm_step_backward(): pass\n")
    assert main(["check", str(notes)]) == 2
    assert capsys.readouterr().err == f"npseq2seq check: error: {notes} is not a Python file\n"
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    assert capsys.readouterr().err == (f"npseq2seq check: error: no such file: "
                                       f"{tmp_path / 'missing.py'}\n")


def test_check_stops_an_answer_that_never_returns(tmp_path, capsys):
    # before, `npseq2seq check` waited for ever on an endless loop
    path = tmp_path / "answer.py"
    path.write_text(STEP.replace("dx = dz @ W.T", "while True: pass"))
    assert main(["check", str(path), "--timeout", "2"]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq check: error: {path}: the answer was still running after 2 s (an endless "
        f"loop?), so it was stopped; --timeout SECONDS allows more\n")


@pytest.mark.parametrize("line, how", [
    ("import os; os._exit(0)", "exit status 0"),
    pytest.param("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9",
                 marks=pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL")),
])
def test_check_names_an_answer_that_ends_the_process(tmp_path, capsys, line, how):
    # before, os._exit(0) ended `npseq2seq check` with no output and status 0: a pass
    path = tmp_path / "answer.py"
    path.write_text(STEP.replace("dx = dz @ W.T", line))
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq check: error: {path}: the answer ended the grading process ({how}) "
        f"before it was graded\n")


def test_check_grades_an_answer_that_leaves_a_thread_running(tmp_path, capsys):
    # before, the graded child waited for the answer's thread at exit, and the
    # grade was reported as a timeout
    path = tmp_path / "answer.py"
    path.write_text("import threading, time\n"
                    "threading.Thread(target=time.sleep, args=(3600,)).start()\n" + STEP)
    assert main(["check", str(path), "--timeout", "20"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_check_says_a_folder_is_not_a_file(tmp_path, capsys):
    # before, it said "no such file" of a folder that is there
    assert main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"npseq2seq check: error: {tmp_path} is a folder, not a .py file\n")


def test_check_refuses_a_timeout_that_is_not_positive(tmp_path, capsys):
    path = tmp_path / "answer.py"
    path.write_text(STEP)
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(path), "--timeout", "0"])
    assert exit_.value.code == 2
    assert "argument --timeout: must be a positive number, got 0" in capsys.readouterr().err


def test_odd_return_values_are_reported_not_crashed_on():
    report = grade(STEP, "lstm_step_backward", "return dx, dh_prev, dc_prev, dW, dU, db",
                   "return dx, [[1, 2], [3]], None, 'dW', dU, db")
    verdicts = rows(report)
    assert verdicts["dh_prev"].startswith("not an array")
    assert verdicts["dc_prev"] == "missing (returned None)"
    assert verdicts["dW"].startswith("not an array")
    assert verdicts["dx"] == "ok"


@pytest.mark.parametrize("where", ["in the function", "at the top of the file"])
def test_an_answer_that_calls_sys_exit_fails_and_does_not_end_the_grader(tmp_path, capsys, where):
    # before, sys.exit(0) ended `npseq2seq check` with no output and status 0: a pass
    path = tmp_path / "answer.py"
    source = STEP.replace("dx = dz @ W.T", "import sys; sys.exit(0)")
    path.write_text(source if where == "in the function" else "import sys\nsys.exit(0)\n" + STEP)
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    if where == "in the function":
        assert code == 1 and "it raised SystemExit: 0 (line 16: import sys; sys.exit(0))" in out
    else:
        assert code == 2 and err == (f"npseq2seq check: error: {path} could not be imported: "
                                     f"SystemExit: 0\n")


@pytest.mark.parametrize("student, mistake, same", [
    ([1.0, np.nan, 3.0], [1.0, np.nan, 3.0], True),           # NaN where the mistake's is
    ([1.0, 2.0, 3.0], [1.0, np.nan, 3.0], False),
    ([1.0, np.inf, 3.0], [1.0, -np.inf, 3.0], False),         # infinities of other signs
    ([np.nan, np.nan], [np.nan, np.nan], True),
    ([[1.0, 2.0]], [[1.0], [2.0]], False),                    # another shape
    (None, [1.0], False),
    ([1.0, 2.0 + 1e-9], [1.0, 2.0], True),                    # close is the same
])
def test_a_mistakes_numbers_are_matched_nan_for_nan(student, mistake, same):
    from npseq2seq.exercises.grader import _same_numbers

    assert bool(_same_numbers(student, mistake)) == same
