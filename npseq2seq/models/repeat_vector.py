"""The second reference design: the encoder's last hidden state, repeated.

    h        = encoder(source)[final h]              (N, u); c is dropped
    repeated = [h, h, ..., h]                        (N, n_out, u)   Keras RepeatVector
    outputs  = decoder(repeated, from zero state)    (N, n_out, u)
    logits   = outputs @ dense.kernel + dense.bias   per step (TimeDistributed Dense)

No teacher forcing: the decoder never sees the target, so training and
inference are the same single pass, and the output length is fixed when the
model is built.

Backward: every repeated copy of h received its own gradient from the
decoder's input; since all copies are the same h, their gradients add up:

    dL/dh = sum over t of dL/d(repeated_t)

and that sum flows into the encoder as the gradient on its final h.
"""

import numpy as np

from ..activations import log_softmax, softmax
from ..decoding import likeliest_ended
from .base import Seq2SeqModel, _checked_feed_back, _count, writes_gradients

__all__ = ["RepeatVectorSeq2Seq"]


class RepeatVectorSeq2Seq(Seq2SeqModel):
    """LSTM encoder -> RepeatVector(n_out) -> LSTM decoder -> Dense per step (model B).

    Parameters
    ----------
    n_features : int
        Vocabulary size, for source and output.
    n_units : int
        LSTM units in encoder and decoder.
    n_out : int
        Output length, fixed.
    recurrent_activation, seed, dtype, mask_zero, end_token : as for EncoderDecoder.
    """

    def __init__(self, n_features, n_units=128, n_out=3, recurrent_activation="sigmoid",
                 seed=None, dtype=np.float32, mask_zero=False, end_token=None):
        self.n_out = _count("n_out", n_out)
        # the decoder reads the encoder's h, repeated: inputs of width n_units
        self._build(n_features, n_units, n_units, recurrent_activation, seed, dtype, mask_zero,
                    end_token)
        self.target_length = self.n_out

    def get_config(self):
        return {"n_features": self.n_features, "n_units": self.n_units, "n_out": self.n_out,
                "recurrent_activation": self.recurrent_activation, "seed": self.seed,
                "dtype": self.dtype.name, "mask_zero": self.mask_zero,
                "end_token": self.end_token}

    def _flow(self):
        """(layer, type, output shape) in order, for summary."""
        u, v, n = self.n_units, self.n_features, self.n_out
        masked = ", token 0 skipped" if self.mask_zero else ""
        return [("encoder", "LSTM", f"final h: (N, {u}){masked}"),
                ("repeat", "RepeatVector", f"(N, {n}, {u})"),
                ("decoder", "LSTM", f"(N, {n}, {u}), from zeros"),
                ("dense", "Dense", f"(N, {n}, {v}): logits, softmax for probabilities")]

    def _check_target_length(self, target, what="targets"):
        if target.shape[1] != self.n_out:
            raise ValueError(f"this model's output length is fixed at n_out={self.n_out}, "
                             f"got {what} of length {target.shape[1]}")

    def _forward(self, source, target=None, workspaces=None):
        if target is not None:
            self._check_target_length(target)
        ws = workspaces or {}
        # the layers' _forward: the source was checked (_check_pair or _check_sequences)
        _, (h, _), encoder_cache = self.encoder._forward(source, None, ws.get("encoder"),
                                                         self._source_skipped(source))
        repeated = np.repeat(h[:, None, :], self.n_out, axis=1)      # RepeatVector
        outputs, _, decoder_cache = self.decoder._forward(repeated, None, ws.get("decoder"))
        logits, dense_cache = self.dense.forward(outputs, ws.get("dense"))
        return logits, (encoder_cache, decoder_cache, dense_cache)

    def _logits(self, source, target, workspaces):
        """_forward's logits without its caches (predict, evaluate, loss): the layers
        stepped. target: None, or of n_out steps (its callers check it); this
        decoder does not read it.

        workspaces: {layer name: Workspace}."""
        with np.errstate(over="ignore"):            # see LSTM.stepper
            h, _ = self.encoder._final_state(source, workspaces["encoder"],
                                             self._source_skipped(source))
            # the decoder's input is h at every step: its projection h W + b made once
            outputs = self.decoder._outputs_of_repeated(h, self.n_out, workspaces["decoder"])
        return self.dense.forward(outputs)[0]

    @writes_gradients
    def _backward(self, dlogits, cache, workspaces=None, traces=None):
        encoder_cache, decoder_cache, dense_cache = cache
        ws, traces = workspaces or {}, traces or {}
        d_outputs = self.dense.backward(dlogits, dense_cache, ws.get("dense"), accumulate=False)
        d_repeated, _ = self.decoder.backward(d_outputs, decoder_cache, workspace=ws.get("decoder"),
                                              trace=traces.get("decoder"), accumulate=False)
        dh = d_repeated.sum(axis=1)                  # every copy of h adds its gradient
        self.encoder.backward(None, encoder_cache, d_state=(dh, None),
                              workspace=ws.get("encoder"), trace=traces.get("encoder"),
                              initial_state_gradient=False,     # it starts from zeros
                              accumulate=False)

    def predict(self, source, n_steps=None, batch_size=512, threads=None, beam_width=1,
                feed_back="tokens"):
        """(N, n_out) tokens: argmax of each step's output (after an
        end_token, end_token: see EncoderDecoder).

        batch_size and threads: as for EncoderDecoder.predict (512 was fastest
        here too: 100,000 tutorial sources in 1.13 s, against 1.46 s in chunks
        of 8,192, which needed 126 MB a thread). beam_width is taken so that one
        call works for both models: this decoder never reads its own outputs,
        so given the source the steps are independent, and the argmax of each
        is already the likeliest sequence. With an end_token it need not be
        (ending at a step where another token is likelier may still win, as
        the steps after the end cost nothing): beam_width > 1 then asks for
        the likeliest sequence up to its end, found exactly (see
        decoding.likeliest_ended; the other model's beam search can only
        look for it). feed_back, too, is taken for the other model's sake:
        this decoder reads no outputs, so both values give the same decode.
        """
        _checked_feed_back(feed_back, beam_width)
        likeliest = _count("beam_width", beam_width) > 1 and self.end_token is not None
        source = self._check_sequences("source", source)
        self._check_steps(n_steps)
        decode = self._likeliest_tokens if likeliest else self._greedy_tokens
        return self._ended(self._in_batches(source, batch_size, threads, decode))

    def _greedy_tokens(self, source, workspaces):
        return np.argmax(self._logits(source, None, workspaces), axis=-1)

    def _likeliest_tokens(self, source, workspaces):
        log_p = log_softmax(self._logits(source, None, workspaces).astype(np.float64))
        return likeliest_ended(log_p, self.end_token)

    def predict_proba(self, source, n_steps=None, batch_size=512, threads=None,
                      feed_back="tokens"):
        """Each step's softmax, (N, n_out, n_features): what Keras's model.predict
        gives for this design. Their argmax is predict's tokens. Arguments as
        for predict."""
        _checked_feed_back(feed_back)
        source = self._check_sequences("source", source)
        self._check_steps(n_steps)
        return self._in_batches(source, batch_size, threads, lambda chunk, workspaces: softmax(
            self._logits(chunk, None, workspaces)))

    # -- inference one step at a time ----------------------------------------------

    def decode_step(self, context, state=None):
        """One decoder step: predict_proba's steps, one call each.

        context (N, n_units): the encoder's final h, the first array `encode`
                returns; RepeatVector hands it to the decoder at every step
        state   None at the first step (the decoder starts from zeros), then
                the (h, c) the step before returned
        Returns probs (N, n_features) and the new (h, c). The model was trained
        for n_out steps; the decoder can step on past them.
        """
        context = self._check_units("context", context, None, "the encoder's h from "
                                    "encode, one row per sequence, at least one")
        if state is not None:       # (encode's c is not the decoder's: it starts from zeros)
            state = self._check_state(state, len(context),
                                      "the decode_step before (None at the first step)")
        h, c = self.decoder.step(context, state)
        return softmax(self.dense.forward(h)[0]), (h, c)

    def _check_steps(self, n_steps):
        if n_steps is not None and _count("n_steps", n_steps) != self.n_out:
            raise ValueError(f"this model's output length is fixed at n_out={self.n_out}, "
                             f"got n_steps={n_steps}")
