"""A captured step as a flat program over numbered buffers, and the Python source it runs as.

Each ``Instruction`` is one array operation: ``b17 = xp.matmul(b3, b9)``, ``b20 += b19``,
``b4[Ellipsis] = b21``. The program's *inputs* are the arrays a replay is given (parameters,
gradients, optimizer state, the step's arguments) and its *outputs* what it hands back.
``Program.source`` is straight-line Python, one line per instruction, compiled once; a
replay is one call of that function. ``str(program)`` lists it with, for each line, the
shape of what it makes and the op, phase and labels (layer, time step) it came from.
"""
from __future__ import annotations

import math
from typing import Any, Callable


class Buffer:
    """One array of the program: its number, shape and dtype when captured, and ``root``, the
    buffer whose memory it looks into (itself, unless it is a view)."""

    __slots__ = ("number", "shape", "dtype", "root")

    def __init__(self, number: int, shape: tuple, dtype: Any) -> None:
        self.number, self.shape, self.dtype, self.root = number, shape, dtype, self

    @property
    def name(self) -> str:
        return f"b{self.number}"

    def __repr__(self) -> str:
        return self.name


class Slot:
    """A place in the program's *arena*, the one array a replay keeps between calls: the view
    ``offset`` bytes into it with this ``shape`` and ``dtype``. An instruction that writes its
    result there (``out=m3``) allocates nothing; results never alive at the same time share
    bytes, as they would share memory given back to ``malloc``."""

    __slots__ = ("number", "shape", "dtype", "offset")

    def __init__(self, number: int, shape: tuple, dtype: Any, offset: int) -> None:
        self.number, self.shape, self.dtype, self.offset = number, shape, dtype, offset

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def __repr__(self) -> str:
        return f"m{self.number}"


class Constant:
    """A value the program uses but cannot write as a literal (an index array, a dtype, a function)."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"k{self.number}"


class Instruction:
    """One array operation. ``kind`` says how it is written:

    - ``operator``/``unary``: ``a + b``, ``-a``;  ``inplace``: ``a += b`` (changes ``writes``);
    - ``getitem``/``setitem``: ``a[i]``, ``a[i] = v``;  ``attribute``: ``a.T``;
    - ``method``: ``a.sum(axis=0)``;  ``call``: ``xp.exp(a)`` (or a function constant), with
      ``out=`` when a pass chose where the result goes;
    - ``backend``: ``backend.rand((2, 3), 'float32')`` (random numbers, scatter-add ...);
    - ``name``: ``b9 = b4`` (a pass found that no copy is needed);  ``del``: ``del b3, b7``.
    """

    __slots__ = ("kind", "target", "args", "kwargs", "outputs", "writes", "note", "unpack", "reads")

    def __init__(self, kind: str, target: Any, args: tuple, kwargs: dict, outputs: tuple,
                 writes: Buffer | None = None, note: dict | None = None, unpack: bool = False,
                 reads: tuple | None = None) -> None:
        self.kind, self.target, self.args, self.kwargs, self.outputs = kind, target, args, kwargs, outputs
        self.writes = writes  # the buffer it changes in place
        self.note = note if note is not None else {}  # op, phase, scope: where it came from
        self.unpack = unpack  # the operation returns a tuple or list of arrays
        if reads is None:  # the buffers among the arguments
            found: list[Buffer] = []
            _collect(args, found)
            _collect(kwargs, found)
            reads = tuple(found)
        self.reads = reads

    def __repr__(self) -> str:
        return f"<Instruction {render(self)}>"


def _collect(value: Any, found: list) -> None:
    if isinstance(value, Buffer):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _collect(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, found)


_LITERALS = (bool, int, str, type(None), slice, type(Ellipsis))


class Program:
    """Instructions over numbered buffers, with the inputs a replay binds and the outputs it returns."""

    def __init__(self) -> None:
        self.buffers: list[Buffer] = []
        self.instructions: list[Instruction] = []
        self.constants: list[Any] = []
        self.inputs: list[Buffer] = []
        self.input_labels: list[str] = []
        self.outputs: list[Buffer] = []
        self.slots: list[Slot] = []  # views of the arena (see Slot)
        self.arena_bytes = 0
        self.passes: list[str] = []  # the optimisation passes applied, in order
        self._function: Callable | None = None

    def copy_with(self, instructions: list[Instruction]) -> "Program":
        """The same program (inputs, outputs, buffers, arena) with other instructions: what a pass returns."""
        result = Program()
        result.buffers, result.constants, result.slots = self.buffers, self.constants, list(self.slots)
        result.arena_bytes = self.arena_bytes
        result.inputs, result.input_labels, result.outputs = self.inputs, self.input_labels, self.outputs
        result.passes, result.instructions = list(self.passes), instructions
        return result

    def new_slot(self, shape: tuple, dtype: Any, offset: int) -> Slot:
        slot = Slot(len(self.slots), shape, dtype, offset)
        self.slots.append(slot)
        self.arena_bytes = max(self.arena_bytes, offset + slot.nbytes)
        return slot

    def new_buffer(self, value: Any) -> Buffer:
        buffer = Buffer(len(self.buffers), tuple(value.shape), value.dtype)
        self.buffers.append(buffer)
        return buffer

    def constant(self, value: Any) -> Any:
        """``value`` as the program writes it: a literal, or a numbered constant."""
        if isinstance(value, _LITERALS) or isinstance(value, float) and math.isfinite(value):
            return value
        self.constants.append(value)
        return Constant(len(self.constants) - 1)

    # ---- the source a replay runs --------------------------------------------------------
    @property
    def source(self) -> str:
        """The replay as straight-line Python: ``def replay(<inputs>): ... return (<outputs>)``."""
        lines = [f"def replay({', '.join(b.name for b in self.inputs)}):"]
        lines += ["    " + line for line in (render(ins) for ins in self.instructions)]
        lines.append(f"    return ({''.join(b.name + ', ' for b in self.outputs)})")
        return "\n".join(lines) + "\n"

    def function(self, backend: Any) -> Callable:
        """The replay compiled once: Python's own compiler over ``source``; the arena is allocated here."""
        if self._function is None:
            namespace = {"xp": backend.xp, "backend": backend, "abs": abs, "slice": slice, "Ellipsis": Ellipsis,
                         **{f"k{i}": c for i, c in enumerate(self.constants)}}
            exec(compile(self.source, "<tinygrad_rnn compiled step>", "exec"), namespace)  # noqa: S102
            self._function = namespace["replay"]
            self.allocate_arena(backend)
        return self._function

    def allocate_arena(self, backend: Any) -> None:
        """Give the replay a new arena (the old one is freed once nothing holds it): done when the
        replay is compiled; again to measure a replay's memory from nothing."""
        arena = backend.xp.empty(self.arena_bytes, dtype="uint8")
        self.function(backend).__globals__.update(
            {repr(s): arena[s.offset:s.offset + s.nbytes].view(s.dtype).reshape(s.shape) for s in self.slots})

    def __str__(self) -> str:
        """The listing: every instruction with the shape it makes and where it came from."""
        header = [f"# {len(self.instructions)} instructions, {len(self.buffers)} buffers, {len(self.slots)} results "
                  f"in an arena of {self.arena_bytes / 2**20:.2f} MB; passes: {', '.join(self.passes) or 'none'}",
                  "# inputs: " + ", ".join(f"{b.name} ({label})" for b, label in zip(self.inputs, self.input_labels))]
        body = []
        for ins in self.instructions:
            line = render(ins)
            shapes = ", ".join(f"{b.shape} {b.dtype}" for b in ins.outputs) or (
                f"in place {ins.writes.shape}" if ins.writes is not None else "")
            note = ins.note
            where = " ".join(filter(None, [note.get("op", ""), note.get("phase", ""), " ".join(note.get("scope", ()))]))
            body.append(f"{line:<56} # {shapes:<24} {where}")
        return "\n".join(header + body + [f"return ({', '.join(b.name for b in self.outputs)})"])

    def structure(self) -> list[tuple]:
        """What the program does, without buffer numbers: to compare two captures of one step."""
        return [(ins.kind, _name_of(ins.target), tuple(b.shape for b in ins.outputs)) for ins in self.instructions]


