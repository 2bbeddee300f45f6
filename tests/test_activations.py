import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from npseq2seq import activations as act

finite_floats = arrays(np.float64, st.integers(1, 20),
                       elements=st.floats(-50, 50, allow_nan=False))


@given(finite_floats)
def test_sigmoid_matches_textbook_formula(x):
    np.testing.assert_allclose(act.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-300)


def test_extreme_inputs_are_finite_and_silent():
    x = np.array([-1e4, -1000.0, -40.0, 0.0, 40.0, 1000.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (act.sigmoid, act.hard_sigmoid, act.hard_sigmoid_keras3, act.tanh):
            assert np.all(np.isfinite(f(x)))
        p = act.softmax(np.stack([x, -x]))
        logp = act.log_softmax(np.stack([x, -x]))
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    assert act.sigmoid(np.array([-1000.0]))[0] == 0.0
    assert act.sigmoid(np.array([1000.0]))[0] == 1.0
    assert logp[0, -1] == 0.0 and logp[0, 0] == -2e4  # exact, not -inf


def test_sigmoid_keeps_float32():
    assert act.sigmoid(np.zeros(3, np.float32)).dtype == np.float32
    assert act.hard_sigmoid(np.zeros(3, np.float32)).dtype == np.float32


def test_hard_sigmoid_forms():
    x = np.array([-4.0, -3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0, 4.0])
    # Keras 2: clip(0.2 x + 0.5): saturates at |x| >= 2.5
    np.testing.assert_allclose(act.hard_sigmoid(x), [0, 0, 0, 0.3, 0.5, 0.7, 1, 1, 1])
    # Keras 3: clip(x / 6 + 0.5): saturates at |x| >= 3
    np.testing.assert_allclose(act.hard_sigmoid_keras3(x),
                               [0, 0, 1 / 12, 1 / 3, 0.5, 2 / 3, 11 / 12, 1, 1])


@pytest.mark.parametrize("name", sorted(act.RECURRENT_ACTIVATIONS))
def test_derivative_from_output_matches_finite_difference(name):
    f, derivative = act.get_recurrent_activation(name)
    # points away from the hard sigmoid's kinks at +-2.5 and +-3
    x = np.array([-6.0, -2.0, -0.7, 0.0, 0.3, 1.9, 5.0])
    eps = 1e-6
    numeric = (f(x + eps) - f(x - eps)) / (2 * eps)
    np.testing.assert_allclose(derivative(f(x)), numeric, rtol=1e-7, atol=1e-9)


def test_tanh_derivative_from_output():
    x = np.linspace(-3, 3, 13)
    eps = 1e-6
    numeric = (np.tanh(x + eps) - np.tanh(x - eps)) / (2 * eps)
    np.testing.assert_allclose(act.tanh_derivative(np.tanh(x)), numeric, rtol=1e-7)


def test_unknown_recurrent_activation_names_the_choices():
    with pytest.raises(ValueError, match="hard_sigmoid_keras3.*got 'relu'"):
        act.get_recurrent_activation("relu")


@settings(max_examples=50)
@given(arrays(np.float64, (3, 5), elements=st.floats(-1e4, 1e4, allow_nan=False)))
def test_softmax_is_a_distribution_and_log_softmax_agrees(x):
    p = act.softmax(x)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    logp = act.log_softmax(x)
    mask = p > 1e-300
    np.testing.assert_allclose(np.log(p[mask]), logp[mask], rtol=1e-9, atol=1e-12)
