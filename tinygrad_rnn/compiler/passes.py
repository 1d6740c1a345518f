"""Optimisation passes: each rewrites a ``Program`` into one that computes the same values
(up to rounding), faster or in less memory. Each is small, named, and can be switched off:
``compile(fn, passes=())`` replays exactly what the eager step did, bit for bit.

- ``batch_weight_gradients``: a weight used at every time step gets its gradient as a sum of
  per-step products ``a_t.T @ g_t``; the pass makes it one product of the stacked factors,
  ``concatenate(a).T @ concatenate(g)``, as a hand-written BPTT does (one large matmul
  instead of T small ones and T - 1 additions).
- ``accumulate_in_place``: ``s = a + b`` adding up gradients, where nothing reads ``a``
  afterwards, becomes ``s = xp.add(a, b, out=a)``: no new array.
- ``reuse_dead_buffers``: results are written (``out=m3``) into the arrays of a *pool*
  planned at capture; a pool array holds one result until its last use, then the next;
  the pool is kept between replays, so a replay hardly allocates, like a hand-written step
  that allocates its buffers once.
- ``free_dead_buffers``: ``del`` each remaining array right after its last use, so memory
  is given back during the step rather than at its end.

Every pass keeps buffer names: a rewritten instruction still defines the same ``b17``, so
the listing reads the same before and after, with ``out=`` showing where results now go.
"""
from __future__ import annotations

from typing import Any

from .program import Buffer, Instruction, Program, Slot

_UFUNCS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "**": "power", "@": "matmul"}
_UNARY_UFUNCS = {"-": "negative", "abs": "absolute"}
_ELEMENTWISE_CALLS = {"xp.exp", "xp.log", "xp.tanh", "xp.sqrt", "xp.abs", "xp.sign", "xp.maximum",
                      "xp.minimum", "xp.negative", "xp.add", "xp.subtract", "xp.multiply", "xp.divide",
                      "xp.concatenate", "xp.stack"}


# ---- the facts passes need --------------------------------------------------------------------
def memory_of(program: Program) -> dict[Buffer, Any]:
    """Where each buffer's values live: the buffer it was captured as a view of (its root), or
    the array an ``out=`` instruction wrote it into (a buffer or a pool ``Slot``)."""
    memory: dict[Buffer, Any] = {b: b for b in program.inputs}
    for ins in program.instructions:
        out = ins.kwargs.get("out") if ins.kwargs else None
        for b in ins.outputs:
            if out is not None:
                memory[b] = memory.get(out, out)
            else:
                memory[b] = b if b.root is b else memory.get(b.root, b.root)
    return memory


def last_uses(program: Program, memory: dict[Buffer, Any]) -> dict[Any, int]:
    """For each memory (a root buffer or a slot): the last instruction that reads or writes it
    through any name. After that position the memory is dead."""
    last: dict[Any, int] = {}
    for position, ins in enumerate(program.instructions):
        for b in ins.reads:
            last[memory.get(b, b)] = position
        for b in ins.outputs:
            last.setdefault(memory.get(b, b), position)
    return last


def pinned(program: Program, memory: dict[Buffer, Any]) -> set:
    """Memory no pass may reuse: the inputs' (parameters, state, arguments) and the outputs'."""
    return {memory.get(b, b) for b in program.inputs} | {memory.get(b, b) for b in program.outputs}


def _replaced(program: Program, replacements: dict[int, list[Instruction]], removed: set[int] = frozenset()) -> Program:
    """``program`` with the instructions at some positions replaced (by zero or more) or removed."""
    instructions = []
    for position, ins in enumerate(program.instructions):
        if position in replacements:
            instructions += replacements[position]
        elif position not in removed:
            instructions.append(ins)
    return program.copy_with(instructions)


def _with_out(ins: Instruction, out: Any) -> Instruction:
    """The instruction written as a function call with ``out=``: ``b9 = xp.multiply(b3, b4, out=m2)``."""
    reads = ins.reads + ((out,) if isinstance(out, Buffer) else ())
    if ins.kind in ("operator", "unary"):
        ufunc = (_UFUNCS if ins.kind == "operator" else _UNARY_UFUNCS)[ins.target]
        return Instruction("call", f"xp.{ufunc}", ins.args, {"out": out}, ins.outputs, note=ins.note, reads=reads)
    return Instruction(ins.kind, ins.target, ins.args, {**ins.kwargs, "out": out}, ins.outputs, note=ins.note,
                       reads=reads)


def _can_write_out(ins: Instruction) -> bool:
    """Whether the instruction is a NumPy/CuPy function that can put its result in ``out=``."""
    if len(ins.outputs) != 1 or ins.unpack or ins.writes is not None or "out" in ins.kwargs:
        return False
    if ins.kind == "operator":
        return ins.target in _UFUNCS
    if ins.kind == "unary":
        return ins.target in _UNARY_UFUNCS
    if ins.kind == "method":
        return ins.target in ("sum", "max", "min") and ins.outputs[0].shape != ()
    return ins.kind == "call" and ins.target in _ELEMENTWISE_CALLS


