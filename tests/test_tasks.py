import json
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npseq2seq as ns
from npseq2seq.tasks import check_finite


def test_reversal_task_shapes_ranges_and_targets():
    source, target = ns.reversal_task(500, n_in=6, n_out=3, cardinality=51, seed=1)
    assert source.shape == (500, 6) and target.shape == (500, 3)
    assert source.min() >= 1 and source.max() <= 50  # 0 is reserved for the start token
    for x, y in zip(source, target):
        assert list(y) == list(x[:3])[::-1]


def test_the_tutorials_example():
    # [13, 28, 18, 7, 9, 5] -> [18, 28, 13]: the first three, reversed
    source = np.array([[13, 28, 18, 7, 9, 5]])
    assert (source[:, :3][:, ::-1] == [[18, 28, 13]]).all()


def test_same_seed_same_data():
    a, b = ns.reversal_task(10, seed=3), ns.reversal_task(10, seed=3)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], ns.reversal_task(10, seed=4)[0])


def test_one_hot_round_trip_without_shape_surprises():
    tokens = np.array([[1, 0, 3], [2, 2, 1]])
    encoded = ns.one_hot(tokens, 4)
    assert encoded.shape == (2, 3, 4) and encoded.dtype == np.float32
    np.testing.assert_array_equal(ns.one_hot_decode(encoded), tokens)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_samples=-1), ValueError, "n_samples must be at least 1, got -1"),
    (dict(n_samples=10, n_in=3, n_out=4), ValueError, r"n_out must be at most n_in \(3\), got 4"),
    (dict(n_samples=10, cardinality=1), ValueError, "cardinality must be at least 2, got 1"),
    (dict(n_samples=2.5), TypeError, "n_samples must be an integer, got float 2.5"),
])
def test_bad_task_sizes_are_explained(kwargs, error, message):
    with pytest.raises(error, match=message):
        ns.reversal_task(**kwargs)


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"0\.\.3, got values from 0 to 4"):
        ns.one_hot(np.array([0, 4]), 4)
    with pytest.raises(TypeError, match="integer tokens"):
        ns.one_hot(np.array([0.5]), 4)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.uint32])
def test_tokens_that_index_as_they_are_are_left_alone(dtype):
    tokens = np.array([[0, 3], [5, 1]], dtype)
    assert ns.tasks.as_indices(tokens) is tokens


def test_uint64_tokens_become_intp_with_the_same_values():
    tokens = np.array([[0, 3], [5, 2**40]], np.uint64)
    indices = ns.tasks.as_indices(tokens)
    assert indices.dtype == np.intp
    np.testing.assert_array_equal(indices, tokens)


KERAS_PADDING = os.path.join(os.path.dirname(__file__), "fixtures", "keras_pad_sequences.json")
with open(KERAS_PADDING) as saved:
    PAD_CASES = json.load(saved)["cases"]          # make_keras_pad_fixture.py


@pytest.mark.parametrize("case", PAD_CASES, ids=lambda case: json.dumps(case["options"]))
def test_pad_sequences_is_keras_pad_sequences(case):
    padded = ns.pad_sequences(case["sequences"], **case["options"])
    assert padded.dtype.name == case["dtype"]
    np.testing.assert_array_equal(padded, np.array(case["padded"], dtype=case["dtype"]))


def test_pad_sequences_takes_arrays_and_an_all_empty_list():
    rows = [np.array([4, 5]), np.array([], np.int64), np.arange(1, 4)]
    np.testing.assert_array_equal(ns.pad_sequences(rows, padding="post"),
                                  [[4, 5, 0], [0, 0, 0], [1, 2, 3]])
    assert ns.pad_sequences([[], []]).shape == (2, 0)


@pytest.mark.parametrize("sequences, options, error, message", [
    ([[1, 2]], {"padding": "middle"}, ValueError, "padding must be 'pre' or 'post', got 'middle'"),
    ([[1, 2]], {"truncating": None}, ValueError, "truncating must be 'pre' or 'post', got None"),
    ([[1, 2]], {"maxlen": 0}, ValueError, "maxlen must be at least 1, got 0"),
    ([[1, 2], 3], {}, TypeError, "item 1 is not one: 3"),
    ([[[1, 2]], [[1, 2, 3]]], {}, ValueError,
     r"the sequences' elements must have one shape, got \(2,\), \(3,\)"),
])
def test_pad_sequences_names_what_it_cannot_pad(sequences, options, error, message):
    with pytest.raises(error, match=message):
        ns.pad_sequences(sequences, **options)


@settings(max_examples=50, deadline=None)
@given(lengths=st.lists(st.integers(0, 7), min_size=1, max_size=6),
       maxlen=st.one_of(st.none(), st.integers(1, 9)),
       padding=st.sampled_from(["pre", "post"]), truncating=st.sampled_from(["pre", "post"]))
def test_pad_sequences_keeps_what_fits_where_it_says_and_fills_the_rest(
        lengths, maxlen, padding, truncating):
    sequences = [list(range(10 * row + 1, 10 * row + 1 + n)) for row, n in enumerate(lengths)]
    padded = ns.pad_sequences(sequences, maxlen=maxlen, padding=padding,
                              truncating=truncating, value=-1)
    width = max(lengths) if maxlen is None else maxlen
    assert padded.shape == (len(sequences), width)
    for row, s in zip(padded, sequences):
        kept = s[len(s) - min(len(s), width):] if truncating == "pre" else s[:width]
        filled = [-1] * (width - len(kept))
        assert row.tolist() == (kept + filled if padding == "post" else filled + kept)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.sampled_from([np.nan, np.inf, -np.inf, -1.0]), st.data())
def test_check_finite_names_the_first_bad_value_and_where_it_is(shape, bad, data):
    x = np.ones(shape)
    positions = data.draw(st.sets(st.integers(0, x.size - 1), min_size=1))
    x.flat[sorted(positions)] = bad
    first = np.unravel_index(min(positions), x.shape)
    minimum = 0 if bad == -1.0 else data.draw(st.sampled_from([None, 0]))
    wanted = "finite" if minimum is None else "finite and at least 0"
    with pytest.raises(ValueError, match=re.escape(
            f"x must be {wanted}, got {bad} at index {tuple(map(int, first))}")):
        check_finite(x, "x", minimum=minimum)
    x.flat[sorted(positions)] = 0.0
    check_finite(x, "x", minimum=minimum)          # all finite, none below 0: no error
