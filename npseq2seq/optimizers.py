"""Optimizers with Keras's update rules and defaults; each updates in place.

An optimizer is handed a list of (param, grad) pairs, always the same arrays in
the same order, and changes each `param` in place. Its state (moments, step
count) can be read with `get_state()` and restored with `set_state()`, so
training can stop and resume exactly.

Adam (Keras), with t counting from 1:
    m     = m + (g - m) * (1 - beta_1)            (= beta_1 m + (1 - beta_1) g)
    v     = v + (g*g - v) * (1 - beta_2)
    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    p    -= alpha * m / (sqrt(v) + epsilon)
Keras writes the moment updates in the first form; the two are equal up to
rounding, and we follow Keras's. (PyTorch adds epsilon after the bias
correction of v, so it cannot match this to the last bit.)

With amsgrad=True (Keras's option), v_hat = max(v_hat, v) takes v's place in
the root: the step never grows because v shrank.

Weight decay, any optimizer's `weight_decay` (Keras's; AdamW's default 0.004),
before each step and apart from the gradient:
    p    -= p * weight_decay * lr

Gradient clipping, Keras's three kinds (at most one may be set):
    clipnorm          each variable's gradient g scaled to norm clipnorm if
                      above it: g * clipnorm / ||g||
    global_clipnorm   all gradients of one update scaled together, by their
                      joint norm
    clipvalue         each element clipped to [-clipvalue, clipvalue]
A variable is one (param, grad) pair, unless `update(..., variables=...)`
cuts a pair into several: the models hand the optimizer all their weights as
one flat array, and name its Keras variables (encoder kernel, ...) that way,
so that clipnorm clips what Keras's clips.
"""

import numpy as np

__all__ = ["Optimizer", "Adam", "AdamW", "SGD", "RMSprop", "get_optimizer"]


