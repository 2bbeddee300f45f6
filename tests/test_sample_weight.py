"""fit's and evaluate's sample_weight, as Keras's: weighted loss, unweighted accuracy
(and seq_acc, ours, compares the weighted steps only).

The Keras numbers come from tests/fixtures/make_keras_sample_weight_fixture.py:
Keras 3's own fit (validation_split 0.25) and evaluate with weights per
sequence ((N, 1): Keras 3 refuses (N,) for sequence outputs) and per step.
"""

import os

import numpy as np
import pytest

import npseq2seq as ns
from npseq2seq.gradcheck import check_gradients

KERAS = os.path.join(os.path.dirname(__file__), "fixtures", "keras_sample_weight.npz")


@pytest.fixture(scope="module")
def keras():
    with np.load(KERAS) as data:
        return dict(data)


def from_keras(keras):
    return ns.EncoderDecoder.from_keras_weights([keras[f"initial_{i}"] for i in range(8)])


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", ["rows", "steps"])
def test_an_epoch_with_sample_weights_is_keras_fit(keras, case, workers):
    model = from_keras(keras)
    history = model.fit(keras["source"], keras["target"], batch_size=32, shuffle=False,
                        verbose=0, optimizer=ns.Adam(0.01), validation_split=0.25,
                        sample_weight=keras[f"{case}_weights"], workers=workers).history
    for i, ours in enumerate(model.get_weights()):
        step = np.abs(keras[f"{case}_{i}"] - keras[f"initial_{i}"]).max()
        assert np.abs(ours - keras[f"{case}_{i}"]).max() <= 1e-4 * step, (case, i)
    figures = [history[name][0] for name in ("loss", "acc", "val_loss", "val_acc")]
    np.testing.assert_allclose(figures, keras[f"{case}_history"], rtol=1e-6)


@pytest.mark.parametrize("case", ["rows", "steps"])
def test_evaluate_weighs_the_loss_and_not_the_accuracy_as_keras(keras, case):
    weights = keras[f"{case}_weights"]
    result = from_keras(keras).evaluate(keras["source"], keras["target"], sample_weight=weights,
                                        batch_size=7)
    np.testing.assert_allclose([result["loss"], result["acc"]], keras[f"{case}_evaluate"],
                               rtol=1e-6)
    unweighted = from_keras(keras).evaluate(keras["source"], keras["target"], batch_size=7)
    assert result["acc"] == unweighted["acc"] and result["loss"] != unweighted["loss"]


@pytest.mark.parametrize("design", [ns.EncoderDecoder, ns.RepeatVectorSeq2Seq])
def test_seq_acc_compares_the_steps_weighing_above_zero_of_the_sequences_that_have_one(design):
    source, _ = ns.reversal_task(6, n_in=4, n_out=3, cardinality=9, seed=0)
    model = ns.EncoderDecoder(9, 8, seed=0) if design is ns.EncoderDecoder else design(9, 8, 3)
    target = model.predict(source, n_steps=3)
    weights = np.ones((6, 3))
    target[0, 2], weights[0, 2] = (target[0, 2] + 1) % 9, 0    # wrong where it weighs 0
    target[1, 0] = (target[1, 0] + 1) % 9                        # wrong where it weighs 1
    target[2, 1], weights[2] = (target[2, 1] + 1) % 9, 0         # a sequence weighing nothing
    result = model.evaluate(source, target, sample_weight=weights)
    assert result["seq_acc"] == 4 / 5
    assert model.evaluate(source, target)["seq_acc"] == 3 / 6
    nothing = model.evaluate(source, target, sample_weight=np.zeros(6))["seq_acc"]
    assert np.isnan(nothing)


def test_a_weight_a_sequence_may_be_given_as_n_or_n_by_1():
    source, target = ns.reversal_task(40, n_in=4, n_out=3, cardinality=9, seed=0)
    weights = np.random.default_rng(0).uniform(0, 2, 40)
    model = ns.EncoderDecoder(9, 8, seed=0)
    per_step = np.repeat(weights[:, None], 3, axis=1)
    losses = [model.loss_and_gradients(source, target, sample_weight=w)[0]
              for w in (weights, weights[:, None], per_step)]
    assert losses[0] == losses[1] == losses[2]
    assert model.loss(source, target, sample_weight=weights) == pytest.approx(losses[0],
                                                                              rel=1e-6)


