"""The tutorial's main model: an encoder LSTM hands its final (h, c) to a decoder LSTM.

Training (teacher forcing): the decoder reads the target shifted right by one
step, with start token 0 in front, and learns to predict the target:

    target         [4, 5, 6]
    decoder input  [0, 4, 5]

    (h, c)   = encoder(source)                       final states only
    outputs  = decoder(decoder input, from (h, c))   every step
    logits   = outputs @ dense.kernel + dense.bias   per step; p = softmax(logits)

Backward: the loss gradient flows through Dense into every decoder output,
through time in the decoder, out of its initial state as (dh0, dc0), and into
the encoder as the gradient on *its* final state.

Inference is a separate path on the same weights: `encode` once, then
`decode_step` one step at a time, each step's prediction fed back as the next
input and (h, c) carried along. `predict` does that greedily for many
sequences at once; `beam_search` keeps the best few partial sequences at
each step instead of one.
"""

import numpy as np

from ..activations import softmax
from ..decoding import beam_search
from ..layers.lstm import check_step_shape, is_token_array
from .base import Seq2SeqModel, _checked_feed_back, _count, writes_gradients

__all__ = ["EncoderDecoder", "shift_right"]

START_TOKEN = 0


def shift_right(target, n_features):
    """Teacher-forcing decoder input: [start] + target[:-1], for tokens or one-hot."""
    if is_token_array(target):
        start = np.full((target.shape[0], 1), START_TOKEN, target.dtype)
    else:
        start = np.zeros((target.shape[0], 1, n_features), target.dtype)
        start[:, :, START_TOKEN] = 1
    return np.concatenate([start, target[:, :-1]], axis=1)


