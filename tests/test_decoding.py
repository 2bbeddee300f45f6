"""Beam search against an exhaustive search, greedy decoding and its own chunking."""

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npseq2seq as ns
from npseq2seq.activations import log_softmax
from npseq2seq.cli import main


def scored_by_teacher_forcing(model, source, sequences):
    """(N, k, T) sequences of (N, T_in) sources -> their (N, k) log-probabilities,
    computed on the training path (teacher forcing), not the decoder's stepping."""
    n, k, _ = sequences.shape
    flat = sequences.reshape(n * k, -1)
    logits, _ = model._forward(np.repeat(source, k, axis=0), flat)
    steps = np.take_along_axis(log_softmax(logits), flat[:, :, None], axis=2)
    return steps[:, :, 0].sum(axis=1).reshape(n, k)


def every_sequence_scored(model, source, n_steps):
    """All V^n_steps sequences for one source and their log-probabilities."""
    sequences = np.array(list(itertools.product(range(model.n_features), repeat=n_steps)))
    return sequences, scored_by_teacher_forcing(model, source[None], sequences[None])[0]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_features=st.integers(2, 5), n_steps=st.integers(1, 3))
def test_a_beam_as_wide_as_every_sequence_returns_them_all_in_order(seed, n_features, n_steps):
    model = ns.EncoderDecoder(n_features, 6, seed=seed, dtype=np.float64)
    source = np.random.default_rng(seed).integers(0, n_features, (2, 4))
    width = n_features ** n_steps
    found, log_probs = model.beam_search(source, width, n_steps)
    assert found.shape == (2, width, n_steps) and log_probs.shape == (2, width)
    for one, sequences, scores in zip(source, found, log_probs):
        everything, true = every_sequence_scored(model, one, n_steps)
        assert np.all(np.diff(scores) <= 0)                     # best first
        assert sorted(map(tuple, sequences)) == sorted(map(tuple, everything))
        index = {tuple(s): i for i, s in enumerate(everything)}
        expected = true[[index[tuple(s)] for s in sequences]]
        np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_features=st.integers(2, 5), n_steps=st.integers(2, 4))
def test_a_beam_of_v_to_the_t_minus_1_finds_the_likeliest_sequence(seed, n_features, n_steps):
    model = ns.EncoderDecoder(n_features, 6, seed=seed, dtype=np.float64)
    source = np.random.default_rng(seed).integers(0, n_features, (1, 3))
    found, log_probs = model.beam_search(source, n_features ** (n_steps - 1), n_steps)
    everything, true = every_sequence_scored(model, source[0], n_steps)
    best = np.argmax(true)
    assert np.sort(true)[-2] < true[best] - 1e-9, "two sequences tie: no unique answer"
    assert found[0, 0].tolist() == everything[best].tolist()
    assert log_probs[0, 0] == pytest.approx(true[best], rel=1e-12)


def every_ended_sequence_scored(model, source, n_steps):
    """The sequences that repeat model.end_token after it, each scored up to
    and including its first end_token (the steps after it cost nothing)."""
    everything, _ = every_sequence_scored(model, source, n_steps)
    end = model.end_token
    after_end = np.logical_or.accumulate(everything == end, axis=1)
    ended = everything[np.all((everything == end) | ~after_end, axis=1)]
    logits, _ = model._forward(np.repeat(source[None], len(ended), axis=0), ended)
    steps = np.take_along_axis(log_softmax(logits), ended[:, :, None], axis=2)[:, :, 0]
    counted = np.arange(n_steps) <= np.argmax(np.c_[ended == end, np.ones(len(ended), bool)],
                                              axis=1)[:, None]
    return ended, np.where(counted, steps, 0).sum(axis=1)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_features=st.integers(2, 4), n_steps=st.integers(1, 4),
       end=st.integers(0, 3))
def test_with_an_end_token_a_wide_beam_scores_each_sequence_up_to_its_end(seed, n_features,
                                                                          n_steps, end):
    end = end % n_features
    model = ns.EncoderDecoder(n_features, 6, seed=seed, dtype=np.float64, end_token=end)
    source = np.random.default_rng(seed).integers(0, n_features, (1, 3))
    ended, true = every_ended_sequence_scored(model, source[0], n_steps)
    width = n_features ** (n_steps - 1)         # every prefix kept: the best are exact
    found, log_probs = model.beam_search(source, width, n_steps)
    best = np.argsort(-true, kind="stable")[:width]
    assert found[0][np.isfinite(log_probs[0])].tolist() == ended[best].tolist()
    np.testing.assert_allclose(log_probs[0][:len(best)], true[best], rtol=1e-12)


