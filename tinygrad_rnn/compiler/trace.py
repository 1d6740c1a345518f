"""Capturing a step: run it once with *traced* arrays, which compute as usual and also write
down every array operation as an instruction of a ``Program``.

A ``Traced`` value wraps a real array (NumPy or CuPy) and a buffer number. Everything the
library does to arrays goes through three doors, and during capture each door records:

- operators and methods on arrays (``a * b``, ``g.sum(axis=0)``, ``x[index] = y``,
  ``m *= beta``): the methods of ``Traced``;
- functions of the array module (``xp.exp``, ``xp.zeros``): ``TracingModule``, which is what
  ``self.xp`` is while a step is captured;
- the backend's own operations (random numbers, scatter-add, conversions):
  ``CaptureBackend``, which tensors carry as their backend while a step is captured.

Reading a value into Python (``float(x)``, ``bool(x)``, ``.item()``, ``.numpy()``) cannot be
replayed, so it raises ``CaptureError`` at once.
"""
from __future__ import annotations

import operator
import sys
from typing import Any, Callable, Iterator

from .program import Buffer, Instruction, Program


class CaptureError(RuntimeError):
    """The step does something a replay could not repeat; the message says what and how to fix it."""


def _is_array(value: Any) -> bool:
    """An array of some backend, or a NumPy scalar (what NumPy returns for 0-d results)."""
    return not isinstance(value, Traced) and hasattr(value, "dtype") and hasattr(value, "shape")


class Recorder:
    """Builds the ``Program`` while a step is captured: numbered buffers and instructions."""

    def __init__(self, backend: Any, note: Callable[[], dict]) -> None:
        self.program = Program()
        self.backend = backend  # the real backend: replay calls its operations
        self.note = note        # where an instruction comes from (op, phase, labels)
        self.closed = False     # set once the step has run: nothing more may be recorded

    # ---- buffers -----------------------------------------------------------------------
    def new(self, value: Any) -> "Traced":
        """A fresh buffer holding ``value``."""
        return Traced(value, self.program.new_buffer(value), self)

    def input(self, value: Any, label: str) -> "Traced":
        """A buffer the replay is given (a parameter's array, an argument, optimizer state)."""
        traced = self.new(value)
        self.program.inputs.append(traced.buffer)
        self.program.input_labels.append(label)
        return traced

    # ---- instructions --------------------------------------------------------------------
    def record(self, kind: str, target: Any, args: tuple, kwargs: dict, compute: Callable[[], Any],
               writes: "Traced | None" = None) -> Any:
        """Run ``compute`` on the real values and write down the instruction that does it.

        ``writes`` is the buffer an in-place instruction changes; otherwise every array in the
        result becomes a new buffer (a tuple or list of arrays gives one buffer each).
        """
        if self.closed:
            raise CaptureError("a tensor made while a compiled step was captured was kept and used afterwards; "
                               "return it from the step (or .detach() it outside) instead of storing it")
        result = compute()
        unpack = False
        if writes is not None:
            outputs, wrapped = (), writes
        elif _is_array(result):
            wrapped = self.new(result)
            outputs = (wrapped.buffer,)
        elif isinstance(result, (tuple, list)) and result and all(_is_array(r) for r in result):
            wrapped = type(result)(self.new(r) for r in result)
            outputs, unpack = tuple(w.buffer for w in wrapped), True
        else:
            return result  # not an array (a dtype, a memory-layout answer): nothing to replay
        sources: list[Traced] = []
        args_template, kwargs_template = self._template(args, sources), self._template(kwargs, sources)
        for out in (wrapped if unpack else () if writes is not None else (wrapped,)):
            out.buffer.root = _viewed(out, sources)
        if not isinstance(target, (str, type(None))):
            target = self.program.constant(target)
        self.program.instructions.append(
            Instruction(kind, target, args_template, kwargs_template, outputs,
                        writes.buffer if writes is not None else None, self.note(), unpack,
                        tuple([t.buffer for t in sources])))
        return wrapped

    def effect(self, target: str, args: tuple, compute: Callable[[], Any]) -> None:
        """Write down a backend call made for its effect alone (a check that may raise)."""
        compute()
        self.program.instructions.append(Instruction("backend", target, self._template(args, []), {}, (), None,
                                                     self.note()))

    def _template(self, value: Any, traced: list) -> Any:
        """Arguments as the program sees them: buffers, literals, or numbered constants (and
        the traced arrays among them collected into ``traced``)."""
        if isinstance(value, Traced):
            traced.append(value)
            return value.buffer
        if isinstance(value, tuple):
            return tuple([self._template(v, traced) for v in value])
        if isinstance(value, list):
            return [self._template(v, traced) for v in value]
        if isinstance(value, dict):
            return {k: self._template(v, traced) for k, v in value.items()}
        return self.program.constant(value)


