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

Gradient clipping, as Keras names it: `clipnorm` scales each gradient whose own
L2 norm exceeds it; `global_clipnorm` scales all gradients together when their
joint norm exceeds it.
"""

import numpy as np

__all__ = ["Optimizer", "Adam", "SGD", "RMSprop", "get_optimizer"]


class Optimizer:
    """Shared machinery: clipping, step counting, per-parameter state slots."""

    slot_names = ()

    def __init__(self, learning_rate, clipnorm=None, global_clipnorm=None):
        for name, value in (("learning_rate", learning_rate), ("clipnorm", clipnorm),
                            ("global_clipnorm", global_clipnorm)):
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        self.learning_rate = float(learning_rate)
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.iterations = 0
        self.slots = None          # name -> list of arrays, one per parameter

    def update(self, pairs):
        """Apply one step to every (param, grad) pair, in place."""
        pairs = list(pairs)
        if self.slots is None:
            self.slots = {name: [np.zeros_like(p) for p, _ in pairs] for name in self.slot_names}
        self.iterations += 1
        grads = self._clip([g for _, g in pairs])
        for index, ((param, _), grad) in enumerate(zip(pairs, grads)):
            slots = {name: arrays[index] for name, arrays in self.slots.items()}
            self._update_one(param, grad, slots)

    def _clip(self, grads):
        if self.clipnorm is not None:
            grads = [g * min(1.0, self.clipnorm / max(_norm(g), 1e-30)) for g in grads]
        if self.global_clipnorm is not None:
            total = np.sqrt(sum(_norm(g) ** 2 for g in grads))
            scale = min(1.0, self.global_clipnorm / max(total, 1e-30))
            grads = [g * scale for g in grads]
        return grads

    def _update_one(self, param, grad, slots):
        raise NotImplementedError

    def get_config(self):
        config = {"name": type(self).__name__, "learning_rate": self.learning_rate,
                  "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm}
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


def _norm(g):
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))


class Adam(Optimizer):
    """Adam with Keras defaults: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 clipnorm=None, global_clipnorm=None):
        super().__init__(learning_rate, clipnorm, global_clipnorm)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _hyperparameters(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _update_one(self, param, grad, slots):
        m, v, t = slots["m"], slots["v"], self.iterations
        alpha = self.learning_rate * (1 - self.beta_2 ** t) ** 0.5 / (1 - self.beta_1 ** t)
        m += (grad - m) * (1 - self.beta_1)
        v += (grad * grad - v) * (1 - self.beta_2)
        param -= (m * alpha) / (np.sqrt(v) + self.epsilon)


class SGD(Optimizer):
    """SGD with optional momentum (Keras rule): v = momentum*v - lr*g; p += v.

    With nesterov=True: p += momentum*v - lr*g (after updating v).
    """

    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False,
                 clipnorm=None, global_clipnorm=None):
        super().__init__(learning_rate, clipnorm, global_clipnorm)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _hyperparameters(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _update_one(self, param, grad, slots):
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

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, clipnorm=None, global_clipnorm=None):
        super().__init__(learning_rate, clipnorm, global_clipnorm)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def _hyperparameters(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}

    def _update_one(self, param, grad, slots):
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


OPTIMIZERS = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop}


def get_optimizer(optimizer):
    """An Optimizer from an instance, a name ('adam', 'sgd', 'rmsprop') or a config dict."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        config = dict(optimizer)
        cls = OPTIMIZERS.get(str(config.pop("name", "")).lower())
        if cls is None:
            raise ValueError(f"unknown optimizer config {optimizer!r}")
        return cls(**config)
    cls = OPTIMIZERS.get(str(optimizer).lower())
    if cls is None:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer, got {optimizer!r}")
    return cls()
