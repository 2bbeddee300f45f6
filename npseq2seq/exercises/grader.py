"""Grading: a student's outputs against the reference and finite differences,
and a diagnosis of what is wrong.

An `Exercise` describes one function to write: how to make its inputs, the
reference answer, the finite-difference answer, and a catalogue of classic
mistakes, each the reference with one thing broken. `grade` calls the
student's function and, for every output that is wrong, says how it is wrong:

    sign        student = -expected
    factor      student = k * expected for one constant k
    transposed  student.T = expected
    zeros       nothing was computed or added in
    where       which gate block (i, f, c, o) of a 4u-wide gradient, which
                time step of a per-step gradient

and names a catalogued mistake when the student's numbers equal its numbers.
"""

import copy
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import relative_error

TOLERANCE = 1e-6        # float64: a right answer agrees with the reference to ~1e-12
GATES = ("i", "f", "c", "o")
GATE_NAMES = {"i": "the input gate i", "f": "the forget gate f",
              "c": "the candidate g (block c)", "o": "the output gate o"}


@dataclass
class Exercise:
    """One function to write, and everything needed to grade it."""

    name: str                   # the CLI name, e.g. 'lstm-step-backward'
    function_name: str          # what the student's function is called
    summary: str
    template: str               # the file handed out: signature, docstring, no body
    output_names: tuple
    make_case: callable         # rng -> (inputs {argument: value}, context for `numerical`)
    reference: callable         # **inputs -> tuple of outputs
    numerical: callable = None  # context -> tuple of outputs by finite differences
    mistakes: dict = field(default_factory=dict)    # hint -> (inputs -> outputs)
    gate_outputs: tuple = ()    # outputs whose last axis is 4u: gate blocks i, f, c, o
    step_outputs: tuple = ()    # outputs whose axis 1 is time
    may_modify: tuple = ()      # arguments the function may change in place
    prepare: callable = None    # (outputs, inputs) -> outputs as compared (e.g. a step)
    telltale_outputs: tuple = None  # outputs a mistake is recognised by (None: all)


@dataclass
class Row:
    output: str
    verdict: str                # 'ok' or how it is wrong
    fd_error: float = None      # relative error against finite differences
    wrong_gates: tuple = ()
    wrong_steps: tuple = ()
    n_steps: int = 0

    @property
    def ok(self):
        return self.verdict == "ok"


class ExerciseReport:
    """What `check` found: a row per output, and the diagnosis."""

    def __init__(self, exercise, rows=(), findings=(), error=None):
        self.exercise, self.rows, self.findings = exercise, list(rows), list(findings)
        self.error = error      # the student's function raised, or returned the wrong thing

    @property
    def passed(self):
        return self.error is None and all(row.ok for row in self.rows) and not self.findings

    def __str__(self):
        head = f"{self.exercise.name} ({self.exercise.function_name}): " + (
            "PASSED" if self.passed else "FAILED")
        lines = [head]
        if self.error:
            lines.append(f"  {self.error}")
        if self.rows:
            width = max([len(row.output) for row in self.rows] + [len("output")])
            fd_title = "vs finite differences" if self.exercise.numerical else ""
            lines.append(f"  {'output':<{width}}  {fd_title:<21}  vs the reference")
            for row in self.rows:
                fd = "" if row.fd_error is None else f"{row.fd_error:.1e}"
                lines.append(f"  {row.output:<{width}}  {fd:<21}  {row.verdict}")
        lines += [f"  - {finding}" for finding in self.findings]
        return "\n".join(lines)

    __repr__ = __str__


def grade(exercise, student_fn, seed=0):
    """Run student_fn on the exercise's inputs and diagnose what it returns."""
    inputs, context = exercise.make_case(np.random.default_rng(seed))
    given = copy.deepcopy(inputs)
    try:
        with np.errstate(all="ignore"):     # a NaN is reported as such, below
            result = student_fn(**given)
    except NotImplementedError:
        return ExerciseReport(exercise, error="not implemented yet (it raises NotImplementedError)")
    except (Exception, SystemExit) as error:    # the student's bug: report it, do not
        # crash the grader (nor let a sys.exit(0) in the answer end it, silently, with success)
        return ExerciseReport(exercise, error=_raised(error, student_fn))
    outputs = _as_outputs(exercise, result)
    if isinstance(outputs, str):
        return ExerciseReport(exercise, error=outputs)
    findings = _modified_arguments(exercise, inputs, given)
    expected = _run(exercise.reference, inputs)
    numeric = _as_tuple(exercise.numerical(context)) if exercise.numerical else None
    if exercise.prepare:
        outputs, expected = (exercise.prepare(o, inputs) for o in (outputs, expected))
        numeric = numeric and exercise.prepare(numeric, inputs)
    rows = [_row(exercise, name, k, outputs, expected, numeric)
            for k, name in enumerate(exercise.output_names)]
    if not all(row.ok for row in rows):
        findings += _where(exercise, rows) + _known_mistakes(exercise, inputs, outputs, expected)
    return ExerciseReport(exercise, rows, findings)


