"""Optimisation passes: each rewrites a ``Program`` into one that computes the same values
(up to rounding), faster or in less memory. Each is small, named, and can be switched off:
``compile(fn, passes=())`` replays exactly what the eager step did, bit for bit.

- ``batch_weight_gradients``: a weight used at every time step gets its gradient as a sum of
  per-step products ``a_t.T @ g_t``; the pass makes it one product of the stacked factors,
  ``concatenate(a).T @ concatenate(g)``, as a hand-written BPTT does (one large matmul
  instead of T small ones and T - 1 additions).
- ``accumulate_in_place``: ``s = a + b`` where nothing else will read ``a`` becomes ``a += b``.
- ``reuse_dead_buffers``: an elementwise result is written into an array that just died
  (``xp.multiply(x, y, out=dead)``) instead of a new allocation.
- ``free_dead_buffers``: ``del`` each array right after its last use, so memory is given
  back during the step rather than at its end.
"""
from __future__ import annotations

from typing import Any, Callable

from .program import Buffer, Instruction, Program

_UFUNCS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "**": "power"}
_ELEMENTWISE_CALLS = {"xp.exp", "xp.log", "xp.tanh", "xp.sqrt", "xp.abs", "xp.sign", "xp.maximum", "xp.minimum"}


# ---- liveness: the facts every pass needs ---------------------------------------------------
def _uses(program: Program) -> dict[Buffer, list[int]]:
    """For each buffer, the positions of the instructions that read or write it."""
    uses: dict[Buffer, list[int]] = {}
    for position, ins in enumerate(program.instructions):
        for buffer in ins.buffers_read() + ([ins.writes] if ins.writes is not None else []):
            uses.setdefault(buffer, []).append(position)
    return uses


def _pinned(program: Program) -> set[Buffer]:
    """Memory a pass must leave alone: the inputs (parameters, state, arguments), the outputs,
    and every buffer that looks into their memory."""
    kept = {b.root for b in program.inputs} | {b.root for b in program.outputs}
    return {b for b in program.buffers if b.root in kept}


def _substitute(value: Any, mapping: dict) -> Any:
    if isinstance(value, Buffer):
        return mapping.get(value, value)
    if isinstance(value, tuple):
        return tuple(_substitute(v, mapping) for v in value)
    if isinstance(value, list):
        return [_substitute(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, mapping) for k, v in value.items()}
    return value


def _rewritten(program: Program, instructions: list[Instruction], mapping: dict | None = None) -> Program:
    """A copy of ``program`` with new instructions (and buffers renamed by ``mapping``)."""
    mapping = mapping or {}
    result = Program()
    result.buffers, result.constants, result.passes = program.buffers, program.constants, list(program.passes)
    result.inputs, result.input_labels = program.inputs, program.input_labels
    result.outputs = [_substitute(b, mapping) for b in program.outputs]
    result.instructions = [Instruction(i.kind, i.target, _substitute(i.args, mapping), _substitute(i.kwargs, mapping),
                                       i.outputs, _substitute(i.writes, mapping), i.note, i.unpack)
                           for i in instructions]
    return result


# ---- the passes -------------------------------------------------------------------------------
def batch_weight_gradients(program: Program) -> Program:
    """Sum trees of products ``a.T @ g`` become one ``concatenate(a).T @ concatenate(g)``."""
    producers = {out: (position, ins) for position, ins in enumerate(program.instructions) for out in ins.outputs}
    uses = _uses(program)
    outputs = set(program.outputs)
    used_once = lambda b: len(uses.get(b, ())) == 1 and b not in outputs  # noqa: E731

    def product(buffer: Buffer) -> tuple | None:
        """(a, g) if ``buffer`` is ``a.T @ g`` for 2-D a and g, else None."""
        found = producers.get(buffer)
        if found is None or found[1].kind != "operator" or found[1].target != "@":
            return None
        left, right = found[1].args
        transposed = producers.get(left)
        if transposed is None or transposed[1].kind != "attribute" or not isinstance(right, Buffer):
            return None
        a = transposed[1].args[0]
        return (a, right) if len(a.shape) == 2 and len(right.shape) == 2 and used_once(left) else None

    def leaves(buffer: Buffer, tree: list) -> list | None:
        """The products summed into ``buffer`` (collecting the additions into ``tree``)."""
        pair = product(buffer)
        if pair is not None:
            tree.append(producers[buffer][0])
            tree.append(producers[producers[buffer][1].args[0]][0])
            return [pair]
        found = producers.get(buffer)
        if found is None or found[1].kind != "operator" or found[1].target != "+":
            return None
        parts = []
        for operand in found[1].args:
            if not isinstance(operand, Buffer) or not used_once(operand):
                return None
            sub = leaves(operand, tree)
            if sub is None:
                return None
            parts += sub
        tree.append(found[0])
        return parts

    removed: set[int] = set()
    replacements: dict[int, list[Instruction]] = {}
    for position in range(len(program.instructions) - 1, -1, -1):
        ins = program.instructions[position]
        if position in removed or ins.kind != "operator" or ins.target != "+" or not ins.outputs:
            continue
        tree: list[int] = []
        products = leaves(ins.outputs[0], tree)
        if products is None or len(products) < 2:
            continue
        removed.update(tree)
        root = ins.outputs[0]
        a_all, g_all = _fresh(program, products, 0), _fresh(program, products, 1)
        a_t = Buffer(len(program.buffers), a_all.shape[::-1], a_all.dtype)
        program.buffers.append(a_t)
        a_t.root = a_all
        note = {"op": "weight gradient, all steps at once", "phase": "batch_weight_gradients", "scope": ()}
        replacements[position] = [
            Instruction("call", "xp.concatenate", ([a for a, _ in products],), {"axis": 0}, (a_all,), note=note),
            Instruction("call", "xp.concatenate", ([g for _, g in products],), {"axis": 0}, (g_all,), note=note),
            Instruction("attribute", "T", (a_all,), {}, (a_t,), note=note),
            Instruction("operator", "@", (a_t, g_all), {}, (root,), note=note)]
    instructions = []
    for position, ins in enumerate(program.instructions):
        if position in replacements:
            instructions += replacements[position]
        elif position not in removed:
            instructions.append(ins)
    return _rewritten(program, instructions)