class Optimizer:
    """Shared machinery: clipping, step counting, per-parameter state slots."""

    slot_names = ()
    config_name = None      # the name get_optimizer knows this rule by (subclasses inherit it)

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        self.learning_rate = _positive("learning_rate", learning_rate)
        self.weight_decay = None if weight_decay is None else _positive("weight_decay",
                                                                        weight_decay)
        clipping = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                    "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clipping.values()) > 1:
            raise ValueError(f"set at most one of clipnorm, clipvalue and global_clipnorm, "
                             f"got {', '.join(f'{k}={v!r}' for k, v in clipping.items())}")
        for name, value in clipping.items():
            setattr(self, name, None if value is None else _positive(name, value))
        self.iterations = 0
        self.slots = None          # name -> list of arrays, one per parameter
        self._scratch = None       # work arrays, one per parameter

    @property
    def clips(self):
        """Whether gradients are clipped (in any of the three ways)."""
        return any(value is not None
                   for value in (self.clipnorm, self.clipvalue, self.global_clipnorm))

    def update(self, pairs, variables=None):
        """Apply one step to every (param, grad) pair, in place.

        variables: for each pair, the parts of its param (index expressions,
        slices of a flat array) that clipnorm clips separately; by default
        each pair is one variable.
        """
        pairs = list(pairs)
        self._check_pairs(pairs)
        if variables is None:
            variables = [[...]] * len(pairs)
        if self.slots is None:
            self.slots = {name: [np.zeros_like(p) for p, _ in pairs] for name in self.slot_names}
        if not self._scratch_fits(pairs):
            self._scratch = [(np.empty_like(p), np.empty_like(p)) for p, _ in pairs]
        self.iterations += 1
        grads = self._clip([g for _, g in pairs], variables)
        for index, ((param, _), grad) in enumerate(zip(pairs, grads)):
            slots = {name: arrays[index] for name, arrays in self.slots.items()}
            self._decay(param, self._scratch[index][0])
            self._update_one(param, grad, slots, self._scratch[index])

    def _check_pairs(self, pairs):
        """Each param a float array (it is updated in place) with a gradient of its
        shape; and, once the state is made, the parameters it was made for."""
        for index, (param, grad) in enumerate(pairs):
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                raise TypeError(f"parameter {index} must be a float NumPy array (it is updated "
                                f"in place), got {getattr(param, 'dtype', type(param).__name__)}")
            if np.shape(grad) != param.shape:
                raise ValueError(f"gradient {index} must have its parameter's shape "
                                 f"{param.shape}, got {np.shape(grad)}")
        if self.slots:
            made_for = [a.shape for a in next(iter(self.slots.values()))]
            if made_for != [param.shape for param, _ in pairs]:
                raise ValueError(f"this optimizer's state was made for parameters of shapes "
                                 f"{made_for}, got {[param.shape for param, _ in pairs]}; "
                                 f"use a new optimizer for other parameters")

    def _scratch_fits(self, pairs):
        """Whether the work arrays match the parameters (they may not after set_state)."""
        return self._scratch is not None and (
            [(a.shape, a.dtype) for a, _ in self._scratch] == [(p.shape, p.dtype) for p, _ in pairs])

    def update_part(self, param, grad, part):
        """One step for param[part] alone: one flat param, its slots made already.

        Every rule here is elementwise, so the parts of one step, stepped apart
        (fit's two processes each step one), are that step. No clipping here:
        its norms need the whole gradient (fit steps in one process when any
        kind of clipping is set).
        """
        if self.clips:
            raise ValueError("update_part cannot clip: clipping needs the whole gradient")
        self.iterations += 1
        slots = {name: arrays[0][part] for name, arrays in self.slots.items()}
        scratch = getattr(self, "_part_scratch", None)
        if scratch is None or scratch[0].shape != param[part].shape:
            scratch = self._part_scratch = (np.empty_like(param[part]), np.empty_like(param[part]))
        self._decay(param[part], scratch[0])
        self._update_one(param[part], grad[part], slots, scratch)

    def _decay(self, param, scratch):
        """Keras's weight decay, before each step: p -= p * weight_decay * learning_rate."""
        if self.weight_decay is not None:
            np.multiply(param, self.weight_decay, out=scratch)
            scratch *= self.learning_rate
            param -= scratch

    def _clip(self, grads, variables):
        """The gradients clipped as Keras clips them (copies; the caller's are left)."""
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.global_clipnorm is not None:
            total = np.sqrt(sum(_squared_norm(g) for g in grads))
            return _scaled(grads, [[(..., total)]] * len(grads), self.global_clipnorm)
        if self.clipnorm is not None:
            return _scaled(grads, [[(part, np.sqrt(_squared_norm(g[part]))) for part in parts]
                                   for g, parts in zip(grads, variables)], self.clipnorm)
        return grads

    def _update_one(self, param, grad, slots, scratch):
        raise NotImplementedError

    def get_config(self):
        config = {"name": self.config_name, "learning_rate": self.learning_rate,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}
        config.update(self._hyperparameters())
        return config

    def _hyperparameters(self):
        return {}

    def get_state(self):
        """{'iterations': int, 'slots': {name: [arrays]}} (copies)."""
        slots = None if self.slots is None else {
            name: [a.copy() for a in arrays] for name, arrays in self.slots.items()}
        return {"iterations": self.iterations, "slots": slots}

    def set_state(self, state):
        self.iterations = int(state["iterations"])
        slots = state["slots"]
        self.slots = None if slots is None else {
            name: [np.array(a) for a in slots[name]] for name in self.slot_names}


def _scaled(grads, norms, limit):
    """Each grad with its parts whose norm is above `limit` scaled down to it.

    norms: for each grad, [(part, that part's norm), ...]. A grad with a part
    scaled is a copy; the others are the caller's arrays.
    """
    scaled = []
    for grad, part_norms in zip(grads, norms):
        over = [(part, norm) for part, norm in part_norms if norm > limit]
        if over:
            grad = np.array(grad)
            for part, norm in over:
                grad[part] *= limit / norm
        scaled.append(grad)
    return scaled


def _squared_norm(g):
    g = np.asarray(g, np.float64).ravel()
    return float(g @ g)


def _real(value):
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            and np.isfinite(value))


