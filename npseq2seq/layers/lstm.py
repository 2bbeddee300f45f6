"""The LSTM, forward and backward through time, exactly as Keras computes it.

Shapes: N batch, T time steps, D input features, u units.
Parameters (Keras names and shapes):
    kernel            W  (D, 4u)   input  -> gates
    recurrent_kernel  U  (u, 4u)   hidden -> gates
    bias              b  (4u,)
The 4u gate columns are four blocks in Keras's order i, f, c, o.

Forward, one step (sigma is the recurrent activation, sigmoid by default):

    z   = x_t @ W + h_{t-1} @ U + b           (N, 4u), split into z_i z_f z_c z_o
    i   = sigma(z_i)                          input gate
    f   = sigma(z_f)                          forget gate
    g   = tanh(z_c)                           candidate cell value
    o   = sigma(z_o)                          output gate
    c_t = f * c_{t-1} + i * g                 cell state
    h_t = o * tanh(c_t)                       hidden state (the output)

Backward, one step, given dh = dL/dh_t (from the output at t *and* from step
t+1, the two added) and dc = dL/dc_t from step t+1:

    do      = dh * tanh(c_t)
    dc     += dh * o * (1 - tanh(c_t)**2)     h_t depends on c_t too
    di      = dc * g
    df      = dc * c_{t-1}
    dg      = dc * i
    dc_prev = dc * f                          the cell-state path to t-1
    dz      = [di * sigma'(i), df * sigma'(f), dg * (1 - g**2), do * sigma'(o)]
    dx      = dz @ W.T
    dh_prev = dz @ U.T                        the hidden-state path to t-1
    dW += x_t.T @ dz,  dU += h_{t-1}.T @ dz,  db += sum over N of dz

`lstm_step_forward` / `lstm_step_backward` below are that reference, one step
at a time, easy to read. `LSTM` runs whole sequences fast: the input
projections x @ W + b of all steps in one product, the state buffers
preallocated, the four gates (with the sigmoid) from one exp pass, and the
weight gradients as one product over all steps. The tests assert the two give
the same numbers (in float64, to 1e-11).
"""

import functools

import numpy as np

from ..activations import get_recurrent_activation, sigmoid_unguarded, tanh_derivative
from ..initializers import float_dtype, glorot_uniform, lstm_bias, make_rng, orthogonal
from ..tasks import checked_indices, count
from ..workspace import empty

__all__ = ["lstm_step_forward", "lstm_step_backward", "LSTM"]


def split_gates(a):
    """Split (..., 4u) into its four (..., u) blocks i, f, c, o (views, no copy)."""
    u = a.shape[-1] // 4
    return a[..., :u], a[..., u:2 * u], a[..., 2 * u:3 * u], a[..., 3 * u:]


def _at_each_step(workspace, name, array, view=None):
    """[array[0], array[1], ...] for a time-major array; with view (a function),
    [view(array[0]), view(array[1]), ...].

    Views, kept in `workspace` with its array (see Workspace.made_from), so a
    training loop makes them once, not at every batch: a view costs NumPy a
    quarter of a microsecond, the forward and backward loops took some 20 a
    step, and keeping them made a batch of the tutorial's model 3.5-5% faster.
    """
    def make(array):
        return [a if view is None else view(a) for a in array]
    return make(array) if workspace is None else workspace.made_from(name, array, make)


# ---------------------------------------------------------------------------
# Reference: one time step, every equation spelled out.
# ---------------------------------------------------------------------------

def lstm_step_forward(x, h_prev, c_prev, kernel, recurrent_kernel, bias,
                      recurrent_activation="sigmoid"):
    """One LSTM step.

    Inputs:
        x                 (N, D)   input at step t
        h_prev, c_prev    (N, u)   states from step t-1
        kernel            (D, 4u)
        recurrent_kernel  (u, 4u)
        bias              (4u,)
        recurrent_activation       'sigmoid', 'hard_sigmoid' or 'hard_sigmoid_keras3'
    Returns:
        h, c   (N, u)   states at step t
        cache  tuple    what lstm_step_backward needs
    """
    sigma, _ = get_recurrent_activation(recurrent_activation)
    z = x @ kernel + h_prev @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = split_gates(z)
    i = sigma(z_i)
    f = sigma(z_f)
    g = np.tanh(z_c)
    o = sigma(z_o)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    cache = (x, h_prev, c_prev, i, f, g, o, tanh_c,
             kernel, recurrent_kernel, recurrent_activation)
    return h, c, cache


def lstm_step_backward(dh, dc, cache):
    """Backward through one LSTM step. Does not modify its arguments.

    Inputs:
        dh     (N, u)   dL/dh_t, everything that reaches h_t (output at t + step t+1)
        dc     (N, u)   dL/dc_t arriving from step t+1 (zeros at the last step)
        cache           from lstm_step_forward
    Returns:
        dx                 (N, D)
        dh_prev, dc_prev   (N, u)    gradients to carry to step t-1
        dkernel            (D, 4u)
        drecurrent_kernel  (u, 4u)
        dbias              (4u,)
    """
    (x, h_prev, c_prev, i, f, g, o, tanh_c,
     kernel, recurrent_kernel, recurrent_activation) = cache
    _, sigma_derivative = get_recurrent_activation(recurrent_activation)
    # h = o * tanh(c)
    do = dh * tanh_c
    dc = dc + dh * o * tanh_derivative(tanh_c)
    # c = f * c_prev + i * g
    di = dc * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f
    # gates = activation(z)
    dz = np.concatenate([di * sigma_derivative(i),
                         df * sigma_derivative(f),
                         dg * tanh_derivative(g),
                         do * sigma_derivative(o)], axis=-1)
    # z = x @ W + h_prev @ U + b
    dx = dz @ kernel.T
    dh_prev = dz @ recurrent_kernel.T
    dkernel = x.T @ dz
    drecurrent_kernel = h_prev.T @ dz
    dbias = dz.sum(axis=0)
    return dx, dh_prev, dc_prev, dkernel, drecurrent_kernel, dbias


