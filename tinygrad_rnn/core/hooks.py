"""Tensor hooks: ``tensor.register_hook(fn)`` calls ``fn(grad)`` when backward has computed the
gradient of ``tensor``; ``fn`` may return a replacement. The classic use is watching
gradients in an unrolled RNN shrink from one hidden state to the previous one.

A leaf keeps its hooks itself (they run on the sum of what arrives, before it is added to
``.grad``); a computed tensor's hooks live on the node that made it, keyed by output index,
and run when that node has received every gradient for the output, before its backward.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

from .tensor import Tensor

Hook = Callable[[Tensor], "Tensor | None"]
_keys = itertools.count()


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, table: dict, key: int) -> None:
        self._table, self._key = table, key

    def remove(self) -> None:
        self._table.pop(self._key, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def register(tensor: Tensor, hook: Hook) -> RemovableHandle:
    """Add ``hook`` to the hooks of ``tensor`` (see ``Tensor.register_hook``)."""
    if not callable(hook):
        raise TypeError(f"register_hook: expected a function of the gradient, got {type(hook).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require "
                           "grad; create it with requires_grad=True or call requires_grad_() first")
    node = tensor.grad_fn
    if node is None:
        table = tensor._hooks = tensor._hooks or {}
    else:
        node.hooks = node.hooks or {}
        table = node.hooks.setdefault(tensor._out_index, {})
    key = next(_keys)
    table[key] = hook
    return RemovableHandle(table, key)


def run_hooks(hooks: dict, grad: Any, shape: tuple, backend: Any) -> Any:
    """Pass ``grad`` (an array, or a tensor under ``create_graph``) through ``hooks`` in the
    order they were registered; each sees the previous one's result."""
    for hook in list(hooks.values()):
        given = grad if isinstance(grad, Tensor) else Tensor._wrap(grad, backend)
        result = hook(given)
        if result is None:
            continue
        if not isinstance(result, Tensor):
            raise TypeError(f"register_hook: a hook must return a Tensor or None, got {type(result).__name__}")
        if result.shape != shape:
            raise RuntimeError(f"register_hook: a hook returned a gradient of shape {result.shape} for a "
                               f"tensor of shape {shape}; return one shaped like the gradient it was given")
        grad = result if isinstance(grad, Tensor) else result.data
    return grad
