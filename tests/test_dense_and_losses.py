import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npseq2seq import (Dense, accuracy, mean_absolute_error, mean_squared_error,
                       softmax_cross_entropy)
from npseq2seq.gradcheck import (check_dense, check_mean_absolute_error,
                                 check_mean_squared_error, check_softmax_cross_entropy)


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(4,), (3, 5), (2, 3, 4)]), out=st.integers(1, 6), seed=st.integers(0, 999))
def test_dense_gradients(shape, out, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(shape[-1], out, seed=seed, dtype=np.float64)
    layer.params["bias"][:] = rng.standard_normal(out)
    report = check_dense(layer, rng.standard_normal(shape), seed=seed)
    assert report.passed, str(report)


def test_dense_applies_the_same_weights_at_every_step():
    rng = np.random.default_rng(0)
    layer = Dense(4, 3, seed=0)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    y, _ = layer.forward(x)
    for t in range(5):
        np.testing.assert_allclose(y[:, t], x[:, t] @ layer.params["kernel"], rtol=1e-6)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), steps=st.integers(1, 4), classes=st.integers(2, 7),
       seed=st.integers(0, 999), use_mask=st.booleans())
def test_cross_entropy_gradient_for_integer_and_one_hot_targets(n, steps, classes, seed, use_mask):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, steps, classes))  # larger logits make p - y vanish below the noise
    targets = rng.integers(0, classes, (n, steps))
    mask = None
    if use_mask:
        mask = rng.integers(0, 2, (n, steps)).astype(float)
        mask[0, 0] = 1
    for t in (targets, np.eye(classes)[targets]):
        report = check_softmax_cross_entropy(logits, t, mask)
        assert report.passed, str(report)


def test_cross_entropy_is_mean_of_minus_log_p_over_batch_and_time():
    logits = np.log(np.array([[[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]]))  # softmax gives these p
    loss, dlogits = softmax_cross_entropy(logits, np.array([[0, 2]]))
    assert loss == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-12)
    # p - y, divided by the 2 steps averaged over
    np.testing.assert_allclose(dlogits, [[[-0.15, 0.1, 0.05], [0.125, 0.125, -0.25]]], atol=1e-12)


def test_integer_and_one_hot_targets_agree():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 4, 6)).astype(np.float32)
    targets = rng.integers(0, 6, (3, 4))
    a = softmax_cross_entropy(logits, targets)
    b = softmax_cross_entropy(logits, np.eye(6, dtype=np.float32)[targets])
    assert a[0] == pytest.approx(b[0], rel=1e-6)
    np.testing.assert_allclose(a[1], b[1], atol=1e-7)
    assert a[1].dtype == np.float32


def test_cross_entropy_of_a_non_contiguous_array_equals_that_of_its_copy():
    # a Fortran-ordered or transposed array must not lose the "- y" of p - y
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((4, 3, 5))
    targets = rng.integers(0, 5, (3, 4))
    expected = softmax_cross_entropy(logits.transpose(1, 0, 2).copy(), targets)
    for view in (logits.transpose(1, 0, 2), np.asfortranarray(logits.transpose(1, 0, 2))):
        loss, grad = softmax_cross_entropy(view, targets)
        assert loss == expected[0]
        np.testing.assert_array_equal(grad, expected[1])


def test_mask_ignores_steps():
    logits = np.random.default_rng(2).standard_normal((1, 3, 4))
    targets = np.array([[1, 2, 3]])
    masked, grad = softmax_cross_entropy(logits, targets, mask=np.array([[1.0, 1.0, 0.0]]))
    first_two, _ = softmax_cross_entropy(logits[:, :2], targets[:, :2])
    assert masked == pytest.approx(first_two, rel=1e-12)
    assert not grad[0, 2].any()


def test_extreme_logits_are_finite_and_silent():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = softmax_cross_entropy(logits, np.array([1, 1]))
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(2e4 / 2)  # first row: -log p_1 = 2e4; second row: 0


