"""Random programs over tensors, and three interpreters that run them: tinygrad_rnn, NumPy,
and (for differential testing where it is installed) PyTorch.

A program starts from a few float64 leaves (shapes include 0-d and (1,)) and applies a
list of instructions, each writing a new register or changing one in place:

- elementwise functions, binary ops between registers of broadcasting shapes, and ops
  with constants on either side (Python and NumPy scalars, NumPy arrays, float32, int and
  bool tensors);
- reductions (to 0-d, or along an axis) whose results are broadcast back by later ops;
- views: slices, integer and integer-array indexing, transpose, reshape, (un)squeeze,
  expand, one piece of unbind/split;
- in-place ops on non-leaves and on views (add_, mul_, copy_, fill_, clamp_ ...), and on
  leaves or non-leaves under ``no_grad`` (constant updates);
- ops PyTorch refuses while recording (in-place on a leaf, on a view of a leaf, on one of
  several views from unbind/split): the program expects that error.

Operands are picked among all registers, so values are reused one to many times, at any
distance. The scalar a program is differentiated through weights every register's final
value (after all in-place changes).

``build(choose)`` makes a program from a source of choices (``choose(n)`` returns an int
in ``[0, n)``): hypothesis's ``data.draw`` or a seeded ``random.Random``, so the same
generator serves the property tests and the coverage statistics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import tinygrad_rnn as tg

LEAF_SHAPES = [(), (1,), (3,), (2, 3), (1, 3), (2, 1), (3, 3)]
MAX_LEAVES = 3
MAX_INSTRUCTIONS = 12


# ---- ops: (NumPy version, tensor version; PyTorch uses the tensor version unless given) ------
def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _torch_softplus(x):
    import torch

    return torch.nn.functional.softplus(x)


@dataclass(frozen=True)
class Op:
    numpy: Callable
    tensor: Callable
    torch: Callable | None = None


UNARY = {
    "neg": Op(lambda x: -x, lambda x: -x),
    "exp": Op(np.exp, lambda x: x.exp()),
    "tanh": Op(np.tanh, lambda x: x.tanh()),
    "sigmoid": Op(_np_sigmoid, lambda x: x.sigmoid()),
    "relu": Op(lambda x: np.maximum(x, 0.0), lambda x: x.relu()),
    "abs": Op(np.abs, lambda x: x.abs()),
    "softplus": Op(lambda x: np.logaddexp(0.0, x), lambda x: x.softplus(), _torch_softplus),
    "log1p_abs": Op(lambda x: np.log(np.abs(x) + 1.0), lambda x: (x.abs() + 1.0).log()),
    "log1p_of_abs": Op(lambda x: np.log1p(np.abs(x)), lambda x: x.abs().log1p()),
    "sin": Op(np.sin, lambda x: x.sin()),
    "cos": Op(np.cos, lambda x: x.cos()),
    "sqrt_sq1": Op(lambda x: np.sqrt(x * x + 1.0), lambda x: (x * x + 1.0).sqrt()),
    "square": Op(lambda x: x * x, lambda x: x * x),
    "cube": Op(lambda x: x ** 3, lambda x: x ** 3),
    "pow_half": Op(lambda x: (x * x + 0.5) ** 0.5, lambda x: (x * x + 0.5) ** 0.5),
    "rpow": Op(lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    "pow0": Op(lambda x: x ** 0, lambda x: x ** 0),  # constant 1, also at exact zeros (after relu)
    "clip": Op(lambda x: np.clip(x, -0.5, 0.5), lambda x: x.clip(-0.5, 0.5)),
}
BINARY = {
    "add": Op(lambda a, b: a + b, lambda a, b: a + b),
    "sub": Op(lambda a, b: a - b, lambda a, b: a - b),
    "mul": Op(lambda a, b: a * b, lambda a, b: a * b),
    "div": Op(lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
    "maximum": Op(np.maximum, lambda a, b: tg.maximum(a, b), lambda a, b: __import__("torch").maximum(a, b)),
    "minimum": Op(np.minimum, lambda a, b: tg.minimum(a, b), lambda a, b: __import__("torch").minimum(a, b)),
    "where": Op(lambda a, b: np.where(a > b, a, b), lambda a, b: tg.where(a > b, a, b),
                lambda a, b: __import__("torch").where(a > b, a, b)),
}
# ops with one register operand and a constant (on the left when the program says so)
WITH_CONSTANT = {
    "add": Op(lambda a, c: a + c, lambda a, c: a + c),
    "sub": Op(lambda a, c: a - c, lambda a, c: a - c),
    "mul": Op(lambda a, c: a * c, lambda a, c: a * c),
    "div": Op(lambda a, c: a / c, lambda a, c: a / c),  # constants are never near 0
}
WITH_CONSTANT_LEFT = {
    "add": Op(lambda a, c: c + a, lambda a, c: c + a),
    "sub": Op(lambda a, c: c - a, lambda a, c: c - a),
    "mul": Op(lambda a, c: c * a, lambda a, c: c * a),
    "div": Op(lambda a, c: c / (a * a + 1.0), lambda a, c: c / (a * a + 1.0)),
}


# ---- registers and instructions -----------------------------------------------------------------
@dataclass
class Register:
    shape: tuple
    kind: str  # "leaf", "value", "view", "multi" (one of several views), "expanded"
    root: int  # the register whose memory it looks into (itself unless a view)
    shadow: np.ndarray | None = None  # a NumPy array laid out like the value (for view-ness)


@dataclass
class Instruction:
    action: str  # "unary", "binary", "constant", "reduce", "view", "inplace", "no_grad_inplace", "matmul"
    name: str
    operands: tuple  # register indices
    params: dict = field(default_factory=dict)
    expect_error: str | None = None  # a regular expression the error must match


@dataclass
class Constant:
    """A constant operand: how to make it for each interpreter, from its description."""

    kind: str  # "python_float", "python_int", "numpy_float64", "numpy_float32", "numpy_array",
    #            "float32_tensor", "int_tensor", "bool_tensor"
    shape: tuple
    values: np.ndarray  # float64 values (exact in float32), never near 0

    def numpy(self) -> Any:
        if self.kind == "python_float":
            return float(self.values)
        if self.kind == "python_int":
            return int(self.values)
        if self.kind == "numpy_float64":
            return np.float64(self.values)
        if self.kind == "numpy_float32":
            return np.float32(self.values)
        if self.kind in ("numpy_array", "float32_tensor"):
            return self.values.astype(np.float32 if self.kind == "float32_tensor" else np.float64)
        if self.kind == "int_tensor":
            return self.values.astype(np.int64)
        return self.values > 0  # bool_tensor: True/False

    def tensor(self, library: Any) -> Any:
        """The operand for ``library`` (tinygrad_rnn or torch): tensors, or the raw constant."""
        value = self.numpy()
        if library is tg:
            return tg.tensor(value) if self.kind.endswith("_tensor") else value
        # PyTorch refuses a NumPy array on the left of an operator: give it the tensor instead
        return library.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value


@dataclass
class Program:
    leaf_shapes: list
    instructions: list
    registers: list  # Register per register index (leaves first)
    loss_weights: list  # one float64 array per register, shaped like it

    @property
    def expected_error(self) -> str | None:
        return self.instructions[-1].expect_error if self.instructions else None

    def describe(self) -> str:
        """The program as text: ``r3 <- view index (1,)``, or ``   in place: add_ (3,)``."""
        lines = [f"leaves r0..r{len(self.leaf_shapes) - 1}: shapes {self.leaf_shapes}"]
        register = len(self.leaf_shapes)
        for ins in self.instructions:
            makes_register = ins.action not in ("inplace", "no_grad_inplace")
            head = f"  r{register} <-" if makes_register else "   in place:"
            register += makes_register
            lines.append(f"{head} {ins.action} {ins.name} {ins.operands} {ins.params}"
                         + (f"  (expects error: {ins.expect_error})" if ins.expect_error else ""))
        return "\n".join(lines)


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


CONSTANT_KINDS = ("python_float", "python_int", "numpy_float64", "numpy_float32", "numpy_array",
                  "float32_tensor", "int_tensor", "bool_tensor")


def _constant(choose: Callable[[int], int], shape: tuple, kinds: tuple = CONSTANT_KINDS) -> Constant:
    """A constant of one of ``kinds``, never 0 (except False in bool tensors)."""
    kind = kinds[choose(len(kinds))]
    if kind.startswith(("python", "numpy_float")):
        shape = ()
    magnitude = [0.5, 1.0, 1.5, 2.0, 3.0][choose(5)]
    sign = [-1.0, 1.0][choose(2)]
    values = np.full(shape, sign * magnitude)
    if kind in ("python_int", "int_tensor"):
        values = np.round(values)
        values = values + (values == 0)  # nonzero integers
    if shape and choose(2):  # not all equal
        values = values * (1.0 + 0.25 * (np.arange(int(np.prod(shape))) % 3).reshape(shape))
    return Constant(kind, shape, values)


def build(choose: Callable[[int], int]) -> Program:
    """A random program; ``choose(n)`` draws an int in [0, n)."""
    leaf_count = 1 + choose(MAX_LEAVES)
    leaf_shapes = [LEAF_SHAPES[choose(len(LEAF_SHAPES))] for _ in range(leaf_count)]
    registers = [Register(shape, "leaf", k, np.zeros(shape)) for k, shape in enumerate(leaf_shapes)]
    instructions: list[Instruction] = []
    # in-place changes one step in six: often enough to mix with everything, rarely enough that
    # most programs stay valid (a value saved for backward and then overwritten is an error)
    actions = ["unary", "binary", "constant", "reduce", "view", "matmul"] * 2 + ["inplace", "no_grad_inplace"] * 1
    for _ in range(2 + choose(MAX_INSTRUCTIONS - 1)):
        action = actions[choose(len(actions))]
        made = _MAKERS[action](choose, registers)
        if made is None:
            continue
        instruction, result = made
        instructions.append(instruction)
        if result is not None:
            registers.append(result)
        if instruction.expect_error:
            break  # the program ends where it must fail
    weights = [np.sin(np.arange(int(np.prod(reg.shape))) * 1.7 + 37.0 * k).reshape(reg.shape)
               for k, reg in enumerate(registers)]
    return Program(leaf_shapes, instructions, registers, weights)


def _pick(choose: Callable[[int], int], registers: list, allowed: Callable[[Register], bool] = lambda r: True
          ) -> int | None:
    candidates = [k for k, r in enumerate(registers) if allowed(r)]
    return candidates[choose(len(candidates))] if candidates else None


def _value(shape: tuple, registers: list) -> Register:
    """A new register that owns its memory."""
    return Register(shape, "value", len(registers), np.zeros(shape))


def _make_unary(choose, registers):
    names = sorted(UNARY)
    a = _pick(choose, registers)
    return Instruction("unary", names[choose(len(names))], (a,)), _value(registers[a].shape, registers)


def _make_binary(choose, registers):
    names = sorted(BINARY)
    a = _pick(choose, registers)
    b = _pick(choose, registers, lambda r: _broadcast(r.shape, registers[a].shape) is not None)
    shape = _broadcast(registers[a].shape, registers[b].shape)
    return Instruction("binary", names[choose(len(names))], (a, b)), _value(shape, registers)


def _make_constant(choose, registers):
    a = _pick(choose, registers)
    shapes = [s for s in LEAF_SHAPES if _broadcast(s, registers[a].shape) is not None]
    constant = _constant(choose, shapes[choose(len(shapes))])
    names = sorted(WITH_CONSTANT)
    name = names[choose(len(names))]
    if constant.kind == "bool_tensor" and name in ("div", "sub"):
        name = "mul"  # False is 0, never a divisor; PyTorch refuses - on bool tensors
    left = bool(choose(2))
    shape = _broadcast(registers[a].shape, constant.shape)
    return Instruction("constant", name, (a,), {"constant": constant, "left": left}), _value(shape, registers)


def _make_reduce(choose, registers):
    a = _pick(choose, registers)
    shape = registers[a].shape
    names = ["sum_all", "mean_all", "amax_all"]
    if shape:
        names += ["sum_axis", "mean_axis", "amax_axis", "max_dim", "softmax", "log_softmax", "logsumexp_axis",
                  "var_axis", "norm_axis"]
    name = names[choose(len(names))]
    axis = choose(len(shape)) if shape else None
    keepdims = bool(choose(2))
    if name.endswith("_all"):
        out = ()
    elif name in ("softmax", "log_softmax"):
        out = shape
    else:
        out = tuple(1 if d == axis else n for d, n in enumerate(shape)) if keepdims else \
            tuple(n for d, n in enumerate(shape) if d != axis)
    return Instruction("reduce", name, (a,), {"axis": axis, "keepdims": keepdims}), _value(out, registers)


def _make_view(choose, registers):
    a = _pick(choose, registers)
    reg = registers[a]
    shape = reg.shape
    names = ["reshape_flat", "unsqueeze", "expand"]
    if shape:
        names += ["slice", "index", "fancy", "unbind", "split"]
    if len(shape) == 2:
        names += ["transpose"]
    if 1 in shape:
        names += ["squeeze"]
    name = names[choose(len(names))]
    params: dict = {}
    kind = "view"
    if name == "reshape_flat":
        out = (int(np.prod(shape)),)
    elif name == "unsqueeze":
        out = (1,) + shape
    elif name == "expand":
        out = (2,) + shape
        kind = "expanded"
    elif name == "slice":
        start = choose(shape[0])
        stop = start + 1 + choose(shape[0] - start)
        params = {"start": start, "stop": stop}
        out = (stop - start,) + shape[1:]
    elif name == "index":
        params = {"i": choose(shape[0])}
        out = shape[1:]
    elif name == "fancy":
        n = shape[0]
        params = {"rows": [choose(n), choose(n), choose(n)]}
        out = (3,) + shape[1:]
        kind = "value"  # integer-array indexing copies
    elif name == "unbind":
        params = {"i": choose(shape[0])}
        out = shape[1:]
        kind = "multi"
    elif name == "split":
        params = {"i": choose(shape[0])}  # pieces of size 1 along axis 0
        out = (1,) + shape[1:]
        kind = "multi"
    elif name == "transpose":
        out = shape[::-1]
    else:  # squeeze
        out = tuple(n for n in shape if n != 1)
    shadow = _np_view(name, reg.shadow, params)
    if not np.shares_memory(shadow, registers[reg.root].shadow):
        kind = "value"  # NumPy (and PyTorch) copied: e.g. reshaping a transposed matrix
    elif reg.kind in ("multi", "expanded") and kind == "view":
        kind = reg.kind  # a view of a restricted view is restricted too
    root = reg.root if kind != "value" else len(registers)
    return Instruction("view", name, (a,), params), Register(out, kind, root, shadow)


def _inplace_error(registers: list, reg: Register) -> str | None:
    """The error PyTorch gives for an in-place op on register ``reg`` while recording, if any."""
    if reg.kind == "leaf":
        return "leaf tensor that requires grad"
    if registers[reg.root].kind == "leaf" and reg.kind in ("view", "multi"):
        return "view of a leaf tensor"
    if reg.kind == "multi":
        return "one of several views"
    return None


def _make_inplace(choose, registers):
    # mostly targets PyTorch accepts; one time in four anything (then often an expected error)
    # mostly a target PyTorch accepts, often the newest (as real code does: values saved by later
    # ops make backward refuse the change); one time in four anything (then often an error)
    allowed = [k for k, r in enumerate(registers) if r.kind != "expanded" and _inplace_error(registers, r) is None]
    if allowed and choose(4):
        target = allowed[-1] if choose(2) else allowed[choose(len(allowed))]
    else:
        target = _pick(choose, registers, lambda r: r.kind != "expanded")
    shape = registers[target].shape
    names = ["add_", "sub_", "mul_", "div_", "copy_", "fill_", "zero_", "clamp_"]
    name = names[choose(len(names))]
    params: dict = {}
    operands: tuple = (target,)
    if name in ("add_", "sub_", "mul_", "copy_"):
        if choose(2):  # another register whose shape broadcasts to the target's
            other = _pick(choose, registers, lambda r: _broadcast(r.shape, shape) == shape)
            operands = (target, other)
        else:
            shapes = [s for s in LEAF_SHAPES if _broadcast(s, shape) == shape]
            kinds = CONSTANT_KINDS[:-1] if name == "sub_" else CONSTANT_KINDS  # no bool - as PyTorch
            params["constant"] = _constant(choose, shapes[choose(len(shapes))], kinds)
    elif name == "div_":
        params["constant"] = _constant(choose, (), CONSTANT_KINDS[:-1])  # not bool: False is 0
    elif name == "fill_":
        params["value"] = [0.25, -1.5, 2.0][choose(3)]
    error = _inplace_error(registers, registers[target])
    return Instruction("inplace", name, operands, params, expect_error=error), None


def _make_no_grad_inplace(choose, registers):
    """Updates under no_grad: a whole leaf (add_/mul_ by a constant, an optimizer-style step) or
    a non-leaf (add_/sub_ of a constant, which keeps its history and shifts its value)."""
    allowed = [k for k, r in enumerate(registers) if r.kind in ("leaf", "value")]
    target = allowed[-1] if choose(2) else allowed[choose(len(allowed))]  # often the newest: unsaved
    shape = registers[target].shape
    names = ["add_", "mul_"] if registers[target].kind == "leaf" else ["add_", "sub_"]
    shapes = [s for s in LEAF_SHAPES if _broadcast(s, shape) == shape]
    constant = _constant(choose, shapes[choose(len(shapes))], CONSTANT_KINDS[:-1])
    return Instruction("no_grad_inplace", names[choose(len(names))], (target,), {"constant": constant}), None


def _make_matmul(choose, registers):
    a = _pick(choose, registers, lambda r: len(r.shape) in (1, 2))
    if a is None:
        return None
    inner = registers[a].shape[-1]
    b = _pick(choose, registers, lambda r: len(r.shape) in (1, 2) and
              (r.shape[0] == inner if len(r.shape) == 2 else r.shape[0] == inner))
    if b is None:
        return None
    out = registers[a].shape[:-1] + registers[b].shape[1:]
    return Instruction("matmul", "matmul", (a, b)), _value(out, registers)


_MAKERS = {"unary": _make_unary, "binary": _make_binary, "constant": _make_constant,
           "reduce": _make_reduce, "view": _make_view, "inplace": _make_inplace,
           "no_grad_inplace": _make_no_grad_inplace, "matmul": _make_matmul}


# ---- running a program ---------------------------------------------------------------------------
class NumpyLibrary:
    """The interpreter's view of NumPy: plain float64 arrays, views where NumPy makes views."""

    name = "numpy"