def _name_of(target: Any) -> str:
    return target if isinstance(target, str) or target is None else getattr(target, "__name__", repr(target))


def expression(value: Any) -> str:
    """An argument as Python source."""
    if isinstance(value, (Buffer, Constant, Slot)):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + "".join(expression(v) + ", " for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(expression(v) for v in value) + "]"
    return repr(value)


def _arguments(args: tuple, kwargs: dict) -> str:
    return ", ".join([expression(a) for a in args] + [f"{k}={expression(v)}" for k, v in kwargs.items()])


def render(ins: Instruction) -> str:
    """One instruction as one line of Python."""
    a = [expression(x) for x in ins.args]
    if ins.kind == "del":
        return "del " + ", ".join(a)
    if ins.kind == "name":  # another name for the same array
        return f"{ins.outputs[0].name} = {a[0]}"
    if ins.kind == "operator":
        code = f"{a[0]} {ins.target} {a[1]}"
    elif ins.kind == "unary":
        code = f"abs({a[0]})" if ins.target == "abs" else f"{ins.target}{a[0]}"
    elif ins.kind == "inplace":
        return f"{a[0]} {ins.target} {a[1]}"
    elif ins.kind == "getitem":
        code = f"{a[0]}[{a[1]}]"
    elif ins.kind == "setitem":
        return f"{a[0]}[{a[1]}] = {a[2]}"
    elif ins.kind == "attribute":
        code = f"{a[0]}.{ins.target}"
    elif ins.kind == "method":
        code = f"{a[0]}.{ins.target}({_arguments(ins.args[1:], ins.kwargs)})"
    elif ins.kind == "backend":
        code = f"backend.{ins.target}({_arguments(ins.args, ins.kwargs)})"
    else:  # call: an xp path, or a function constant
        callee = ins.target if isinstance(ins.target, str) else expression(ins.target)
        code = f"{callee}({_arguments(ins.args, ins.kwargs)})"
    if not ins.outputs:
        return code  # a call for its effect: it writes in place (scatter-add, out=) or checks
    targets = ", ".join(b.name for b in ins.outputs) + ("," if len(ins.outputs) == 1 and ins.unpack else "")
    return f"{targets} = {code}"