def _run(function, inputs):
    with np.errstate(all="ignore"):     # some catalogued mistakes make NaNs
        return _as_tuple(function(**copy.deepcopy(inputs)))


def _as_tuple(result):
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _raised(error, student_fn):
    """The error, and the last line of the student's file it passed through."""
    code = getattr(student_fn, "__code__", None)
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if code is None or frame.filename == code.co_filename]
    where = f" (line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
    return f"it raised {type(error).__name__}: {error}{where}"


def _as_outputs(exercise, result):
    """The student's return value as a tuple of arrays, or a message saying why not."""
    names = exercise.output_names
    if len(names) == 1 and not isinstance(result, tuple):
        result = (result,)
    several = isinstance(result, (tuple, list))
    if not several or len(result) != len(names):
        got = f"{len(result)} values" if several else type(result).__name__
        return f"it must return {len(names)} values ({', '.join(names)}), got {got}"
    return tuple(_as_float_array(r) for r in result)


def _as_float_array(value):
    """A float64 array if the value is numbers of one shape; else the value, for
    `describe` to report (None, a string, a ragged list)."""
    try:
        with warnings.catch_warnings():     # NumPy before 1.24 warns of ragged lists
            warnings.simplefilter("ignore")
            array = np.asarray(value)
    except ValueError:                      # (and from 1.24 refuses them)
        return value
    return array.astype(np.float64) if array.dtype.kind in "iuf" else value


def _modified_arguments(exercise, inputs, given):
    changed = [name for name, value in inputs.items()
               if name not in exercise.may_modify and not _same(value, given[name])]
    return [f"it changed its argument {name!r} in place; the caller still needs it "
            f"(write `{name} = {name} + ...`, not `{name} += ...`)" for name in changed]


def _same(a, b):
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


# -- one output -------------------------------------------------------------------

def _row(exercise, name, k, outputs, expected, numeric):
    student, right = outputs[k], expected[k]
    fd = None
    if numeric is not None and _comparable(student, numeric[k]):
        fd = relative_error(student, numeric[k])
    verdict = describe(student, right)
    if verdict is None:
        return Row(name, "ok", fd)
    row = Row(name, verdict, fd)
    if name in exercise.gate_outputs and _comparable(student, right) \
            and verdict.startswith("wrong"):    # no pattern in the whole: look per gate
        row.verdict, row.wrong_gates = describe_blocks(student, right)
    if name in exercise.step_outputs and _comparable(student, right):
        row.n_steps = right.shape[1]
        row.wrong_steps = tuple(t + 1 for t in range(right.shape[1])
                                if describe(student[:, t], right[:, t]) is not None)
        row.verdict += f"; {describe_steps(row.wrong_steps, right.shape[1])}"
    return row


def _comparable(a, b):
    return isinstance(a, np.ndarray) and a.shape == np.shape(b)


def describe(student, expected):
    """None if student equals expected (to TOLERANCE), else how it differs."""
    expected = np.asarray(expected, np.float64)
    if student is None:
        return "missing (returned None)"
    if not isinstance(student, np.ndarray):
        return f"not an array (a {type(student).__name__})"
    if student.shape == expected.shape and np.all(np.isfinite(student)) \
            and _close(student, expected):
        return None
    if student.ndim == 2 and student.T.shape == expected.shape and _close(student.T, expected):
        return f"transposed: shape {student.shape} holds the transpose of the answer"
    if student.shape != expected.shape:
        return f"shape {student.shape}, expected {expected.shape}"
    if not np.all(np.isfinite(student)):
        return "contains NaN or infinity"
    if not np.any(student):
        return "all zeros: never computed, or never added in"
    if _close(student, -expected):
        return "sign error: exactly minus the right answer"
    factor = _constant_factor(student, expected)
    if factor is not None:
        return f"off by a constant factor: {_factor_text(factor)}"
    return f"wrong (relative error {relative_error(student, expected):.1e})"


def _close(a, b):
    return relative_error(a, b) < TOLERANCE