class EncoderDecoder(Seq2SeqModel):
    """State-passing encoder-decoder LSTM with teacher forcing (Keras tutorial, model A).

    Parameters
    ----------
    n_features : int
        Vocabulary size (cardinality), for source, decoder input and output.
    n_units : int
        LSTM units in encoder and decoder.
    recurrent_activation : 'sigmoid', 'hard_sigmoid' (Keras 2) or 'hard_sigmoid_keras3'
    seed : int or None
        Initial weights and the shuffling order in `fit` both come from it.
    dtype : np.float32 (fast) or np.float64 (gradient checks)
    mask_zero : bool
        True: token 0 of a source is padding, which the encoder skips (its
        (h, c) carried over), as Keras's Embedding(mask_zero=True) or
        Masking in front of the encoder; sources of several lengths, padded
        with 0 (ns.pad_sequences), then give each its own final state.
        Integer sources only. The decoder is not masked: its start token is 0.
    end_token : int or None
        The token that ends a target, for targets of several lengths padded
        after their end (docs/variable_length.md): predict then repeats it
        after a decoded sequence's end, and beam_search ends a beam there (it
        keeps its score). Training is unchanged: weigh the padding out with
        fit's sample_weight.
    """

    def __init__(self, n_features, n_units=128, recurrent_activation="sigmoid", seed=None,
                 dtype=np.float32, mask_zero=False, end_token=None):
        # the decoder reads tokens (teacher forcing, then its own predictions)
        self._build(n_features, n_units, n_features, recurrent_activation, seed, dtype,
                    mask_zero, end_token)

    def get_config(self):
        return {"n_features": self.n_features, "n_units": self.n_units,
                "recurrent_activation": self.recurrent_activation, "seed": self.seed,
                "dtype": self.dtype.name, "mask_zero": self.mask_zero,
                "end_token": self.end_token}

    def _flow(self):
        """(layer, type, output shape) in order, for summary."""
        u, v = self.n_units, self.n_features
        masked = ", token 0 skipped" if self.mask_zero else ""
        return [("encoder", "LSTM", f"final (h, c): (N, {u}) each{masked}"),
                ("decoder", "LSTM", f"(N, T_out, {u}), from the encoder's (h, c)"),
                ("dense", "Dense", f"(N, T_out, {v}): logits, softmax for probabilities")]

    # -- training path (teacher forcing) --------------------------------------

    def _forward(self, source, target, workspaces=None):
        ws = workspaces or {}
        # the layers' _forward: source and target were checked (_check_pair)
        _, state, encoder_cache = self.encoder._forward(source, None, ws.get("encoder"),
                                                        self._source_skipped(source))
        decoder_input = shift_right(target, self.n_features)
        outputs, _, decoder_cache = self.decoder._forward(decoder_input, state, ws.get("decoder"))
        logits, dense_cache = self.dense.forward(outputs, ws.get("dense"))
        return logits, (encoder_cache, decoder_cache, dense_cache)

    def _logits(self, source, target, workspaces):
        """_forward's logits without its caches (evaluate, loss): the layers stepped.

        workspaces: {layer name: Workspace}."""
        with np.errstate(over="ignore"):            # see LSTM.stepper
            state = self.encoder._final_state(source, workspaces["encoder"],
                                              self._source_skipped(source))
            outputs = self.decoder._outputs(shift_right(target, self.n_features), state,
                                            workspaces["decoder"])
        return self.dense.forward(outputs)[0]

    @writes_gradients
    def _backward(self, dlogits, cache, workspaces=None, traces=None):
        encoder_cache, decoder_cache, dense_cache = cache
        ws, traces = workspaces or {}, traces or {}
        d_outputs = self.dense.backward(dlogits, dense_cache, ws.get("dense"), accumulate=False)
        _, d_state = self.decoder.backward(d_outputs, decoder_cache, workspace=ws.get("decoder"),
                                           trace=traces.get("decoder"), accumulate=False)
        # the (h, c) hand-over: the decoder's initial-state gradient is the encoder's final one
        self.encoder.backward(None, encoder_cache, d_state=d_state, workspace=ws.get("encoder"),
                              trace=traces.get("encoder"),
                              initial_state_gradient=False,     # it starts from zeros
                              accumulate=False)

    # -- inference path ---------------------------------------------------------

    def decode_step(self, inputs, state):
        """One decoder step.

        inputs  (N,) tokens (greedy: the previous argmax), or (N, n_features)
                vectors (the tutorial feeds back the whole softmax output)
        state   (h, c) from `encode` or the previous step
        Returns probs (N, n_features) and the new (h, c).
        """
        inputs = self._check_step_input(inputs)
        logits, state = self._decode_logits(inputs, self._check_state(state, len(inputs)))
        return softmax(logits), state

    def _decode_logits(self, inputs, state):
        h, c = self.decoder.step(inputs, state)
        logits, _ = self.dense.forward(h)
        return logits, (h, c)

    def predict(self, source, n_steps=None, batch_size=512, threads=None, beam_width=1,
                feed_back="tokens"):
        """Greedy decoding of many sequences at once: (N, n_steps) int tokens.

        Starts from token 0 and feeds each step's argmax back in; with the
        model's end_token, the steps after a sequence's end are end_token
        (predict_proba's are the decoder's own). feed_back="probabilities"
        decodes as the tutorial's predict_sequence does instead: from the
        all-zero vector, each step's whole softmax fed back (its tokens are
        still each step's argmax). With beam_width > 1, the best
        sequence `beam_search` finds instead. n_steps
        defaults to the target length the model was trained on. Sequences go
        through in equal chunks of at most `batch_size`, whose buffers are
        kept for the next call (with a thread on each of two cores, 512 was
        fastest here, 4-5% ahead of 1024 and about 4% ahead of 256). Each of
        `threads` takes the next chunk when it is done with one; at least 256
        sources a thread (default: one thread per core; 1 decodes in this
        thread). While they run, NumPy's BLAS is single-threaded for the
        whole process (see blas_threads.py). The threads are kept for the next
        call, and calls from several threads take turns. OpenBLAS rounds a
        product's last bit according to its shape and thread count, so where
        two tokens score within rounding of each other, a different `threads`
        or `batch_size` can pick the other.
        """
        feed_back = _checked_feed_back(feed_back, beam_width)
        if _count("beam_width", beam_width) > 1:
            return self.beam_search(source, beam_width, n_steps, batch_size, threads)[0][:, 0]
        source = self._check_sequences("source", source)
        n_steps = self._steps(n_steps)
        return self._ended(self._in_batches(
            source, batch_size, threads,
            lambda chunk, workspaces: self._greedy(chunk, n_steps, workspaces,
                                                   feed_back=feed_back)))

    def predict_proba(self, source, n_steps=None, batch_size=512, threads=None,
                      feed_back="tokens"):
        """The greedy decode's probabilities: (N, n_steps, n_features), each step's softmax.

        Their argmax is predict's tokens, as each step's input is the argmax
        of the step before. With feed_back="probabilities", what the
        tutorial's predict_sequence returns (see predict). Arguments as for
        predict.
        """
        feed_back = _checked_feed_back(feed_back)
        source = self._check_sequences("source", source)
        n_steps = self._steps(n_steps)
        return self._in_batches(source, batch_size, threads,
                                lambda chunk, workspaces: self._greedy_probabilities(
                                    chunk, n_steps, workspaces, feed_back))

    def beam_search(self, source, beam_width=3, n_steps=None, batch_size=512, threads=None):
        """The beam_width likeliest sequences the search finds for each source.

        Returns (sequences, log_probs): (N, beam_width, n_steps) int tokens and
        their (N, beam_width) log-probabilities under the model, best first, so
        sequences[:, 0] is the best. Width 1 gives predict's greedy sequences
        (barring exactly equal scores); from n_features ** (n_steps - 1) on, the
        likeliest sequence for certain (see decoding.py). batch_size sources go
        through at a time (on beam_width decoder rows each), in threads as in
        predict. With the model's end_token, a beam that emits it has ended:
        it keeps its score and repeats end_token (so sequences of several
        lengths compete by their probability up to their end).
        """
        source = self._check_sequences("source", source)
        n_steps = self._steps(n_steps)
        beam_width = _count("beam_width", beam_width)
        if beam_width > self.n_features ** n_steps:
            raise ValueError(f"beam_width must be at most the number of possible sequences, "
                             f"n_features ** n_steps = {self.n_features ** n_steps}, "
                             f"got {beam_width}")
        return self._in_batches(source, batch_size, threads, lambda chunk, _: beam_search(
            self, chunk, beam_width, n_steps, START_TOKEN, self.end_token))

    def _greedy(self, source, n_steps, ws, probs=None, feed_back="tokens"):
        """Encode, then step the decoder on its own output; state updated in place.

        ws: {layer name: Workspace} for the buffers. probs: None, or an
        (N, n_steps, n_features) array to write each step's softmax into.
        feed_back: 'tokens' (from token 0, each argmax fed back) or
        'probabilities' (from the all-zero vector, each softmax: the tutorial's).
        """
        n = source.shape[0]
        feed = (np.full(n, START_TOKEN, np.int64) if feed_back == "tokens"
                else np.zeros((n, self.n_features), self.dtype))
        decoded = np.empty((n, n_steps), np.int64)
        logits = ws["dense"].empty("logits", (n, self.n_features), self.dtype)
        with np.errstate(over="ignore"):            # see LSTM.stepper
            h, c = self.encoder._final_state(source, ws["encoder"],     # predict checked source
                                             self._source_skipped(source))
            step = self.decoder.stepper(h, c, ws["decoder"])
            for t in range(n_steps):
                step(feed)
                tokens = self.dense.apply(h, logits).argmax(axis=-1, out=decoded[:, t])
                if probs is None and feed_back == "tokens":
                    feed = tokens                       # greedy: no softmax needed
                    continue
                p = softmax(logits)
                if probs is not None:
                    probs[:, t] = p
                feed = p if feed_back == "probabilities" else tokens
        return decoded

    def _greedy_probabilities(self, source, n_steps, ws, feed_back="tokens"):
        probs = np.empty((len(source), n_steps, self.n_features), self.dtype)
        self._greedy(source, n_steps, ws, probs, feed_back)
        return probs

    def _steps(self, n_steps):
        if n_steps is None:
            if self.target_length is None:
                raise ValueError("n_steps is needed: the model has not been trained, so it does "
                                 "not know the target length; pass n_steps=...")
            return self.target_length
        return _count("n_steps", n_steps)

    def _check_step_input(self, inputs):
        """Tokens (N,) or vectors (N, n_features), checked as one-step sequences;
        a shape error names the shape given, not the one-step sequence's."""
        inputs, what = np.asarray(inputs), "decode_step's input"
        if inputs.dtype.kind not in "iuf":
            raise TypeError(f"{what} must be integer tokens or float vectors, got dtype "
                            f"{inputs.dtype}")
        check_step_shape(inputs, self.n_features, what)
        return self._check_sequences(what, inputs[:, None])[:, 0]
