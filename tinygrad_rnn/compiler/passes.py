"""Optimisation passes: each rewrites a ``Program`` into one that computes the same values
(up to rounding), faster or in less memory. Each is small, named, and can be switched off:
``compile(fn, passes=())`` replays exactly what the eager step did, bit for bit.

- ``batch_weight_gradients``: a weight used at every time step gets its gradient as a sum of
  per-step products ``a_t.T @ g_t``; the pass makes it one product of the stacked factors,
  ``concatenate(a).T @ concatenate(g)``, as a hand-written BPTT does (one large matmul
  instead of T small ones and T - 1 additions).
- ``accumulate_in_place``: ``s = a + b`` adding up gradients, where nothing reads ``a``
  afterwards, becomes ``s = xp.add(a, b, out=a)``: no new array.
- ``reuse_dead_buffers``: results are written (``out=m3``) into views of an *arena*, one
  array kept between replays; where each result goes is planned at capture, as ``malloc``
  would place it, so results that are never alive at the same time share bytes. A replay
  then hardly allocates, like a hand-written step that allocates its buffers once.
- ``free_dead_buffers``: ``del`` each remaining array right after its last use, so memory
  is given back during the step rather than at its end.

Every pass keeps buffer names: a rewritten instruction still defines the same ``b17``, so
the listing reads the same before and after, with ``out=`` showing where results now go.
"""
from __future__ import annotations

import bisect
import math
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
        if ins.kind == "name":  # b9 = m3, or b9 = b4: the same array under another name
            out = ins.args[0]
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
        # in time order (the last step's gradient is made first), as the layer stacks its gradients
        products.sort(key=lambda pair: -producers[pair[1]][0])
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


def write_parts_in_place(program: Program) -> Program:
    """``c = stack(parts)`` or ``concatenate(parts)``: allocate ``c`` before the first part is
    made and have each part's instruction write straight into its slice of ``c`` (``out=``), so
    nothing is copied. Stacks nest (a part may be such a ``c`` itself), and a second stack of the
    same parts in the same order becomes a reshape of the first."""
    producers = {out: position for position, ins in enumerate(program.instructions) for out in ins.outputs}
    instructions = list(program.instructions)
    written = {ins.writes.root for ins in instructions if ins.writes is not None}
    before: dict[int, list[Instruction]] = {}  # position -> instructions inserted before it
    allocations: dict[Buffer, tuple[Instruction, int]] = {}  # c -> (its allocation, where it is)
    placed: dict[tuple, Buffer] = {}  # the parts of a stack along axis 0 done in place -> its c
    claimed: set[Buffer] = set()  # parts already written into some c: they cannot move again
    removed: set[int] = set()
    for position, ins in enumerate(program.instructions):
        parts = _joined_parts(ins)
        if parts is None or ins.outputs[0] in written:
            continue
        c, axis = ins.outputs[0], ins.kwargs.get("axis", 0)
        if axis == 0 and parts in placed:  # the same parts, stacked in place already
            c.root = placed[parts]
            instructions[position] = Instruction("method", "reshape", (placed[parts], c.shape), {}, (c,),
                                                 note=ins.note)
            continue
        if len(set(parts)) < len(parts) or not all(
                p.dtype == c.dtype and p not in written and p not in claimed and p.number >= 0
                and (p in allocations or _can_write_out(instructions[producers.get(p, position)])) for p in parts):
            continue
        first = min(allocations[p][1] if p in allocations else producers[p] for p in parts)
        allocation = Instruction("call", "xp.empty", (c.shape,), {"dtype": str(c.dtype)}, (c,), note=ins.note)
        before.setdefault(first, []).insert(0, allocation)
        allocations[c] = (allocation, first)
        lead, offset = (slice(None),) * (axis % len(c.shape)), 0
        for k, p in enumerate(parts):
            if ins.target == "xp.stack":
                index = lead + (k, Ellipsis)  # a view, even of one element
            else:
                index, offset = lead + (slice(offset, offset + p.shape[len(lead)]),), offset + p.shape[len(lead)]
            if p in allocations:  # an inner stack: allocated as this slice of c instead
                inner, where = allocations.pop(p)
                before[where][before[where].index(inner)] = Instruction("getitem", None, (c, index), {}, (p,),
                                                                        note=inner.note)
                p.root = c
                continue
            view = Buffer(len(program.buffers), p.shape, p.dtype)
            view.root = c
            program.buffers.append(view)
            before.setdefault(producers[p], []).append(Instruction("getitem", None, (c, index), {}, (view,),
                                                                   note=ins.note))
            instructions[producers[p]] = _with_out(instructions[producers[p]], view)
        removed.add(position)
        claimed.update(parts)
        if axis == 0:
            placed[parts] = c
    result = []
    for position, ins in enumerate(instructions):
        result += before.get(position, [])
        if position not in removed:
            result.append(ins)
    return program.copy_with(result)