# ---- the passes -------------------------------------------------------------------------------
def batch_weight_gradients(program: Program) -> Program:
    """Sum trees of products ``a.T @ g`` become one ``concatenate(a).T @ concatenate(g)``."""
    producers = {out: (position, ins) for position, ins in enumerate(program.instructions) for out in ins.outputs}
    uses: dict[Buffer, int] = {}
    for ins in program.instructions:
        for b in ins.reads:
            uses[b] = uses.get(b, 0) + 1
    outputs = set(program.outputs)
    used_once = lambda b: uses.get(b, 0) == 1 and b not in outputs  # noqa: E731

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
        """The products summed into ``buffer`` (collecting the additions into ``tree``), depth first
        with an explicit stack."""
        products, stack = [], [buffer]
        while stack:
            b = stack.pop()
            pair = product(b)
            if pair is not None:
                tree += [producers[b][0], producers[producers[b][1].args[0]][0]]
                products.append(pair)
                continue
            found = producers.get(b)
            if found is None or found[1].kind != "operator" or found[1].target != "+" or not all(
                    isinstance(operand, Buffer) and used_once(operand) for operand in found[1].args):
                return None
            tree.append(found[0])
            stack += reversed(found[1].args)
        return products

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
        a_all, g_all = _stacked(program, products, 0), _stacked(program, products, 1)
        a_t = Buffer(len(program.buffers), a_all.shape[::-1], a_all.dtype)
        program.buffers.append(a_t)
        a_t.root = a_all
        note = {"op": "weight gradient, all steps at once", "phase": "batch_weight_gradients", "scope": ()}
        replacements[position] = [
            Instruction("call", "xp.concatenate", ([a for a, _ in products],), {"axis": 0}, (a_all,), note=note),
            Instruction("call", "xp.concatenate", ([g for _, g in products],), {"axis": 0}, (g_all,), note=note),
            Instruction("attribute", "T", (a_all,), {}, (a_t,), note=note),
            Instruction("operator", "@", (a_t, g_all), {}, ins.outputs, note=note)]
    return _replaced(program, replacements, removed - set(replacements))


def _stacked(program: Program, products: list, side: int) -> Buffer:
    """A new buffer for the stacked factors of one side of the products."""
    first = products[0][side]
    rows = sum(pair[side].shape[0] for pair in products)
    buffer = Buffer(len(program.buffers), (rows,) + first.shape[1:], first.dtype)
    program.buffers.append(buffer)
    return buffer


def accumulate_in_place(program: Program) -> Program:
    """``s = a + b`` adding up gradients becomes ``s = xp.add(a, b, out=a)`` when the program made
    ``a``'s array (not a view, not an input or output) and nothing reads it afterwards."""
    memory = memory_of(program)
    last = last_uses(program, memory)
    kept = pinned(program, memory)
    replacements = {}
    for position, ins in enumerate(program.instructions):
        if ins.kind != "operator" or ins.target != "+" or ins.note.get("op") != "sum of gradients":
            continue
        a, out = ins.args[0], ins.outputs[0]
        others = [memory.get(b, b) for b in ins.args[1:] if isinstance(b, Buffer)]
        if (isinstance(a, Buffer) and memory.get(a) is a and a not in kept and last[a] == position
                and a not in others and a.shape == out.shape and a.dtype == out.dtype and out.shape != ()):
            replacements[position] = [_with_out(ins, a)]
            memory[out] = a
            last[a] = last.get(out, position)  # a's memory now lives on as s
    return _replaced(program, replacements)


def reuse_dead_buffers(program: Program) -> Program:
    """Results of NumPy functions go into pool arrays (``out=m3``): the first free one of their
    shape and dtype, free again after the result's last use (through any view of it)."""
    memory = memory_of(program)
    last = last_uses(program, memory)
    kept = pinned(program, memory)
    result = program.copy_with([])
    free: dict[tuple, list[Slot]] = {}  # (shape, dtype) -> pool arrays free now
    frees_after: dict[int, list[Slot]] = {}  # position -> pool arrays free after it
    instructions = result.instructions
    for position, ins in enumerate(program.instructions):
        out = ins.outputs[0] if ins.outputs else None
        if _can_write_out(ins) and memory.get(out) is out and out not in kept and out.shape != ():
            key = (out.shape, out.dtype)
            slot = free[key].pop() if free.get(key) else result.new_slot(out.shape, out.dtype)
            frees_after.setdefault(last.get(out, position), []).append(slot)
            ins = _with_out(ins, slot)
        instructions.append(ins)
        for slot in frees_after.pop(position, ()):
            free.setdefault((slot.shape, slot.dtype), []).append(slot)
    return result


def free_dead_buffers(program: Program) -> Program:
    """``del`` each buffer right after the instruction that uses it last (outputs, and names of
    pool arrays, stay)."""
    memory = memory_of(program)
    outputs = set(program.outputs)
    last: dict[Buffer, int] = {}
    for position, ins in enumerate(program.instructions):
        for b in ins.reads + ins.outputs:
            last[b] = position
    dying: dict[int, list[Buffer]] = {}
    for buffer, position in last.items():
        if buffer not in outputs and not isinstance(memory.get(buffer), Slot):
            dying.setdefault(position, []).append(buffer)
    instructions = []
    for position, ins in enumerate(program.instructions):
        instructions.append(ins)
        if position in dying:
            names = tuple(sorted(dying[position], key=lambda b: b.number))
            instructions.append(Instruction("del", None, names, {}, (), None, {"phase": "free"}))
    return program.copy_with(instructions)


DEFAULT_PASSES: tuple = (("batch_weight_gradients", batch_weight_gradients),
                         ("accumulate_in_place", accumulate_in_place),
                         ("reuse_dead_buffers", reuse_dead_buffers),
                         ("free_dead_buffers", free_dead_buffers))