# ---------------------------------------------------------------------------
# The layer: whole sequences, the fast path.
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _sigmoid_tanh_rows(units, dtype):
    """The two rows (4u,) with which one exp pass makes all four gates:
    gate = numerator / (1 + exp(negated_scale * z)). For i, f and o they are -1
    and 1, the sigmoid; for the candidate -2 and 2, as 2 / (1 + exp(-2x)) - 1 =
    tanh(x) (the activation subtracts the 1). Scaling by 2 is exact. g is within
    2e-7 of tanh in float32 (1.93e-7 at worst over every float32 in [-10, 10],
    on the machine this was written on) and 4e-16 in float64; decoding is 5-8%
    faster than with a tanh pass of its own.
    """
    u = units
    negated_scales, numerators = np.full((2, 4 * u), [[-1], [1]], dtype)
    negated_scales[2 * u:3 * u], numerators[2 * u:3 * u] = -2, 2
    negated_scales.flags.writeable = numerators.flags.writeable = False
    return negated_scales, numerators


FULL_ROWS_BYTES = 1 << 18     # the most _sigmoid_tanh_constants repeats a row to


@functools.lru_cache(maxsize=8)
def _sigmoid_tanh_constants(units, dtype, rows=None):
    """_sigmoid_tanh_rows repeated to (rows, 4u), z's shape, if that is at most
    FULL_ROWS_BYTES; else (or for rows None) the rows themselves.

    NumPy runs an operation on two arrays of one shape as one loop, but one
    with a row broadcast over z as a loop a row: multiplying 32 x 512 by the
    row took 4.5 us here, by the repeated rows 2.5 us (a training batch took
    1.5-2% less time, before forward's gates went gate-major; now the stepper's
    (N, 4u) layout, for fewer sequences than the weights have rows, is what
    uses them). Decoding 512 rows at a time was no faster with 1 MiB copies
    (they leave the cache), hence the bound, which also bounds the
    memory: the caches here keep at most 16 such pairs. The values are the
    rows', so the gates are the same to the bit.
    """
    pair = _sigmoid_tanh_rows(units, dtype)
    if rows is None or rows * pair[0].nbytes > FULL_ROWS_BYTES:
        return pair
    negated_scales, numerators = (np.tile(row, (rows, 1)) for row in pair)
    negated_scales.flags.writeable = numerators.flags.writeable = False
    return negated_scales, numerators


def _gate_major_constants(dtype):
    """_sigmoid_tanh_rows for a gate-major z (4, N, u): one value a gate, (4, 1, 1)
    (a read-only view of the rows for one unit)."""
    return tuple(row.reshape(4, 1, 1) for row in _sigmoid_tanh_rows(1, dtype))


def _one_exp_gates(recurrent_activation):
    """Whether the four gates come from one exp pass (the sigmoid; see
    _sigmoid_tanh_rows): what _gate_activation and LSTM._gate_major_weights ask."""
    sigma, _ = get_recurrent_activation(recurrent_activation, hot_loop=True)
    return sigma is sigmoid_unguarded


@functools.lru_cache(maxsize=16)
def _gate_activation(recurrent_activation, units, dtype, scaled=False, rows=None,
                     gate_major=False):
    """LSTM._gate_activation, made once for each setting (a batch or a predict
    call asks for it twice, and making it cost a few microseconds).

    scaled=True (sigmoid only): z arrives already multiplied by the negated
    scales, as from LSTM._gate_major_weights's weights, so that pass is skipped.
    rows: z's rows (None for 1-D z); see _sigmoid_tanh_constants.
    gate_major=True: z is (4, N, u), not (N, 4u) (see LSTM._gate_major_weights).
    """
    if not _one_exp_gates(recurrent_activation):
        sigma, _ = get_recurrent_activation(recurrent_activation, hot_loop=True)

        def activate(z, g, scratch):
            np.copyto(scratch, g)           # z_c kept aside: sigma runs over all of z
            sigma(z, out=z)                 # (one contiguous pass beats three strided)
            np.tanh(scratch, out=g)
        return activate
    negated_scales, numerators = (_gate_major_constants(dtype) if gate_major
                                  else _sigmoid_tanh_constants(units, dtype, rows))
    one = dtype.type(1)                     # (a Python 1 costs NumPy a conversion each call)

    def activate(z, g, scratch):
        # sigmoid(x) = 1 / (1 + exp(-x)) and tanh(x) = 2 / (1 + exp(-2x)) - 1, so
        # one exp pass over all of z makes all four gates (see _sigmoid_tanh_rows)
        if not scaled:
            np.multiply(z, negated_scales, out=z)
        np.exp(z, out=z)
        z += one
        np.divide(numerators, z, out=z)     # as in sigmoid_unguarded
        g -= one
    return activate


def _by_gate(a):
    """a (N, 4u) as a (4, N, u) view, gate by gate (not a copy); a (4u,) bias as
    (4, 1, u)."""
    return a.reshape(-1, 4, a.shape[-1] // 4).transpose(1, 0, 2)


def _described(value):
    """What a caller passed, for an error message: 'an array of shape (2, 4)',
    'a tuple of length 1', 'a float'."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


def skipped_steps(mask, shape):
    """A forward mask (N, T), True at real steps, as (T, N, 1) booleans True at the
    masked ones (time-major, to broadcast over the units); None for no mask or
    one that masks nothing."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask must have the input's (batch, steps) shape {tuple(shape)}, "
                         f"got {mask.shape}")
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError("mask must hold booleans or 0 and 1 (1 for a real step, 0 for "
                         "padding)")
    skipped = ~mask.astype(bool).T[:, :, None]
    return skipped if skipped.any() else None