def _positive(name, value):
    """value as a float, if it is a finite number above zero; else ValueError."""
    if not (_real(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _fraction(name, value):
    """value as a float, if it lies in [0, 1) (a decay rate or a momentum); else ValueError."""
    if not (_real(value) and 0 <= value < 1):
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return float(value)


class Adam(Optimizer):
    """Adam with Keras defaults: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7.

    beta_1 and beta_2 lie in [0, 1); epsilon is positive (with 0, a weight whose
    gradient is always 0, as token 0's row of the encoder's kernel in the
    tutorial, would become 0 / 0 = NaN).
    """

    config_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1, self.beta_2 = _fraction("beta_1", beta_1), _fraction("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    @property
    def slot_names(self):
        # amsgrad keeps the largest v so far, v_hat, and divides by its root instead
        return ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def _update_one(self, param, grad, slots, scratch):
        m, v, t = slots["m"], slots["v"], self.iterations
        alpha = self.learning_rate * (1 - self.beta_2 ** t) ** 0.5 / (1 - self.beta_1 ** t)
        a, b = scratch   # the same equations, in place: no temporaries
        np.subtract(grad, m, out=a)          # m += (g - m) * (1 - beta_1)
        a *= 1 - self.beta_1
        m += a
        np.multiply(grad, grad, out=a)       # v += (g*g - v) * (1 - beta_2)
        a -= v
        a *= 1 - self.beta_2
        v += a
        if self.amsgrad:                     # v_hat = max(v_hat, v), the root's in its place
            v = np.maximum(slots["v_hat"], v, out=slots["v_hat"])
        np.multiply(m, alpha, out=a)         # p -= (m * alpha) / (sqrt(v) + epsilon)
        np.sqrt(v, out=b)
        b += self.epsilon
        a /= b
        param -= a


class AdamW(Adam):
    """Adam with weight decay, as Keras's AdamW (weight_decay defaults to 0.004).

    The decay is decoupled from the gradient: p -= p * weight_decay * lr before
    each Adam step (every optimizer here takes weight_decay; this is Adam's
    default with it).
    """

    config_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm)


class SGD(Optimizer):
    """SGD with optional momentum (Keras rule): v = momentum*v - lr*g; p += v.

    With nesterov=True: p += momentum*v - lr*g (after updating v).
    """

    slot_names = ("velocity",)
    config_name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.momentum, self.nesterov = _fraction("momentum", momentum), bool(nesterov)

    def _hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _update_one(self, param, grad, slots, scratch):
        if self.momentum == 0:
            param -= self.learning_rate * grad
            return
        velocity = slots["velocity"]
        velocity *= self.momentum
        velocity -= self.learning_rate * grad
        if self.nesterov:
            param += self.momentum * velocity - self.learning_rate * grad
        else:
            param += velocity


class RMSprop(Optimizer):
    """RMSprop (Keras rule), defaults lr 0.001, rho 0.9, epsilon 1e-7.

    v = rho*v + (1-rho)*g*g;  step = lr * g / sqrt(v + epsilon)
    (centered: v - mean_g**2 in the root); with momentum: s = momentum*s + step, p -= s.
    """

    slot_names = ("velocity", "average_gradient", "momentum")
    config_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho, self.momentum = _fraction("rho", rho), _fraction("momentum", momentum)
        self.epsilon = _positive("epsilon", epsilon)
        self.centered = bool(centered)

    def _hyperparameters(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def _update_one(self, param, grad, slots, scratch):
        velocity = slots["velocity"]
        velocity *= self.rho
        velocity += (1 - self.rho) * grad * grad
        denominator = velocity + self.epsilon
        if self.centered:
            average = slots["average_gradient"]
            average *= self.rho
            average += (1 - self.rho) * grad
            denominator -= average * average
        increment = self.learning_rate * grad / np.sqrt(denominator)
        if self.momentum > 0:
            slots["momentum"] *= self.momentum
            slots["momentum"] += increment
            increment = slots["momentum"]
        param -= increment


OPTIMIZERS = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


def get_optimizer(optimizer):
    """An Optimizer from an instance, a name ('adam', 'sgd', 'rmsprop') or a config dict."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        config = dict(optimizer)
        if "global_clipnorm" not in config and config.get("clipnorm") is not None:
            # a config from before clipnorm meant Keras's (per variable): then it was joint
            config["global_clipnorm"] = config.pop("clipnorm")
        cls = OPTIMIZERS.get(str(config.pop("name", "")).lower())
        if cls is None:
            raise ValueError(f"unknown optimizer config {optimizer!r}")
        return cls(**config)
    cls = OPTIMIZERS.get(str(optimizer).lower())
    if cls is None:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer, got {optimizer!r}")
    return cls()
