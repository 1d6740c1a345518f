"""``Module``: a container of parameters and submodules, as in PyTorch.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it, in definition
order, so ``parameters()``, ``named_parameters()`` (dotted names such as
``lstm.weight_ih_l0``) and ``state_dict()`` are deterministic and match PyTorch's.
Buffers (``register_buffer``) are state without gradients, such as a loss's class weights:
they move with ``to()`` and are saved in ``state_dict()``.
Forward hooks watch (or replace) what a module returns; the containers are in
``containers.py``.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from ..backends import device_and_dtype
from ..core.dtypes import is_floating
from ..core.grad_mode import no_grad
from ..core.hooks import RemovableHandle
from ..core.tensor import Tensor

ForwardHook = Callable[["Module", tuple, Any], Any]
_hook_keys = itertools.count()


class Parameter(Tensor):
    """A leaf tensor that requires grad and that a ``Module`` registers as its parameter."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None,
                 device: str | None = None) -> None:
        if isinstance(data, Tensor):  # share the tensor's memory, as torch.nn.Parameter does
            device = device or data.device
            data = data.data
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of every layer and model: subclass it, assign parameters and submodules
    in ``__init__``, and write ``forward``. Calling the module calls ``forward``."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration --------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called; "
                                 "call super().__init__() first in your __init__")
        registries = (params, self._modules, self._buffers)
        if isinstance(value, Parameter) or (value is None and name in params):
            kept = params  # an existing name keeps its place in the order
        elif isinstance(value, Module):
            kept = self._modules
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            kept = self._buffers  # a new value for the buffer
        else:
            kept = None  # a plain attribute (replacing a parameter, module or buffer of that name)
        for registry in registries:
            if registry is kept:
                registry[name] = value
            else:
                registry.pop(name, None)
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name``; ``None`` records an absent one (e.g. no bias)."""
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as the child ``name`` (what assigning an attribute does), with
        PyTorch's checks: a Module or None, a non-empty name without ".", not already taken by
        another attribute (a ``ModuleDict`` key "keys" would hide its keys() method)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        self._check_new_name(name, self._modules, "add_module")
        self._parameters.pop(name, None)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as state that is not a parameter: no gradient, not in
        ``parameters()``, but moved and cast by ``to()`` and saved by ``state_dict()`` (unless
        ``persistent`` is False). ``None`` records an absent one (e.g. no class weights)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._check_new_name(name, self._buffers, "register_buffer")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def _check_new_name(self, name: Any, registry: dict, op: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{op}: the name must be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{op}: a name must be non-empty and contain no '.', got {name!r}")
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"{op}: attribute {name!r} already exists on {type(self).__name__}")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")  # abstract

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        output = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):  # a hook may remove itself
                replacement = hook(self, args, output)
                if replacement is not None:
                    output = replacement
        return output

    def register_forward_hook(self, hook: ForwardHook) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward (``args``: the positional
        inputs, as a tuple); a hook that returns something replaces the output, and later hooks
        see the replacement. Returns a handle whose ``remove()`` unregisters the hook."""
        if not callable(hook):
            raise TypeError(f"register_forward_hook: expected a function hook(module, args, output), "
                            f"got {type(hook).__name__}")
        key = next(_hook_keys)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    # ---- walking the tree -------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """This module and every submodule, depth first (a parent before its children, children
        in registration order), with dotted names ("" for self). A module reachable by several
        paths comes once, under its first name (unless ``remove_duplicate`` is False); modules
        in ``memo`` are skipped."""
        stack = [(prefix, self)]
        seen = set() if memo is None else memo
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if module in seen:
                    continue
                seen.add(module)
            yield name, module
            children = [(f"{name}.{child}" if name else child, m)
                        for child, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, members: Callable[["Module"], Iterable[tuple[str, Any]]], prefix: str = "",
                       recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """``members(module)`` of every module with dotted names, each object once (None skipped)."""
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in members(module):
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted path, in registration order, each once."""
        return self._named_members(lambda module: module._parameters.items(), prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Every buffer with its dotted path, in registration order, each once."""
        return self._named_members(lambda module: module._buffers.items(), prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # ---- state --------------------------------------------------------------------------
    def _state(self) -> "OrderedDict[str, Tensor]":
        """What ``state_dict`` saves, as the live tensors: each module's parameters, then its
        persistent buffers, module by module (PyTorch's order)."""
        def members(module: Module) -> list:
            buffers = [(n, b) for n, b in module._buffers.items() if n not in module._non_persistent_buffers]
            return [*module._parameters.items(), *buffers]
        return OrderedDict(self._named_members(members))

    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Name -> detached tensor sharing the memory of each parameter and persistent buffer."""
        return OrderedDict((name, t.detach()) for name, t in self._state().items())

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values (Tensors or NumPy arrays) into the parameters and buffers, in place.

        With ``strict`` every key of ``state_dict()`` must be given and nothing else; shapes
        must match in any case. Values are cast to each tensor's dtype and moved to its device.
        """
        own = self._state()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(unexpected))
        for name, param in own.items():
            if name in state_dict:
                shape = tuple(getattr(state_dict[name], "shape", ()))
                if shape != param.shape:
                    problems.append(f"size mismatch for {name}: expected shape {param.shape}, "
                                    f"got {shape}")
        if problems:
            raise RuntimeError(f"load_state_dict: error(s) loading the state dict of "
                               f"{type(self).__name__}:\n  " + "\n  ".join(problems))
        with no_grad():
            for name, param in own.items():
                if name in state_dict:
                    param.copy_(state_dict[name])
        return IncompatibleKeys(missing, unexpected)

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every submodule and then on this module (children first, as PyTorch's
        ``apply``: the usual way to re-initialise a model's weights); returns self."""
        stack: list[tuple[Module, bool]] = [(self, False)]
        while stack:
            module, children_done = stack.pop()
            if children_done:
                fn(module)
                continue
            stack.append((module, True))
            stack.extend((child, False) for child in reversed(list(module.children())))
        return self

    # ---- modes, gradients, devices and dtypes ------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Turn gradients on or off for every parameter (freezing a part of a model); returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros when ``set_to_none`` is False)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad = Tensor._wrap(param.backend.xp.zeros_like(param.data), param.backend)

    def to(self, device: Any = None, dtype: Any = None) -> "Module":
        """Move and/or cast every parameter (and its gradient) in place, and every buffer
        (only floating-point ones change dtype, as in PyTorch); returns self."""
        device, dtype = device_and_dtype(device, dtype)
        for param in self.parameters():
            converted = Tensor._wrap(param.data, param.backend).to(device, dtype)
            param.data, param.backend = converted.data, converted.backend
            if param.grad is not None:
                param.grad = param.grad.to(device, dtype)
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    setattr(module, name, buffer.to(device, dtype if is_floating(buffer.dtype) else None))
        return self

    def double(self) -> "Module":
        return self.to(dtype="float64")

    def float(self) -> "Module":
        return self.to(dtype="float32")

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Module":
        return self.to(f"cuda:{index}")

    # ---- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown between the parentheses of ``repr``."""
        return ""

    def __repr__(self) -> str:
        """PyTorch's layout: ``Name(extra)`` on one line when the module has no children and a
        one-line ``extra_repr``; otherwise each extra line and each ``(child): repr`` indented."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(module).replace("\n", "\n  ")
                       for name, module in self._modules.items()]
        if not child_lines and len(extra_lines) <= 1:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"