def _values(value: Any) -> Any:
    """The real arrays inside an argument (tuples, lists and dicts of them too)."""
    if isinstance(value, Traced):
        return value.value
    if isinstance(value, tuple):
        return tuple(_values(v) for v in value)
    if isinstance(value, list):
        return [_values(v) for v in value]
    if isinstance(value, dict):
        return {k: _values(v) for k, v in value.items()}
    return value


def _owner(array: Any) -> Any:
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


def _viewed(out: "Traced", sources: list) -> Buffer:
    """The buffer whose memory ``out`` looks into: the root of a source it is a view of, itself,
    or, for a view of memory no buffer owns (a NumPy scalar broadcast, a read-only array), a
    new buffer standing for that memory, so that no pass ever writes into it."""
    value = out.value
    if getattr(value, "base", None) is not None:
        owner = _owner(value)
        for source in sources:
            if _owner(source.value) is owner:
                return source.buffer.root
        return Buffer(-1, tuple(value.shape), value.dtype)
    flags = getattr(value, "flags", None)
    if flags is not None and not flags.writeable:
        return Buffer(-1, tuple(value.shape), value.dtype)
    return out.buffer


def _reading(what: str) -> CaptureError:
    return CaptureError(f"{what} reads an array's value into Python while the step is captured; a replay "
                        "would reuse today's value. Return the tensor from the step and read it after the "
                        "call (loss.item() outside), or keep the computation in tensor ops")


