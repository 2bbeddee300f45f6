"""Embedding: the lookup and its gradient against one-hot products, and its checks."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, integer_dtypes, unsigned_integer_dtypes

import npseq2seq as ns
from npseq2seq import gradcheck

token_arrays = st.tuples(st.integers(1, 9), array_shapes(min_dims=1, max_dims=3, max_side=5),
                         st.one_of(integer_dtypes(), unsigned_integer_dtypes()),
                         st.integers(0, 2**32 - 1))


def drawn(vocabulary, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, min(vocabulary, np.iinfo(dtype).max + 1), shape).astype(dtype)


@settings(max_examples=40, deadline=None)
@given(token_arrays, st.integers(1, 6))
def test_the_lookup_and_its_gradient_are_one_hot_products(drawn_tokens, width):
    vocabulary, shape, dtype, seed = drawn_tokens
    tokens = drawn(vocabulary, shape, dtype, seed)
    layer = ns.Embedding(vocabulary, width, seed=seed, dtype=np.float64)
    one_hot = np.eye(vocabulary)[tokens.astype(np.int64)]          # (..., V)
    y, cache = layer.forward(tokens)
    np.testing.assert_array_equal(y, one_hot @ layer.params["embeddings"])
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    assert layer.backward(dy, cache) is None
    expected = one_hot.reshape(-1, vocabulary).T @ dy.reshape(-1, width)
    np.testing.assert_allclose(layer.grads["embeddings"], expected, rtol=1e-12, atol=1e-12)


def test_backward_adds_to_what_the_grads_hold():
    layer = ns.Embedding(5, 2, seed=1, dtype=np.float64)
    tokens = np.array([[4, 0, 4]])
    _, cache = layer.forward(tokens)
    layer.backward(np.ones((1, 3, 2)), cache)
    layer.backward(np.ones((1, 3, 2)), cache)
    np.testing.assert_array_equal(layer.grads["embeddings"][:, 0], [2, 0, 0, 0, 4])
    layer.zero_grads()
    assert not layer.grads["embeddings"].any()


@pytest.mark.parametrize("tokens", [np.array([3]), np.array([[1, 2, 1], [0, 6, 1]]),
                                    np.arange(7).reshape(7, 1, 1)])
def test_the_gradient_check_passes(tokens):
    report = gradcheck.check_embedding(ns.Embedding(7, 4, seed=2, dtype=np.float64), tokens)
    assert report.passed, str(report)


def test_the_gradient_check_fails_a_wrong_gradient():
    class Doubled(ns.Embedding):
        def backward(self, dy, cache):
            return super().backward(2 * dy, cache)

    report = gradcheck.check_embedding(Doubled(7, 4, seed=2, dtype=np.float64), np.array([1, 1]))
    assert not report.passed


def test_the_table_starts_as_keras_uniform_and_the_seed_fixes_it():
    table = ns.Embedding(1000, 64, seed=3).params["embeddings"]
    assert table.dtype == np.float32 and table.shape == (1000, 64)
    assert -0.05 <= table.min() < -0.049 and 0.049 < table.max() < 0.05
    assert abs(table.mean()) < 1e-3
    np.testing.assert_array_equal(table, ns.Embedding(1000, 64, seed=3).params["embeddings"])
    assert not np.array_equal(table, ns.Embedding(1000, 64, seed=4).params["embeddings"])


def test_pretrained_vectors_are_copied_into_the_layers_dtype():
    vectors = np.arange(12.0).reshape(4, 3)
    layer = ns.Embedding.from_pretrained(vectors)
    assert (layer.input_dim, layer.output_dim, layer.dtype) == (4, 3, np.float32)
    vectors[0] = 99
    np.testing.assert_array_equal(layer.forward(np.array([0, 3]))[0], [[0, 1, 2], [9, 10, 11]])
    assert ns.Embedding.from_pretrained(vectors, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("call, error, message", [
    (lambda e: e.forward(np.array([0.0, 1.0])), TypeError,
     "Embedding input must be integer tokens, got dtype float64"),
    (lambda e: e.forward(np.array([0, 5])), ValueError,
     "Embedding tokens must lie in 0..4, got values from 0 to 5"),
    (lambda e: e.forward(np.array([-1])), ValueError, "Embedding tokens must lie in 0..4"),
    (lambda e: e.backward(np.ones((2, 3)), e.forward(np.array([0, 1]))[1]), ValueError,
     "dy must have the outputs' shape (2, 2), got (2, 3)"),
    (lambda e: ns.Embedding.from_pretrained(np.ones(3)), ValueError,
     "vectors must be a 2-D array of numbers (vocabulary, width), got shape (3,)"),
    (lambda e: ns.Embedding.from_pretrained(np.ones((0, 3))), ValueError,
     "vectors must be a 2-D array of numbers (vocabulary, width), got shape (0, 3)"),
    (lambda e: ns.Embedding.from_pretrained([[1.0, np.nan]]), ValueError,
     "vectors must be finite, got nan at index (0, 1)"),
    (lambda e: ns.Embedding(0, 2), ValueError, "input_dim must be at least 1, got 0"),
    (lambda e: gradcheck.check_embedding(e, np.array([1])), TypeError,
     "gradient checks need a float64 layer"),
])
def test_bad_input_is_named(call, error, message):
    layer = ns.Embedding(5, 2, seed=0)
    with pytest.raises(error, match=re.escape(message)):
        call(layer)
