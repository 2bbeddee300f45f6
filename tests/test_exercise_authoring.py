"""A teacher's own exercises: docs/writing_exercises.md runs and prints what it
shows, `validate` finds what would mislead a student, and the commands take a
file of exercises."""

import dataclasses
import pathlib
import re
from functools import partial

import numpy as np
import pytest

from npseq2seq import exercises
from npseq2seq.cli import main

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "writing_exercises.md"
FIGURE = re.compile(r"\d\.\de[-+]\d\d")      # finite-difference figures: rounding may differ


def blocks(kind):
    """The page's ```python blocks, or its output blocks (``` with no language)."""
    found, language, lines = [], None, []
    for line in PAGE.read_text().splitlines():
        if language is None and line.startswith("```"):
            language, lines = line[3:] or "output", []
        elif language is not None and line == "```":
            if language == kind:
                found.append("\n".join(lines) + "\n")
            language = None
        elif language is not None:
            lines.append(line)
    return found


def masked(text):
    return FIGURE.sub("X", text.strip())


@pytest.fixture(scope="module")
def page():
    """The namespace the page's first three Python blocks make (the course and validate)."""
    names = {}
    for block in blocks("python")[:3]:
        exec(compile(block, str(PAGE), "exec"), names)
    return names


@pytest.fixture
def course(tmp_path):
    path = tmp_path / "course.py"
    path.write_text(blocks("python")[0])
    return path


def test_the_page_prints_what_it_shows(capsys):
    names = {}
    for block in blocks("python")[:3]:
        exec(compile(block, str(PAGE), "exec"), names)
    printed = capsys.readouterr().out
    well_made, misspelt = blocks("output")[:2]
    assert masked(printed) == masked(well_made + misspelt)


