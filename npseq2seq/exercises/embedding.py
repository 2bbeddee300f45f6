"""Exercise: the gradient of an embedding lookup, where tokens repeat."""

from functools import partial

import numpy as np

from ..gradcheck import numerical_gradient
from .grader import Exercise

V, E = 7, 3         # vocabulary, width
N, T = 4, 5         # 20 places for 7 tokens: each token comes at least twice


def embedding_backward(tokens, d_outputs, vocabulary_size, fault=None):
    """The reference dL/dtable; `fault` breaks one thing on purpose."""
    if fault == "per place":
        return d_outputs.reshape(-1, d_outputs.shape[-1]).copy()
    d_table = np.zeros((vocabulary_size, d_outputs.shape[-1]))
    if fault == "fancy +=":
        d_table[tokens] += d_outputs        # a repeated token: one of its places is kept
    else:
        np.add.at(d_table, tokens, d_outputs)
    if fault == "mean":
        counts = np.bincount(tokens.ravel(), minlength=vocabulary_size)
        d_table /= np.maximum(counts, 1)[:, None]
    if fault == "divided":
        d_table /= tokens.size
    return d_table


MISTAKES = {
    "d_table[tokens] += d_outputs keeps one place of a repeated token, not the sum of "
    "them all: NumPy's += on repeated indices writes each row once; use "
    "np.add.at(d_table, tokens, d_outputs)": "fancy +=",
    "each token's rows are averaged over its places; the lookup's gradient is their sum": "mean",
    "a row per place (N*T rows); the table's gradient has a row per token (vocabulary_size "
    "rows), each the sum over that token's places": "per place",
    "divided by N*T: a mean in the loss is already in d_outputs, so do not divide again":
        "divided",
}


def _case(rng):
    tokens = np.concatenate([np.arange(V), np.arange(V), rng.integers(0, V, N * T - 2 * V)])
    tokens = rng.permutation(tokens).reshape(N, T)
    d_outputs = rng.standard_normal((N, T, E))
    table = rng.standard_normal((V, E))
    return ({"tokens": tokens, "d_outputs": d_outputs, "vocabulary_size": V},
            (tokens, d_outputs, table))


def _numerical(context):
    """Finite differences of L = sum(table[tokens] * d_outputs), whose gradient on
    the looked-up rows is d_outputs."""
    tokens, d_outputs, table = context
    table = table.copy()
    return (numerical_gradient(lambda: np.sum(table[tokens] * d_outputs), table),)


TEMPLATE = '''"""Exercise: the gradient of an embedding lookup.

Forward: every token picks a row of a table (vocabulary_size, width):
    outputs[n, t] = table[tokens[n, t]]          outputs: (N, T, width)

Given d_outputs = dL/doutputs, write embedding_backward: dL/dtable. A token
can come at many places, and every place it comes adds to its row. Grade it:
    npseq2seq check THIS_FILE.py
"""

import numpy as np


def embedding_backward(tokens, d_outputs, vocabulary_size):
    """dL/dtable for the lookup. Do not modify the arguments.

    Inputs:
        tokens           (N, T)         integers in 0..vocabulary_size-1
        d_outputs        (N, T, width)  dL/doutputs
        vocabulary_size  int
    Returns:
        d_table          (vocabulary_size, width)
    """
    raise NotImplementedError("write the gradient here")
'''

EMBEDDING = Exercise(
    name="embedding-backward",
    function_name="embedding_backward",
    summary="an embedding lookup's gradient: every place a token comes adds to its row",
    template=TEMPLATE,
    output_names=("d_table",),
    make_case=_case,
    reference=embedding_backward,
    numerical=_numerical,
    mistakes={hint: partial(embedding_backward, fault=key) for hint, key in MISTAKES.items()},
)
