"""npseq2seq: the Keras encoder-decoder LSTM in pure NumPy, every derivative by hand."""

from . import (activations, callbacks, exercises, gradcheck, initializers, losses, metrics,
               optimizers)
from .layers import LSTM, Dense, Embedding, lstm_step_backward, lstm_step_forward
from .callbacks import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler,
                        ModelCheckpoint, ReduceLROnPlateau)
from .io import load, save
from .keras_files import load_keras_file
from .models import EncoderDecoder, History, RepeatVectorSeq2Seq, Seq2SeqModel
from .tasks import one_hot, one_hot_decode, pad_sequences, reversal_task
from .trace import GradientTrace
from .losses import accuracy, mean_absolute_error, mean_squared_error, softmax_cross_entropy
from .metrics import accuracy_by_step, confusion_matrix, most_confused
from .optimizers import SGD, Adam, AdamW, RMSprop

__version__ = "0.1.0"

__all__ = [
    "EncoderDecoder", "RepeatVectorSeq2Seq", "Seq2SeqModel", "History",
    "load", "save", "load_keras_file",
    "reversal_task", "one_hot", "one_hot_decode", "pad_sequences",
    "LSTM", "Dense", "Embedding", "lstm_step_forward", "lstm_step_backward",
    "softmax_cross_entropy", "mean_squared_error", "mean_absolute_error", "accuracy",
    "accuracy_by_step", "confusion_matrix", "most_confused",
    "Adam", "AdamW", "SGD", "RMSprop",
    "CSVLogger", "EarlyStopping", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
    "ReduceLROnPlateau",
    "GradientTrace",
    "activations", "callbacks", "initializers", "losses", "metrics", "optimizers", "gradcheck",
    "exercises",
]