def _joined_parts(ins: Instruction) -> tuple | None:
    """The parts of ``stack(parts)`` or ``concatenate(parts)`` (buffers, no ``out=``), else None."""
    if ins.kind != "call" or ins.target not in ("xp.stack", "xp.concatenate") or set(ins.kwargs) - {"axis"}:
        return None
    parts = ins.args[0] if len(ins.args) == 1 else ()
    if not parts or not all(isinstance(p, Buffer) for p in parts):
        return None
    return tuple(parts)


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


# Below this size NumPy's own allocator (it caches small blocks) is cheaper than ``out=``, whose
# overlap checks cost about a microsecond a call: measured on LONG, where pooling every result
# made a step 30% slower and pooling only these made it 3% faster than not pooling at all.
SMALLEST_POOLED = 16 * 1024  # bytes


def reuse_dead_buffers(program: Program) -> Program:
    """Results of NumPy functions of at least ``SMALLEST_POOLED`` bytes go into arena slots
    (``out=m3``): bytes the allocator below hands out at the result's instruction and takes back
    after its last use (through any view)."""
    memory = memory_of(program)
    last = last_uses(program, memory)
    kept = pinned(program, memory)
    result = program.copy_with([])
    arena = _Allocator()
    frees_after: dict[int, list[Slot]] = {}  # position -> slots free after it
    for position, ins in enumerate(program.instructions):
        out = ins.outputs[0] if ins.outputs else None
        allocation = ins.kind == "call" and ins.target == "xp.empty"
        if ((allocation or _can_write_out(ins)) and memory.get(out) is out and out not in kept
                and out.shape != () and 0 not in out.shape
                and math.prod(out.shape) * out.dtype.itemsize >= SMALLEST_POOLED):
            slot = result.new_slot(out.shape, out.dtype, 0)
            slot.offset = arena.allocate(slot.nbytes)
            frees_after.setdefault(last.get(out, position), []).append(slot)
            ins = Instruction("name", None, (slot,), {}, ins.outputs, note=ins.note) if allocation \
                else _with_out(ins, slot)
        result.instructions.append(ins)
        for slot in frees_after.pop(position, ()):
            arena.release(slot.offset, slot.nbytes)
    result.arena_bytes = arena.top
    return result


class _Allocator:
    """Best-fit allocation of byte ranges in a growing arena, with freed neighbours merged:
    ``malloc``, run once at capture instead of at every replay."""

    ALIGN = 64  # bytes: every slot starts on a cache line

    def __init__(self) -> None:
        self.top = 0
        self.free: list[tuple[int, int]] = []  # (size, start) of the free blocks, sorted
        self.starting: dict[int, int] = {}     # start -> size of a free block
        self.ending: dict[int, int] = {}       # end -> start of a free block

    def allocate(self, nbytes: int) -> int:
        size = -(-nbytes // self.ALIGN) * self.ALIGN
        i = bisect.bisect_left(self.free, (size, -1))
        if i < len(self.free):  # the smallest free block that fits
            block, start = self.free[i]
            self._remove(start, block)
            if block > size:
                self._add(start + size, block - size)
            return start
        start = self.top  # none fits: grow the arena (from a free block at its end, if any)
        if self.top in self.ending:
            start = self.ending[self.top]
            self._remove(start, self.top - start)
        self.top = start + size
        return start

    def release(self, start: int, nbytes: int) -> None:
        size = -(-nbytes // self.ALIGN) * self.ALIGN
        if start + size in self.starting:  # merge with the free block after
            after = self.starting[start + size]
            self._remove(start + size, after)
            size += after
        if start in self.ending:  # and with the one before
            before = self.ending[start]
            self._remove(before, start - before)
            size, start = size + start - before, before
        self._add(start, size)

    def _add(self, start: int, size: int) -> None:
        bisect.insort(self.free, (size, start))
        self.starting[start], self.ending[start + size] = size, start

    def _remove(self, start: int, size: int) -> None:
        self.free.pop(bisect.bisect_left(self.free, (size, start)))
        del self.starting[start], self.ending[start + size]


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
                         ("write_parts_in_place", write_parts_in_place),
                         ("accumulate_in_place", accumulate_in_place),
                         ("reuse_dead_buffers", reuse_dead_buffers),
                         ("free_dead_buffers", free_dead_buffers))
