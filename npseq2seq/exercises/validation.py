"""Is an exercise well made? What a teacher runs before handing one out.

`validate(exercise)` grades the exercise's own functions as if students had
handed them in, and says what would mislead a student:

    fields      the outputs named in gate_outputs, step_outputs and
                telltale_outputs exist; the arguments in may_modify exist
    reference   it passes its own grading (returns every output, changes no
                argument it may not) and agrees with `numerical`, the finite
                differences, to the grader's tolerance
    template    it is Python, defines the function, and that function is not
                taken for an answer: it raises NotImplementedError
    mistakes    each catalogued mistake, handed in, fails and is named by its
                own hint (else a student making it is told nothing, or the
                wrong thing); two hints naming the same numbers are noted
"""

import numpy as np

from .grader import TOLERANCE, _as_tuple, grade

__all__ = ["validate", "ValidationReport"]


class ValidationReport:
    """validate's findings: a line each, ok or not."""

    def __init__(self, exercise, lines):
        self.exercise, self.lines = exercise, list(lines)     # [(ok, text)]

    @property
    def passed(self):
        return all(ok for ok, _ in self.lines)

    @property
    def problems(self):
        return [text for ok, text in self.lines if not ok]

    def __str__(self):
        count = len(self.problems)
        verdict = "well made" if self.passed else f"{count} problem{'s' * (count != 1)}"
        head = f"{self.exercise.name} ({self.exercise.function_name}): {verdict}"
        return "\n".join([head] + [f"  {'ok  ' if ok else 'FAIL'}  {text}"
                                   for ok, text in self.lines])

    __repr__ = __str__


def validate(exercise, seed=0):
    """A ValidationReport on `exercise`, graded on the case `seed` makes (as `check`)."""
    lines = _field_lines(exercise)
    try:
        inputs, context = exercise.make_case(np.random.default_rng(seed))
        numeric = None if exercise.numerical is None else _as_tuple(exercise.numerical(context))
    except Exception as error:      # the teacher's code: reported, as an answer's error is
        return ValidationReport(exercise, lines + [(False, f"make_case or numerical raised "
                                                           f"{type(error).__name__}: {error}")])
    lines += _input_lines(exercise, inputs)
    reference = _reference_lines(exercise, numeric, seed)
    lines += reference
    if all(ok for ok, _ in reference):          # else the rest would only repeat it
        lines += _template_lines(exercise, seed)
        lines += [_mistake_line(exercise, hint, broken, seed)
                  for hint, broken in exercise.mistakes.items()]
    return ValidationReport(exercise, lines)


def _field_lines(exercise):
    outputs = set(exercise.output_names)
    lines = []
    for field in ("gate_outputs", "step_outputs", "telltale_outputs"):
        unknown = [name for name in getattr(exercise, field) or () if name not in outputs]
        if unknown:
            lines.append((False, f"{field} names {', '.join(map(repr, unknown))}, not among "
                                 f"output_names {exercise.output_names}"))
    return lines


def _input_lines(exercise, inputs):
    unknown = [name for name in exercise.may_modify if name not in inputs]
    if not unknown:
        return []
    return [(False, f"may_modify names {', '.join(map(repr, unknown))}, not among the "
                    f"arguments make_case gives ({', '.join(inputs)})")]


def _reference_lines(exercise, numeric, seed):
    """The reference graded as an answer; numeric: numerical's outputs, or None."""
    names = exercise.output_names
    if numeric is not None and len(numeric) != len(names):     # (grading would fail on it)
        return [(False, f"numerical returns {len(numeric)} values for the {len(names)} "
                        f"outputs ({', '.join(names)})")]
    report = grade(exercise, exercise.reference, seed)
    if report.error or not report.passed:
        problem = report.error or "; ".join(report.findings)
        return [(False, f"the reference fails its own grading: {problem}")]
    lines = [(True, "the reference passes its own grading")]
    if numeric is None:
        return lines + [(True, "no finite differences to compare (numerical is None): "
                               "the reference is taken on trust")]
    errors = [(row.output, row.fd_error) for row in report.rows]
    if any(error is None for _, error in errors):
        missing = [name for name, error in errors if error is None]
        return lines + [(False, f"numerical's {', '.join(missing)} do not have the "
                                f"reference's shapes")]
    figures = ", ".join(f"{name} {error:.1e}" for name, error in errors)
    agree = all(error < TOLERANCE for _, error in errors)
    return lines + [(agree, f"the reference {'agrees' if agree else 'disagrees'} with finite "
                            f"differences (relative errors {figures}; tolerance {TOLERANCE:g})")]


def _template_lines(exercise, seed):
    name = exercise.function_name
    namespace = {"__name__": f"template_{exercise.name}"}
    try:
        exec(compile(exercise.template, f"<{exercise.name} template>", "exec"), namespace)
    except Exception as error:      # the teacher's text: say what is wrong with it
        return [(False, f"the template does not run: {type(error).__name__}: {error}")]
    if not callable(namespace.get(name)):
        return [(False, f"the template does not define {name}")]
    report = grade(exercise, namespace[name], seed)
    if report.error and report.error.startswith("not implemented yet"):
        return [(True, f"the template defines {name}, which raises NotImplementedError")]
    told = "passes: it gives the answer away" if report.passed else \
        f"is graded as an answer ({report.error or 'FAILED'})"
    return [(False, f"the template's {name} {told}; its body should raise "
                    f"NotImplementedError")]


def _mistake_line(exercise, hint, broken, seed):
    report = grade(exercise, broken, seed)
    quoted = f'mistake "{hint}"'
    if report.error:
        return False, (f"{quoted} does not give the outputs, so no answer is ever named "
                       f"by it: {report.error}")
    if report.passed:
        return False, (f"{quoted} gives the reference's numbers on this case, so an answer "
                       f"that makes it passes")
    named = [finding[len("likely mistake: "):] for finding in report.findings
             if finding.startswith("likely mistake: ")]
    if hint not in named:
        return False, (f"{quoted} fails but is not named: its numbers differ from the "
                       f"reference's only in outputs outside telltale_outputs, or prepare "
                       f"hides the difference")
    others = "; ".join(f'"{other}"' for other in named if other != hint)
    also = f" (named with it, for the same numbers: {others})" if others else ""
    return True, f"{quoted} is caught and named{also}"
