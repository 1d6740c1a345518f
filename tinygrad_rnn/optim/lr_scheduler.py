"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: each one changes the ``lr`` of an
optimizer's parameter groups (OneCycleLR their momentum too) when its ``step()`` is called.

Call ``scheduler.step()`` after ``optimizer.step()``: once per epoch, or once per batch for
OneCycleLR. Most schedules are a formula of the number of steps taken so far (``last_epoch``)
and of each group's lr when the schedule began (``base_lrs``, also kept in the group as
``"initial_lr"``). As in PyTorch, building a scheduler already sets the lr of step 0:
``base_lr * lr_lambda(0)`` for LambdaLR, ``max_lr / div_factor`` for OneCycleLR.
ReduceLROnPlateau is different: it lowers the lr when a measured metric stops improving.
StepLR, ExponentialLR and CosineAnnealingLR compute their formula where PyTorch multiplies
the previous lr by a factor: the same lrs, to rounding.

``state_dict()`` holds how far a schedule has gone, as plain numbers (so ``tinygrad_rnn.save``
writes it without pickle); the settings come from the constructor: build the scheduler with
the same arguments, then ``load_state_dict``. The group values a schedule keeps in the
optimizer (``initial_lr``, OneCycleLR's ``max_lr``...) come back with the optimizer's state.
"""
from __future__ import annotations

import math
import types
from typing import Any, Callable, Sequence

from .optimizer import Optimizer


class LRScheduler:
    """Sets every group's ``lr`` to a formula of its initial lr and the step count; each
    schedule writes its formula as ``get_lr``."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lrs = [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()  # the lr of step 0, as PyTorch's constructor sets it

    def get_lr(self) -> list[float]:
        """Every group's lr at step ``self.last_epoch``."""
        raise NotImplementedError  # abstract: each schedule's formula

    def step(self) -> None:
        """Count one more step and set the lrs for it."""
        self.last_epoch += 1
        self._apply()

    def _apply(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The lr of every group, as the last ``step()`` (or the constructor) set it."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.base_lrs = [float(lr) for lr in state["base_lrs"]]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr follows half a cosine from base_lr down to eta_min over T_max epochs."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        # written to give base_lr exactly at epoch 0: (1 - cos) / 2 goes from 0 to 1
        fraction = (1 - math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [base_lr - (base_lr - self.eta_min) * fraction for base_lr in self.base_lrs]


LRLambda = Callable[[int], float]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch): one function for every group, or a list with one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: LRLambda | Sequence[LRLambda]) -> None:
        self.lr_lambdas = _per_group("LambdaLR", "lr_lambdas", lr_lambda, optimizer)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [base_lr * lr_lambda(self.last_epoch) for lr_lambda, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        """As ``LRScheduler.state_dict``, plus ``"lr_lambdas"``: as in PyTorch, the attributes of each
        lr_lambda that is a callable object, and None for a plain function or lambda (code cannot
        be saved: pass the same functions to the constructor again)."""
        saved = [None if isinstance(f, types.FunctionType) or not hasattr(f, "__dict__") else dict(vars(f))
                 for f in self.lr_lambdas]
        return {**super().state_dict(), "lr_lambdas": saved}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        for lr_lambda, attributes in zip(self.lr_lambdas, state.get("lr_lambdas", [])):
            if attributes is not None:
                vars(lr_lambda).update(attributes)


def _per_group(scheduler: str, what: str, value: Any, optimizer: Optimizer) -> list:
    """``value`` for every parameter group: a list with one per group, or one value for all.
    ``what`` names the list in the error (``"values of max_lr"``)."""
    n_groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(f"{scheduler}: expected {n_groups} {what} (one per parameter group), "
                             f"got {len(value)}")
        return list(value)
    return [value] * n_groups


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"OneCycleLR: expected a positive integer {name}, got {value!r}")
    return value


def _anneal_cos(start: float, end: float, pct: float) -> float:
    """From start (pct 0) to end (pct 1) along half a cosine."""
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    return start + (end - start) * pct


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped after every batch: over the first ``pct_start`` of
    ``total_steps`` the lr rises from ``max_lr / div_factor`` to ``max_lr``, then it anneals down
    to that start divided by ``final_div_factor``. With ``three_phase`` it first comes back down
    to the start (as long as it rose), then anneals to the minimum.

    With ``cycle_momentum`` the momentum (SGD's and RMSprop's ``momentum``, Adam's ``beta1``)
    moves the other way, from ``max_momentum`` down to ``base_momentum`` while the lr rises.
    The lr, momentum and bounds are kept in each group (``initial_lr``, ``max_lr``, ``min_lr``,
    ``max_momentum``, ``base_momentum``), as PyTorch keeps them. Stepping past ``total_steps``
    raises ``ValueError``.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        if total_steps is not None:
            self.total_steps = _positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _positive_int("epochs", epochs) * _positive_int("steps_per_epoch", steps_per_epoch)
        else:
            raise ValueError("OneCycleLR: give either total_steps, or both epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected a float between 0 and 1 as pct_start, got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        if cycle_momentum and "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError(f"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas "
                             f"(beta1); {type(optimizer).__name__} has neither: pass cycle_momentum=False")
        self.anneal = _anneal_cos if anneal_strategy == "cos" else _anneal_linear
        self.cycle_momentum = cycle_momentum
        self.use_beta1 = "betas" in optimizer.defaults

        for group, top in zip(optimizer.param_groups, _per_group("OneCycleLR", "values of max_lr", max_lr, optimizer)):
            group["initial_lr"] = top / div_factor
            group["max_lr"] = top
            group["min_lr"] = group["initial_lr"] / final_div_factor
        if cycle_momentum:
            highs = _per_group("OneCycleLR", "values of max_momentum", max_momentum, optimizer)
            lows = _per_group("OneCycleLR", "values of base_momentum", base_momentum, optimizer)
            for group, high, low in zip(optimizer.param_groups, highs, lows):
                group["max_momentum"], group["base_momentum"] = high, low

        # each phase: the step it ends at, then the group keys the lr and the momentum go from -> to
        total = self.total_steps
        rise = (pct_start * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum")
        if three_phase:
            fall = (2 * pct_start * total - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum")
            self.phases = [rise, fall, (total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self.phases = [rise, (total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        super().__init__(optimizer)

    def step(self) -> None:
        if self.last_epoch >= self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {self.last_epoch + 1} times. The specified number "
                             f"of total steps is {self.total_steps}")
        super().step()

    def _phase(self) -> tuple[tuple[str, str, str, str], float]:
        """The current phase's group keys, and how far into the phase the step is (0 to 1; the
        last phase continues past 1 on the step after total_steps - 1)."""
        *earlier, phase = self.phases
        start = 0.0
        for candidate in earlier:
            if self.last_epoch <= candidate[0]:
                phase = candidate
                break
            start = candidate[0]
        end, *keys = phase
        return tuple(keys), (self.last_epoch - start) / (end - start)

    def get_lr(self) -> list[float]:
        (lr_from, lr_to, _, _), pct = self._phase()
        return [self.anneal(group[lr_from], group[lr_to], pct) for group in self.optimizer.param_groups]

    def _apply(self) -> None:
        super()._apply()
        if not self.cycle_momentum:
            return
        (_, _, momentum_from, momentum_to), pct = self._phase()
        for group in self.optimizer.param_groups:
            momentum = self.anneal(group[momentum_from], group[momentum_to], pct)
            if self.use_beta1:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum


class ReduceLROnPlateau:
    """Multiply every group's lr by ``factor`` once a metric passed to ``step(metrics)`` (say the
    validation loss) has not improved for more than ``patience`` steps, then wait ``cooldown``
    steps before counting again. The lr never goes below ``min_lr`` (one number, or a list with
    one per group), and a change smaller than ``eps`` is not made.

    Improving means beating the best value so far by ``threshold``: in mode ``"min"`` going below
    ``best * (1 - threshold)`` (threshold_mode ``"rel"``) or ``best - threshold`` (``"abs"``); in
    mode ``"max"`` going above ``best * (1 + threshold)`` or ``best + threshold``.

    Unlike PyTorch's (since 2.2) it is not an ``LRScheduler`` subclass: it has no formula, no
    ``base_lrs`` and a ``step`` that takes the metric.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience, self.cooldown = mode, factor, patience, cooldown
        self.threshold, self.threshold_mode, self.eps = threshold, threshold_mode, eps
        self.min_lrs = _per_group("ReduceLROnPlateau", "values of min_lr", min_lr, optimizer)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, value: float, best: float) -> bool:
        """Whether ``value`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            return value < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return value > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: Any) -> None:
        """Count one step with this metric value (a number or a 0-d tensor) and maybe lower the lrs."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # steps during the cooldown do not count as bad
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = int(state["last_epoch"])
        self.best = float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
