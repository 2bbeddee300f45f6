"""predict in threads: the same tokens as in one thread, and BLAS's thread count given back."""

import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import npseq2seq as ns
import npseq2seq.models.base as base
from npseq2seq import blas_threads
from npseq2seq.models.base import (MIN_SOURCES_PER_THREAD, _chunk_bounds, _decode_shared,
                                   _InOrder, _Joined, _thread_count)

CONTROL = blas_threads._control()
needs_openblas = pytest.mark.skipif(CONTROL is None, reason="NumPy's BLAS is not an OpenBLAS "
                                                            "we can find; predict runs serially")


def blas_count():
    return CONTROL[1]()


@pytest.fixture
def blas_two_threads():
    """BLAS set to 2 threads for the test (a count predict's 1 cannot be mistaken for)."""
    before = blas_count()
    CONTROL[0](2)
    if blas_count() != 2:
        CONTROL[0](before)
        pytest.skip("OpenBLAS will not run 2 threads here")
    yield 2
    CONTROL[0](before)


def trained_model(cls=ns.EncoderDecoder, **kwargs):
    """A model whose decodes differ from sequence to sequence (fresh weights give ties)."""
    model = cls(11, 16, seed=3, **kwargs)
    source, target = ns.reversal_task(3000, cardinality=11, seed=3)
    model.fit(source, target, verbose=0)
    return model


@pytest.mark.parametrize("cls", [ns.EncoderDecoder, ns.RepeatVectorSeq2Seq])
def test_predict_in_threads_equals_predict_in_one(cls):
    model = trained_model(cls)
    source, _ = ns.reversal_task(1537, cardinality=11, seed=4)   # shares and chunks uneven
    alone = model.predict(source, threads=1)
    assert len(np.unique(alone, axis=0)) > 25        # many answers: mixed-up rows would show
    for threads, batch_size in ((2, 1024), (3, 100), (5, 7)):
        np.testing.assert_array_equal(model.predict(source, batch_size=batch_size,
                                                    threads=threads), alone)