def _before_first_step(skipped):
    """True where every step up to and including t was masked: (T, N, 1)."""
    return np.logical_and.accumulate(skipped, axis=0)


def is_token_array(x):
    """Integer arrays are token ids; floating arrays are feature vectors."""
    return np.asarray(x).dtype.kind in "iu"


def shape_hint(name, x, n_features):
    """How to mend sequences of a wrong shape, where it is plain; else ""."""
    one_sequence = (x.ndim == 1 and is_token_array(x)
                    or x.ndim == 2 and not is_token_array(x) and x.shape[1] == n_features)
    if one_sequence:
        return f"; for one sequence, pass a batch of one: {name}[None]"
    if x.ndim == 4 and x.shape[1] == 1:
        return "; squeeze axis 1"                   # to_categorical's extra axis
    if x.ndim == 2 and not is_token_array(x):
        return "; for tokens pass integers, e.g. .astype(np.int64)"
    return ""


def check_step_shape(x, n_features, what):
    """ValueError naming the shape given unless x (an array) is one step's input:
    tokens (N,) or vectors (N, n_features), N at least 1. (Callers then check it
    as a one-step sequence, x[:, None], whose errors would name that shape.)"""
    tokens = is_token_array(x)
    if (x.ndim != (1 if tokens else 2) or len(x) == 0
            or not tokens and x.shape[1] != n_features):
        raise ValueError(f"{what} must be tokens (samples,) or vectors (samples, {n_features}), "
                         f"at least one sample; got {x.dtype} of shape {x.shape}")


