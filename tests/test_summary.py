"""What a model or layer says about itself: repr, count_params, summary."""

import os

import numpy as np
import pytest

import npseq2seq as ns

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# the fixtures' Keras models: cardinality 11, 16 units, 3 out (make_keras_fixtures.py)
KERAS_MODELS = [("keras_encoder_decoder.npz", lambda: ns.EncoderDecoder(11, 16, seed=0)),
                ("keras_repeat_vector.npz", lambda: ns.RepeatVectorSeq2Seq(11, 16, 3, seed=0))]
LAYER_WEIGHTS = {"encoder": (0, 3), "decoder": (3, 6), "dense": (6, 8)}   # get_weights() order


def keras_weights(name):
    with np.load(os.path.join(FIXTURES, name)) as saved:
        return [saved[f"weight_{k}"] for k in range(8)]


@pytest.mark.parametrize("fixture, build", KERAS_MODELS, ids=["encoder-decoder", "repeat-vector"])
def test_count_params_and_summary_count_what_keras_saved(fixture, build, capsys):
    weights, model = keras_weights(fixture), build()
    assert model.count_params() == sum(w.size for w in weights)
    model.summary()
    rows = {line.split()[0]: line.split()[-1] for line in capsys.readouterr().out.splitlines()}
    for layer, (first, last) in LAYER_WEIGHTS.items():
        assert rows[layer] == f"{sum(w.size for w in weights[first:last]):,}"
    assert rows["total"] == f"{sum(w.size for w in weights):,}"


def test_summary_shows_the_repeat_vector_without_weights_and_the_training_done(capsys):
    model = ns.RepeatVectorSeq2Seq(7, 4, n_out=2, seed=0)
    model.summary()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == repr(model) and lines[-1] == "(N: sequences in a batch; untrained)"
    repeat = next(line.split() for line in lines if line.startswith("repeat"))
    assert repeat[1] == "RepeatVector" and repeat[-1] == "0"
    source, target = ns.reversal_task(40, n_in=4, n_out=2, cardinality=7, seed=0)
    model.fit(source, target, epochs=2, verbose=0)
    model.summary()
    assert capsys.readouterr().out.splitlines()[-1] == (
        "(N: sequences in a batch; trained 2 epoch(s) on targets of length 2)")


@pytest.mark.parametrize("model", [
    ns.EncoderDecoder(9, 5, seed=3),
    ns.RepeatVectorSeq2Seq(9, 5, n_out=4, recurrent_activation="hard_sigmoid", seed=3,
                           dtype=np.float64),
], ids=lambda value: type(value).__name__)
def test_a_models_repr_is_the_call_that_builds_it(model):
    again = eval(repr(model), vars(ns))
    assert type(again) is type(model) and again.get_config() == model.get_config()
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)         # the same seed: the same weights


@pytest.mark.parametrize("layer", [
    ns.LSTM(3, 4, recurrent_activation="hard_sigmoid", seed=0),
    ns.Dense(4, 5, seed=0, dtype=np.float64),
    ns.Embedding(7, 2, seed=0),
], ids=lambda value: type(value).__name__)
def test_a_layers_repr_builds_a_layer_of_its_shapes(layer):
    again = eval(repr(layer), vars(ns))
    assert type(again) is type(layer) and repr(again) == repr(layer)
    assert {name: (p.shape, p.dtype) for name, p in again.params.items()} == {
        name: (p.shape, p.dtype) for name, p in layer.params.items()}
