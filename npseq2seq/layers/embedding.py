"""Embedding: integer tokens -> rows of a learned table, y = embeddings[token].

A lookup is the product of a one-hot vector with the table, so its gradient
is that product's: with dy = dL/dy,

    dembeddings = one_hot(tokens).T @ dy     row v: the sum of dy over every place token v is

Tokens get no gradient (they are data). The table is Keras's `embeddings`,
(input_dim, output_dim), drawn from U(-0.05, 0.05) as Keras's `uniform`
initializer draws it; `Embedding.from_pretrained` starts from vectors of your
own. To keep a table fixed, leave it out of the optimizer's pairs.

The LSTM reads tokens directly (a token picks a row of its kernel: an
embedding of width 4 x units, folded into the first product); this layer is
for a narrower table of its own, or one trained elsewhere.
"""

import numpy as np

from ..initializers import float_dtype, make_rng, random_uniform
from ..tasks import check_finite, checked_indices, count
from ..workspace import empty

__all__ = ["Embedding"]


class Embedding:
    """Token lookup with the Keras name: embeddings (input_dim, output_dim).

    input_dim is the vocabulary size (tokens lie in 0..input_dim-1),
    output_dim the width of each token's vector.
    """

    def __init__(self, input_dim, output_dim, seed=None, dtype=np.float32):
        shape = count("input_dim", input_dim), count("output_dim", output_dim)
        self._hold(random_uniform(make_rng(seed), shape, dtype=float_dtype(dtype)))

    @classmethod
    def from_pretrained(cls, vectors, dtype=np.float32):
        """An Embedding whose table is a copy of `vectors` (vocabulary, width)."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or 0 in vectors.shape or vectors.dtype.kind not in "iuf":
            raise ValueError(f"vectors must be a 2-D array of numbers (vocabulary, width), "
                             f"got shape {vectors.shape} and dtype {vectors.dtype}")
        check_finite(vectors, "vectors")
        layer = cls.__new__(cls)            # (no random table drawn only to be overwritten)
        layer._hold(np.array(vectors, dtype=float_dtype(dtype)))
        return layer

    def _hold(self, table):
        """Take `table` (input_dim, output_dim) as the layer's own, with a zero gradient."""
        self.input_dim, self.output_dim = table.shape
        self.dtype = table.dtype
        self.params = {"embeddings": table}
        self.grads = {"embeddings": np.zeros_like(table)}

    def __repr__(self):
        return (f"Embedding(input_dim={self.input_dim}, output_dim={self.output_dim}, "
                f"dtype={self.dtype.name!r})")

    def zero_grads(self):
        self.grads["embeddings"].fill(0)

    def forward(self, tokens, workspace=None):
        """tokens (...) integers -> y (..., output_dim), cache (the tokens)."""
        tokens = np.asarray(tokens)
        if tokens.dtype.kind not in "iu":
            raise TypeError(f"Embedding input must be integer tokens, got dtype {tokens.dtype}")
        tokens = checked_indices(tokens, self.input_dim, "Embedding tokens")
        y = empty(workspace, "y", (*tokens.shape, self.output_dim), self.dtype)
        # mode 'clip' never clips (the tokens were checked) and spares a copy
        np.take(self.params["embeddings"], tokens, axis=0, out=y, mode="clip")
        return y, tokens

    def backward(self, dy, cache):
        """Adds one_hot(tokens).T @ dy into grads; returns None (tokens have no gradient).

        Summed a token at a time, after a stable sort of the places: the same
        order for the same input, so the same numbers (np.add.at was 1.1-5.6x slower
        here, for 192 to 6,400 places and vocabularies of 51 and 10,000).
        """
        tokens = cache.ravel()
        expected = (*cache.shape, self.output_dim)
        if np.shape(dy) != expected:
            raise ValueError(f"dy must have the outputs' shape {expected}, got {np.shape(dy)}")
        if tokens.size == 0:
            return None
        order = np.argsort(tokens, kind="stable")
        grouped = tokens[order]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])   # each token's first
        rows = np.reshape(dy, (-1, self.output_dim))[order]
        self.grads["embeddings"][grouped[starts]] += np.add.reduceat(rows, starts, axis=0)
        return None