class LSTM:
    """A Keras-compatible LSTM layer over whole sequences.

    Parameters
    ----------
    input_dim : int
        D, features per step (for token input: the vocabulary size).
    units : int
        u, the size of the hidden and cell states.
    recurrent_activation : str
        'sigmoid' (Keras 2.3+ default), 'hard_sigmoid' (Keras 2.0-2.2:
        clip(0.2x + 0.5)) or 'hard_sigmoid_keras3' (clip(x/6 + 0.5)).
    seed : int, np.random.Generator or None
        Source of the initial weights (glorot_uniform kernel, orthogonal
        recurrent kernel, zero bias with the forget block at 1).
    dtype : float32 (fast) or float64 (for gradient checks).

    Attributes
    ----------
    params, grads : dict
        'kernel', 'recurrent_kernel', 'bias' -> arrays. `backward` adds into
        `grads`; `zero_grads` clears them.
    """

    def __init__(self, input_dim, units, recurrent_activation="sigmoid",
                 seed=None, dtype=np.float32):
        get_recurrent_activation(recurrent_activation)  # fail early on a bad name
        rng = make_rng(seed)
        self.input_dim, self.units = count("input_dim", input_dim), count("units", units)
        self.recurrent_activation = recurrent_activation
        self.dtype = dtype = float_dtype(dtype)
        u = self.units
        self.params = {
            "kernel": glorot_uniform(rng, (self.input_dim, 4 * u), dtype),
            "recurrent_kernel": orthogonal(rng, (u, 4 * u), dtype=dtype),
            "bias": lstm_bias(u, dtype),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def __repr__(self):
        return (f"LSTM(input_dim={self.input_dim}, units={self.units}, "
                f"recurrent_activation={self.recurrent_activation!r}, dtype={self.dtype.name!r})")

    def zero_grads(self):
        for g in self.grads.values():
            g.fill(0)

    # -- forward ------------------------------------------------------------

    def forward(self, x, initial_state=None, workspace=None, mask=None):
        """Run the LSTM over a whole sequence.

        Inputs:
            x              (N, T, D) features, or (N, T) integer tokens in 0..D-1
                           (a token picks row `kernel[token]`: exactly what a
                           one-hot vector times `kernel` gives)
            initial_state  (h0, c0), each (N, u), or the two stacked (2, N, u);
                           zeros if None (as Keras)
            workspace      a Workspace to take buffers from (see workspace.py), or None
            mask           (N, T) booleans (or 0/1), False where a step is padding,
                           or None. A masked step leaves (h, c) as they were, and
                           its output repeats the last unmasked step's (zeros
                           before the first), as Keras's `mask=` does; so sequences
                           of several lengths padded to one give each its own
                           final state.
        Returns:
            outputs   (N, T, u)  every h_t (Keras `return_sequences=True`)
            (h, c)    (N, u)     final states (Keras `return_state=True`)
            cache                for `backward`
        """
        x = self._check_input(x)
        state = None if initial_state is None else self._initial_state(initial_state, len(x))
        return self._forward(x, state, workspace, skipped_steps(mask, x.shape[:2]))

    def _forward(self, x, state, workspace=None, skipped=None):
        """forward for input already checked (by the model that owns the layer):
        x as _check_input returns it; state None (zeros) or (h0, c0) in the
        layer's dtype, each (N, u); skipped None or (T, N, 1) booleans, True at
        a masked step (see skipped_steps)."""
        n, steps = x.shape[:2]
        u, U = self.units, self.params["recurrent_kernel"]
        activate = _gate_activation(self.recurrent_activation, u, self.dtype, gate_major=True)

        # Time-major buffers; hs[0], cs[0] hold the initial state, so step t
        # reads hs[t], cs[t] and writes hs[t+1], cs[t+1].
        def buffer(name, *shape):
            return empty(workspace, name, shape, self.dtype)

        z = self._input_projection(x, buffer)           # (T, N, 4u): x_t @ W + b
        # The gate values are kept gate-major, (T, 4, N, u): z_t is copied there
        # before its activation, so every later operation of the step, forward
        # and backward, runs on a contiguous (N, u) block, not on a column block
        # of (N, 4u), which NumPy copies through a buffer a row at a time (at
        # 32 x 128: 1.8-3.5 us an operation against 0.7). The copy takes 2 us;
        # a training batch of the tutorial's model took 2% less time
        # (benchmarks/bench_ab.py, two runs of 14 processes: 0.982 and 0.984).
        gates = buffer("gates", steps, 4, n, u)
        hs, cs = buffer("hs", steps + 1, n, u), buffer("cs", steps + 1, n, u)
        tanh_cs = buffer("tanh_cs", steps, n, u)
        hs[0], cs[0] = (0, 0) if state is None else state
        recurrent, scratch = buffer("recurrent", n, 4 * u), buffer("scratch", n, u)
        z_at, h_at, c_at, tanh_c_at, step_gates_at = (
            _at_each_step(workspace, name, array) for name, array in (
                ("z", z), ("hs", hs), ("cs", cs), ("tanh_cs", tanh_cs), ("gates", gates)))
        z_by_gate_at = _at_each_step(workspace, "z by gate", z, _by_gate)
        gates_at = _at_each_step(workspace, "gates each", gates, tuple)
        with np.errstate(over="ignore"):                # sigmoid(-inf) = 0 is right
            for t in range(steps):
                if t > 0 or state is not None:          # (h_0 @ U is zero for h_0 = 0)
                    z_at[t] += np.matmul(h_at[t], U, out=recurrent)  # z = x_t W + b + h_{t-1} U
                np.copyto(step_gates_at[t], z_by_gate_at[t])        # z_t, gate by gate
                self._cell(step_gates_at[t], gates_at[t], c_at[t], c_at[t + 1], tanh_c_at[t],
                           h_at[t + 1], scratch, activate)
                if skipped is not None:                 # a masked step: (h, c) carried over
                    np.copyto(h_at[t + 1], h_at[t], where=skipped[t])
                    np.copyto(c_at[t + 1], c_at[t], where=skipped[t])
        cache = (x, gates, hs, cs, tanh_cs, skipped)
        outputs = hs[1:].transpose(1, 0, 2)
        if skipped is not None and state is not None:  # Keras: zeros before the first step
            outputs = np.where(_before_first_step(skipped), 0, hs[1:]).transpose(1, 0, 2)
        return outputs, (hs[-1], cs[-1]), cache

    @staticmethod
    def _cell(z, gates, c_prev, c, tanh_c, h, scratch, activate):
        """From z = x_t W + h_{t-1} U + b (N, 4u) to the new state, in place.

        gates is split_gates(z), which the stepper makes once for all its steps.
        z becomes the gate values [i, f, g, o] (activate is _gate_activation's);
        c, tanh_c and h are written. c may be c_prev itself (each element is
        read before it is written).
        """
        i, f, g, o = gates
        activate(z, g, scratch)
        np.multiply(f, c_prev, out=c)                   # c_t = f * c_{t-1} + i * g
        c += np.multiply(i, g, out=scratch)
        np.tanh(c, out=tanh_c)
        np.multiply(o, tanh_c, out=h)                   # h_t = o * tanh(c_t)

    def _gate_activation(self, rows=None):
        """activate(z, g, scratch): z (N, 4u) becomes [sigma(z_i), sigma(z_f), tanh(z_c),
        sigma(z_o)] in place; g is z's candidate block, scratch an (N, u) array.
        rows: N, if every z will have N rows (it is then faster); None for any z.

        For hot loops: call it inside np.errstate(over='ignore').
        """
        return _gate_activation(self.recurrent_activation, self.units, self.dtype, False, rows)

    def step(self, x_t, state=None):
        """One step for inference: x_t (N, D) or (N,) tokens -> new (h, c).

        The same operations as a step of `forward`, in the same order, so
        stepping gives the numbers a whole-sequence forward gives (the tests
        assert they are identical for tokens).
        """
        x_t = np.asarray(x_t)
        check_step_shape(x_t, self.input_dim, "LSTM.step's input")
        x = self._check_input(x_t[:, None])[:, 0]
        h, c = (np.array(s) for s in self._initial_state(state, len(x)))
        with np.errstate(over="ignore"):
            self.stepper(h, c)(x)
        return h, c

    def final_state(self, x, workspace=None, mask=None):
        """Inference: the final (h, c) of a sequence from zero state, step by step.

        Unlike `forward` it keeps no per-step buffers and no cache: memory is
        O(N u) whatever T. The arrays come from `workspace` (if given). With a
        `mask` (as for `forward`), it is `forward`'s final state.
        """
        if mask is not None:
            return self.forward(x, workspace=workspace, mask=mask)[1]
        x = self._check_input(x)
        with np.errstate(over="ignore"):                # see stepper
            return self._final_state(x, workspace)

    def _final_state(self, x, workspace=None, skipped=None):
        """final_state for input already checked (by the model that owns the layer),
        called inside np.errstate(over='ignore') (as the stepper is).

        skipped: None, or (T, N, 1) booleans True at a masked step (see
        skipped_steps): there a row keeps its (h, c), as in forward.
        """
        n = x.shape[0]
        h = empty(workspace, "h", (n, self.units), self.dtype)
        c = empty(workspace, "c", (n, self.units), self.dtype)
        step = self.stepper(h, c, workspace)
        self._first_step(x[:, 0], h, c, step)
        if skipped is None:
            for t in range(1, x.shape[1]):
                step(x[:, t])
            return h, c
        h_kept, c_kept = (empty(workspace, name, (n, self.units), self.dtype)
                          for name in ("h_kept", "c_kept"))
        np.copyto(h, 0, where=skipped[0])           # masked from the start: still zeros
        np.copyto(c, 0, where=skipped[0])
        for t in range(1, x.shape[1]):
            np.copyto(h_kept, h)
            np.copyto(c_kept, c)
            step(x[:, t])
            np.copyto(h, h_kept, where=skipped[t])
            np.copyto(c, c_kept, where=skipped[t])
        return h, c

    def _outputs(self, x, state=None, workspace=None):
        """forward's outputs, every step's h (N, T, u), stepped without caches.

        For input already checked, from state (h_0, c_0) or zeros, inside
        np.errstate(over='ignore') (as the stepper is). Memory: the outputs
        and O(N u) besides, where forward keeps 11 u floats a row and step.
        """
        n, steps = x.shape[:2]
        outputs = empty(workspace, "outputs", (n, steps, self.units), self.dtype)
        h, c = (empty(workspace, name, (n, self.units), self.dtype) for name in "hc")
        step = self.stepper(h, c, workspace)
        if state is None:
            self._first_step(x[:, 0], h, c, step)
        else:
            np.copyto(h, state[0])
            np.copyto(c, state[1])
            step(x[:, 0])
        outputs[:, 0] = h
        for t in range(1, steps):
            step(x[:, t])
            outputs[:, t] = h
        return outputs

    def _outputs_of_repeated(self, x, steps, workspace=None):
        """forward's outputs (N, steps, u) for the input x (N, D) at every step,
        from zeros (RepeatVector's decoder): x W + b made once, not each step.

        Called as _outputs is; the same operations on the same numbers, so the
        same outputs.
        """
        n = x.shape[0]
        outputs = empty(workspace, "outputs", (n, steps, self.units), self.dtype)
        h, c = (empty(workspace, name, (n, self.units), self.dtype) for name in "hc")
        step = self.stepper(h, c, workspace, constant_input=x)
        h.fill(0)
        c.fill(0)
        step(from_zero=True)
        outputs[:, 0] = h
        for t in range(1, steps):
            step()
            outputs[:, t] = h
        return outputs

    def _first_step(self, x_0, h, c, step):
        """The step from the zero state, written into h and c.

        From zero, (h_1, c_1) depends on the token alone. So for more
        sequences than tokens, each token is stepped once and its row looked
        up: the same elementwise arithmetic on fewer rows, the same numbers.
        """
        vocab = self.input_dim
        if is_token_array(x_0) and len(x_0) > vocab:
            rows_h = np.zeros((vocab, self.units), self.dtype)
            rows_c = np.zeros_like(rows_h)
            self.stepper(rows_h, rows_c)(np.arange(vocab), from_zero=True)
            rows_h.take(x_0, axis=0, out=h, mode="clip")      # see _input_projection
            rows_c.take(x_0, axis=0, out=c, mode="clip")
        else:
            h.fill(0)
            c.fill(0)
            step(x_0, from_zero=True)

    def stepper(self, h, c, workspace=None, constant_input=None):
        """step(x_t) for the state (h, c), each (N, u): advances both in place.

        For inference loops: no checks, its buffers taken once, the gates' exp
        without its own errstate, so call it inside np.errstate(over='ignore').
        step(x_t, from_zero=True) says h is all zeros, which skips h @ U.
        constant_input: None, or the input of every step (N, D), whose
        x W + b is then made once; step() takes no x_t.

        For at least as many sequences as the weights have rows (input
        features and units), z is gate-major (see _gate_major_weights); for
        fewer it is forward's (N, 4u), whose weights need no copies.
        """
        n, u = h.shape
        gate_major = n >= self.input_dim + u
        W, U, b, table, activate = (self._gate_major_weights(workspace) if gate_major
                                    else self._step_weights(n))
        shape = (4, n, u) if gate_major else (n, 4 * u)
        z, recurrent = (empty(workspace, name, shape, self.dtype)
                        for name in ("step_z", "step_recurrent"))
        tanh_c, scratch = (empty(workspace, name, (n, u), self.dtype)
                           for name in ("step_tanh_c", "step_scratch"))
        one = n == 1
        if one:     # one sequence: its rows, 1-D; NumPy's calls cost less (a step ~15% here)
            h, c, z, recurrent, tanh_c, scratch = (a[0] for a in (h, c, z, recurrent, tanh_c, scratch))
        gates = tuple(z) if gate_major else split_gates(z)

        def project(x_t, out):                          # x_t @ W + b, into out
            if not is_token_array(x_t):
                np.add(np.matmul(x_t[0] if one else x_t, W, out=out), b, out=out)
            elif one:                                   # token t's x_t @ W + b is row t of W, + b
                np.add(W[x_t[0]], b, out=out)
            elif table is None:
                W.take(x_t, axis=0, out=out, mode="clip")   # see _input_projection
                np.add(out, b, out=out)
            else:                                       # the rows of W + b (gate by gate)
                table.take(x_t, axis=-2, out=out, mode="clip")

        projected = None
        if constant_input is not None:                  # made once, read by every step
            projected = empty(workspace, "step_projected", shape, self.dtype)
            projected = projected[0] if one else projected
            project(constant_input, projected)
        x_w = z if projected is None else projected     # where a step finds x_t @ W + b

        def step(x_t=None, from_zero=False):
            if projected is None:
                project(x_t, z)
            if not from_zero:                           # h @ U is zero when h is
                np.add(x_w, np.matmul(h, U, out=recurrent), out=z)
            elif projected is not None:
                np.copyto(z, projected)
            self._cell(z, gates, c, c, tanh_c, h, scratch, activate)

        return step

    def _step_weights(self, n):
        """W, U, b, the table W + b or None, and the gate activation for a stepper
        of n sequences in forward's layout, (N, 4u).

        The bias goes on whichever is smaller: the whole table once, or the n
        rows looked up each step."""
        W, U, b = (self.params[name] for name in ("kernel", "recurrent_kernel", "bias"))
        table = W + b if n >= W.shape[0] else None
        return W, U, b, table, self._gate_activation(None if n == 1 else n)

    def _gate_major_weights(self, workspace):
        """W, U, b, the table W + b, and the gate activation for a gate-major stepper.

        Gate-major: z is (4, N, u), each gate's (N, u) block contiguous, not the
        four column blocks of (N, 4u). NumPy runs an operation on a column
        block a row at a time: the cell's products of gates took twice as long
        for 512 rows of 128 units. So the weights are copied gate-major, each
        (rows, 4u) to (4, rows, u), once a stepper, and h @ U is four products,
        (N, u) @ (u, u), which took no longer here than the one (N, u) @ (u, 4u).
        A step of 512 sequences took 7% less time; the same numbers to the bit,
        as the tests check against forward. The copies pay for themselves only
        over enough rows: predict of the tutorial's model on 300 sequences took
        9% less time, but on 60-100, fewer than the weights' 179 rows, 8-10%
        more (the copies, and BLAS's two threads ran the four products of 32
        rows 13% slower than the one), hence the stepper's threshold.

        With the sigmoid, the gates' scaling (by -1, and by -2 on the
        candidate's block: see _sigmoid_tanh_rows) goes into the copies too,
        instead of over z at every step. Products and sums of values scaled by
        -1 or -2 are the scaled products and sums, so z comes out the same to
        the bit (barring subnormals and overflow).
        """
        u, dtype = self.units, self.dtype
        scaled = _one_exp_gates(self.recurrent_activation)
        negated_scales, _ = _gate_major_constants(dtype)

        def gate_major(name):                       # (rows, 4u) -> (4, rows, u), a copy
            blocks = _by_gate(self.params[name])
            copy = empty(workspace, f"gate_major_{name}", blocks.shape, dtype)
            return np.multiply(blocks, negated_scales if scaled else 1, out=copy)

        W, U, b = (gate_major(name) for name in ("kernel", "recurrent_kernel", "bias"))
        table = np.add(W, b, out=empty(workspace, "gate_major_table", W.shape, dtype))
        activate = _gate_activation(self.recurrent_activation, u, dtype, scaled, gate_major=True)
        return W, U, b, table, activate

    # -- backward -----------------------------------------------------------

    def backward(self, d_outputs, cache, d_state=None, workspace=None, trace=None,
                 initial_state_gradient=True, accumulate=True):
        """Backpropagate through time.

        Inputs:
            d_outputs  (N, T, u) dL/dh_t for every output, or None
            cache      from `forward`
            d_state    (dh_T, dc_T), each (N, u): gradient on the final states
                       (e.g. from whatever they were handed to), or None
            workspace  a Workspace to take buffers from, or None
            trace      a dict, or None. If given, backward stores in it 'dh' and
                       'dc': (T,) arrays whose entry t-1 is the L2 norm over the
                       batch of dL/dh_t and of dL/dc_t, each the whole gradient
                       that reaches that state (gradient flow through time)
            initial_state_gradient  False skips the last product dz_1 @ U.T when
                       nothing needs dL/dh0 (an encoder starting from zeros)
            accumulate False writes the weight gradients into `grads`, replacing
                       what is there: for a layer whose backward runs once a
                       batch, no `zero_grads` is needed (the models train so)
        Returns:
            dx         (N, T, D) for feature input, None for token input
            (dh0, dc0) (N, u) gradients for the initial state (None, None if
                       initial_state_gradient is False)
        Adds dL/dW, dL/dU, dL/db into `self.grads` (writes them, for accumulate False).
        """
        x, gates, hs, cs, tanh_cs, skipped = cache
        steps, n, u = tanh_cs.shape
        if d_outputs is not None and np.shape(d_outputs) != (n, steps, u):
            raise ValueError(f"d_outputs must have the outputs' shape {(n, steps, u)}, "
                             f"got {np.shape(d_outputs)}")
        U = self.params["recurrent_kernel"]
        def buffer(name, *shape):
            return empty(workspace, name, shape, self.dtype)

        dh, dc = self._final_state_gradient(d_state, buffer("dh", n, u), buffer("dc", n, u))
        dz = buffer("dz", steps, n, 4 * u)              # dL/dz_t for every t
        slope = self._activation_slopes(gates, buffer("slope", steps, 4, n, u))
        d_gates = buffer("d_gates", 4, n, u)            # dL/d(gate) at one step
        dz_i, dz_f, dz_g, dz_o = d_gates
        through_c = buffer("through_c", n, u)
        dh_T = buffer("dh_T", u, n) if 4 * n <= u else None    # see _back_through_U
        dz_at, slope_at, c_at, tanh_c_at = (
            _at_each_step(workspace, name, array)
            for name, array in (("dz", dz), ("slope", slope), ("cs", cs), ("tanh_cs", tanh_cs)))
        gates_at = _at_each_step(workspace, "gates each", gates, tuple)
        dz_by_gate_at = _at_each_step(workspace, "dz by gate", dz, _by_gate)
        norms = None if trace is None else np.zeros((2, steps))
        if skipped is not None:
            carried_dh, carried_dc = buffer("carried_dh", n, u), buffer("carried_dc", n, u)
            if d_outputs is not None:                   # outputs there are zeros, constants
                d_outputs = np.where(_before_first_step(skipped).transpose(1, 0, 2), 0, d_outputs)
        for t in reversed(range(steps)):
            if d_outputs is not None:
                dh += d_outputs[:, t]                   # from the output at t and from t+1
            if skipped is not None:                     # a masked step hands dh, dc back whole
                np.copyto(carried_dh, dh)
                np.copyto(carried_dc, dc)
            i, f, g, o = gates_at[t]
            tanh_c = tanh_c_at[t]
            np.multiply(dh, tanh_c, out=dz_o)           # do = dh * tanh(c_t)
            tanh_derivative(tanh_c, out=through_c)      # dc += dh * o * (1 - tanh(c_t)**2)
            through_c *= o
            through_c *= dh
            if skipped is not None:                     # (so the trace's dc is right too)
                np.copyto(through_c, 0, where=skipped[t])
            dc += through_c
            if norms is not None:                       # dh, dc are now all of dL/dh_t, dL/dc_t
                norms[:, t] = np.linalg.norm(dh), np.linalg.norm(dc)
            np.multiply(dc, g, out=dz_i)                # di = dc * g
            np.multiply(dc, c_at[t], out=dz_f)          # df = dc * c_{t-1}
            np.multiply(dc, i, out=dz_g)                # dg = dc * i
            dc *= f                                     # dc_{t-1} = dc * f
            d_gates *= slope_at[t]                      # dz = d(gate) * gate'(z)
            np.copyto(dz_by_gate_at[t], d_gates)        # into dz's (N, 4u), for the products
            if skipped is not None:                     # the step computed nothing that counts
                np.copyto(dz_at[t], 0, where=skipped[t])
                np.copyto(dc, carried_dc, where=skipped[t])
            if t > 0 or initial_state_gradient:
                self._back_through_U(dz_at[t], U, dh, dh_T)     # dh_{t-1} = dz @ U.T
            if skipped is not None:
                np.copyto(dh, carried_dh, where=skipped[t])
        if norms is not None:
            trace["dh"], trace["dc"] = norms
        dx = self._weight_gradients(x, hs, dz, workspace, accumulate)
        return dx, ((dh, dc) if initial_state_gradient else (None, None))

    @staticmethod
    def _back_through_U(dz, U, dh, dh_T):
        """dh = dz @ U.T, written into dh (N, u).

        dh_T None: as written. dh_T a (u, N) buffer: made as the transpose
        U @ dz.T there, then copied into dh. OpenBLAS multiplies by the
        transposed view U.T slowly when there are few rows. Here, for the
        tutorial's 32 rows of 128 units: 42-45 us against 32-33 us for U @ dz.T
        and 2 us for the copy (a training batch took 2-6% less time); on one
        thread, as each half of fit(workers=2) runs, 54 us against 31 us for
        16 rows (a batch took 8-9% less); at 8-128 rows of 256 and 512 units,
        on one thread or two, 0.46-0.91 of the time. Between a quarter and half
        as many rows as units the two were about even, and beyond that
        U @ dz.T lost (2.1x slower at 512 rows of 64 units), so backward asks
        for it up to a quarter (where it lost about a microsecond, at 8-16 rows
        of 64 units and 8 of 128). They gave the same numbers to the bit at
        every shape tried.
        """
        if dh_T is None:
            np.matmul(dz, U.T, out=dh)
        else:
            np.matmul(U, dz.T, out=dh_T)
            np.copyto(dh, dh_T.T)

    def _activation_slopes(self, gates, out):
        """dgate/dz at every step, from the gate values (T, 4, N, u): sigma' for i, f, o,
        tanh' for g."""
        _, sigma_derivative = get_recurrent_activation(self.recurrent_activation)
        sigma_derivative(gates, out=out)
        tanh_derivative(gates[:, 2], out=out[:, 2])
        return out

    def _weight_gradients(self, x, hs, dz, workspace, accumulate):
        """dW, dU and db from one product over all steps, added into `grads` (or
        written there, for accumulate False); returns dx (or None).

        z_t = x_t W + h_{t-1} U + b is one product of the stacked row
        [x_t | h_{t-1} | 1] with the stacked weights [W; U; b], so their
        gradients are [x_t | h_{t-1} | 1].T @ dz_t, summed over t: with the
        steps as rows, a single product. A model's gradients lie in one flat
        buffer, kernel, recurrent kernel and bias in turn (see
        Seq2SeqModel._pack_parameters): written, not added, the product goes
        straight into them (see _gradient_rows).
        """
        def buffer(name, *shape):
            return empty(workspace, name, shape, self.dtype)

        steps, n, width = dz.shape
        u, d = self.units, self.input_dim
        dz_flat = dz.reshape(steps * n, width)
        stacked = buffer("stacked", steps * n, d + u + 1)
        self._time_major_inputs(x, stacked[:, :d])
        np.copyto(stacked[:, d:d + u].reshape(steps, n, u), hs[:-1])   # h_{t-1} for every t
        stacked[:, -1] = 1
        rows = None if accumulate else self._gradient_rows(workspace)
        if rows is not None:
            np.matmul(stacked.T, dz_flat, out=rows)
        else:
            d_stacked = np.matmul(stacked.T, dz_flat, out=buffer("d_stacked", d + u + 1, width))
            for name, part in zip(("kernel", "recurrent_kernel", "bias"),
                                  (d_stacked[:d], d_stacked[d:d + u], d_stacked[-1])):
                if accumulate:
                    self.grads[name] += part
                else:
                    np.copyto(self.grads[name], part)
        if is_token_array(x):
            return None
        W = self.params["kernel"]
        dx = np.matmul(dz_flat, W.T, out=buffer("dx", steps * n, d))
        return dx.reshape(steps, n, -1).transpose(1, 0, 2)

    def _gradient_rows(self, workspace):
        """grads' kernel, recurrent kernel and bias as one (D + u + 1, 4u) array,
        [dW; dU; db], if they lie in that order in one flat buffer; else None.

        Writing the weight-gradient product there, instead of adding it into
        gradients zeroed before the batch, spares a pass that zeroes all of a
        model's gradients and one that adds into them: a training batch of the
        tutorial's model took 1-3% less time (benchmarks/bench_ab.py, two runs
        of 14 processes: 0.991 and 0.970). Finding them takes 10 us, so the
        answer is kept in `workspace` with grads['kernel'] (a model replaces
        the three together: Seq2SeqModel._move_parameters).
        """
        def find(dW):
            dU, db = self.grads["recurrent_kernel"], self.grads["bias"]
            flat = dW.base
            if not isinstance(flat, np.ndarray) or flat.ndim != 1 or not flat.flags.c_contiguous:
                return None
            start = (dW.ctypes.data - flat.ctypes.data) // flat.itemsize
            rows = flat[start:start + dW.size + dU.size + db.size]
            if rows.size != (self.input_dim + self.units + 1) * dW.shape[1]:
                return None
            rows = rows.reshape(-1, dW.shape[1])
            parts = (rows[:self.input_dim], rows[self.input_dim:-1], rows[-1])
            same = all(a.ctypes.data == b.ctypes.data and a.strides == b.strides
                       and a.shape == b.shape for a, b in zip(parts, (dW, dU, db)))
            return rows if same else None

        dW = self.grads["kernel"]
        return find(dW) if workspace is None else workspace.made_from("gradient rows", dW, find)

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def _time_major_inputs(x, out):
        """x as (T*N, D) rows in time-major order, written into out; tokens become one-hot."""
        steps, n = x.shape[1], x.shape[0]
        if is_token_array(x):
            out.fill(0)
            out[np.arange(steps * n), x.T.ravel()] = 1
        else:
            np.copyto(out.reshape(steps, n, -1), x.transpose(1, 0, 2))
        return out

    def _input_projection(self, x, buffer):
        """x_t @ W + b for all steps at once: (T, N, 4u), time-major."""
        W, b = self.params["kernel"], self.params["bias"]
        steps, n = x.shape[1], x.shape[0]
        out = buffer("z", steps, n, W.shape[1])
        if is_token_array(x):
            # a row lookup is one-hot @ W, + b. The tokens are checked, so mode
            # 'clip' never clips; it spares the copy NumPy's default 'raise' makes
            # of `out` (2.5-3.5x faster here).
            table = np.add(W, b, out=buffer("table", *W.shape))
            np.take(table, x.T, axis=0, out=out, mode="clip")
        else:
            flat = self._time_major_inputs(x, buffer("x_flat", steps * n, self.input_dim))
            np.matmul(flat, W, out=out.reshape(steps * n, -1))
            out += b
        return out

    def _check_input(self, x):
        x = np.asarray(x)
        if is_token_array(x):
            if x.ndim != 2:
                raise ValueError(
                    f"integer token input must have shape (batch, steps), got shape "
                    f"{x.shape}" + (shape_hint("x", x, self.input_dim) or
                                    f"; for one-hot or real-valued input pass a float array "
                                    f"of shape (batch, steps, {self.input_dim})"))
            x = checked_indices(x, self.input_dim)
        elif x.ndim != 3 or x.shape[2] != self.input_dim:
            raise ValueError(
                f"LSTM input must have shape (batch, steps, {self.input_dim}) or be "
                f"integer tokens (batch, steps), got shape {x.shape}"
                f"{shape_hint('x', x, self.input_dim)}")
        else:
            x = x.astype(self.dtype, copy=False)
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"LSTM input needs at least one sample and one step, got shape {x.shape}")
        return x

    def _initial_state(self, state, n):
        if state is None:
            zeros = np.zeros((n, self.units), self.dtype)
            return zeros, zeros
        stacked = isinstance(state, np.ndarray) and state.ndim == 3     # np.stack([h0, c0])
        if not (isinstance(state, (tuple, list)) or stacked) or len(state) != 2:
            raise TypeError(f"initial state must be the pair (h0, c0), each ({n}, {self.units}), "
                            f"got {_described(state)}")
        h0, c0 = (np.asarray(s, dtype=self.dtype) for s in state)
        for name, s in (("h0", h0), ("c0", c0)):
            if s.shape != (n, self.units):
                raise ValueError(f"initial state {name} must have shape ({n}, {self.units}), got {s.shape}")
        return h0, c0

    @staticmethod
    def _final_state_gradient(d_state, dh, dc):
        """Fill the (dh, dc) accumulators from d_state (zeros where None).

        They are our own arrays: the caller's gradients are never modified.
        """
        given_dh, given_dc = (None, None) if d_state is None else d_state
        for name, given, own in (("dh", given_dh, dh), ("dc", given_dc, dc)):
            if given is None:
                own.fill(0)
            elif np.shape(given) != own.shape:
                raise ValueError(f"d_state {name} must have shape {own.shape}, got {np.shape(given)}")
            else:
                np.copyto(own, given)
        return dh, dc
