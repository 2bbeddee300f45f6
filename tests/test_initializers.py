import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npseq2seq.initializers import glorot_uniform, lstm_bias, orthogonal


@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_glorot_uniform_shape_and_bounds(fan_in, fan_out, seed):
    w = glorot_uniform(np.random.default_rng(seed), (fan_in, fan_out))
    assert w.shape == (fan_in, fan_out) and w.dtype == np.float32
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert np.all(np.abs(w) <= limit)


def test_glorot_uniform_fills_its_range():
    w = glorot_uniform(np.random.default_rng(0), (200, 300), dtype=np.float64)
    limit = np.sqrt(6 / 500)
    assert w.max() > 0.99 * limit and w.min() < -0.99 * limit
    assert abs(w.var() - limit**2 / 3) < 0.02 * limit**2  # variance of U(-l, l) is l^2/3


@given(st.integers(1, 40), st.sampled_from([1, 2, 4]), st.integers(0, 2**32 - 1))
def test_orthogonal_lstm_recurrent_kernel_has_orthonormal_rows(units, factor, seed):
    q = orthogonal(np.random.default_rng(seed), (units, factor * units), dtype=np.float64)
    assert q.shape == (units, factor * units) and q.flags.c_contiguous
    np.testing.assert_allclose(q @ q.T, np.eye(units), atol=1e-12)


def test_orthogonal_tall_matrix_has_orthonormal_columns():
    q = orthogonal(np.random.default_rng(3), (9, 4), dtype=np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)


def test_orthogonal_sign_fix_makes_r_diagonal_positive():
    # With q *= sign(diag(r)), q is the Q of a QR whose R has a positive diagonal:
    # recompute it from the same normal draw.
    a = np.random.default_rng(5).standard_normal((12, 3))
    q = orthogonal(np.random.default_rng(5), (3, 12), dtype=np.float64).T
    r = q.T @ a
    assert np.all(np.diag(r) > 0)
    np.testing.assert_allclose(np.tril(r, -1), 0, atol=1e-12)


def test_same_seed_same_weights_different_seed_different_weights():
    a = orthogonal(np.random.default_rng(7), (8, 32))
    b = orthogonal(np.random.default_rng(7), (8, 32))
    c = orthogonal(np.random.default_rng(8), (8, 32))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_lstm_bias_sets_only_the_forget_block():
    b = lstm_bias(3)
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert not lstm_bias(3, unit_forget_bias=False).any()


def test_bad_shape_is_named():
    with pytest.raises(ValueError, match=r"got \(0, 4\)"):
        glorot_uniform(np.random.default_rng(0), (0, 4))