def test_the_commands_hand_out_validate_and_grade_as_the_page_says(course, tmp_path, capsys):
    assert main(["exercise", "--exercises", str(course)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("dense-backward  dense_backward: a Dense layer")
    assert f"check answer.py --exercises {course}" in listed
    assert main(["exercise", "--exercises", str(course), "--validate"]) == 0
    assert "dense-backward (dense_backward): well made" in capsys.readouterr().out
    main(["exercise", "dense-backward", "--exercises", str(course)])
    answer = tmp_path / "answer.py"
    answer.write_text(capsys.readouterr().out)
    assert main(["check", str(answer), "--exercises", str(course)]) == 1
    assert "not implemented yet" in capsys.readouterr().out
    answer.write_text(blocks("python")[3])          # the student who averages db
    assert main(["check", str(answer), "--exercises", str(course)]) == 1
    assert masked(capsys.readouterr().out) == masked(blocks("output")[2])


def test_an_exercise_not_in_the_file_is_named_with_those_that_are(course, capsys):
    assert main(["exercise", "adam", "--exercises", str(course)]) == 2
    assert "no exercise 'adam'; the exercises are dense-backward" in capsys.readouterr().err


def test_check_without_the_file_grades_against_the_built_in_exercises(course, capsys):
    assert main(["check", str(course)]) == 2        # it defines none of their functions
    assert "defines none of the exercise functions (lstm_step_backward" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_the_built_in_exercises_are_well_made(name):
    report = exercises.validate(exercises.EXERCISES[name])
    assert report.passed, str(report)
    assert str(report).startswith(f"{name} (") and "well made" in str(report)


def test_a_mistake_that_makes_nan_is_still_named():
    """Adam's v of unsquared gradients goes negative: the step is NaN where the
    mistake's is, and NaN equals nothing, not even NaN."""
    adam = exercises.EXERCISES["adam"]
    hint = next(hint for hint in adam.mistakes if hint.startswith("v averages the gradient"))

    def adam_update(param, grad, m, v, iteration, learning_rate, beta_1, beta_2, epsilon):
        m = beta_1 * m + (1 - beta_1) * grad
        v = beta_2 * v + (1 - beta_2) * grad
        alpha = learning_rate * np.sqrt(1 - beta_2 ** iteration) / (1 - beta_1 ** iteration)
        with np.errstate(invalid="ignore"):
            return param - alpha * m / (np.sqrt(v) + epsilon), m, v

    report = exercises.check(adam_update)
    assert not report.passed
    assert f"likely mistake: {hint}" in report.findings


# -- what validate finds ----------------------------------------------------------------

def problems(exercise):
    report = exercises.validate(exercise)
    assert not report.passed and f"{len(report.problems)} problem" in str(report)
    return report.problems


def test_a_template_that_gives_the_answer_away(page):
    body = page["TEMPLATE"].replace('raise NotImplementedError("write the gradients here")',
                                    "return dy @ W.T, x.reshape(-1, 4).T @ dy.reshape(-1, 5), "
                                    "dy.sum(axis=(0, 1))")
    found = problems(dataclasses.replace(page["DENSE"], template=body))
    assert found == ["the template's dense_backward passes: it gives the answer away; its "
                     "body should raise NotImplementedError"]


@pytest.mark.parametrize("template, message", [
    ("def other(x):\n    raise NotImplementedError\n",
     "the template does not define dense_backward"),
    ("def dense_backward(x, W, b, dy)\n", "the template does not run: SyntaxError"),
    ("def dense_backward(x, W, b, dy):\n    return None\n",
     "the template's dense_backward is graded as an answer (it must return 3 values"),
])
def test_a_template_that_is_not_a_template(page, template, message):
    found = problems(dataclasses.replace(page["DENSE"], template=template))
    assert len(found) == 1 and found[0].startswith(message), found


def test_a_reference_the_finite_differences_disagree_with(page):
    def doubled(context):
        return tuple(2 * g for g in page["numerical"](context))

    found = problems(dataclasses.replace(page["DENSE"], numerical=doubled))
    assert len(found) == 1 and found[0].startswith("the reference disagrees with finite "
                                                   "differences (relative errors dx 3.3e-01")


def test_finite_differences_of_the_wrong_count_or_shape(page):
    few = dataclasses.replace(page["DENSE"], numerical=lambda c: page["numerical"](c)[:2])
    assert problems(few) == ["numerical returns 2 values for the 3 outputs (dx, dW, db)"]
    flat = dataclasses.replace(page["DENSE"],
                               numerical=lambda c: tuple(g.ravel() for g in page["numerical"](c)))
    assert problems(flat) == ["numerical's dx, dW do not have the reference's shapes"]


def test_a_case_that_cannot_be_made(page):
    def make_case(rng):
        return {"x": rng.standard_normal((2, 3))}        # no context

    found = problems(dataclasses.replace(page["DENSE"], make_case=make_case))
    assert found == ["make_case or numerical raised ValueError: not enough values to unpack "
                     "(expected 2, got 1)"]


def test_a_reference_that_changes_its_argument(page):
    def in_place(x, W, b, dy):
        outputs = page["dense_backward"](x, W, b, dy)
        dy *= 2
        return outputs

    found = problems(dataclasses.replace(page["DENSE"], reference=in_place))
    assert found == ["the reference fails its own grading: it changed its argument 'dy' in "
                     "place; the caller still needs it (write `dy = dy + ...`, not "
                     "`dy += ...`)"]


def test_fields_that_name_what_is_not_there(page):
    found = problems(dataclasses.replace(page["DENSE"], gate_outputs=("dz",),
                                         may_modify=("weights",)))
    assert found == ["gate_outputs names 'dz', not among output_names ('dx', 'dW', 'db')",
                     "may_modify names 'weights', not among the arguments make_case gives "
                     "(x, W, b, dy)"]


def test_a_mistake_hidden_from_the_grader(page):
    """db is the mean's only telltale; with telltale_outputs=('dx',) nothing shows it."""
    found = problems(dataclasses.replace(page["DENSE"], telltale_outputs=("dx", "dW")))
    assert found == ['mistake "db is the mean of dy\'s rows; the loss sums over them, so db '
                     'is their sum" fails but is not named: its numbers differ from the '
                     "reference's only in outputs outside telltale_outputs, or prepare hides "
                     "the difference"]


def test_a_mistake_that_cannot_run_is_flagged_and_skipped_when_grading(page):
    def raises(x, W, b, dy):
        return dy @ W, None, None       # (N, T, K) @ (D, K): the shapes do not fit

    broken = dataclasses.replace(page["DENSE"], mistakes={**page["DENSE"].mistakes,
                                                          "dx = dy @ W": raises})
    found = problems(broken)
    assert len(found) == 1 and found[0].startswith(
        'mistake "dx = dy @ W" does not give the outputs, so no answer is ever named by it: '
        "it raised ValueError")
    wrong = partial(page["dense_backward"], fault="mean")
    report = exercises.check(wrong, exercise=broken)     # graded all the same
    assert "likely mistake: db is the mean of dy's rows" in report.findings[0]


def test_two_mistakes_with_the_same_numbers_are_noted_not_failed(page):
    same = partial(page["dense_backward"], fault="mean")
    twin = dataclasses.replace(page["DENSE"], mistakes={**page["DENSE"].mistakes,
                                                        "db divided by N*T": same})
    report = exercises.validate(twin)
    assert report.passed
    assert 'mistake "db divided by N*T" is caught and named (named with it, for the same ' \
           'numbers: "db is the mean of dy\'s rows' in str(report)


# -- loading and choosing exercises ------------------------------------------------------

def test_load_exercises_finds_the_files_exercises_in_order(course, tmp_path):
    text = course.read_text() + "\nSECOND = dataclasses.replace(DENSE, name='b2', " \
                                "function_name='dense_backward_2')\nimport dataclasses\n"
    path = tmp_path / "two.py"
    path.write_text(text.replace("from functools import partial",
                                 "import dataclasses\nfrom functools import partial"))
    found = exercises.load_exercises(path)
    assert [e.name for e in found] == ["dense-backward", "b2"]


@pytest.mark.parametrize("text, message", [
    ("x = 1\n", "defines no Exercise at its top level"),
    ("import dataclasses\n{course}\nB = dataclasses.replace(DENSE, function_name='f')\n",
     "defines two exercises named dense-backward"),
    ("import dataclasses\n{course}\nB = dataclasses.replace(DENSE, name='b')\n",
     "two exercises ask for the function dense_backward: dense-backward and b"),
])
def test_load_exercises_refuses_a_file_it_cannot_use(course, tmp_path, text, message):
    path = tmp_path / "bad.py"
    path.write_text(text.format(course=course.read_text()))
    with pytest.raises(ValueError, match=message):
        exercises.load_exercises(path)


def test_check_and_check_file_take_exercise_objects(page, course, tmp_path):
    assert exercises.check(page["dense_backward"], exercise=page["DENSE"]).passed
    answer = tmp_path / "answer.py"
    answer.write_text(blocks("python")[3])
    [report] = exercises.check_file(answer, exercises=exercises.load_exercises(course))
    assert not report.passed and report.exercise.name == "dense-backward"
    with pytest.raises(TypeError, match="exercises must be Exercise objects, got str"):
        exercises.check_file(answer, exercises=["dense-backward"])