def _fresh(program: Program, products: list, side: int) -> Buffer:
    """A new buffer for the stacked factors of one side of the products."""
    first = products[0][side]
    rows = sum(pair[side].shape[0] for pair in products)
    buffer = Buffer(len(program.buffers), (rows,) + first.shape[1:], first.dtype)
    program.buffers.append(buffer)
    return buffer


def accumulate_in_place(program: Program) -> Program:
    """``s = a + b`` becomes ``a += b`` when ``a`` is a sum this program made that nobody reads later."""
    return _into_dead(program, lambda ins: ins.kind == "operator" and ins.target == "+"
                      and ins.note.get("op") == "sum of gradients", inplace=True)


def reuse_dead_buffers(program: Program) -> Program:
    """Elementwise results go into an array that died at that instruction (``out=``)."""
    return _into_dead(program, lambda ins: ins.kind in ("operator", "unary") and ins.target in _UFUNCS
                      or ins.kind == "unary" and ins.target == "-"
                      or ins.kind == "call" and ins.target in _ELEMENTWISE_CALLS and not ins.kwargs, inplace=False)


def _into_dead(program: Program, eligible: Callable[[Instruction], bool], inplace: bool) -> Program:
    uses = _uses(program)
    pinned = _pinned(program)
    aliases: dict[Buffer, list[Buffer]] = {}
    for b in program.buffers:
        aliases.setdefault(b.root, []).append(b)
    last_use = {b: positions[-1] for b, positions in uses.items()}
    mapping: dict[Buffer, Buffer] = {}
    instructions = []
    for position, ins in enumerate(program.instructions):
        ins = Instruction(ins.kind, ins.target, _substitute(ins.args, mapping), _substitute(ins.kwargs, mapping),
                          ins.outputs, _substitute(ins.writes, mapping), ins.note, ins.unpack)
        out = ins.outputs[0] if len(ins.outputs) == 1 else None
        if out is None or out.shape == () or out in pinned or not eligible(ins):
            instructions.append(ins)
            continue
        candidates = ins.args[:1] if inplace else [a for a in ins.args if isinstance(a, Buffer)]
        dead = next((a for a in candidates if isinstance(a, Buffer) and a.root is a and a not in pinned
                     and a.shape == out.shape and a.dtype == out.dtype and last_use.get(a, -1) <= position
                     and all(last_use.get(alias, -1) < position for alias in aliases[a] if alias is not a)),
                    None)  # dead here, owning its memory, and no view of it still to be read
        if dead is None:
            instructions.append(ins)
            continue
        mapping[out] = dead
        for alias in aliases.pop(out, []):
            aliases.setdefault(dead, []).append(alias)
        last_use[dead] = max(last_use.get(dead, position), last_use.get(out, position))
        if inplace:
            instructions.append(Instruction("inplace", "+=", (dead, ins.args[1]), {}, (), dead, ins.note))
        else:
            instructions.append(_with_out(ins, dead))
    return _rewritten(program, instructions, mapping)


def _with_out(ins: Instruction, out: Buffer) -> Instruction:
    """``xp.<ufunc>(..., out=out)`` for an elementwise operator, unary minus or function call."""
    if ins.kind == "call":
        target = ins.target
    elif ins.kind == "unary":
        target = "xp.negative"
    else:
        target = f"xp.{_UFUNCS[ins.target]}"
    return Instruction("call", target, ins.args, {"out": out}, (), out, ins.note)


def free_dead_buffers(program: Program) -> Program:
    """``del`` each buffer right after the instruction that uses it last (outputs stay)."""
    uses = _uses(program)
    outputs = set(program.outputs)
    dying: dict[int, list[Buffer]] = {}
    for buffer, positions in uses.items():
        if buffer not in outputs:
            dying.setdefault(positions[-1], []).append(buffer)
    for position, ins in enumerate(program.instructions):  # made but never read: dies at once
        for out in ins.outputs:
            if out not in uses and out not in outputs:
                dying.setdefault(position, []).append(out)
    instructions = []
    for position, ins in enumerate(program.instructions):
        instructions.append(ins)
        names = sorted({b.name: b for b in dying.get(position, [])}.values(), key=lambda b: b.number)
        if names:
            instructions.append(Instruction("del", None, tuple(names), {}, (), None, {"phase": "free"}))
    return _rewritten(program, instructions)


DEFAULT_PASSES: tuple = (("batch_weight_gradients", batch_weight_gradients),
                         ("accumulate_in_place", accumulate_in_place),
                         ("reuse_dead_buffers", reuse_dead_buffers),
                         ("free_dead_buffers", free_dead_buffers))
