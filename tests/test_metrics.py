import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npseq2seq as ns


def counted_by_hand(true, predicted, n_classes):
    counts = [[0] * n_classes for _ in range(n_classes)]
    for i, j in zip(np.ravel(true).tolist(), np.ravel(predicted).tolist()):
        counts[i][j] += 1
    return counts


@st.composite
def token_pairs(draw):
    n_classes = draw(st.integers(1, 6))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    tokens = hnp.arrays(np.int64, shape, elements=st.integers(0, n_classes - 1))
    return draw(tokens), draw(tokens), n_classes


@settings(max_examples=60, deadline=None)
@given(token_pairs())
def test_confusion_matrix_counts_every_pair(pair):
    true, predicted, n_classes = pair
    counts = ns.confusion_matrix(true, predicted, n_classes)
    assert counts.shape == (n_classes, n_classes) and counts.dtype == np.int64
    assert counts.tolist() == counted_by_hand(true, predicted, n_classes)


@pytest.mark.parametrize("dtype", [np.uint64, np.uint8, np.int8, np.int32])
def test_confusion_matrix_takes_any_integer_dtype(dtype):
    counts = ns.confusion_matrix(np.array([1, 2, 2], dtype), np.array([1, 0, 2], dtype), 3)
    assert counts.tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_confusion_matrix_rows_are_true_columns_predicted():
    counts = ns.confusion_matrix([[1, 1, 2]], [[1, 2, 2]], n_classes=3)
    assert counts[1, 2] == 1 and counts[2, 1] == 0
    assert np.trace(counts) == 2


def test_confusion_matrix_of_a_model_matches_its_exact_accuracy():
    source, target = ns.reversal_task(300, n_in=4, n_out=2, cardinality=7, seed=3)
    model = ns.EncoderDecoder(n_features=7, n_units=8, seed=0)
    predicted = model.predict(source, n_steps=2)
    counts = ns.confusion_matrix(target, predicted, 7)
    assert counts.sum() == target.size
    assert np.trace(counts) == np.count_nonzero(target == predicted)
    assert counts[:, 0].sum() == np.count_nonzero(predicted == 0)


@pytest.mark.parametrize("true, predicted, n_classes, error, words", [
    ([1, 2], [1, 2, 3], 4, ValueError, "one shape, got (2,) and (3,)"),
    ([1.0, 2.0], [1, 2], 4, TypeError, "true must be integer tokens, got dtype float64"),
    ([1, 2], [[0.1, 0.9], [0.2, 0.8]], 4, TypeError, "one_hot_decode"),
    ([1, 4], [1, 2], 4, ValueError, "true tokens must lie in 0..3, got values from 1 to 4"),
    ([1, 2], [-1, 2], 4, ValueError, "predicted tokens must lie in 0..3, got values from -1"),
    ([1, 2], [1, 2], 0, ValueError, "n_classes must be at least 1, got 0"),
    ([1, 2], [1, 2], 2.5, TypeError, "n_classes must be an integer"),
])
def test_confusion_matrix_names_bad_input(true, predicted, n_classes, error, words):
    with pytest.raises(error) as raised:
        ns.confusion_matrix(true, predicted, n_classes)
    assert words in str(raised.value)


def test_accuracy_by_step():
    true = np.array([[1, 2, 3], [4, 5, 6]])
    predicted = np.array([[1, 0, 3], [4, 5, 0]])
    np.testing.assert_array_equal(ns.accuracy_by_step(true, predicted), [1.0, 0.5, 0.5])


def test_accuracy_by_step_counts_only_the_masked_in_sequences():
    true = np.array([[1, 2, 0], [4, 0, 0], [7, 8, 0]])
    predicted = np.array([[1, 5, 0], [4, 0, 6], [7, 8, 3]])
    mask = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1]], bool)
    np.testing.assert_array_equal(ns.accuracy_by_step(true, predicted, mask),
                                  [1.0, 2 / 3, 0.5])
    nothing_at_the_end = mask.copy()
    nothing_at_the_end[:, 2] = False
    assert np.isnan(ns.accuracy_by_step(true, predicted, nothing_at_the_end)[2])


@settings(max_examples=60, deadline=None)
@given(token_pairs(), st.data())
def test_a_masked_confusion_matrix_counts_the_masked_in_pairs(pair, data):
    true, predicted, n_classes = pair
    mask = data.draw(hnp.arrays(bool, true.shape))
    counts = ns.confusion_matrix(true, predicted, n_classes, mask=mask)
    assert counts.tolist() == counted_by_hand(true[mask], predicted[mask], n_classes)


@pytest.mark.parametrize("mask", [np.ones((2, 2), bool), np.ones((2, 3), int)])
def test_a_mask_of_another_shape_or_kind_is_named(mask):
    tokens = np.zeros((2, 3), np.int64)
    for measure in (ns.accuracy_by_step, lambda t, p, mask: ns.confusion_matrix(t, p, 2, mask)):
        with pytest.raises(ValueError, match=r"mask must be booleans of the tokens' shape "
                                             r"\(2, 3\), got"):
            measure(tokens, tokens, mask=mask)


@pytest.mark.parametrize("shape", [(3,), (0, 3), (2, 3, 1)])
def test_accuracy_by_step_wants_samples_by_steps(shape):
    tokens = np.zeros(shape, np.int64)
    with pytest.raises(ValueError, match=r"\(samples, steps\).*got shape"):
        ns.accuracy_by_step(tokens, tokens)


def test_most_confused_leaves_out_the_diagonal_and_zeros_largest_first():
    counts = np.array([[9, 0, 2],
                       [3, 9, 0],
                       [2, 5, 9]], np.uint32)
    assert ns.most_confused(counts, top=3) == [(2, 1, 5), (1, 0, 3), (0, 2, 2)]
    assert ns.most_confused(counts, top=10) == [(2, 1, 5), (1, 0, 3), (0, 2, 2), (2, 0, 2)]
    assert ns.most_confused(counts, top=0) == []
    assert ns.most_confused(np.diag([4, 4])) == []


@pytest.mark.parametrize("counts", [np.zeros((2, 3), np.int64), np.zeros((2, 2)),
                                    np.zeros(4, np.int64)])
def test_most_confused_wants_a_square_count_matrix(counts):
    with pytest.raises(ValueError, match="square integer matrix"):
        ns.most_confused(counts)
