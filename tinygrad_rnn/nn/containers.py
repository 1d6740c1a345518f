"""Containers, as in PyTorch: ``ModuleList``, ``Sequential``, ``ModuleDict`` and
``ParameterList``. Each registers what it holds under its index ("0", "1", ...) or key, so
the parameters inside show up in ``parameters()`` and ``state_dict()`` (``"layers.0.weight"``).
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from typing import Any, Iterable, Iterator

from ..core.tensor import Tensor
from .module import Module, Parameter


def _position(index: Any, length: int, container: str) -> int:
    """An int index (negative counts from the end) as a position in [0, length)."""
    index = operator.index(index)
    if not -length <= index < length:
        raise IndexError(f"{container}: index {index} is out of range for {length} entries")
    return index % length


class ModuleList(Module):
    """A list of modules, registered under the names "0", "1", ..."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        """The module at ``index``; a slice is a new ModuleList of those modules."""
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[_position(index, len(modules), type(self).__name__)]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(Linear(4, 8), Linear(8, 2))(x)``, or
    with names of your own: ``Sequential(OrderedDict([("hidden", Linear(4, 8)), ...]))``."""

    def __init__(self, *modules: Module | OrderedDict) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        """The module at ``index``; a slice is a Sequential keeping the modules' names."""
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return super().__getitem__(index)

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x


class ModuleDict(Module):
    """Modules by name, registered in insertion order: ``ModuleDict({"lstm": LSTM(3, 4)})``.

    Keys must be valid module names: non-empty, without ".", and not the name of an attribute
    or method (``"keys"``, ``"train"``, ...), as in PyTorch.
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules: Any) -> None:
        """Add (or replace) the modules of a mapping or of an iterable of (key, module) pairs."""
        for name, module in (modules.items() if hasattr(modules, "items") else modules):
            self[name] = module

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {name!r} must be a Module, got {type(module).__name__}")
        self.add_module(name, module)

    def __delitem__(self, name: str) -> None:
        del self._modules[name]
        object.__delattr__(self, name)

    def pop(self, name: str) -> Module:
        """Remove the module ``name`` and return it."""
        module = self[name]
        del self[name]
        return module

    def clear(self) -> None:
        for name in list(self._modules):
            del self[name]

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def keys(self) -> list[str]:
        return list(self._modules)

    def values(self) -> list[Module]:
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        return list(self._modules.items())


class ParameterList(Module):
    """A list of parameters, registered under the names "0", "1", ... (``state_dict`` keys
    ``"0"``, ``"1"``, or ``"plist.0"`` inside a model). Tensors put in become Parameters
    (sharing their memory), as in PyTorch."""

    def __init__(self, values: Iterable[Tensor] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    @staticmethod
    def _as_parameter(value: Any) -> Parameter:
        if isinstance(value, Parameter):
            return value
        if isinstance(value, Tensor):
            return Parameter(value)
        raise TypeError(f"ParameterList: entries must be Parameters or Tensors, got {type(value).__name__}")

    def append(self, value: Tensor) -> "ParameterList":
        setattr(self, str(len(self._parameters)), self._as_parameter(value))
        return self

    def extend(self, values: Iterable[Tensor]) -> "ParameterList":
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values: Iterable[Tensor]) -> "ParameterList":
        return self.extend(values)

    def __getitem__(self, index: int | slice) -> Any:
        params = list(self._parameters.values())
        if isinstance(index, slice):
            return ParameterList(params[index])
        return params[_position(index, len(params), "ParameterList")]

    def __setitem__(self, index: int, value: Tensor) -> None:
        setattr(self, str(_position(index, len(self._parameters), "ParameterList")), self._as_parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(list(self._parameters.values()))

    def extra_repr(self) -> str:
        """One line per parameter, in PyTorch's words: ``(0): Parameter containing: [float32 of size 3x4]``."""
        lines = []
        for name, param in self._parameters.items():
            where = "" if param.device == "cpu" else f" ({param.device})"
            size = "x".join(str(n) for n in param.shape)
            lines.append(f"  ({name}): Parameter containing: [{param.dtype} of size {size}{where}]")
        return "\n".join(lines)