def _constant_factor(student, expected):
    scale = float(np.sum(expected * expected))
    if scale == 0:
        return None
    k = float(np.sum(student * expected)) / scale
    return k if _close(student, k * expected) else None


def _factor_text(k):
    if abs(k) >= 1:
        n = round(abs(k))
        times = f"{n} times" if abs(abs(k) - n) < 1e-6 else f"{abs(k):.4g} times"
        return f"{times} too large{' and of the wrong sign' if k < 0 else ''}"
    n = round(1 / abs(k))
    times = f"{n} times" if abs(1 / abs(k) - n) < 1e-6 else f"{1 / abs(k):.4g} times"
    return f"{times} too small{' and of the wrong sign' if k < 0 else ''}"


def describe_blocks(student, expected):
    """Split a 4u-wide gradient into its gate blocks i, f, c, o and describe each."""
    u = expected.shape[-1] // 4
    verdicts = {gate: describe(student[..., k * u:(k + 1) * u], expected[..., k * u:(k + 1) * u])
                for k, gate in enumerate(GATES)}
    wrong = tuple(gate for gate in GATES if verdicts[gate] is not None)
    right = [gate for gate in GATES if verdicts[gate] is None]
    if not right and all(verdicts[gate].startswith("wrong") for gate in GATES):
        return (f"wrong in all four gate blocks (relative error "
                f"{relative_error(student, expected):.1e})"), wrong
    parts = [f"gate {gate}: {verdicts[gate]}" for gate in wrong]
    if right:
        parts.append(f"{', '.join(right)} ok")
    return "; ".join(parts), wrong


def describe_steps(wrong_steps, n_steps):
    right = [t for t in range(1, n_steps + 1) if t not in wrong_steps]
    if not right:
        return "wrong at every step"
    return f"wrong at steps {_span(wrong_steps)}, right at {_span(right)}"


def _span(steps):
    steps = list(steps)
    if steps == list(range(steps[0], steps[-1] + 1)):
        return str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
    return ", ".join(map(str, steps))


# -- the whole answer -----------------------------------------------------------------

def _where(exercise, rows):
    """One line each for a consistent gate or time-step pattern across outputs."""
    found = []
    gate_rows = [row for row in rows if row.output in exercise.gate_outputs and not row.ok]
    gates = {row.wrong_gates for row in gate_rows if row.wrong_gates}
    if len(gates) == 1 and len(next(iter(gates))) < 4:
        wrong = next(iter(gates))
        found.append(f"where: dz, the gradient at the gates' inputs, is wrong for "
                     f"{' and '.join(GATE_NAMES[g] for g in wrong)} and right for the others; "
                     f"look at that gate's lines")
    for row in rows:
        k = row.wrong_steps[-1] if row.wrong_steps else 0
        if 0 < k < row.n_steps and row.wrong_steps == tuple(range(1, k + 1)):
            found.append(f"where: {row.output} is right from the last step back to step {k + 1} "
                         f"and wrong from step {k} back to step 1: the error enters when the "
                         f"gradient moves from step {k + 1} to step {k}. Check what each step "
                         f"hands to the one before it (dh_prev, dc_prev)")
            break
    return found


def _known_mistakes(exercise, inputs, outputs, expected):
    """Hints of the catalogued mistakes whose numbers the student's answer shows."""
    hints = []
    for hint, broken in exercise.mistakes.items():
        try:
            theirs = _run(broken, inputs)
        except Exception:       # the teacher's mistake cannot run on this case (validate
            continue            # says so); it is no student's answer, then
        if exercise.prepare:
            theirs = exercise.prepare(theirs, inputs)
        telltale = exercise.telltale_outputs or exercise.output_names
        footprint = [k for k, name in enumerate(exercise.output_names)
                     if name in telltale and not _same_numbers(theirs[k], expected[k])]
        if footprint and all(_same_numbers(outputs[k], theirs[k]) for k in footprint):
            hints.append(f"likely mistake: {hint}")
    return hints


def _same_numbers(student, mistake):
    """Numbers of one shape, close where both are finite, and NaN or infinity in the
    same places: a mistake may make them (Adam's v of unsquared gradients goes
    negative, and its sqrt NaN), or have another shape (a transposed gradient)."""
    student, mistake = _as_float_array(student), _as_float_array(mistake)
    if not all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in (student, mistake)) \
            or student.shape != mistake.shape:
        return False
    odd = ~np.isfinite(mistake)
    if not np.array_equal(odd, ~np.isfinite(student)):
        return False
    if not np.array_equal(student[odd], mistake[odd], equal_nan=True):
        return False
    return odd.all() or _close(student[~odd], mistake[~odd])
