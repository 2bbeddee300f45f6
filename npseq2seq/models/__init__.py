"""Sequence-to-sequence models built from the layers."""

from .base import Seq2SeqModel
from .encoder_decoder import EncoderDecoder
from .progress import History

__all__ = ["Seq2SeqModel", "EncoderDecoder", "History"]