class Traced:
    """An array during capture: the real value, the buffer number, and the recorder.

    Metadata (``shape``, ``dtype``, ``ndim``, ``strides`` ...) is read from the value; every
    operation is computed on the value and recorded.
    """

    __slots__ = ("value", "buffer", "recorder")
    __array_priority__ = 1000  # NumPy arrays on the left defer to us

    def __init__(self, value: Any, buffer: Buffer, recorder: Recorder) -> None:
        self.value, self.buffer, self.recorder = value, buffer, recorder

    def __repr__(self) -> str:
        return f"<traced b{self.buffer.number} {tuple(self.value.shape)} {self.value.dtype}>"

    # ---- metadata, read freely ---------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def dtype(self) -> Any:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def strides(self) -> tuple:
        return self.value.strides

    @property
    def base(self) -> Any:
        return self.value.base

    def __len__(self) -> int:
        return len(self.value)

    __hash__ = object.__hash__

    # ---- reading values: refused -------------------------------------------------------
    def __bool__(self) -> bool:
        raise _reading("bool(tensor) (an `if` on a tensor's value)")

    def __float__(self) -> float:
        raise _reading("float(tensor)")

    def __int__(self) -> int:
        raise _reading("int(tensor)")

    def __index__(self) -> int:
        raise _reading("using a tensor as a Python index")

    def item(self) -> Any:
        raise _reading(".item()")

    def tolist(self) -> Any:
        raise _reading(".tolist()")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise _reading("converting to a NumPy array (.numpy(), numpy.asarray)")

    # ---- operations: computed and recorded ---------------------------------------------
    def _binary(self, symbol: str, other: Any, reflected: bool = False) -> Any:
        a, b = (other, self) if reflected else (self, other)
        compute = _OPERATORS[symbol]
        return self.recorder.record("operator", symbol, (a, b), {}, lambda: compute(_values(a), _values(b)))

    def _unary(self, symbol: str) -> Any:
        compute = _UNARY[symbol]
        return self.recorder.record("unary", symbol, (self,), {}, lambda: compute(self.value))

    def _inplace(self, symbol: str, other: Any) -> "Traced":
        compute = _INPLACE[symbol]

        def run() -> None:
            self.value = compute(self.value, _values(other))  # the same array, changed in place

        return self.recorder.record("inplace", symbol, (self, other), {}, run, writes=self)

    def __getitem__(self, index: Any) -> Any:
        return self.recorder.record("getitem", None, (self, index), {}, lambda: self.value[_values(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        def run() -> None:
            self.value[_values(index)] = _values(value)

        self.recorder.record("setitem", None, (self, index, value), {}, run, writes=self)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self.value)))

    @property
    def T(self) -> Any:  # noqa: N802 (NumPy's name)
        return self.recorder.record("attribute", "T", (self,), {}, lambda: self.value.T)

    def __getattr__(self, name: str) -> Any:
        """Array methods (``sum``, ``reshape``, ``astype`` ...): recorded when called."""
        attribute = getattr(self.value, name)
        if not callable(attribute):
            return attribute
        recorder = self.recorder

        def method(*args: Any, **kwargs: Any) -> Any:
            result = recorder.record("method", name, (self,) + args, kwargs,
                                     lambda: getattr(self.value, name)(*_values(args), **_values(kwargs)))
            if not isinstance(result, (Traced, tuple, list)) and result is not None:
                raise _reading(f".{name}()")
            return result

        return method

    # NumPy's protocols: a NumPy function or ufunc given a traced array is recorded too
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        writes = out[0] if isinstance(out, tuple) and isinstance(out[0], Traced) else None
        function = getattr(ufunc, method)
        result = self.recorder.record("call", function, inputs, kwargs,
                                      lambda: function(*_values(inputs), **_values(kwargs)), writes=writes)
        return writes if writes is not None else result

    def __array_function__(self, function: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return self.recorder.record("call", function, args, kwargs,
                                    lambda: function(*_values(args), **_values(kwargs)))


_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "@": operator.matmul,
              "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
              "!=": operator.ne, "&": operator.and_, "|": operator.or_, "^": operator.xor}
_UNARY = {"-": operator.neg, "+": operator.pos, "abs": abs, "~": operator.invert}
_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "**=": operator.ipow, "&=": operator.iand, "|=": operator.ior}


def _add_operators() -> None:
    names = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "%": "mod", "**": "pow",
             "@": "matmul", "&": "and", "|": "or", "^": "xor"}
    for symbol, name in names.items():
        setattr(Traced, f"__{name}__", lambda self, other, s=symbol: self._binary(s, other))
        setattr(Traced, f"__r{name}__", lambda self, other, s=symbol: self._binary(s, other, reflected=True))
    for symbol, name in (("<", "lt"), ("<=", "le"), (">", "gt"), (">=", "ge"), ("==", "eq"), ("!=", "ne")):
        setattr(Traced, f"__{name}__", lambda self, other, s=symbol: self._binary(s, other))
    for symbol, name in (("-", "neg"), ("+", "pos"), ("abs", "abs"), ("~", "invert")):
        setattr(Traced, f"__{name}__", lambda self, s=symbol: self._unary(s))
    for symbol, name in (("+=", "iadd"), ("-=", "isub"), ("*=", "imul"), ("/=", "itruediv"), ("**=", "ipow"),
                         ("&=", "iand"), ("|=", "ior")):
        setattr(Traced, f"__{name}__", lambda self, other, s=symbol: self._inplace(s, other))


_add_operators()


class TracingModule:
    """``self.xp`` during capture: the array module's functions, recorded when called."""

    ndarray = Traced  # isinstance(value, xp.ndarray) holds for traced arrays

    def __init__(self, module: Any, recorder: Recorder, path: str = "xp") -> None:
        self._module, self._recorder, self._path = module, recorder, path

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._module, name)
        if isinstance(attribute, type) or not callable(attribute):
            if type(attribute).__name__ == "module":  # xp.linalg, xp.random
                return TracingModule(attribute, self._recorder, f"{self._path}.{name}")
            return attribute  # dtypes, constants
        recorder, path = self._recorder, f"{self._path}.{name}"

        def function(*args: Any, **kwargs: Any) -> Any:
            return recorder.record("call", path, args, kwargs, lambda: attribute(*_values(args), **_values(kwargs)))

        return function