def test_predict_repeats_the_end_token_after_a_sequence_ends():
    source, _ = ns.reversal_task(500, 5, 3, cardinality=5, seed=2)
    for plain, ending in ((ns.EncoderDecoder(5, 8, seed=3), ns.EncoderDecoder(5, 8, seed=3,
                                                                              end_token=0)),
                          (ns.RepeatVectorSeq2Seq(5, 8, 6, seed=3),
                           ns.RepeatVectorSeq2Seq(5, 8, 6, seed=3, end_token=0))):
        free, ended = plain.predict(source, n_steps=6), ending.predict(source, n_steps=6)
        after = np.logical_or.accumulate(free == 0, axis=1) & (free != 0)
        assert after.any()                                          # the test can fail
        assert np.all(ended[after] == 0) and np.all(ended[~after] == free[~after])


def test_a_beam_search_with_an_end_token_repeats_it_after_each_beams_end():
    model = ns.EncoderDecoder(5, 8, seed=3, end_token=0)
    source, _ = ns.reversal_task(200, 5, 3, cardinality=5, seed=2)
    sequences, _ = model.beam_search(source, 4, n_steps=6)
    first_end = np.logical_or.accumulate(sequences == 0, axis=2)
    assert first_end.any() and not first_end.all()
    assert np.all(sequences[first_end] == 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_features=st.integers(2, 4), n_out=st.integers(1, 4),
       end=st.integers(0, 3))
def test_a_repeat_vector_model_with_an_end_token_finds_the_likeliest_ended_sequence(
        seed, n_features, n_out, end):
    end = end % n_features
    model = ns.RepeatVectorSeq2Seq(n_features, 6, n_out, seed=seed, dtype=np.float64,
                                   end_token=end)
    source = np.random.default_rng(seed).integers(0, n_features, (3, 3))
    found = model.predict(source, beam_width=2)
    log_p = np.log(model.predict_proba(source))                 # steps independent
    everything = np.array(list(itertools.product(range(n_features), repeat=n_out)))
    after = np.logical_or.accumulate(everything == end, axis=1)
    ended = everything[np.all((everything == end) | ~after, axis=1)]
    counted = np.ones(ended.shape, bool)
    counted[:, 1:] = ~np.logical_or.accumulate(ended == end, axis=1)[:, :-1]
    for row, tokens in zip(log_p, found):
        scores = np.where(counted, row[np.arange(n_out), ended], 0).sum(axis=1)
        assert tokens.tolist() in ended.tolist()
        assert scores[ended.tolist().index(tokens.tolist())] == pytest.approx(scores.max(),
                                                                              rel=1e-12)


def test_the_likeliest_ended_sequence_is_not_always_the_greedy_one():
    model = ns.RepeatVectorSeq2Seq(5, 8, 4, seed=3, end_token=0)
    source, _ = ns.reversal_task(2000, 5, 3, cardinality=5, seed=2)
    greedy, likeliest = model.predict(source), model.predict(source, beam_width=2)
    assert np.any(greedy != likeliest)
    assert np.array_equal(ns.RepeatVectorSeq2Seq(5, 8, 4, seed=3).predict(source, beam_width=2),
                          ns.RepeatVectorSeq2Seq(5, 8, 4, seed=3).predict(source))


@pytest.mark.parametrize("end_token, error, message", [
    (5, ValueError, "end_token must be a token, 0..4, got 5"),
    (-1, ValueError, "end_token must be at least 0, got -1"),
    (True, TypeError, "end_token must be an integer, got bool True"),
])
def test_a_bad_end_token_is_named(end_token, error, message):
    with pytest.raises(error, match=re.escape(message)):
        ns.EncoderDecoder(5, 4, end_token=end_token)


def test_the_end_token_is_saved_and_shown(tmp_path):
    model = ns.RepeatVectorSeq2Seq(6, 4, 3, seed=0, end_token=5)
    model.save(tmp_path / "m.npz")
    assert ns.load(tmp_path / "m.npz").end_token == 5 and "end_token=5" in repr(model)
    assert ns.EncoderDecoder(6, 4).end_token is None


