"""Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), with PyTorch's rules, defaults and state names.

An optimizer reads each parameter's ``.grad`` and updates the parameter in place with the
tensor's in-place methods (``p.sub_(...)`` under ``no_grad``), as PyTorch does. Its
state (momentum buffers, moment estimates) is made from the parameters' own arrays,
so it lives on the parameters' device. ``state_dict()`` holds only arrays and
numbers, so ``tinygrad_rnn.save`` can write it without pickle.

In a step compiled by ``tinygrad_rnn.compile`` an update is recorded like any other array
operation and replayed later, so the state is arrays updated in place (``m *= beta1``),
and what changes from step to step is computed from arrays too: the step count is a 0-d
array (``_count_step``), never a Python number that a replay would keep at its captured value.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..core.grad_mode import no_grad
from ..core.tensor import Tensor


class Optimizer:
    """Parameter groups, zero_grad, state (de)serialisation; subclasses write ``update``."""

    def __init__(self, params: Iterable[Any], defaults: dict) -> None:
        self.defaults = defaults
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups: list[dict] = []
        self.state: dict[Tensor, dict] = {}
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add parameters with their own hyper-parameters (the rest from the defaults)."""
        group = {**self.defaults, **group, "params": list(group["params"])}
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: can only optimise tensors that require grad, "
                                f"got {type(p).__name__}")
            if any(p is q for g in self.param_groups for q in g["params"]):
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = Tensor._wrap(p.backend.xp.zeros_like(p.data), p.backend)

    @no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient, in place (its version counter moves on,
        so a graph that saved the old values can no longer be used)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad.data, self.state.setdefault(p, {}), group)

    def update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        raise NotImplementedError  # abstract: each optimizer's rule

    # ---- saving and restoring --------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: {name: array or number}}, "param_groups": [...]} as PyTorch does."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (arrays may be NumPy)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved state has "
                             f"{len(groups)} parameter groups, this optimizer {len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):  # check everything before changing anything
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{type(self).__name__}.load_state_dict: a saved group has "
                                 f"{len(saved['params'])} parameters, this one {len(group['params'])}")
        params = []
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
            params.extend(group["params"])
        self.state = {}
        for key, values in state_dict["state"].items():
            p = params[int(key)]
            restored = {}
            for name, value in values.items():
                value = value.data if isinstance(value, Tensor) else value
                if name == "step" and hasattr(value, "shape"):  # the step counter: a 0-d array
                    value = p.backend.asarray(value, dtype="float64")
                elif hasattr(value, "shape"):
                    if tuple(value.shape) != p.shape:
                        raise ValueError(f"{type(self).__name__}.load_state_dict: state {name!r} of "
                                         f"parameter {key} has shape {tuple(value.shape)}, the "
                                         f"parameter has shape {p.shape}")
                    value = p.backend.asarray(value, dtype=p.dtype)
                restored[name] = value
            self.state[p] = restored


def _count_step(state: dict, xp: Any) -> Any:
    """Add one to the parameter's step counter and return it: a 0-d float64 array (as PyTorch's
    is a tensor), so a compiled step counts in its program instead of baking a number in."""
    if "step" not in state or not hasattr(state["step"], "shape"):
        state["step"] = xp.asarray(float(state.get("step", 0)))
    state["step"] += 1
    return state["step"]


class SGD(Optimizer):
    """p -= lr * g, with optional momentum (PyTorch's form), Nesterov and weight decay."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, "
                             f"{weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        momentum = group["momentum"]
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = p.backend.xp.array(grad, copy=True)  # an array, even 0-d
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        p.sub_(group["lr"] * grad)


class Adam(Optimizer):
    """Adaptive moments: m and v track the gradient's mean and square, bias-corrected."""

    decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if lr < 0 or eps < 0 or not all(0 <= b < 1 for b in betas) or weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: invalid hyper-parameters lr={lr}, betas={betas}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if decay and self.decoupled_weight_decay:
            p.mul_(1 - lr * decay)                          # AdamW: shrink the weights directly
        elif decay:
            grad = grad + decay * p.data                    # Adam: L2 penalty through the gradient
        xp = p.backend.xp
        if not state:
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        t = _count_step(state, xp)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * grad                             # m_t = b1 m + (1 - b1) g
        v *= beta2
        v += (1 - beta2) * grad * grad                      # v_t = b2 v + (1 - b2) g^2
        denominator = xp.sqrt(v) / xp.sqrt(1 - beta2 ** t).astype(p.dtype) + eps
        p.sub_((lr / (1 - beta1 ** t)).astype(p.dtype) * m / denominator)  # p -= lr m^ / (sqrt(v^) + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (p *= 1 - lr * weight_decay), default 0.01."""

    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square of recent gradients."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        if lr < 0 or eps < 0 or not 0 <= alpha <= 1 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"RMSprop: invalid hyper-parameters lr={lr}, alpha={alpha}, eps={eps}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        xp, alpha = p.backend.xp, group["alpha"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        if not state:
            state["square_avg"] = xp.zeros_like(p.data)
            if group["momentum"]:
                state["momentum_buffer"] = xp.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p.data)
        _count_step(state, xp)
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:  # subtract the squared mean: a running variance
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * grad
            rms = xp.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            rms = xp.sqrt(square_avg) + group["eps"]
        if group["momentum"]:
            buffer = state["momentum_buffer"]
            buffer *= group["momentum"]
            buffer += grad / rms
            p.sub_(group["lr"] * buffer)
        else:
            p.sub_(group["lr"] * grad / rms)


class Adagrad(Optimizer):
    """Divide the gradient by the root of the sum of all its past squares (the optimizer of the
    classic min-char-rnn): each weight's steps shrink as its gradients add up."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError(f"Adagrad: lr, lr_decay, weight_decay, initial_accumulator_value and eps must "
                             f"be >= 0, got {lr}, {lr_decay}, {weight_decay}, {initial_accumulator_value}, {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def add_param_group(self, group: dict) -> None:
        """As ``Optimizer.add_param_group``; and, as PyTorch does, each parameter's state starts at
        once: a step count of 0 and a sum filled with the group's ``initial_accumulator_value``."""
        super().add_param_group(group)
        group = self.param_groups[-1]
        for p in group["params"]:
            xp = p.backend.xp
            self.state[p] = {"step": xp.asarray(0.0),
                             "sum": xp.full_like(p.data, group["initial_accumulator_value"])}

    def update(self, p: Tensor, grad: Any, state: dict, group: dict) -> None:
        xp, lr, lr_decay = p.backend.xp, group["lr"], group["lr_decay"]
        t = _count_step(state, xp)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        if lr_decay:  # lr / (1 + (t - 1) lr_decay), from the step array so that a compiled step decays too
            lr = (lr / (1 + (t - 1) * lr_decay)).astype(p.dtype)
        total = state["sum"]
        total += grad * grad                                   # sum_t = sum + g^2
        p.sub_(lr * grad / (xp.sqrt(total) + group["eps"]))    # p -= lr g / (sqrt(sum_t) + eps)
