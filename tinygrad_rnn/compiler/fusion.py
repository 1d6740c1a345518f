"""A GPU pass: fuse runs of elementwise instructions into one generated kernel.

On a GPU a small recurrent step is dominated by kernel launches: an LSTM's gate maths is
some twenty elementwise operations per time step, each a launch that reads and writes
memory. ``fuse_elementwise`` finds runs of elementwise instructions that make arrays of
one shape and dtype and replaces each run with one call, ``b9, b12 = backend.fused(k3,
b1, b2)``, of a ``FusedKernel``: the run's operations as one expression per element.

The CuPy backend compiles a kernel's ``cuda_source`` into a ``cupy.ElementwiseKernel``;
every other backend runs its ``steps`` one NumPy-style function at a time (exactly the
operations the run had), which is how the pass is tested without a GPU. It is not in
``DEFAULT_PASSES``: it is the first pass of ``GPU_PASSES``, and off until it has run on a GPU.
"""
from __future__ import annotations

from typing import Any

from .program import Buffer, Instruction, Program

# operator or function -> (the NumPy-style function replay calls, the CUDA C expression)
_OPERATIONS = {
    "+": ("add", "{0} + {1}"), "-": ("subtract", "{0} - {1}"), "*": ("multiply", "{0} * {1}"),
    "/": ("divide", "{0} / {1}"), "**": ("power", "pow({0}, {1})"), "neg": ("negative", "-{0}"),
    "xp.exp": ("exp", "exp({0})"), "xp.log": ("log", "log({0})"), "xp.tanh": ("tanh", "tanh({0})"),
    "xp.sqrt": ("sqrt", "sqrt({0})"), "xp.maximum": ("maximum", "max({0}, {1})"),
    "xp.minimum": ("minimum", "min({0}, {1})"),
}
_C_TYPES = {"float32": "float", "float64": "double"}


class FusedKernel:
    """A run of elementwise operations over arrays of one shape: ``steps`` in order, each
    ``(result name, operation, operand names or numbers)``; ``inputs`` and ``outputs`` name
    the arrays going in and out (the others are the kernel's local variables)."""

    def __init__(self, steps: list[tuple], inputs: list[str], outputs: list[str], dtype: Any) -> None:
        self.steps, self.inputs, self.outputs, self.dtype = steps, inputs, outputs, dtype
        self.compiled: Any = None  # the backend's kernel, made at its first call

    def evaluate(self, xp: Any, arrays: tuple) -> tuple:
        """The operations one at a time with ``xp``'s functions: what the run did before fusing."""
        values = dict(zip(self.inputs, arrays))
        for name, operation, operands in self.steps:
            function = getattr(xp, _OPERATIONS[operation][0])
            values[name] = function(*[values.get(o, o) if isinstance(o, str) else o for o in operands])
        return tuple(values[name] for name in self.outputs)

    @property
    def cuda_source(self) -> str:
        """The loop body of a CUDA elementwise kernel: one typed line per step."""
        c_type = _C_TYPES[str(self.dtype)]
        lines = []
        for name, operation, operands in self.steps:
            terms = [o if isinstance(o, str) else f"(({c_type}){o!r})" for o in operands]
            expression = _OPERATIONS[operation][1].format(*terms)
            lines.append(f"{name} = {expression};" if name in self.outputs else f"{c_type} {name} = {expression};")
        return "\n".join(lines)

    @property
    def parameters(self) -> tuple[str, str]:
        """The kernel's input and output parameter lists, in CuPy's ``ElementwiseKernel`` form."""
        c_dtype = str(self.dtype)
        return (", ".join(f"{c_dtype} {n}" for n in self.inputs), ", ".join(f"{c_dtype} {n}" for n in self.outputs))

    def __repr__(self) -> str:
        return f"<FusedKernel of {len(self.steps)} operations: {', '.join(op for _, op, _ in self.steps)}>"


def _operation(ins: Instruction) -> str | None:
    """The fusable operation an instruction performs, or None."""
    if ins.kwargs or len(ins.outputs) != 1 or ins.writes is not None:
        return None
    if ins.kind == "operator" and ins.target in ("+", "-", "*", "/", "**"):
        return ins.target
    if ins.kind == "unary" and ins.target == "-":
        return "neg"
    if ins.kind == "call" and ins.target in _OPERATIONS:
        return ins.target
    return None


def _fusable(ins: Instruction, shape: tuple | None, dtype: Any) -> bool:
    """Whether ``ins`` can join a run making arrays of ``shape`` and ``dtype`` (None: any)."""
    if _operation(ins) is None:
        return False
    out = ins.outputs[0]
    if str(out.dtype) not in _C_TYPES or out.shape == () or (shape is not None and (out.shape, out.dtype) != (shape, dtype)):
        return False
    return all(isinstance(a, (int, float)) and not isinstance(a, bool)
               or isinstance(a, Buffer) and a.dtype == out.dtype for a in ins.args)


def fuse_elementwise(program: Program, minimum: int = 2) -> Program:
    """Runs of at least ``minimum`` consecutive fusable instructions become one fused call."""
    readers: dict[Buffer, int] = {}  # how many instructions read each buffer
    for ins in program.instructions:
        for b in ins.reads:
            readers[b] = readers.get(b, 0) + 1
    kept = set(program.outputs) | {b.root for b in program.buffers if b.root is not b}  # outputs, viewed ones
    result, run = [], []

    def flush() -> None:
        if len(run) >= minimum:
            result.append(_fused(run, readers, kept, program))
        else:
            result.extend(run)
        run.clear()

    for ins in program.instructions:
        if run and _fusable(ins, run[0].outputs[0].shape, run[0].outputs[0].dtype):
            run.append(ins)
        else:
            flush()
            (run if _fusable(ins, None, None) else result).append(ins)
    flush()
    return program.copy_with(result)


def _fused(run: list[Instruction], readers: dict, kept: set, program: Program) -> Instruction:
    """One ``backend.fused`` call for the run: locals for what only the run reads, outputs for the rest."""
    made = {ins.outputs[0]: ins for ins in run}
    inside = {b: sum(b in ins.reads for ins in run) for b in made}
    outputs = [b for b in made if b in kept or readers.get(b, 0) > inside[b]]
    inputs: list[Buffer] = []
    for ins in run:
        for b in ins.reads:
            if b not in made and b not in inputs:
                inputs.append(b)
    steps = [(ins.outputs[0].name, _operation(ins), tuple(a.name if isinstance(a, Buffer) else a for a in ins.args))
             for ins in run]
    kernel = FusedKernel(steps, [b.name for b in inputs], [b.name for b in outputs], run[0].outputs[0].dtype)
    constant = program.constant(kernel)
    note = {**run[0].note, "op": "fused: " + " ".join(_operation(ins) for ins in run)}
    return Instruction("backend", "fused", (constant, *inputs), {}, tuple(outputs), note=note, unpack=True)