@pytest.mark.parametrize("width", [2, 3, 10])
def test_every_beam_is_scored_by_its_true_log_probability(width):
    model = ns.EncoderDecoder(11, 16, seed=4, dtype=np.float64)
    source, _ = ns.reversal_task(40, 5, 3, cardinality=11, seed=4)
    sequences, log_probs = model.beam_search(source, width, n_steps=3)
    np.testing.assert_allclose(log_probs, scored_by_teacher_forcing(model, source, sequences),
                               rtol=1e-12)
    assert np.all(np.diff(log_probs, axis=1) <= 0)
    for beams in sequences:                                     # no sequence twice
        assert len(set(map(tuple, beams))) == width


@pytest.mark.parametrize("n", [1, 300, 1500])
def test_a_beam_of_one_is_greedy_decoding(n):
    model = ns.EncoderDecoder(51, 32, seed=2)
    source, _ = ns.reversal_task(n, seed=3)
    greedy = model.predict(source, n_steps=3)
    sequences, log_probs = model.beam_search(source, 1, n_steps=3)
    np.testing.assert_array_equal(sequences[:, 0], greedy)
    assert log_probs.dtype == np.float64 and log_probs.shape == (n, 1)


def test_a_beam_of_one_tells_float32_logits_one_ulp_apart_as_greedy_decoding_does():
    model = ns.EncoderDecoder(5, 4, seed=0)                     # float32
    model.dense.params["kernel"][:] = 0                         # logits = bias, every step
    low = np.float32(1e-3)
    model.dense.params["bias"][:] = [low, np.nextafter(low, np.float32(1)), -30, -30, -30]
    source = np.array([[1, 2, 3]])
    assert model.predict(source, n_steps=2).tolist() == [[1, 1]]
    assert model.beam_search(source, 1, n_steps=2)[0][:, 0].tolist() == [[1, 1]]


def test_wider_beams_never_lose_the_likeliest_they_keep_and_predict_takes_the_best():
    model = ns.EncoderDecoder(11, 16, seed=6, dtype=np.float64)
    source, _ = ns.reversal_task(200, 5, 3, cardinality=11, seed=6)
    narrow, narrow_scores = model.beam_search(source, 3, n_steps=3)
    wide, wide_scores = model.beam_search(source, 121, n_steps=3)  # 11^2: exact
    assert np.all(wide_scores[:, 0] >= narrow_scores[:, 0] - 1e-12)
    np.testing.assert_array_equal(model.predict(source, 3, beam_width=3), narrow[:, 0])
    assert not np.array_equal(narrow[:, 0], model.predict(source, 3)), \
        "the test wants sources where beam and greedy differ"


def test_chunks_threads_and_one_hot_sources_give_the_same_beams():
    model = ns.EncoderDecoder(11, 16, seed=8, dtype=np.float64)
    source, _ = ns.reversal_task(700, 5, 3, cardinality=11, seed=8)
    whole = model.beam_search(source, 4, 3, batch_size=700, threads=1)
    chunked = model.beam_search(source, 4, 3, batch_size=100, threads=2)
    one_hot = model.beam_search(ns.one_hot(source, 11, dtype=np.float64), 4, 3)
    for other in (chunked, one_hot):
        np.testing.assert_array_equal(other[0], whole[0])
        np.testing.assert_allclose(other[1], whole[1], rtol=1e-12)


def test_the_repeat_vector_model_takes_a_beam_width_and_its_argmax_is_already_the_best():
    model = ns.RepeatVectorSeq2Seq(7, 8, n_out=2, seed=1, dtype=np.float64)
    source, _ = ns.reversal_task(30, 4, 2, cardinality=7, seed=1)
    np.testing.assert_array_equal(model.predict(source, beam_width=5), model.predict(source))
    probs, _ = model._forward(source)
    everything = np.array(list(itertools.product(range(7), repeat=2)))
    for one, logits in zip(model.predict(source), probs):
        scores = log_softmax(logits)[np.arange(2), everything].sum(axis=1)
        assert everything[np.argmax(scores)].tolist() == one.tolist()


