"""``compile(fn)``: capture a training step once, replay it without Tensors, nodes or schedules.

The first call for a *signature* runs ``fn`` eagerly with traced arrays (see ``trace.py``),
which records the step's ``Program``; the optimisation passes rewrite it; every later call
runs the program (the first one too when passes ran: they may round differently from the
eager run, and every call should give the program's numbers). The signature is what a
replay must not see change:
the shapes, dtypes and devices of the tensor arguments (and the values of the others),
and the state the step reads and writes, found from what ``fn`` refers to: Modules (their
parameters and train/eval mode), Optimizers (their hyper-parameters and state) and
Tensors, with whether each ``.grad`` exists, and the Python numbers, strings and flags it
names. A new signature is captured anew; the programs of the last ``max_programs``
signatures are kept.

A replay binds the current arrays of that state and the arguments, runs the program
(which updates parameters and optimizer state in place, as the eager step does), and sets
``.grad`` and new optimizer state from its outputs. Random numbers (dropout) are drawn at
every replay from the device's generator, in the eager step's order.
"""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict
from typing import Any, Callable

from ..backends import standing_in
from ..core.autograd import cycle_collector_paused
from ..core.tensor import Tensor
from ..viz import record as viz_record
from .program import Program
from .state import Arguments, Snapshot, State, check_same, is_array, leaves_of, read_slot, write_slot
from .graph import GraphedReplay
from .trace import CaptureBackend, CaptureError, Recorder, Traced, where_from


class Compiled:
    """One signature's program, with what a replay needs to bind and unpack it."""

    def __init__(self, program: Program, backend: Any, input_slots: list, output_slots: list, returned: int,
                 result: Any, tensor_ids: list, written: set, structure: list, cuda_graph: bool) -> None:
        self.program, self.backend = program, backend
        self.graphed = GraphedReplay(program, backend, len(input_slots)) if cuda_graph else None
        self.input_slots = input_slots  # where each input comes from (the arguments follow)
        self.output_slots = output_slots  # (slot, has a value) after the returned outputs
        self.returned = returned  # how many outputs are what fn returned
        self.result = result  # the structure fn returned, with output positions in place of tensors
        self.tensor_ids = tensor_ids  # the state's tensors when captured: a replaced one is refused
        self.written = written  # ids of the tensors whose arrays the program changes in place
        self.structure = structure  # what the program did before the passes (for check=True)

    @property
    def replay(self) -> Callable:
        """The program as a Python function, compiled at its first replay (a program made for
        the first step only, before gradients exist, is never compiled); or its CUDA graph."""
        with cycle_collector_paused():
            function = self.program.function(self.backend)
        return self.graphed if self.graphed is not None else function


