"""What a compiled step reads and writes besides its arguments, and how it is saved.

``State`` finds the tensors, modules and optimizers a step uses (through its closure, default
arguments, the globals it names, its ``self`` and the user's helper functions), names the
*slots* where their arrays live between calls, and says what a replay relies on staying the
same (``signature``). ``Arguments`` does the same for one call's arguments. ``Snapshot``
copies every slot, so that a capture that must be undone (a refused step, the first call's
replay) restores the model, its ``.grad`` and the optimizer exactly.
"""
from __future__ import annotations

import types
from typing import Any, Callable

from ..core.tensor import Tensor
from ..nn.module import Module
from ..optim import Optimizer
from .trace import CaptureError, Traced


class State:
    """The tensors, modules and optimizers a step uses besides its arguments, and the places
    (slots) where their arrays live between calls: ``("data", tensor)``, ``("grad", tensor)``,
    ``("state", optimizer, parameter, name)``."""

    def __init__(self, fn: Callable) -> None:
        self.modules: list[Module] = []
        self.optimizers: list[Optimizer] = []
        self.tensors: list[Tensor] = []
        self.values = _named_values(fn)  # Python numbers, strings and flags the step names
        seen: set[int] = set()
        for obj in _referenced(fn):
            self._add(obj, seen, depth=2)
        self.names: dict[int, str] = {}
        for module in self.modules:
            for name, p in module.named_parameters():
                self._add_tensor(p, seen)
                self.names.setdefault(id(p), name)
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    self._add_tensor(p, seen)

    def _add(self, obj: Any, seen: set, depth: int) -> None:
        if id(obj) in seen or depth < 0:
            return
        if isinstance(obj, Tensor):
            self._add_tensor(obj, seen)
        elif isinstance(obj, Module):
            seen.add(id(obj))
            self.modules.append(obj)
        elif isinstance(obj, Optimizer):
            seen.add(id(obj))
            self.optimizers.append(obj)
        elif isinstance(obj, (list, tuple, set)):
            for item in obj:
                self._add(item, seen, depth - 1)
        elif isinstance(obj, dict):
            for item in obj.values():
                self._add(item, seen, depth - 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type) and type(obj).__module__ != "builtins":
            seen.add(id(obj))
            for item in vars(obj).values():  # e.g. the ``self`` of a method: its model and optimizer
                self._add(item, seen, depth - 1)

    def _add_tensor(self, tensor: Tensor, seen: set) -> None:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            self.tensors.append(tensor)

    def label(self, slot: tuple) -> str:
        """A slot's name in the program's listing: ``lstm.weight_ih_l0``, ``grad of head.bias``."""
        tensor = slot[1] if slot[0] != "state" else slot[2]
        name = self.names.get(id(tensor), tensor.name or "tensor")
        if slot[0] == "state":
            return f"{slot[3]} of {name}"
        return name if slot[0] == "data" else f"grad of {name}"

    def slots(self) -> list[tuple]:
        found = []
        for t in self.tensors:
            found.append(("data", t))
            found.append(("grad", t))
        for optimizer in self.optimizers:
            for p, entries in optimizer.state.items():
                for name in entries:
                    found.append(("state", optimizer, p, name))
        return found

    def signature(self) -> tuple:
        """What a replay relies on staying as it was captured."""
        tensors = tuple((t.shape, t.dtype, t.device, t.requires_grad,
                         None if t.grad is None else (t.grad.shape, t.grad.dtype)) for t in self.tensors)
        modes = tuple(m.training for module in self.modules for m in module.modules())
        optimizers = tuple((tuple((k, _hashable(v)) for group in o.param_groups for k, v in group.items() if k != "params"),
                            tuple((id(p), name, _hashable(v)) for p, entries in o.state.items()
                                  for name, v in entries.items()))
                           for o in self.optimizers)
        return tensors, modes, optimizers, self.values


_PLAIN = (bool, int, float, str, type(None))


def _named_values(fn: Callable) -> tuple:
    """``(name, value)`` for each number, string, flag or None that ``fn`` names in its closure,
    defaults or globals: Python control flow may depend on them, so a change captures again."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ()
    found = [(name, cell.cell_contents) for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ())]
    found += list(zip(code.co_varnames[code.co_argcount - len(fn.__defaults__ or ()):], fn.__defaults__ or ()))
    found += [(name, fn.__globals__[name]) for name in code.co_names if name in fn.__globals__]
    return tuple(sorted((name, repr(value)) for name, value in found if isinstance(value, _PLAIN)))  # NaN == NaN


def _hashable(value: Any) -> Any:
    """A state value as part of a signature: an array by shape and dtype, anything else as it is."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return ("array", tuple(value.shape), value.dtype)
    return tuple(value) if isinstance(value, list) else value


def _referenced(fn: Callable, depth: int = 2) -> list:
    """The objects ``fn`` can reach by name: its closure, default arguments, the globals it
    names, its ``self``, and what the user's own functions among those reach in turn
    (``depth`` levels down)."""
    objects = [cell.cell_contents for cell in getattr(fn, "__closure__", None) or ()]
    objects += list(getattr(fn, "__defaults__", None) or ()) + list((getattr(fn, "__kwdefaults__", None) or {}).values())
    code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    names = set(code.co_names) if code is not None else set()
    for const in code.co_consts if code is not None else ():
        if hasattr(const, "co_names"):  # names used by functions defined inside fn
            names |= set(const.co_names)
    objects += [namespace[name] for name in sorted(names) if name in namespace]
    if hasattr(fn, "__self__"):
        objects.append(fn.__self__)
    if depth:
        for helper in [o for o in objects if isinstance(o, types.FunctionType) and _written_by_the_user(o)]:
            objects += _referenced(helper, depth - 1)
    return objects