@pytest.mark.parametrize("call, error, message", [
    (lambda m, s: m.beam_search(s, 0, 2), ValueError, "beam_width must be at least 1, got 0"),
    (lambda m, s: m.beam_search(s, 2.5, 2), TypeError, "beam_width must be an integer, got float"),
    (lambda m, s: m.beam_search(s, 50, 2), ValueError,
     "beam_width must be at most the number of possible sequences, n_features ** n_steps = 49, "
     "got 50"),
    (lambda m, s: m.beam_search(s, 2), ValueError, "n_steps is needed"),
    (lambda m, s: m.predict(s, 2, beam_width=0), ValueError, "beam_width must be at least 1"),
    (lambda m, s: m.evaluate(s, s[:, :2], beam_width=-1), ValueError,
     "beam_width must be at least 1"),
    (lambda m, s: m.beam_search(s[:, :, None], 2, 2), ValueError,
     "source tokens must have shape (samples, steps), got shape (3, 4, 1)"),
])
def test_bad_beam_arguments_are_named(call, error, message):
    model = ns.EncoderDecoder(7, 4, seed=0)
    source, _ = ns.reversal_task(3, 4, 2, cardinality=7, seed=0)
    with pytest.raises(error, match=re.escape(message)):
        call(model, source)


def test_evaluate_scores_the_beams_best():
    model = ns.EncoderDecoder(11, 16, seed=6)
    source, _ = ns.reversal_task(300, 5, 3, cardinality=11, seed=9)
    target = model.predict(source, beam_width=4, n_steps=3)      # what the beam finds
    assert model.evaluate(source, target, beam_width=4)["seq_acc"] == 1
    greedy = np.mean(np.all(model.predict(source, n_steps=3) == target, axis=1))
    assert model.evaluate(source, target)["seq_acc"] == greedy < 1


def test_the_cli_prints_the_beams_best_first_with_their_log_probabilities(tmp_path, capsys):
    path = tmp_path / "model.npz"
    model = ns.EncoderDecoder(11, 16, seed=6)
    model.target_length = 3
    model.save(path)
    assert main(["predict", str(path), "2", "7", "3", "5", "9", "--beam-width", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    sequences, log_probs = model.beam_search(np.array([[2, 7, 3, 5, 9]]), 4)
    assert lines == [" ".join(map(str, s)) + f"  (log p = {p:.4f})"
                     for s, p in zip(sequences[0], log_probs[0])]


def test_the_cli_says_a_repeat_vector_model_needs_no_beam(tmp_path, capsys):
    path = tmp_path / "rv.npz"
    ns.RepeatVectorSeq2Seq(11, 8, n_out=3, seed=0).save(path)
    assert main(["predict", str(path), "2", "7", "3", "--beam-width", "3"]) == 2
    assert "never reads its own outputs, so it has none; its likeliest sequence is what " in (
        capsys.readouterr().err)


def test_the_cli_prints_a_repeat_vector_models_likeliest_ended_sequences(tmp_path, capsys):
    path, sources = tmp_path / "rv.npz", tmp_path / "sources.txt"
    model = ns.RepeatVectorSeq2Seq(5, 8, 4, seed=3, end_token=0)
    model.save(path)
    source, _ = ns.reversal_task(300, 5, 3, cardinality=5, seed=2)
    sources.write_text("".join(" ".join(map(str, row)) + "\n" for row in source))
    assert main(["predict", str(path), "--input", str(sources), "--beam-width", "2"]) == 0
    likeliest = model.predict(source, beam_width=2)
    assert np.any(likeliest != model.predict(source))            # not the greedy decode
    assert capsys.readouterr().out.splitlines() == [
        " ".join(map(str, row[:list(row).index(0)] if 0 in row else row)) for row in likeliest]


def test_the_cli_evaluates_with_a_beam(tmp_path, capsys):
    path = tmp_path / "model.npz"
    model = ns.EncoderDecoder(n_features=11, n_units=16, seed=6)
    model.metadata["task"] = {"n_in": 5, "n_out": 3, "cardinality": 11}
    model.save(path)
    source, target = ns.reversal_task(300, seed=5, **model.metadata["task"])

    def by_step(predicted):
        return "By step: " + " ".join(f"{100 * np.mean(predicted[:, t] == target[:, t]):.2f}%"
                                      for t in range(3))

    beam, greedy = model.predict(source, 3, beam_width=4), model.predict(source, 3)
    assert by_step(beam) != by_step(greedy), "the test wants a beam that changes the figures"
    assert main(["evaluate", str(path), "--samples", "300", "--seed", "5",
                 "--beam-width", "4"]) == 0
    assert capsys.readouterr().out.splitlines()[2] == by_step(beam)
