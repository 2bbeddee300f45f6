"""Integer sequences in text files, a sequence a line: what `predict --input`
reads, and what `train` and `evaluate` read in pairs with --source and --target.
Sources of several lengths are padded at the front with 0 (for a model with
mask_zero); targets of several lengths each end with the end token 0 and are
padded after it with 0 (for a model with end_token=0, trained with the steps
after the end weighed out): docs/variable_length.md's convention.

A line holds integers separated by spaces or commas, in brackets or not:
'13 28 18', '13, 28, 18' and '[13, 28, 18]' (as train's spot checks print a
sequence) are the same. A file is UTF-8 (ASCII is that), with or without the
byte-order mark some Windows editors write first; '-' is standard input.
"""

import contextlib
import hashlib
import re
import sys

import numpy as np

from .tasks import check_in_range, pad_sequences

__all__ = ["read_sequences", "sequence_blocks", "parse_line", "read_pairs", "several_lengths",
           "source_array", "target_array", "counted_steps", "digest", "file_name"]


def read_sequences(path, n_tokens=None):
    """The integer sequences of a file, a list a line; every token in
    0..n_tokens-1 (any token of at least 0 when n_tokens is None)."""
    return [sequence for block in sequence_blocks(path, n_tokens) for sequence in block]


def sequence_blocks(path, n_tokens=None, size=8192):
    """read_sequences' sequences, `size` lines at a time: a file need not fit in
    memory to be decoded. An error names its line once the lines before it
    have been handed out."""
    name = file_name(path)
    stream = (contextlib.nullcontext(sys.stdin) if path == "-" else
              open(path, encoding="utf-8-sig"))
    block, number = [], 0
    try:
        with stream as lines:
            for number, line in enumerate(lines, 1):
                if number == 1:
                    line = line.lstrip("\ufeff")
                block.append(_quick_tokens(line, n_tokens)     # (1.2 against 2.6 us a line)
                             or parse_line(line, f"{name} line {number}", n_tokens))
                if len(block) == size:
                    yield block
                    block = []
    except UnicodeDecodeError as error:
        raise ValueError(f"{name} is not UTF-8 text ({error.reason}): "
                         f"expected lines of integers; save it as UTF-8 or ASCII "
                         f"(UTF-16, say, is what Windows PowerShell's > writes)") from None
    if not number:
        raise ValueError(f"{name} holds no sequences: expected a line of integers each")
    if block:
        yield block


def file_name(path):
    """How a message names the file at `path`: '-' is standard input."""
    return "standard input" if path == "-" else path


def parse_line(line, where, n_tokens=None):
    """[int, ...] from a line such as '13 28 18', '13, 28, 18' or '[13, 28, 18]'."""
    fields = [field for field in re.split(r"[\s,\[\]]+", line) if field]
    if not fields:
        raise ValueError(f"{where} is empty: expected integers separated by spaces or commas")
    tokens = []
    for field in fields:
        try:
            tokens.append(int(field))
        except ValueError:
            raise ValueError(f"{where}: expected integers, got {field!r}") from None
    if n_tokens is None and min(tokens) < 0:
        raise ValueError(f"{where}: tokens must be 0 or more, got {min(tokens)}")
    if n_tokens is not None and (min(tokens) < 0 or max(tokens) >= n_tokens):
        check_in_range(np.array(tokens), n_tokens, f"{where}: tokens")  # (not an array a line: 8x)
    return tokens


def _quick_tokens(line, n_tokens=None):
    """parse_line's tokens for a line of integers and white space only, in range;
    else None (parse_line then reads it, and says what is wrong): the same fields,
    found without a regular expression, and no message made for a line that needs
    none."""
    if "," in line or "[" in line or "]" in line:
        return None
    try:
        tokens = list(map(int, line.split()))
    except ValueError:
        return None
    if not tokens or min(tokens) < 0 or n_tokens is not None and max(tokens) >= n_tokens:
        return None
    return tokens


def read_pairs(source_path, target_path, n_tokens=None):
    """(sources, targets): the sequences of two files, line k of one the pair
    of line k of the other, as lists."""
    if source_path == target_path == "-":
        raise ValueError("the sources and the targets cannot both come from standard input")
    sources = read_sequences(source_path, n_tokens)
    targets = read_sequences(target_path, n_tokens)
    if len(sources) != len(targets):
        raise ValueError(f"{file_name(source_path)} has {len(sources)} lines and "
                         f"{file_name(target_path)} {len(targets)}: expected a target line "
                         f"for every source line")
    return sources, targets


def several_lengths(sequences):
    return len({len(sequence) for sequence in sequences}) > 1


def source_array(sources, path, padded=False):
    """(N, T_in) int64. Sources of several lengths need padded=True: they are
    then padded at the front with 0, the token a model with mask_zero=True
    skips (so none may use 0 itself)."""
    if not (padded and several_lengths(sources)):
        return _one_length(sources, file_name(path))
    _refuse_token(sources, path, 0, "pads sources of several lengths (the encoder skips it)")
    return pad_sequences(sources, dtype=np.int64)


def target_array(targets, path, end_token=None, length=None):
    """(N, T_out) int64. Without end_token the targets keep to one length;
    with it, each is followed by end_token, and padded with it to the
    longest + 1 steps, or to `length` if that is more (so none may use
    end_token itself). counted_steps(array, end_token) then tells the steps
    that count from the padding."""
    if end_token is None:
        return _one_length(targets, file_name(path))
    _refuse_token(targets, path, end_token, "ends each target of several lengths")
    steps = max(length or 0, 1 + max(len(target) for target in targets))
    return pad_sequences(targets, maxlen=steps, dtype=np.int64, padding="post",
                         value=end_token)


def counted_steps(target, end_token):
    """(N, T_out) booleans: the steps of each target up to and including its
    first end_token, which the model is trained and scored on."""
    ended = np.logical_or.accumulate(target == end_token, axis=1)
    counted = np.ones(target.shape, bool)
    counted[:, 1:] = ~ended[:, :-1]
    return counted


def _one_length(sequences, name):
    first = len(sequences[0])
    for number, sequence in enumerate(sequences, 1):
        if len(sequence) != first:
            raise ValueError(f"{name} line {number} has {len(sequence)} tokens and line 1 "
                             f"has {first}: the models take sequences of one length (pad "
                             f"them to one, as docs/variable_length.md does)")
    return np.array(sequences, dtype=np.int64)


def _refuse_token(sequences, path, token, role):
    hint = "number the tokens from 1" if token == 0 else f"keep {token} out of the sequences"
    for number, sequence in enumerate(sequences, 1):
        if token in sequence:
            raise ValueError(f"{file_name(path)} line {number} holds token {token}, which "
                             f"{role}: {hint}")


def digest(*arrays):
    """SHA-256 of the arrays' shapes and values, in hex: the same data or not."""
    sha = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=np.int64)
        sha.update(repr(array.shape).encode())
        sha.update(array.tobytes())
    return sha.hexdigest()