def test_predicts_from_several_threads_at_once_give_their_own_answers():
    model = trained_model()
    sources = [ns.reversal_task(900, cardinality=11, seed=s)[0] for s in range(4)]
    expected = [model.predict(s, threads=1) for s in sources]
    got = [None] * 4

    def decode(k):
        for _ in range(3):
            got[k] = model.predict(sources[k], threads=2)

    callers = [threading.Thread(target=decode, args=(k,)) for k in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_few_sources_stay_in_one_thread():
    assert _thread_count(8, MIN_SOURCES_PER_THREAD - 1) == 1
    assert _thread_count(8, 3 * MIN_SOURCES_PER_THREAD) == 3
    assert _thread_count(2, 10**6) == 2
    assert _thread_count(None, 10**6) == blas_threads.usable_cores()


@pytest.mark.parametrize("threads", [0, -1])
def test_a_bad_thread_count_is_named(threads):
    model = ns.EncoderDecoder(11, 4, seed=0)
    with pytest.raises(ValueError, match=f"threads must be at least 1, got {threads}"):
        model.predict(np.ones((600, 6), np.int64), n_steps=3, threads=threads)


@needs_openblas
def test_predict_gives_blas_its_thread_count_back(blas_two_threads):
    model = ns.EncoderDecoder(11, 4, seed=0)
    model.predict(np.ones((600, 6), np.int64), n_steps=3, threads=2)
    assert blas_count() == blas_two_threads


@needs_openblas
def test_the_count_comes_back_when_decoding_fails(monkeypatch, blas_two_threads):
    model = ns.EncoderDecoder(11, 4, seed=0)
    seen = []

    def broken(source, n_steps, workspaces, **options):
        seen.append(blas_count())
        raise RuntimeError("broken decode")

    monkeypatch.setattr(model, "_greedy", broken)
    with pytest.raises(RuntimeError, match="broken decode"):
        model.predict(np.ones((600, 6), np.int64), n_steps=3, threads=2)
    assert seen and set(seen) == {1}            # single-threaded while the threads ran
    assert blas_count() == blas_two_threads


@needs_openblas
def test_nested_blocks_restore_only_at_the_outermost(blas_two_threads):
    with blas_threads.single_threaded() as outer:
        with blas_threads.single_threaded() as inner:
            assert outer and inner and blas_count() == 1
        assert blas_count() == 1
    assert blas_count() == blas_two_threads


def _predict_in_child(model, source, queue):
    queue.put(model.predict(source, threads=2))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_can_predict_in_threads():
    """The child inherits the parent's thread pool but not its threads."""
    model = trained_model()
    source, _ = ns.reversal_task(700, cardinality=11, seed=5)
    expected = model.predict(source, threads=2)          # the parent's pool now exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_predict_in_child, args=(model, source, queue))
    child.start()
    try:
        np.testing.assert_array_equal(queue.get(timeout=30), expected)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


@pytest.mark.parametrize("n, batch_size, threads", [(10_000, 512, 2), (1100, 512, 2), (1537, 7, 5),
                                                    (513, 1, 2), (300, 512, 1), (5, 2, 1)])
def test_chunks_are_equal_and_at_most_a_batch(n, batch_size, threads):
    bounds = _chunk_bounds(n, batch_size, threads)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == n
    assert sizes.min() >= 1 and sizes.max() <= batch_size and sizes.max() - sizes.min() <= 1
    assert len(sizes) % threads == 0 or len(sizes) == n     # every thread gets as many


def test_a_slow_thread_decodes_fewer_chunks():
    """Each thread takes the next chunk when it is done: a slow one is not waited for."""
    chunks = [np.full((1, 1), k) for k in range(24)]
    done_by = {}

    def decode(chunk, workspaces):
        time.sleep(0.02 if workspaces == "slow" else 0.002)
        done_by[int(chunk[0, 0])] = workspaces
        return chunk

    results = _InOrder(len(chunks))
    with ThreadPoolExecutor(2) as pool:
        _decode_shared(chunks, decode, results.put, pool, ["slow", "fast"])
    assert [int(r[0, 0]) for r in results.whole()] == list(range(24))      # in order
    assert list(done_by.values()).count("fast") > 12


def test_a_failing_chunk_stops_every_thread_before_the_error_is_raised():
    """predict lets go of its workspaces and BLAS setting only when no thread is decoding."""
    chunks = [np.full((1, 1), k) for k in range(40)]
    lock, busy, done = threading.Lock(), [0], []

    def decode(chunk, workspaces):
        with lock:
            busy[0] += 1
        try:
            if workspaces == "fails":                 # the first pool thread, soon
                time.sleep(0.01)
                raise RuntimeError("broken chunk")
            time.sleep(0.05)                          # the other is mid-chunk meanwhile
            done.append(int(chunk[0, 0]))
            return chunk
        finally:
            with lock:
                busy[0] -= 1

    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(RuntimeError, match="broken chunk"):
            _decode_shared(chunks, decode, _InOrder(len(chunks)).put, pool, ["fails", "works"])
        assert busy[0] == 0                   # nobody still decoding
        assert len(done) < 20                 # and the other thread left the rest (39 if not)


def test_ctrl_c_while_predict_waits_stops_every_thread_before_it_is_raised(monkeypatch):
    """After Ctrl-C, a next predict (say of one sequence, in this thread, with the
    first thread's workspaces) must not meet a pool thread still decoding."""
    chunks = [np.full((1, 1), k) for k in range(40)]
    lock, busy, done = threading.Lock(), [0], []

    def decode(chunk, workspaces):
        with lock:
            busy[0] += 1
        time.sleep(0.02)
        done.append(int(chunk[0, 0]))
        with lock:
            busy[0] -= 1
        return chunk

    real_wait, waits = base.wait, []

    def ctrl_c_in_the_first_wait(parts):
        waits.append(parts)
        if len(waits) == 1:
            time.sleep(0.03)                          # both threads mid-chunk
            raise KeyboardInterrupt
        return real_wait(parts)

    monkeypatch.setattr(base, "wait", ctrl_c_in_the_first_wait)
    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(KeyboardInterrupt):
            _decode_shared(chunks, decode, _InOrder(len(chunks)).put, pool, ["first", "second"])
        assert busy[0] == 0                   # nobody still decoding
        assert len(done) < 20                 # and the threads left the rest (40 if not)


def test_joined_chunks_land_in_order_whichever_comes_first():
    bounds = [0, 3, 5, 9]
    h = np.arange(18, dtype=np.float32).reshape(9, 2)
    tokens = np.arange(9) * 10
    joined = _Joined(bounds)
    for k in (2, 0, 1):                                 # as threads might finish
        start, end = bounds[k], bounds[k + 1]
        joined.put(k, (h[start:end], tokens[start:end]))
    whole_h, whole_tokens = joined.whole()
    np.testing.assert_array_equal(whole_h, h)
    np.testing.assert_array_equal(whole_tokens, tokens)
    assert whole_h.dtype == np.float32 and whole_tokens.dtype == tokens.dtype


@pytest.mark.parametrize("threads", [1, 2])
def test_encode_holds_its_answer_once(threads):
    # the chunks go into the answer as they come: before, all of them were held, then
    # joined (twice the answer: 82-85 MB for 41 MB here; now 42-45 MB)
    import tracemalloc

    model = ns.EncoderDecoder(51, 128, seed=1)
    source, _ = ns.reversal_task(40_000, seed=1)
    model.encode(source[:3000], threads=threads)       # its workspaces made first
    tracemalloc.start()
    try:
        h, c = model.encode(source, threads=threads)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * (h.nbytes + c.nbytes)