def test_mse_gradient_and_value():
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    assert check_mean_squared_error(pred, target).passed
    assert mean_squared_error(pred, target)[0] == pytest.approx(np.mean((pred - target) ** 2))


@pytest.mark.parametrize("use_mask", [False, True])
def test_mae_gradient_and_value(use_mask):
    rng = np.random.default_rng(4)
    pred = rng.standard_normal((2, 3, 4))
    target = pred + rng.choice([-1, 1], pred.shape) * rng.uniform(0.01, 2, pred.shape)
    mask = np.array([[1.0, 0.0, 1.0], [0.5, 1.0, 0.0]]) if use_mask else None
    assert check_mean_absolute_error(pred, target, mask).passed
    weights = np.ones((2, 3)) if mask is None else mask
    expected = np.sum(weights * np.abs(pred - target).mean(-1)) / weights.sum()
    assert mean_absolute_error(pred, target, mask)[0] == pytest.approx(expected, rel=1e-14)


def test_mae_gradient_is_zero_where_a_prediction_is_its_target():
    pred, target = np.array([[[1.0, 2.0, 3.0]]]), np.array([[[1.0, 2.5, 2.0]]])
    _, grad = mean_absolute_error(pred, target)
    np.testing.assert_array_equal(grad, [[[0.0, -1 / 3, 1 / 3]]])


KERAS_LOSSES = os.path.join(os.path.dirname(__file__), "fixtures", "keras_losses.npz")


@pytest.mark.parametrize("case", ["random", "ties"])
@pytest.mark.parametrize("name, loss", [
    ("mae", mean_absolute_error), ("mse", mean_squared_error), ("cce", softmax_cross_entropy)])
def test_losses_and_gradients_equal_keras_and_tensorflow_autodiff(case, name, loss):
    keras = np.load(KERAS_LOSSES)             # make_keras_loss_fixture.py
    predictions, targets = keras[f"{case}_predictions"], keras[f"{case}_targets"]
    if name == "cce":                          # predictions as logits, classes from argmax
        targets = targets.argmax(-1)
    value, grad = loss(predictions, targets)
    assert value == pytest.approx(float(keras[f"{case}_{name}"]), rel=1e-6)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, keras[f"{case}_{name}_grad"], rtol=1e-5, atol=1e-9)


def test_accuracy_counts_argmax_agreement_per_step():
    logits = np.array([[[2.0, 1.0], [0.0, 3.0], [5.0, 1.0]]])
    assert accuracy(logits, np.array([[0, 1, 1]])) == pytest.approx(2 / 3)
    assert accuracy(logits, np.eye(2)[np.array([[0, 0, 0]])]) == pytest.approx(2 / 3)


def test_accuracy_is_a_python_float_with_or_without_a_mask():
    # fit's History and evaluate hold it; a NumPy scalar printed as np.float64(...) there
    logits, targets = np.array([[[2.0, 1.0], [0.0, 3.0]]]), np.array([[0, 0]])
    assert type(accuracy(logits, targets)) is float
    assert type(accuracy(logits, targets, mask=np.array([[1, 0]]))) is float


@pytest.mark.parametrize("targets, message", [
    (np.array([[0, 5]]), r"0\.\.2.*from 0 to 5"),
    (np.array([[0, 1, 2]]), r"shape \(1, 2\), got \(1, 3\)"),
    (np.zeros((1, 2, 4)), r"shape \(1, 2, 3\), got \(1, 2, 4\)"),
])
def test_bad_targets_are_named(targets, message):
    with pytest.raises(ValueError, match=message):
        softmax_cross_entropy(np.zeros((1, 2, 3)), targets)


def test_uint64_targets_give_the_int64_loss_and_gradient():
    logits = np.random.default_rng(3).standard_normal((4, 3, 7))
    targets = np.random.default_rng(4).integers(0, 7, (4, 3))
    expected = softmax_cross_entropy(logits, targets)
    got = softmax_cross_entropy(logits, targets.astype(np.uint64))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
