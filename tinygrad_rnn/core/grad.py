"""Where backward passes start: ``grad()`` (PyTorch's ``torch.autograd.grad``) and the
gradient each output starts with (also for ``Tensor.backward``)."""
from __future__ import annotations

from typing import Any, Sequence

from .autograd import as_tensor, run_backward
from .tensor import Tensor


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to each of ``inputs``, as a tuple.

    ``grad_outputs`` weights each output (needed for outputs with more than one element);
    nothing is added to any ``.grad``. With ``create_graph`` the gradients carry a graph of
    their own, so they can be differentiated again (second derivatives, gradient
    penalties, Hessian-vector products). ``retain_graph`` defaults to ``create_graph``.
    An input the outputs do not depend on raises, unless ``allow_unused`` (then None).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("grad: one of the inputs does not require grad; create it with "
                               "requires_grad=True")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    grads = initial_grads("grad", outputs, list(grad_outputs), create_graph)
    retain_graph = create_graph if retain_graph is None else retain_graph
    found = run_backward(outputs, grads, retain_graph, create_graph, inputs)
    result = []
    for t in inputs:
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("grad: one of the inputs was not used to compute the outputs; pass "
                               "allow_unused=True to get None for it")
        result.append(g if g is None or isinstance(g, Tensor) else Tensor._wrap(g, t.backend))
    return tuple(result)


def initial_grads(op: str, outputs: list, grad_outputs: list, create_graph: bool) -> list:
    """The gradient each output starts with: its entry of ``grad_outputs`` (a tensor, array
    or list), or 1 for a one-element output whose entry is None."""
    grads = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(f"{op}: a tensor that does not require grad has no graph to go back "
                               "through; create the leaves with requires_grad=True (and not under no_grad())")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for tensors with one "
                                   f"element, but this one has shape {out.shape}; pass a gradient of the "
                                   "same shape, or reduce first (loss.sum(), loss.mean())")
            g = out.backend.xp.ones_like(out.data)
        elif isinstance(g, Tensor):
            g = g if create_graph else g.data
        else:
            g = out.backend.asarray(g, out.dtype)
        if tuple(g.shape) != out.shape:
            raise ValueError(f"{op}: the gradient has shape {tuple(g.shape)} but the tensor has shape "
                             f"{out.shape}")
        grads.append(as_tensor(g, out) if create_graph else g)
    return grads