def _written_by_the_user(function: types.FunctionType) -> bool:
    """A function of the program being written, not of this library or of the array libraries."""
    return not (function.__module__ or "").startswith(("tinygrad_rnn.", "numpy", "cupy"))


def leaves_of(value: Any) -> list:
    """The tensors and other leaves of a structure of tuples, lists and dicts (their values)."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in leaves_of(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves_of(item)]
    return [value]


class Arguments:
    """A call's arguments, and the tensors among them that the program takes as inputs: each
    tensor once, and none that is part of the state (a parameter passed in, say)."""

    def __init__(self, args: tuple, kwargs: dict, state: State) -> None:
        self.args, self.kwargs = args, dict(sorted(kwargs.items()))
        self.leaves = leaves_of(args) + leaves_of(self.kwargs)
        known = {id(t) for t in state.tensors}
        self.tensors: list[Tensor] = []
        for leaf in self.leaves:
            if isinstance(leaf, Tensor) and id(leaf) not in known:
                known.add(id(leaf))
                self.tensors.append(leaf)

    def signature(self) -> tuple:
        """Keyword names, then per leaf: a tensor's shape, dtype, device, requires_grad and which
        earlier leaf (if any) is the same tensor; any other value as it is."""
        signature: list = [tuple(self.kwargs)]
        first: dict[int, int] = {}
        for position, leaf in enumerate(self.leaves):
            if isinstance(leaf, Tensor):
                signature.append(("tensor", leaf.shape, leaf.dtype, leaf.device, leaf.requires_grad,
                                  first.setdefault(id(leaf), position)))
                continue
            try:
                hash(leaf)
            except TypeError:
                raise CaptureError(f"compile: an argument of type {type(leaf).__name__} cannot be part of the "
                                   "step's signature; pass tensors, numbers, strings, or tuples of them") from None
            signature.append(("value", leaf))
        return tuple(signature)


def read_slot(slot: tuple) -> Any:
    if slot[0] == "data":
        return slot[1].data
    if slot[0] == "grad":
        return None if slot[1].grad is None else slot[1].grad.data
    _, optimizer, p, name = slot
    return optimizer.state.get(p, {}).get(name)


def write_slot(slot: tuple, value: Any, backend: Any) -> None:
    if slot[0] == "data":
        if slot[1].data is not value:
            slot[1].data = value
    elif slot[0] == "grad":
        tensor = slot[1]
        if value is None:
            tensor.grad = None
        elif tensor.grad is None or tensor.grad.grad_fn is not None:
            tensor.grad = Tensor._wrap(value, backend)
        else:
            tensor.grad.data = value
    else:
        _, optimizer, p, name = slot
        optimizer.state.setdefault(p, {})[name] = value


def is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


class Snapshot:
    """Copies of every array the step's state holds (and of the random generator), to put
    them back: after a capture, and in ``check`` mode."""

    def __init__(self, state: State, backend: Any) -> None:
        self.backend = backend
        self.rng = backend.rng_state()
        self.tensors = [(t, t.data, _copy(t.data), t.grad, None if t.grad is None else t.grad.data,
                         None if t.grad is None else _copy(t.grad.data), t.backend) for t in state.tensors]
        self.optimizers = [(o, {p: dict(entries) for p, entries in o.state.items()},
                            {(id(p), name): _copy(v) for p, entries in o.state.items() for name, v in entries.items()})
                           for o in state.optimizers]

    def restore(self, state: State) -> None:
        for t, data, values, grad, grad_data, grad_values, backend in self.tensors:
            data[...] = values  # the same array object, its values back
            t.data, t.backend, t.grad = data, self.backend, grad
            if grad is not None:
                grad_data[...] = grad_values
                grad.data, grad.backend = grad_data, self.backend
        for o, entries, values in self.optimizers:
            o.state = {p: dict(e) for p, e in entries.items()}
            for p, e in o.state.items():
                for name, v in e.items():
                    if is_array(v):
                        v[...] = values[(id(p), name)]
        self.backend.set_rng_state(self.rng)

    def arrays(self) -> list:
        return [values for _, _, values, *_ in self.tensors] + \
               [v for _, _, values in self.optimizers for v in values.values() if is_array(v)]

    def compare(self, other: "Snapshot", exact: bool) -> None:
        for a, b in zip(self.arrays(), other.arrays()):
            check_same(a, b, exact, "a parameter or optimizer state")


def _copy(value: Any) -> Any:
    value = value.value if isinstance(value, Traced) else value
    return value.copy() if is_array(value) else value


def check_same(a: Any, b: Any, exact: bool, what: str) -> None:
    import numpy  # the comparison of check mode happens on the host

    a, b = (numpy.asarray(getattr(x, "get", lambda: x)()) for x in (a, b))
    if exact and not numpy.array_equal(a, b, equal_nan=True) or not exact and not numpy.allclose(
            a, b, rtol=1e-5 if a.dtype == numpy.float32 else 1e-10, atol=1e-7, equal_nan=True):
        raise CaptureError(f"compile(check=True): {what} differs between the replay and the eager step "
                           f"(largest difference {numpy.abs(a.astype(float) - b.astype(float)).max():.3g})")
