import re

import numpy as np
import pytest

from npseq2seq import LSTM
from npseq2seq.gradcheck import (check_direction, check_gradients, check_lstm,
                                 numerical_gradient, relative_error)


def cubic_problem():
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    return x, (lambda: float(np.sum(x ** 3))), 3 * x ** 2


def test_numerical_gradient_of_a_known_function():
    x, f, exact = cubic_problem()
    np.testing.assert_allclose(numerical_gradient(f, x), exact, rtol=1e-9)
    assert np.array_equal(x, cubic_problem()[0])  # restored exactly


def test_check_passes_a_right_gradient_and_fails_a_wrong_one():
    x, f, exact = cubic_problem()
    assert check_gradients(f, {"x": x}, {"x": exact}).passed
    wrong = exact.copy()
    wrong[0, 1] *= -1  # a sign error in one element
    report = check_gradients(f, {"x": x}, {"x": wrong})
    assert not report.passed and report["x"].relative_error > 1e-2
    assert "FAIL" in str(report)


def test_direction_check_passes_right_and_fails_wrong():
    x, f, exact = cubic_problem()
    assert check_direction(f, {"x": x}, {"x": exact}).passed
    assert not check_direction(f, {"x": x}, {"x": 1.01 * exact}).passed
    one_sign_wrong = exact.copy()
    one_sign_wrong[1, 1] *= -1
    assert not check_direction(f, {"x": x}, {"x": one_sign_wrong}).passed
    assert np.array_equal(x, cubic_problem()[0])


def test_direction_check_of_a_model_catches_a_broken_gradient():
    import npseq2seq as ns
    from npseq2seq.gradcheck import check_model

    model = ns.EncoderDecoder(9, 6, seed=1, dtype=np.float64)
    source, target = ns.reversal_task(5, n_in=4, n_out=2, cardinality=9, seed=1)
    assert check_model(model, source, target, direction_only=True).passed
    broken = model.loss_and_gradients

    def transposed_block(src, tgt):  # swap two gate blocks of one gradient
        loss, grads = broken(src, tgt)
        grads[1] = np.concatenate([grads[1][:, 6:12], grads[1][:, :6], grads[1][:, 12:]], axis=1)
        return loss, grads

    model.loss_and_gradients = transposed_block
    report = check_model(model, source, target, direction_only=True)
    assert not report.passed and report["encoder/recurrent_kernel"].relative_error > 1e-3


def test_relative_error_definition():
    assert relative_error([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert relative_error([0.0], [0.0]) == 0.0
    assert relative_error([1.0], [0.0]) == 1.0
    assert relative_error([3.0], [1.0]) == pytest.approx(0.5)


@pytest.mark.parametrize("numeric", [np.ones(1), np.ones((3, 1))])
def test_relative_error_refuses_two_shapes(numeric):
    # broadcasting would compare (3,) with (1,) as equal, and with (3, 1) as a 3 x 3 table
    with pytest.raises(ValueError, match=rf"one shape, got \(3,\) and {re.escape(str(numeric.shape))}"):
        relative_error(np.ones(3), numeric)


def test_report_table_lists_every_array():
    layer = LSTM(3, 2, seed=0, dtype=np.float64)
    report = check_lstm(layer, np.ones((1, 2, 3)))
    text = str(report)
    for name in ("kernel", "recurrent_kernel", "bias", "h0", "c0", "x", "PASSED"):
        assert name in text


def test_float32_is_refused_with_advice():
    with pytest.raises(TypeError, match="dtype=np.float64"):
        check_lstm(LSTM(3, 2, seed=0), np.ones((1, 2, 3)))


@pytest.mark.parametrize("call, error, message", [
    (lambda x, f, g: check_gradients(f, [x], [g]), TypeError,
     "arrays must be a dict {name: array}, got list"),
    (lambda x, f, g: check_direction(f, {"x": x}, {"y": g}), ValueError,
     "analytic must have a gradient for every name in arrays, ['x']; it lacks ['x']"),
    (lambda x, f, g: check_gradients(f, {"x": x}, {"x": g[0]}), ValueError,
     "analytic gradient for 'x' has shape (2,), expected (2, 2)"),
    (lambda x, f, g: check_direction(f, {"x": x.astype(np.float32)}, {"x": g}), TypeError,
     "finite differences need a float64 array, got float32"),
    (lambda x, f, g: numerical_gradient(f, x.tolist()), TypeError,
     "finite differences need a float64 array, got list"),
    (lambda x, f, g: numerical_gradient(f, x, eps=0), ValueError,
     "eps must be a positive number, got 0"),
    (lambda x, f, g: numerical_gradient(lambda: x ** 3, x), TypeError,
     "f must return the scalar loss, got an array of shape (2, 2)"),
])
def test_a_misused_check_says_what_it_expected(call, error, message):
    x, f, exact = cubic_problem()
    with pytest.raises(error) as raised:
        call(x, f, exact)
    assert str(raised.value).startswith(message)
    assert np.array_equal(x, cubic_problem()[0])  # x untouched


def test_a_loss_that_raises_leaves_the_array_as_it_was():
    x, f, _ = cubic_problem()

    def breaks_on_a_move():
        if not np.array_equal(x, cubic_problem()[0]):
            raise RuntimeError("the student's loss failed")
        return f()

    with pytest.raises(RuntimeError):
        numerical_gradient(breaks_on_a_move, x)
    assert np.array_equal(x, cubic_problem()[0])
