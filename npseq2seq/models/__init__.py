"""Sequence-to-sequence models built from the layers."""

from .base import Seq2SeqModel
from .encoder_decoder import EncoderDecoder
from .progress import History
from .repeat_vector import RepeatVectorSeq2Seq

__all__ = ["Seq2SeqModel", "EncoderDecoder", "RepeatVectorSeq2Seq", "History"]