class CaptureBackend:
    """The backend tensors carry during capture: the same device, a recording array module,
    and the backend's own operations recorded as calls to the real backend."""

    def __init__(self, real: Any, recorder: Recorder) -> None:
        self.real, self.recorder = real, recorder
        self.device = real.device
        self.xp = TracingModule(real.xp, recorder)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.real, name)
        return self.recorder.record("backend", name, args, kwargs, lambda: method(*_values(args), **_values(kwargs)))

    def asarray(self, data: Any, dtype: Any = None) -> Any:
        return self._call("asarray", data, dtype)

    def tensor_data(self, data: Any, dtype: Any = None) -> Any:
        if isinstance(data, Traced) and self.real.tensor_data(data.value, dtype) is data.value:
            return data  # already an array as asked for: nothing to convert, nothing to replay
        return self._call("tensor_data", data, dtype)

    def array_of(self, value: Any) -> Any:
        if isinstance(value, Traced) and self.real.array_of(value.value) is value.value:
            return value  # already an array: nothing to convert, nothing to replay
        return self._call("array_of", value)

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        method = self.real.scatter_add
        self.recorder.record("backend", "scatter_add", (target, index, values), {},
                             lambda: method(_values(target), _values(index), _values(values)), writes=target)

    def check(self, ok: Any, error: type, message: str, *values: Any) -> None:
        check = self.real.check
        self.recorder.effect("check", (ok, error, message) + values,
                             lambda: check(_values(ok), error, message, *_values(values)))

    def randn(self, shape: Any, dtype: Any) -> Any:
        return self._call("randn", tuple(shape), dtype)

    def rand(self, shape: Any, dtype: Any) -> Any:
        return self._call("rand", tuple(shape), dtype)

    def randint(self, low: int, high: int, shape: Any) -> Any:
        return self._call("randint", low, high, tuple(shape))

    def permutation(self, n: int) -> Any:
        return self._call("permutation", n)

    def to_numpy(self, array: Any) -> Any:
        raise _reading("copying a tensor to the host (.numpy(), .tolist(), printing)")

    def seed(self, seed: int | None) -> None:
        raise CaptureError("manual_seed inside a compiled step cannot be replayed; seed before calling the step")

    def ignore_float_errors(self) -> Any:
        return self.real.ignore_float_errors()

    def synchronize(self) -> None:
        """Nothing to wait for while capturing."""

    def __repr__(self) -> str:
        return f"<capturing {self.real!r}>"


def where_from() -> dict:
    """What the nearest op's forward or backward (or the optimizer, or the engine) was doing
    when an instruction was recorded: for the program's listing."""
    from ..core.autograd import Function
    from ..optim import Optimizer
    from ..viz.record import _recorder, info

    frame = sys._getframe(3)
    for _ in range(12):
        if frame is None:
            break
        name = frame.f_code.co_name
        if name in _MARKERS:  # only then look at the frame's variables (reading them costs)
            owner = frame.f_locals.get("self")
            if name in ("forward", "backward") and isinstance(owner, Function):
                scope = _recorder.scopes.labels if name == "forward" else info(owner).scope
                return {"op": owner.name, "phase": name, "scope": scope}
            if name == "update" and isinstance(owner, Optimizer):
                return {"op": type(owner).__name__, "phase": "optimizer", "scope": ()}
            if name in ("_sum", "accumulate_grad"):
                return {"op": "sum of gradients" if name == "_sum" else "accumulate .grad", "phase": "engine",
                        "scope": ()}
            if name == "modify":
                return {"op": "write in place", "phase": "in-place", "scope": ()}
        frame = frame.f_back
    return {"op": "", "phase": "", "scope": _recorder.scopes.labels}


_MARKERS = frozenset({"forward", "backward", "update", "_sum", "accumulate_grad", "modify"})
