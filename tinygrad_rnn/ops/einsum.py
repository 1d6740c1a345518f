"""``einsum``: sums of products of tensors whose axes are named by letters.

``einsum("bij,bjk->bik", a, b)`` names each operand's axes; the result keeps the axes named
after ``->``, in that order, and sums the products over every other letter. The same letter
on two operands pairs their axes (``j`` above: a batched matrix product); a letter repeated
in one operand takes its diagonal (``"ii->i"``).

``einsum`` first rewrites PyTorch's conveniences into that plain form: ``...`` becomes new
letters for the axes it covers (aligned from the right, broadcasting), the implicit output
(no ``->``) becomes the letters used exactly once, in alphabetical order, after the
ellipsis axes, and an axis of size 1 whose letter is longer in another operand is dropped
so that it broadcasts. The ``Einsum`` op then sees an explicit equation over operands whose
equal letters have equal sizes.

Its backward is an einsum too. The output is linear in each operand, so the gradient of
operand k contracts the output's gradient with all the other operands, back to operand k's
letters: for ``"ij,jk->ik"`` the gradient of ``a`` is ``einsum("ik,jk->ij", grad, b)``.
Two details make that hold for every equation: a letter summed in operand k alone (``j`` in
``"ij->i"``) comes from a vector of ones (each summed element receives the gradient), and a
repeated letter (``"ii"``) is a fresh letter tied to it by an identity matrix (the gradient
lands on the diagonal).
"""
from __future__ import annotations

import string
from collections import Counter
from typing import Any, Sequence

from ..core.autograd import Function, ShapeError
from ..core.tensor import Tensor
from .convert import operands as same_dtype
from .inplace import shares_memory
from .shape import reshape

LETTERS = string.ascii_letters  # the subscripts PyTorch (and NumPy) accept


class Einsum(Function):
    __slots__ = ('inputs', 'output', 'sizes')

    def forward(self, *operands, inputs, output):
        self.inputs, self.output = inputs, output
        self.sizes = {letter: n for term, x in zip(inputs, operands) for letter, n in zip(term, x.shape)}
        # operand j is needed for the gradient of every other operand
        needs = self.needs_input_grad
        self.save_for_backward(*[x if any(needs[:j] + needs[j + 1:]) else None for j, x in enumerate(operands)])
        out = self.xp.einsum(",".join(inputs) + "->" + output, *operands, optimize=True)
        # "ij->ji" or "ii->i" of one operand is a view of it: copy, so the result owns its memory
        return out.copy() if any(shares_memory(out, x) for x in operands) else out

    def backward(self, grad):
        # out is linear in each operand: d out/d x_k is the einsum of the other operands, so
        # dL/dx_k = einsum(grad, x_j for j != k -> letters of x_k)
        return tuple([self.operand_gradient(k, grad) if need else None
                      for k, need in enumerate(self.needs_input_grad)])

    def operand_gradient(self, k: int, grad: Any) -> Any:
        """dL/d(operand k) as one einsum of the output's gradient and the other operands."""
        terms = [self.output] + [term for j, term in enumerate(self.inputs) if j != k]
        values = [grad] + [x for j, x in enumerate(self.saved) if j != k]
        constants = self.backend.xp  # arrays; tensor_math's einsum takes them as constants
        fresh = (letter for letter in LETTERS if letter not in self.sizes)
        target = ""
        for letter in self.inputs[k]:
            if letter in target:  # the diagonal: a new letter equal to this one (identity matrix)
                tied = next(fresh)
                terms.append(letter + tied)
                values.append(constants.eye(self.sizes[letter], dtype=grad.dtype))
                letter = tied
            target += letter
        named = "".join(terms)
        for letter in dict.fromkeys(self.inputs[k]):
            if letter not in named:  # summed in operand k alone: every element gets the gradient
                terms.append(letter)
                values.append(constants.ones(self.sizes[letter], dtype=grad.dtype))
        return self.xp.einsum(",".join(terms) + "->" + target, *values, optimize=True)


def _split_ellipsis(term: str, where: str) -> tuple[str, bool, str]:
    """(letters before ``...``, whether there is one, letters after)."""
    if "." not in term:
        return term, False, ""
    head, found, tail = term.partition("...")
    if not found or "." in head or "." in tail:
        raise ValueError(f"einsum: {where} {term!r} has a '.' that is not part of one '...' ellipsis")
    return head, True, tail


