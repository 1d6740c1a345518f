"""Replaying a program as a CUDA graph: one launch for the whole step.

A CUDA graph is a recording of kernel launches on fixed memory, replayed by the GPU with one
call from the host, so a step of many small kernels stops paying a launch each. It needs
what a graph cannot do without: the same arrays at every launch, and no value read back by
the host in the middle. So the graphed replay

- copies each call's inputs into the arrays it was recorded with (the *static inputs*: copies
  of the first call's arguments, and the state's own arrays, which parameters and optimizer
  state are already);
- returns the same output arrays at every call, overwritten by the next (as PyTorch's CUDA
  graphs do): a result kept across calls must be copied;
- keeps every array the recording made alive, so no address it uses is handed out again;
- converts constants to device arrays once, before recording;
- makes the program's value checks (class indices in range, finite norms) after the launch,
  from the arrays the graph left, instead of inside it;
- refuses steps that draw random numbers (dropout): a graph would draw the same ones again.

The recording itself is the backend's (``backend.capture_graph``: CuPy's stream capture).
This module is off by default (``compile(fn, cuda_graph=True)``) until it has run on a GPU;
its logic is tested on the CPU with a backend that replays the recorded function instead.
"""
from __future__ import annotations

from typing import Any, Callable

from .program import Buffer, Constant, Instruction, Program, render
from .trace import CaptureError

_RANDOM = ("rand", "randn", "randint", "permutation")
_CONVERSIONS = ("asarray", "tensor_data", "array_of")


class GraphedReplay:
    """A program's replay, recorded as a CUDA graph at its first call and launched after."""

    def __init__(self, program: Program, backend: Any, first_argument: int) -> None:
        drawn = [ins for ins in program.instructions if ins.kind == "backend" and ins.target in _RANDOM]
        if drawn:
            raise CaptureError(f"compile(cuda_graph=True): the step draws random numbers ({drawn[0].note.get('op') or drawn[0].target}"
                               "); a CUDA graph would draw the same ones at every launch. Use cuda_graph=False "
                               "for steps with dropout")
        self.program, self.backend = program, backend
        self.first_argument = first_argument  # inputs before it are the state's arrays, after it the call's
        self.checks = [ins for ins in program.instructions if ins.kind == "backend" and ins.target == "check"]
        self.constants = {ins.outputs[0].name: ins for ins in program.instructions if _constant_conversion(ins)}
        self.static_inputs: list | None = None
        self.launch: Callable[[], None] | None = None
        self.outputs: tuple = ()
        self.kept: dict = {}

    @property
    def source(self) -> str:
        """The replay as recorded: no ``del`` (every array stays alive), no checks (made after the
        launch), no constant conversions (made before), and it returns its variables too."""
        lines = [f"def replay({', '.join(b.name for b in self.program.inputs)}):"]
        for ins in self.program.instructions:
            if ins.kind == "del" or ins in self.checks or ins.outputs and ins.outputs[0].name in self.constants:
                continue
            lines.append("    " + render(ins))
        lines.append(f"    return ({''.join(b.name + ', ' for b in self.program.outputs)}), locals()")
        return "\n".join(lines) + "\n"

    def __call__(self, *inputs: Any) -> tuple:
        if self.launch is None:
            return self._record(inputs)
        for static, new in zip(self.static_inputs, inputs):
            if new is not static:
                static[...] = new  # the same shape and dtype: the signature says so
        self.launch()
        self._check()
        return self.outputs

    def _record(self, inputs: tuple) -> tuple:
        """Record the replay (which also runs it once) on these inputs, which become static."""
        namespace = dict(self.program.function(self.backend).__globals__)  # xp, backend, constants, arena
        del namespace["replay"]
        for name, ins in self.constants.items():  # made once, before recording
            namespace[name] = _call(ins, namespace)
        exec(compile(self.source, "<tinygrad_rnn CUDA graph>", "exec"), namespace)  # noqa: S102
        # the state's arrays are the graph's own; the call's arguments are copied: later calls copy theirs in
        self.static_inputs = list(inputs[:self.first_argument]) + [a.copy() for a in inputs[self.first_argument:]]
        self.launch, (self.outputs, self.kept) = self.backend.capture_graph(namespace["replay"], self.static_inputs)
        self._check()
        return self.outputs

    def _check(self) -> None:
        """The program's checks, on the values the launch left."""
        for ins in self.checks:
            self.backend.check(*[_value(a, self.kept, self.program) for a in ins.args])


def _constant_conversion(ins: Instruction) -> bool:
    """A backend conversion of constants only (``backend.asarray(1.0, k4)``): the same at every call."""
    return ins.kind == "backend" and ins.target in _CONVERSIONS and len(ins.outputs) == 1 and not ins.reads


def _value(template: Any, kept: dict, program: Program) -> Any:
    """An instruction argument's value after the launch: a kept array, a constant, a literal."""
    if isinstance(template, Buffer):
        return kept[template.name]
    if isinstance(template, Constant):
        return program.constants[template.number]
    return template


def _call(ins: Instruction, namespace: dict) -> Any:
    """Run one backend instruction (of constants) now."""
    args = [namespace[repr(a)] if isinstance(a, Constant) else a for a in ins.args]
    return getattr(namespace["backend"], ins.target)(*args, **ins.kwargs)