@pytest.mark.parametrize("cls", [ns.EncoderDecoder, ns.RepeatVectorSeq2Seq])
def test_weighted_gradients_match_finite_differences_in_float64(cls):
    source, target = ns.reversal_task(6, n_in=4, n_out=3, cardinality=7, seed=2)
    extra = {"n_out": 3} if cls is ns.RepeatVectorSeq2Seq else {}
    model = cls(7, 5, seed=2, dtype=np.float64, **extra)
    weights = np.random.default_rng(2).uniform(0, 2, (6, 3))
    weights[0] = 0
    _, grads = model.loss_and_gradients(source, target, sample_weight=weights)
    named = dict(model._named_params())
    report = check_gradients(
        lambda: model.loss_and_gradients(source, target, sample_weight=weights)[0],
        named, dict(zip(named, grads)))
    assert report.passed, str(report)


def test_weights_of_one_are_no_weights_and_zeros_give_nothing():
    source, target = ns.reversal_task(32, n_in=4, n_out=2, cardinality=9, seed=1)
    model = ns.EncoderDecoder(9, 8, seed=1, dtype=np.float64)
    loss, grads = model.loss_and_gradients(source, target)
    ones, ones_grads = model.loss_and_gradients(source, target, sample_weight=np.ones(32))
    assert ones == pytest.approx(loss, rel=1e-14)
    for a, b in zip(grads, ones_grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-16)
    zero, zero_grads = model.loss_and_gradients(source, target, sample_weight=np.zeros(32))
    assert zero == 0 and not any(g.any() for g in zero_grads)


def test_validation_data_may_carry_its_own_weights():
    source, target = ns.reversal_task(64, n_in=4, n_out=2, cardinality=9, seed=3)
    held_source, held_target = ns.reversal_task(20, n_in=4, n_out=2, cardinality=9, seed=4)
    held_weights = np.linspace(0, 1, 20)
    model, alone = ns.EncoderDecoder(9, 8, seed=3), ns.EncoderDecoder(9, 8, seed=3)
    history = model.fit(source, target, verbose=0,
                        validation_data=(held_source, held_target, held_weights))
    alone.fit(source, target, verbose=0)
    expected = alone.evaluate(held_source, held_target, sample_weight=held_weights)
    assert history.history["val_loss"] == [expected["loss"]]


@pytest.mark.parametrize("weights, error, message", [
    (np.ones(5), ValueError, r"sample_weight must have shape \(8,\) \(a weight a sequence\) "
                             r"or \(8, 2\) \(a weight a step\), got \(5,\)"),
    (np.ones((8, 3)), ValueError, r"or \(8, 2\) \(a weight a step\), got \(8, 3\)"),
    (np.r_[np.ones(5), -2.0, np.ones(2)], ValueError,
     r"sample_weight must be finite and at least 0, got -2\.0 at index \(5,\)"),
    (np.where(np.arange(16).reshape(8, 2) == 13, np.inf, 1.0), ValueError,
     r"sample_weight must be finite and at least 0, got inf at index \(6, 1\)"),
    (np.full((8, 1), np.nan), ValueError,
     r"sample_weight must be finite and at least 0, got nan at index \(0, 0\)"),
    (np.array(["1"] * 8), TypeError, "sample_weight must be numbers, got dtype <U1"),
])
def test_bad_sample_weights_are_named(weights, error, message):
    source, target = ns.reversal_task(8, n_in=4, n_out=2, cardinality=9, seed=0)
    with pytest.raises(error, match=message):
        ns.EncoderDecoder(9, 4, seed=0).fit(source, target, verbose=0, sample_weight=weights)


def test_a_validation_triples_weights_are_checked_against_its_own_targets():
    source, target = ns.reversal_task(8, n_in=4, n_out=2, cardinality=9, seed=0)
    with pytest.raises(ValueError, match=r"validation sample_weight must have shape \(8,\)"):
        ns.EncoderDecoder(9, 4, seed=0).fit(source, target, verbose=0,
                                            validation_data=(source, target, np.ones(3)))