def _parse(equation: str, shapes: Sequence[tuple]) -> tuple[list[str], str, str]:
    """The explicit form of ``equation`` for operands of ``shapes``: (one string of letters per
    operand, the output's letters, the letters that stand for the ellipsis axes)."""
    equation = equation.replace(" ", "")
    for position, char in enumerate(equation):
        if char not in LETTERS and char not in ",.->":
            raise ValueError(f"einsum: invalid subscript {char!r} at index {position} of {equation!r}; "
                             "subscripts must be letters a-z, A-Z")
    left, arrow, right = equation.partition("->")
    if "-" in left + right or ">" in left + right:
        raise ValueError(f"einsum: {equation!r} must have at most one '->', between the inputs and the output")
    terms = left.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {equation!r} names {len(terms)} operand(s), but {len(shapes)} were given")
    unused = iter([letter for letter in LETTERS if letter not in equation])
    parts, batch_ndim = [], 0
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        head, dots, tail = _split_ellipsis(term, f"operand {k}'s subscripts")
        named = len(head) + len(tail)
        if named > len(shape) or (named < len(shape) and not dots):
            raise ShapeError(f"einsum: operand {k} has shape {tuple(shape)} ({len(shape)} dimensions), but its "
                             f"subscripts {term!r} name {named}" + ("" if dots else " and there is no '...'"))
        batch_ndim = max(batch_ndim, len(shape) - named)
        parts.append((head, len(shape) - named, tail))
    batch = "".join(next(unused) for _ in range(batch_ndim))
    inputs = [head + batch[batch_ndim - extra:] + tail for head, extra, tail in parts]
    if arrow:
        head, dots, tail = _split_ellipsis(right, "the output")
        output = head + (batch if dots else "") + tail
        for letter in head + tail:
            if letter not in left:
                raise ValueError(f"einsum: output subscript {letter!r} does not appear in any input of {equation!r}")
            if output.count(letter) > 1:
                raise ValueError(f"einsum: output subscript {letter!r} appears more than once in {equation!r}")
    else:  # implicit output: the letters used once, in alphabetical (ASCII) order, after the ellipsis
        counts = Counter(left)
        output = batch + "".join(sorted(letter for letter in counts if letter in LETTERS and counts[letter] == 1))
    return inputs, output, batch


def _sizes(inputs: list[str], shapes: Sequence[tuple], batch: str) -> dict[str, int]:
    """The size of each letter over all operands (sizes 1 broadcast), or a ShapeError."""
    def describe(letter: str) -> str:
        return "an ellipsis dimension" if letter in batch else f"subscript {letter!r}"

    sizes: dict[str, int] = {}
    for k, (term, shape) in enumerate(zip(inputs, shapes)):
        own: dict[str, int] = {}
        for letter, n in zip(term, shape):
            if own.setdefault(letter, n) != n:
                raise ShapeError(f"einsum: {describe(letter)} is repeated in operand {k} (shape {tuple(shape)}) "
                                 f"with different sizes {own[letter]} and {n}")
        for letter, n in own.items():
            seen = sizes.get(letter, 1)
            if n != seen and 1 not in (n, seen):
                raise ShapeError(f"einsum: {describe(letter)} has size {n} in operand {k} (shape {tuple(shape)}) "
                                 f"but {seen} in an earlier operand; sizes must match or be 1")
            sizes[letter] = n if seen == 1 else seen
    return sizes


def einsum(equation: str, *operands: Any) -> Tensor:
    """Sum over the repeated letters of ``equation`` of the products of ``operands`` (PyTorch's
    ``torch.einsum``): ``"ij,jk->ik"`` is a matrix product, ``"bij,bjk->bik"`` a batched one,
    ``"i,j->ij"`` an outer product, ``"ii->"`` a trace, ``"...ij->...ji"`` a transpose of the
    last two axes. The operands may also come as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError("einsum: the first argument must be the equation, e.g. einsum('ij,jk->ik', a, b) "
                        "(the sublist form is not supported)")
    if not operands or not all(isinstance(x, Tensor) for x in operands):
        raise TypeError(f"einsum: expected one or more tensors after the equation, got "
                        f"{[type(x).__name__ for x in operands]}")
    tensors = same_dtype(*operands)
    shapes = [x.shape for x in tensors]
    inputs, output, batch = _parse(equation, shapes)
    sizes = _sizes(inputs, shapes, batch)
    for k, (term, x) in enumerate(zip(inputs, tensors)):
        kept = [d for d, letter in enumerate(term) if x.shape[d] == sizes[letter]]
        if len(kept) < len(term):  # size-1 axes facing longer ones: drop them, the letter broadcasts
            tensors[k] = reshape(x, tuple(x.shape[d] for d in kept))
            inputs[k] = "".join(term[d] for d in kept)
    return Einsum.apply(*tensors, inputs=tuple(inputs), output=output)