def _as_array(value: Any) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.asarray(value)


def _np_reduce(name: str, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    if name == "sum_all":
        return np.asarray(x.sum())
    if name == "mean_all":
        return np.asarray(x.mean())
    if name == "amax_all":
        return np.asarray(x.max())
    if name == "sum_axis":
        return _as_array(x.sum(axis=axis, keepdims=keepdims))
    if name == "mean_axis":
        return _as_array(x.mean(axis=axis, keepdims=keepdims))
    if name in ("amax_axis", "max_dim"):
        return _as_array(x.max(axis=axis, keepdims=keepdims))
    if name == "logsumexp_axis":
        peak = x.max(axis=axis, keepdims=True)
        total = np.log(np.exp(x - peak).sum(axis=axis, keepdims=True)) + peak
        return total if keepdims else np.squeeze(total, axis)
    if name == "var_axis":
        return _as_array(x.var(axis=axis, keepdims=keepdims))
    if name == "norm_axis":
        return _as_array(np.sqrt((x * x).sum(axis=axis, keepdims=keepdims)))
    if name == "softmax":
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    return _np_log_softmax(x, axis)


def _tensor_reduce(name: str, x: Any, axis: Any, keepdims: bool) -> Any:
    if name == "sum_all":
        return x.sum()
    if name == "mean_all":
        return x.mean()
    if name == "amax_all":
        return x.amax()
    if name == "sum_axis":
        return x.sum(dim=axis, keepdim=keepdims)
    if name == "mean_axis":
        return x.mean(dim=axis, keepdim=keepdims)
    if name == "amax_axis":
        return x.amax(dim=axis, keepdim=keepdims)
    if name == "max_dim":
        return x.max(dim=axis, keepdim=keepdims).values
    if name == "logsumexp_axis":
        return x.logsumexp(axis, keepdim=keepdims)
    if name == "var_axis":
        return x.var(axis, keepdim=keepdims, correction=0)
    if name == "norm_axis":
        return x.norm(dim=axis, keepdim=keepdims)
    if name == "softmax":
        return x.softmax(dim=axis)
    return x.log_softmax(dim=axis)


def _np_view(name: str, x: np.ndarray, params: dict) -> np.ndarray:
    if name == "reshape_flat":
        return x.reshape(-1)
    if name == "unsqueeze":
        return x[None]
    if name == "expand":
        return np.broadcast_to(x, (2,) + x.shape)
    if name == "slice":
        return x[params["start"]:params["stop"]]
    if name in ("index", "unbind"):
        return x[params["i"], ...]
    if name == "fancy":
        return x[np.array(params["rows"])]
    if name == "split":
        return x[params["i"]:params["i"] + 1]
    if name == "transpose":
        return x.T
    return np.squeeze(x)


def _tensor_view(name: str, x: Any, params: dict) -> Any:
    if name == "reshape_flat":
        return x.reshape(-1)
    if name == "unsqueeze":
        return x.unsqueeze(0)
    if name == "expand":
        return x.expand((2,) + tuple(x.shape))
    if name == "slice":
        return x[params["start"]:params["stop"]]
    if name == "index":
        return x[params["i"]]
    if name == "fancy":
        return x[params["rows"]]
    if name == "unbind":
        return x.unbind(0)[params["i"]]
    if name == "split":
        return x.split(1)[params["i"]]
    if name == "transpose":
        return x.T
    return x.squeeze()


@dataclass
class Outcome:
    values: list  # final value of every register, as float64 NumPy arrays
    dtypes: list  # dtype of every register in the interpreter's own terms
    loss: float
    grads: list | None  # gradient of the loss for every leaf (tensor interpreters)
    arrays_only: bool = True  # every value and gradient held as an array, never a NumPy scalar


def run_numpy(program: Program, leaves: list[np.ndarray], deltas: list[np.ndarray] | None = None) -> Outcome:
    """Run on float64 NumPy arrays. ``deltas`` (finite differences) are added to the leaves and
    kept through no_grad updates of a leaf, as autograd treats the updated leaf as the same
    variable."""
    deltas = deltas or [np.zeros(s) for s in program.leaf_shapes]
    with np.errstate(all="ignore"):  # overflowing programs are rejected by is_moderate
        return _run_numpy(program, deltas, [np.array(v + d, dtype=np.float64) for v, d in zip(leaves, deltas)])


def _run_numpy(program: Program, deltas: list, regs: list) -> Outcome:
    for ins in program.instructions:
        if ins.expect_error:
            raise AssertionError("the NumPy interpreter does not run programs that must fail")
        result = None
        a = regs[ins.operands[0]] if ins.operands else None
        if ins.action == "unary":
            result = _as_array(UNARY[ins.name].numpy(a))
        elif ins.action == "binary":
            result = _as_array(BINARY[ins.name].numpy(a, regs[ins.operands[1]]))
        elif ins.action == "constant":
            c = ins.params["constant"].numpy()
            table = WITH_CONSTANT_LEFT if ins.params["left"] else WITH_CONSTANT
            result = _as_array(table[ins.name].numpy(a, np.asarray(c, dtype=np.float64)))
        elif ins.action == "reduce":
            result = _np_reduce(ins.name, a, ins.params["axis"], ins.params["keepdims"])
        elif ins.action == "view":
            result = _np_view(ins.name, a, ins.params)
        elif ins.action == "matmul":
            result = _as_array(a @ regs[ins.operands[1]])
        elif ins.action == "inplace":
            _np_inplace(ins, a, regs)
        else:  # no_grad_inplace
            target = ins.operands[0]
            c = np.asarray(ins.params["constant"].numpy(), dtype=np.float64)
            if program.registers[target].kind == "leaf":
                d = deltas[target]
                a[...] = _np_update(ins.name, a - d, c) + d
            else:
                a[...] = _np_update(ins.name, a, c)
        if result is not None:
            regs.append(result)
    loss = sum(float((w * r).sum()) for w, r in zip(program.loss_weights, regs))
    return Outcome(regs, [r.dtype for r in regs], loss, None)


def _np_update(name: str, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    return {"add_": a + c, "sub_": a - c, "mul_": a * c}[name]


def _np_inplace(ins: Instruction, a: np.ndarray, regs: list) -> None:
    other = regs[ins.operands[1]] if len(ins.operands) > 1 else None
    if other is None and "constant" in ins.params:
        other = np.asarray(ins.params["constant"].numpy(), dtype=np.float64)
    name = ins.name
    if name == "add_":
        a += other
    elif name == "sub_":
        a -= other
    elif name == "mul_":
        a *= other
    elif name == "div_":
        a /= other
    elif name == "copy_":
        a[...] = np.broadcast_to(other, a.shape)
    elif name == "fill_":
        a[...] = ins.params["value"]
    elif name == "zero_":
        a[...] = 0.0
    else:  # clamp_
        np.clip(a, -0.5, 0.5, out=a)


def run_tensors(program: Program, leaves: list[np.ndarray], library: Any = tg) -> Outcome:
    """Run on tinygrad_rnn tensors (or torch's, with ``library=torch``), then backward.

    Raises what the library raises: a program expecting an error checks it at its last
    instruction; backward may raise a modified-in-place error.
    """
    use_torch = library is not tg
    new_leaf = (lambda v: library.tensor(v, dtype=library.float64, requires_grad=True)) if use_torch else \
        (lambda v: tg.tensor(v, dtype="float64", requires_grad=True))
    regs = [new_leaf(np.array(v, dtype=np.float64)) for v in leaves]
    leaf_tensors = list(regs)
    pick = (lambda op: op.torch or op.tensor) if use_torch else (lambda op: op.tensor)
    for ins in program.instructions:
        result = None
        a = regs[ins.operands[0]] if ins.operands else None
        if ins.action == "unary":
            result = pick(UNARY[ins.name])(a)
        elif ins.action == "binary":
            result = pick(BINARY[ins.name])(a, regs[ins.operands[1]])
        elif ins.action == "constant":
            c = ins.params["constant"].tensor(library)
            table = WITH_CONSTANT_LEFT if ins.params["left"] else WITH_CONSTANT
            result = pick(table[ins.name])(a, c)
        elif ins.action == "reduce":
            result = _tensor_reduce(ins.name, a, ins.params["axis"], ins.params["keepdims"])
        elif ins.action == "view":
            result = _tensor_view(ins.name, a, ins.params)
        elif ins.action == "matmul":  # matmul needs one dtype (float32 may have come in)
            result = a @ regs[ins.operands[1]].to(a.dtype)
        elif ins.action == "inplace":
            _tensor_inplace(ins, a, regs, library)
        else:  # no_grad_inplace
            c = ins.params["constant"].tensor(library)
            with library.no_grad():
                getattr(a, ins.name)(c)
        if result is not None:
            regs.append(result)
    loss = None
    for w, r in zip(program.loss_weights, regs):
        weight = library.tensor(w, dtype=library.float64) if use_torch else tg.tensor(w, dtype="float64")
        term = (r * weight).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    grads = [np.zeros(s) if t.grad is None else _host(t.grad) for t, s in zip(leaf_tensors, program.leaf_shapes)]
    values = [_host(r.detach()).astype(np.float64) for r in regs]
    held = [r.data for r in regs] + [t.grad.data for t in leaf_tensors if t.grad is not None]
    arrays_only = use_torch or all(isinstance(a, np.ndarray) for a in held)
    return Outcome(values, [r.dtype for r in regs], float(loss.item()), grads, arrays_only)


def _host(t: Any) -> np.ndarray:
    return np.array(t.numpy() if hasattr(t, "numpy") else t, dtype=np.float64)


def _tensor_inplace(ins: Instruction, a: Any, regs: list, library: Any) -> None:
    other = regs[ins.operands[1]] if len(ins.operands) > 1 else None
    if other is None and "constant" in ins.params:
        other = ins.params["constant"].tensor(library)
        if ins.name == "copy_":  # copy_ takes a tensor
            other = library.as_tensor(np.asarray(other, dtype=np.float64)) if library is not tg else \
                tg.tensor(np.asarray(other, dtype=np.float64))
    name = ins.name
    if name in ("add_", "sub_", "mul_", "div_", "copy_"):
        getattr(a, name)(other)
    elif name == "fill_":
        a.fill_(ins.params["value"])
    elif name == "zero_":
        a.zero_()
    else:
        a.clamp_(-0.5, 0.5)


# ---- finite differences ------------------------------------------------------------------------------
def finite_difference_grads(program: Program, leaves: list[np.ndarray], eps: float = 1e-6) -> list:
    """d loss / d leaf by central differences of the NumPy interpreter, element by element."""
    grads = []
    for k, shape in enumerate(program.leaf_shapes):
        grad = np.zeros(shape)
        flat = grad.reshape(-1)
        for j in range(flat.size):
            deltas = [np.zeros(s) for s in program.leaf_shapes]
            deltas[k].reshape(-1)[j] = eps
            plus = run_numpy(program, leaves, deltas).loss
            deltas[k].reshape(-1)[j] = -eps
            minus = run_numpy(program, leaves, deltas).loss
            flat[j] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


def leaf_values(program: Program, choose: Callable[[int], int]) -> list[np.ndarray]:
    """Leaf values in about [-2, 2] on a 1e-3 grid, made distinct by an offset of 1e-5 per
    element, so no two are closer than the finite-difference step could cross unnoticed."""
    values, count = [], 0
    for shape in program.leaf_shapes:
        n = int(np.prod(shape))
        values.append(np.array([(choose(4001) - 2000) / 1000.0 + 1e-5 * (count + j + 1) for j in range(n)],
                               dtype=np.float64).reshape(shape))
        count += n
    return values


def is_moderate(outcome: Outcome, limit: float = 1e4) -> bool:
    """All values finite and not huge (so finite differences are meaningful)."""
    return all(np.all(np.isfinite(v)) and np.all(np.abs(v) < limit) for v in outcome.values) \
        and math.isfinite(outcome.loss)