class CompiledStep:
    """A step function made to capture once and replay (see ``compile``)."""

    def __init__(self, fn: Callable, passes: tuple, check: bool, max_programs: int, cuda_graph: bool) -> None:
        functools.update_wrapper(self, fn)
        self.fn, self.passes, self.check, self.max_programs = fn, tuple(passes), check, max_programs
        self.cuda_graph = cuda_graph
        self.cache: OrderedDict[tuple, Compiled] = OrderedDict()
        self.captures = 0  # how many times a program was captured (a new signature each time)
        self.last: Compiled | None = None

    @property
    def program(self) -> Program:
        """The program of the latest call: print it to read the step as a flat listing."""
        if self.last is None:
            raise RuntimeError("compile: the step has not run yet; call it once, then read .program")
        return self.last.program

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = State(self.fn)
        arguments = Arguments(args, kwargs, state)
        key = (arguments.signature(), state.signature())
        compiled = self.cache.get(key)
        if compiled is None:  # a new signature: this call runs eagerly and records the program
            self.captures += 1
            changed = _what_changed(next(reversed(self.cache)), key) if self.cache else ""
            with cycle_collector_paused():  # a capture makes many objects, none of them in cycles
                compiled, result, start = self._capture(arguments, state)
            self.cache[key] = self.last = compiled
            if len(self.cache) > self.max_programs:
                self.cache.popitem(last=False)
                warnings.warn(f"compile: {getattr(self.fn, '__name__', 'the step')} was captured for more than "
                              f"{self.max_programs} signatures ({changed} changed since the one before); the "
                              "oldest program was dropped", stacklevel=2)
            if not compiled.program.passes:
                return result  # the program is what just ran, bit for bit
            # The passes may round differently from the eager run: this call's results come from
            # the program too, so every call of the step gives the program's numbers (a resumed
            # run matches one never interrupted, whichever call captured).
            start.restore(state)
        self.cache.move_to_end(key)
        self.last = compiled
        if self.check:
            return self._checked(compiled, arguments, state)
        return self._replay(compiled, arguments, state)

    # ---- capture --------------------------------------------------------------------------
    def _capture(self, arguments: Arguments, state: State) -> tuple[Compiled, Any, "Snapshot"]:
        """Run ``fn`` eagerly on traced arrays: the program it recorded, its result, and a
        snapshot of the state before it ran.

        If ``fn`` fails (a ``CaptureError`` included), every array is put back as it was.
        """
        backend = _one_backend(state.tensors + arguments.tensors)
        recorder = Recorder(backend, where_from)
        start = Snapshot(state, backend)
        stand_in = CaptureBackend(backend, recorder)
        input_slots = _trace_inputs(state, arguments, recorder, stand_in)
        recording = viz_record._recorder.enabled
        viz_record._recorder.enabled = False  # the pictures' gradient norms are no part of the step
        try:
            with standing_in(backend, stand_in):
                result = self.fn(*arguments.args, **arguments.kwargs)
        except BaseException:
            start.restore(state)
            raise
        finally:
            viz_record._recorder.enabled = recording
            recorder.closed = True  # a traced array kept from this run can no longer record
            _untrace_arguments(arguments, backend)
        program = recorder.program
        structure = _outputs_of(result, program)
        returned = len(program.outputs)
        output_slots = []
        for slot in state.slots():
            value = read_slot(slot)
            output_slots.append((slot, isinstance(value, Traced)))
            if isinstance(value, Traced):
                program.outputs.append(value.buffer)
        _untrace_state(state, backend)
        written = {id(slot[1]) for slot, buffer in zip(input_slots, program.inputs)
                   if slot[0] == "data" and any(ins.writes is not None and ins.writes.root is buffer
                                                for ins in program.instructions)}
        before = program.structure()
        for name, rewrite in self.passes:
            program = rewrite(program)
            program.passes.append(name)
        compiled = Compiled(program, backend, input_slots, output_slots, returned, structure,
                            [id(t) for t in state.tensors], written, before, self.cuda_graph)
        return compiled, _rebuild(structure, [b.value for b in _returned_values(result)], backend), start

    # ---- replay --------------------------------------------------------------------------------
    def _replay(self, compiled: Compiled, arguments: Arguments, state: State) -> Any:
        if [id(t) for t in state.tensors] != compiled.tensor_ids:
            raise CaptureError("compile: a parameter (or another tensor the step uses) was replaced by a new "
                               "object since the step was captured; a replay would update the old one. Compile "
                               "the step again (tinygrad_rnn.compile(fn)) after replacing parameters")
        inputs = [read_slot(slot) for slot in compiled.input_slots]
        inputs += [t.data for t in arguments.tensors]
        outputs = compiled.replay(*inputs)
        values = iter(outputs[compiled.returned:])
        for slot, has_value in compiled.output_slots:
            write_slot(slot, next(values) if has_value else None, compiled.backend)
        for t in state.tensors:
            if id(t) in compiled.written:
                t._version[0] += 1  # changed in place, as the eager step's in-place ops do
        return _rebuild(compiled.result, outputs, compiled.backend)

    def _checked(self, compiled: Compiled, arguments: Arguments, state: State) -> Any:
        """``check=True``: replay, then run the step eagerly (capturing it again) from the same
        start; the operations and every result must agree (exactly, without optimisation passes)."""
        start = Snapshot(state, compiled.backend)
        replayed = self._replay(compiled, arguments, state)
        after_replay = Snapshot(state, compiled.backend)
        start.restore(state)
        again, eager, _ = self._capture(arguments, state)
        if again.structure != compiled.structure:
            start.restore(state)  # the refused call leaves everything as it found it
            raise CaptureError("compile(check=True): the step did other operations than when it was captured "
                               "(Python control flow depending on something outside its signature?)")
        exact = not compiled.program.passes
        after_replay.compare(Snapshot(state, compiled.backend), exact)
        _compare_results(replayed, eager, exact)
        return eager


