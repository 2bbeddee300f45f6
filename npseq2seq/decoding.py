"""Beam search: the most likely output sequences, not only the greedy one.

Greedy decoding (`EncoderDecoder.predict`) takes the likeliest token at each
step. The likeliest *sequence* may start with a less likely token, because a
sequence's probability is the product of its steps' probabilities:

    log p(y_1 .. y_T | x) = sum_t log p(y_t | y_1 .. y_{t-1}, x)

and what one step loses a later step can win back. There are V^T sequences,
too many to score, so beam search keeps the `beam_width` best prefixes at
each step. Each kept prefix is extended by every token, each extension scored
by its prefix's log-probability plus the new token's, and the best
`beam_width` of those (beam_width x V) extensions are kept. Width 1 is greedy
decoding. Width V^(T-1) keeps every prefix up to the last step, so it finds
the most likely sequence for certain.

The decoder runs on one row per kept prefix, beam_width rows a source; when
the beams are chosen again, each row takes the (h, c) of the prefix it
extends.

With an end token (targets of several lengths), a sequence's probability is
that of its steps up to and including its end: a beam that has emitted the
end token can only be extended by it again, at log-probability 0, so a
short sequence keeps its score while longer ones go on paying for theirs.
"""

import numpy as np

from .activations import log_softmax

__all__ = ["beam_search", "likeliest_ended", "filled_after_end"]


def beam_search(model, source, beam_width, n_steps, start_token, end_token=None):
    """The beam_width best sequences of n_steps tokens for each source.

    model      an EncoderDecoder
    source     (N, T_in) tokens or (N, T_in, V) vectors, already checked by the model
    end_token  None, or a token that ends a sequence: a beam that has emitted
               it extends by end_token alone, at no cost (log p 0), so it
               keeps its score and its later steps repeat end_token
    Returns sequences (N, beam_width, n_steps) int64 and their log-probabilities
    (N, beam_width) float64, best first. Among equal scores the earlier beam
    comes first, then the smaller token (as argmax takes the first maximum);
    of equal scores on either side of the beam's edge, which is kept is
    argpartition's choice. beam_width must be at most V^n_steps (the caller
    checks).
    """
    n = source.shape[0]
    with np.errstate(over="ignore"):                    # see LSTM.stepper
        h, c = model.encoder._final_state(source, None,     # (N, u) each, fresh arrays
                                          model._source_skipped(source))
    scores = np.zeros((n, 1))                           # one beam a source: the empty prefix,
    tokens = np.full((n, 1), start_token, np.int64)     # whose last token is the start token
    sequences = np.empty((n, 1, 0), np.int64)
    ended = np.zeros((n, 1), bool)                      # (the start token ends nothing)
    for _ in range(n_steps):
        log_p = _next_token_log_probs(model, tokens, h, c)
        if end_token is not None:
            log_p[ended] = _only(end_token, log_p.shape[-1])
        scores, parents, tokens = _best_extensions(scores, log_p, beam_width)
        if end_token is not None:
            ended = np.take_along_axis(ended, parents, axis=1) | (tokens == end_token)
        rows = (np.arange(n)[:, None] * log_p.shape[1] + parents).ravel()
        h, c = h[rows], c[rows]                         # each kept prefix's state
        kept = np.take_along_axis(sequences, parents[:, :, None], axis=1)
        sequences = np.concatenate([kept, tokens[:, :, None]], axis=2)
    return sequences, scores


def likeliest_ended(log_p, end_token):
    """The likeliest sequence of each row when the steps are independent (the
    repeat-vector decoder never reads its own outputs), counted up to its
    first end_token: (N, T) int64, end_token after the end.

    log_p (N, T, V). Greedy decoding can miss it: ending at step k scores the
    best other token of each step before k plus log p(end_token) at k, which
    can beat running on though another token is likelier at k. So each end
    step is scored, and so is no end at all (the best other token throughout).
    """
    others = log_p.copy()
    others[..., end_token] = -np.inf
    tokens = others.argmax(axis=2)
    best = np.take_along_axis(others, tokens[..., None], axis=2)[..., 0]
    ending = np.cumsum(best, axis=1) - best + log_p[..., end_token]    # end at step k
    at = ending.argmax(axis=1)
    rows = np.arange(len(log_p))
    ends = ending[rows, at] >= best.sum(axis=1)
    tokens[rows[ends], at[ends]] = end_token
    return filled_after_end(tokens, end_token)


def filled_after_end(tokens, end_token):
    """Tokens (N, T) with every step after a row's first end_token set to
    end_token, in place, and returned."""
    tokens[np.logical_or.accumulate(tokens == end_token, axis=1)] = end_token
    return tokens


def _only(token, n_features):
    """The log-probabilities of a step that can only be `token`: 0 there, -inf elsewhere."""
    log_p = np.full(n_features, -np.inf)
    log_p[token] = 0.0
    return log_p


def _next_token_log_probs(model, tokens, h, c):
    """One decoder step on each beam's last token: tokens (N, beams) -> log p (N, beams, V).

    h and c (N * beams, u), a row a beam, are advanced in place. The
    log-probabilities are float64, so that sums over steps keep their order.
    """
    with np.errstate(over="ignore"):
        model.decoder.stepper(h, c)(tokens.ravel())
    logits = model.dense.apply(h, np.empty((len(h), model.n_features), model.dtype))
    return log_softmax(logits.astype(np.float64)).reshape(*tokens.shape, model.n_features)


def _best_extensions(scores, log_p, beam_width):
    """The best extensions of the kept prefixes: their scores, parents and tokens.

    scores (N, beams) of the prefixes, log_p (N, beams, V) of their next token.
    Returns the best min(beam_width, beams * V) candidates of each source, best
    first, each as (score, index of the prefix it extends, token), (N, kept) arrays.
    """
    n, beams, v = log_p.shape
    candidates = (scores[:, :, None] + log_p).reshape(n, beams * v)
    kept = min(beam_width, beams * v)
    # the kept best in any order (3-5x faster than sorting all beams * V), then sorted;
    # lexsort's last key comes first: score, then index (earlier beam, smaller token)
    best = np.argpartition(-candidates, kept - 1, axis=1)[:, :kept]
    best_scores = np.take_along_axis(candidates, best, axis=1)
    order = np.lexsort((best, -best_scores), axis=1)
    best, best_scores = (np.take_along_axis(a, order, axis=1) for a in (best, best_scores))
    parents, tokens = np.divmod(best, v)
    return best_scores, parents, tokens
