"""Layers: each owns `params` and `grads` (same keys, Keras names)."""

from .dense import Dense
from .embedding import Embedding
from .lstm import LSTM, lstm_step_backward, lstm_step_forward

__all__ = ["Dense", "Embedding", "LSTM", "lstm_step_forward", "lstm_step_backward"]
