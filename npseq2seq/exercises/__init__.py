"""Gradient exercises with a grader that says what is wrong.

Each exercise is a function to write by hand, handed out as a template (the
signature and docstring, no body):

    lstm-step-backward      lstm_step_backward(dh, dc, cache)
    lstm-backward           lstm_backward(d_outputs, d_state, caches)
    masked-lstm-backward    masked_lstm_backward(d_outputs, d_state, caches, mask)
    encoder-decoder-backward
                            encoder_decoder_backward(d_outputs, encoder_caches,
                                                     decoder_caches)
    repeat-vector-backward  repeat_vector_backward(d_outputs, encoder_caches, decoder_caches)
    softmax-cross-entropy   softmax_cross_entropy_backward(logits, targets)
    embedding-backward      embedding_backward(tokens, d_outputs, vocabulary_size)
    adam                    adam_update(param, grad, m, v, iteration, ...)

    from npseq2seq import exercises
    print(exercises.template("lstm-step-backward"))      # or: npseq2seq exercise NAME
    report = exercises.check(my_lstm_step_backward)       # or: npseq2seq check FILE.py
    print(report)

`check` compares each output with finite differences and with the reference
answer, and says where an error is: which output, which gate block (i, f, c,
o), which time step, whether it is a sign, a constant factor or a
transposition, and which classic mistake gives exactly the student's numbers.

A teacher writes exercises of their own as `Exercise(...)` objects in a .py
file (docs/writing_exercises.md), checks them with `validate`, and grades
answers against them:

    course = exercises.load_exercises("course.py")     # the Exercises it defines
    print(exercises.validate(course[0]))               # is it well made?
    exercises.check_file("answer.py", exercises=course)
    # or: npseq2seq exercise --exercises course.py --validate
    #     npseq2seq check answer.py --exercises course.py
"""

import importlib.util
import os

from .adam import ADAM
from .embedding import EMBEDDING
from .encoder_decoder import ENCODER_DECODER
from .grader import Exercise, ExerciseReport, grade
from .lstm import SEQUENCE, STEP
from .masked import MASKED
from .repeat_vector import REPEAT_VECTOR
from .softmax import SOFTMAX
from .validation import ValidationReport, validate

__all__ = ["EXERCISES", "Exercise", "ExerciseReport", "ValidationReport", "template", "check",
           "check_file", "load_exercises", "validate"]


def _by_function(exercises):
    """{function name: Exercise}; ValueError if two exercises ask for one function."""
    by_function = {}
    for exercise in exercises:
        if not isinstance(exercise, Exercise):
            raise TypeError(f"exercises must be Exercise objects, got "
                            f"{type(exercise).__name__}")
        if exercise.function_name in by_function:
            raise ValueError(f"two exercises ask for the function {exercise.function_name}: "
                             f"{by_function[exercise.function_name].name} and {exercise.name}")
        by_function[exercise.function_name] = exercise
    return by_function


EXERCISES = {exercise.name: exercise
             for exercise in (STEP, SEQUENCE, MASKED, ENCODER_DECODER, REPEAT_VECTOR, SOFTMAX,
                              EMBEDDING, ADAM)}
_BY_FUNCTION = _by_function(EXERCISES.values())


def get_exercise(name, exercises=None):
    """The Exercise called `name` (e.g. 'adam'), or its function's name ('adam_update'),
    among `exercises` (default: the built-in ones)."""
    chosen = list(EXERCISES.values() if exercises is None else exercises)
    found = next((e for e in chosen if name in (e.name, e.function_name)), None)
    if found is None:
        raise ValueError(f"no exercise {name!r}; the exercises are "
                         f"{', '.join(e.name for e in chosen)}")
    return found


def template(name):
    """The file to hand out for exercise `name`: signature and docstring, no body."""
    return get_exercise(name).template


def check(student_fn, exercise=None, seed=0):
    """Grade a function against `exercise`: an Exercise, or a built-in one's name;
    without it, the built-in exercise the function's name asks for."""
    if not callable(student_fn):
        raise TypeError(f"check needs the student's function, got {type(student_fn).__name__}")
    if isinstance(exercise, Exercise):
        return grade(exercise, student_fn, seed)
    name = exercise or getattr(student_fn, "__name__", "")
    if exercise is None and name not in _BY_FUNCTION:
        raise ValueError(f"cannot tell which exercise {name!r} answers; name the function one "
                         f"of {', '.join(_BY_FUNCTION)} or pass exercise=...")
    return grade(get_exercise(name), student_fn, seed)


def check_file(path, seed=0, exercises=None):
    """Import a student's file and grade every exercise function it defines:
    those of `exercises` (Exercise objects; default: the built-in ones).

    The file runs in this process, with no time limit: an endless loop hangs
    the caller, and os._exit ends it. `npseq2seq check FILE` grades in a
    process of its own, with a time limit.
    """
    by_function = _BY_FUNCTION if exercises is None else _by_function(exercises)
    module = _import_file(path)
    found = [name for name in by_function if _defined_in(module, name)]
    if not found:
        raise ValueError(f"{path} defines none of the exercise functions "
                         f"({', '.join(by_function)})")
    return [grade(by_function[name], getattr(module, name), seed) for name in found]


def load_exercises(path):
    """The Exercise objects a teacher's .py file defines at its top level, in order."""
    found = [value for value in vars(_import_file(path)).values() if isinstance(value, Exercise)]
    if not found:
        raise ValueError(f"{path} defines no Exercise at its top level; build one with "
                         f"npseq2seq.exercises.Exercise(...) (see docs/writing_exercises.md)")
    _by_function(found)
    names = [exercise.name for exercise in found]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{path} defines two exercises named {', '.join(twice)}")
    return found


def _defined_in(module, name):
    """A function the file itself defines (not one it imported, e.g. npseq2seq's own)."""
    function = getattr(module, name, None)
    return callable(function) and getattr(function, "__module__", None) == module.__name__


def _import_file(path):
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not a .py file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    name = f"npseq2seq_student_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ValueError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:    # (see grade)
        raise ValueError(f"{path} could not be imported: {type(error).__name__}: {error}") from None
    return module