def _what_changed(before: tuple, after: tuple) -> str:
    """Which parts of a signature differ, in words: for the warning about many captures."""
    (arguments_before, state_before), (arguments_after, state_after) = before, after
    parts = ["the arguments", "the tensors' shapes, dtypes or gradients", "train/eval mode",
             "optimizer settings or state", "the Python values the step names"]
    differ = [part for part, a, b in zip(parts, (arguments_before, *state_before), (arguments_after, *state_after))
              if a != b]
    if differ and differ[-1] == parts[-1]:
        names = sorted(dict(set(state_after[-1]) ^ set(state_before[-1])))
        differ[-1] = "the Python values " + ", ".join(names)
    return " and ".join(differ) or "nothing"


# ---- helpers: tracing the inputs, the results --------------------------------------------------
def _one_backend(tensors: list) -> Any:
    backends = {t.backend for t in tensors}
    if len(backends) != 1:
        raise CaptureError("compile: a step must use one device and at least one tensor; it uses "
                           f"{sorted(b.device for b in backends) or 'none'}")
    return backends.pop()


def _trace_inputs(state: State, arguments: Arguments, recorder: Recorder, stand_in: CaptureBackend) -> list:
    """Give every array of the state and of the arguments a traced stand-in (the program's
    inputs); returns the slots they came from, in order."""
    slots = []
    for slot in state.slots():
        value = read_slot(slot)
        if not is_array(value):
            continue
        slots.append(slot)
        traced = recorder.input(value, state.label(slot))
        if slot[0] == "data":
            slot[1].data, slot[1].backend = traced, stand_in
        elif slot[0] == "grad":
            slot[1].grad.data, slot[1].grad.backend = traced, stand_in
        else:
            slot[1].state[slot[2]][slot[3]] = traced
    for t in state.tensors:
        t.backend = stand_in
    for k, a in enumerate(arguments.tensors):
        a.data, a.backend = recorder.input(a.data, f"argument {k}"), stand_in
    return slots


def _untrace_arguments(arguments: Arguments, backend: Any) -> None:
    for a in arguments.tensors:
        if isinstance(a.data, Traced):
            a.data, a.backend = a.data.value, backend


def _untrace_state(state: State, backend: Any) -> None:
    """After a capture: the real arrays back in place of the traced ones, with the real backend."""
    for t in state.tensors:
        t.backend = backend
        if isinstance(t.data, Traced):
            t.data = t.data.value
        if t.grad is not None:
            t.grad.backend = backend
            if isinstance(t.grad.data, Traced):
                t.grad.data = t.grad.data.value
    for optimizer in state.optimizers:
        for entries in optimizer.state.values():
            for name, value in entries.items():
                if isinstance(value, Traced):
                    entries[name] = value.value


def _returned_values(result: Any) -> list:
    """The traced arrays of the tensors ``fn`` returned, in the order ``_outputs_of`` numbered them."""
    return [leaf.data for leaf in leaves_of(result) if isinstance(leaf, Tensor) and isinstance(leaf.data, Traced)]


def _outputs_of(result: Any, program: Program) -> Any:
    """The returned structure with each tensor replaced by its position among the outputs."""
    if isinstance(result, Tensor):
        if not isinstance(result.data, Traced):
            return ("value", result)  # made before the step: returned as it is
        program.outputs.append(result.data.buffer)
        return ("output", len(program.outputs) - 1, result.requires_grad)
    if isinstance(result, (tuple, list)):
        return ("sequence", type(result), [_outputs_of(r, program) for r in result])
    if isinstance(result, dict):
        return ("dict", type(result), list(result), [_outputs_of(r, program) for r in result.values()])
    return ("value", result)


def _rebuild(structure: Any, outputs: Any, backend: Any) -> Any:
    """The structure ``fn`` returned, holding this call's tensors."""
    kind = structure[0]
    if kind == "output":
        return Tensor._wrap(outputs[structure[1]], backend)
    if kind == "sequence":
        cls, items = structure[1], [_rebuild(s, outputs, backend) for s in structure[2]]
        return cls(*items) if hasattr(cls, "_fields") else cls(items)  # a named tuple takes its fields
    if kind == "dict":
        return structure[1](zip(structure[2], [_rebuild(s, outputs, backend) for s in structure[3]]))
    return structure[1]


def _compare_results(replayed: Any, eager: Any, exact: bool) -> None:
    for a, b in zip(leaves_of(replayed), leaves_of(eager)):
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            check_same(a.backend.to_numpy(a.data), b.backend.to_numpy(b.data), exact, "a returned tensor")
