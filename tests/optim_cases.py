"""What the fixture generator (torch) and the tests (tinygrad_rnn) must do identically: turn a
stored optimizer case into constructor arguments (the scheduler's and each of its steps' too),
and compute the loss that trains the mixed-rank parameters. Sharing the code means both sides
build the same optimizer and scheduler and differentiate the same function."""
from __future__ import annotations

from typing import Any, Callable


def optimizer_arguments(cfg: dict, params: list) -> tuple[Any, dict]:
    """(params or parameter groups, keyword arguments) for ``cfg["optimizer"]``."""
    kwargs = dict(cfg["kwargs"])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])  # JSON stores the tuple as a list
    if cfg["groups"] is None:
        return params, kwargs
    groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [params[i] for i in g["params"]]}
              for g in cfg["groups"]]
    return groups, kwargs


# LambdaLR's functions, by the name a stored case gives (JSON cannot hold a function)
LR_LAMBDAS: dict[str, Callable[[int], float]] = {
    # a warm-up from a third of the lr, then a decay: lambda(0) != 1, so the constructor moves the lr
    "warmup_then_decay": lambda epoch: min((epoch + 1) / 3, 0.8 ** (epoch - 2)),
    "halve_every_two": lambda epoch: 0.5 ** (epoch // 2),
}


def scheduler_arguments(scheduler: dict) -> dict:
    """The keyword arguments for a stored ``cfg["scheduler"]``, LambdaLR's names made functions."""
    kwargs = dict(scheduler["kwargs"])
    if "lr_lambda" in kwargs:
        names = kwargs["lr_lambda"]
        kwargs["lr_lambda"] = [LR_LAMBDAS[n] for n in names] if isinstance(names, list) else LR_LAMBDAS[names]
    return kwargs


def scheduler_step_arguments(scheduler: dict, step: int) -> tuple:
    """What ``scheduler.step`` is given after optimizer step ``step`` (0-based): ReduceLROnPlateau's
    stored metric for that step, nothing for the other schedules."""
    return (scheduler["metrics"][step],) if "metrics" in scheduler else ()


def mixed_rank_loss(matrix: Any, vector: Any, scalar: Any, inputs: Any, targets: Any) -> Any:
    """sum((tanh(matrix @ (scalar * inputs + vector)) - targets) ** 2) for a (3, 4) matrix, a (4,)
    vector, a 0-d scalar, (4,) inputs and (3,) targets: a scalar loss.

    Every parameter sits inside the tanh, so each one's gradient depends on all three and
    changes at every step. Only operators that torch and tinygrad_rnn tensors share are used,
    so the same code runs on either.
    """
    prediction = (matrix @ (scalar * inputs + vector)).tanh()
    return ((prediction - targets) ** 2).sum()
