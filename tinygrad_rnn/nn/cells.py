"""Recurrent cells written as the chapter's equations, from primitive ops only.

Names: the chapter calls the input-to-hidden weights U, the hidden-to-hidden weights
W and the hidden-to-output weights V. Here, with PyTorch's names (so its state dicts
load directly):

    U = weight_ih   (gates * hidden_size, input_size)
    W = weight_hh   (gates * hidden_size, hidden_size)
    b = bias_ih + bias_hh
    V = the output layer, a separate ``Linear`` after the cell

The gate rows are stacked in PyTorch's order: LSTM (i, f, g, o), GRU (r, z, n). All
gates' input projections are one matmul (``x @ U^T``) and all gates' recurrent
projections another (``h @ W^T``), chunked afterwards; that is still primitive ops, so
the backward of a cell, and BPTT through many of them, comes from the tape.

The ``*_step`` functions take the input projection ``x_proj = x U^T + b`` already
computed, because a layer computes it for all time steps in one matmul.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..core.factories import zeros
from ..core.tensor import Tensor
from ..viz import name
from . import init
from .module import Module, Parameter


def rnn_step(x_proj: Tensor, state: tuple, w_hh_t: Tensor, b_hh: None, relu: bool = False) -> tuple:
    """The chapter's 5.1, one time step: h_t = tanh(U x_t + W h_{t-1} + b) (or relu)."""
    (h,) = state
    pre_activation = x_proj + h @ w_hh_t
    h = pre_activation.relu() if relu else pre_activation.tanh()
    name(h=h)  # for the pictures
    return (h,)


def rnn_relu_step(x_proj: Tensor, state: tuple, w_hh_t: Tensor, b_hh: None) -> tuple:
    return rnn_step(x_proj, state, w_hh_t, b_hh, relu=True)


def lstm_step(x_proj: Tensor, state: tuple, w_hh_t: Tensor, b_hh: None) -> tuple:
    """The chapter's 5.2, one time step; returns (h_t, C_t)."""
    h, c = state
    gates = x_proj + h @ w_hh_t            # W_* [h_{t-1}, x_t] + b_* for all four gates, side by side
    i, f, g, o = gates.chunk(4, axis=-1)
    i = i.sigmoid()                        # input gate    i_t = σ(W_i [h_{t-1}, x_t] + b_i)
    f = f.sigmoid()                        # forget gate   f_t = σ(W_f [h_{t-1}, x_t] + b_f)
    g = g.tanh()                           # candidate     C~_t = tanh(W_C [h_{t-1}, x_t] + b_C)
    o = o.sigmoid()                        # output gate   o_t = σ(W_o [h_{t-1}, x_t] + b_o)
    c = f * c + i * g                      # cell state    C_t = f_t * C_{t-1} + i_t * C~_t
    h = o * c.tanh()                       # hidden state  h_t = o_t * tanh(C_t)
    name(input_gate=i, forget_gate=f, candidate_cell=g, output_gate=o, c=c, h=h)  # for the pictures
    return h, c


def gru_step(x_proj: Tensor, state: tuple, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple:
    """The chapter's 5.3 in PyTorch's form (``x_proj`` holds x U^T + bias_ih only).

    The chapter (Cho et al.) resets the state *before* the matmul and lets z weigh the
    new state:  h~_t = tanh(W [r_t * h_{t-1}, x_t]),  h_t = (1 - z_t) h_{t-1} + z_t h~_t.
    PyTorch (followed here, so weights carry over) resets *after* the hidden matmul,
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)), and lets z weigh the *old*
    state: h_t = (1 - z_t) n_t + z_t h_{t-1}. Same family, different parameterisation.
    """
    (h,) = state
    h_proj = h @ w_hh_t if b_hh is None else h @ w_hh_t + b_hh
    size = h.shape[-1]
    x_rz, x_n = x_proj.split([2 * size, size], axis=-1)
    h_rz, h_n = h_proj.split([2 * size, size], axis=-1)
    rz = (x_rz + h_rz).sigmoid()           # r_t = σ(W_ir x_t + W_hr h_{t-1} + b_r), z_t likewise, side by side
    r, z = rz.chunk(2, axis=-1)
    n = (x_n + r * h_n).tanh()             # n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h = n + z * (h - n)                    # h_t = (1 - z_t) * n_t + z_t * h_{t-1}, one op fewer
    name(reset_and_update_gates=rz, new_state=n, h=h)  # for the pictures
    return (h,)


@dataclass(frozen=True)
class CellType:
    """What a kind of recurrent cell is, shared by the cell (one step) and the layer (all steps):
    how many gate blocks its weights stack, whether it carries a cell state, whether b_hh
    may join b_ih outside the recurrence (not for the GRU, which resets it), and its step."""

    gates: int
    step: Callable[[Tensor, tuple, Tensor, Any], tuple]
    has_cell_state: bool = False
    folds_hidden_bias: bool = True


RNN_TANH = CellType(1, rnn_step)
RNN_RELU = CellType(1, rnn_relu_step)
LSTM_CELL = CellType(4, lstm_step, has_cell_state=True)
GRU_CELL = CellType(3, gru_step, folds_hidden_bias=False)
NONLINEARITIES = {"tanh": RNN_TANH, "relu": RNN_RELU}


def add_recurrent_weights(module: Module, suffix: str, input_size: int, hidden_size: int,
                          gates: int, bias: bool, device: str | None, dtype: Any) -> None:
    """Register weight_ih{suffix}, weight_hh{suffix}, bias_ih{suffix}, bias_hh{suffix} (PyTorch's
    names and shapes), initialised U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as PyTorch does."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size else 0.0
    shapes = {"weight_ih": (gates * hidden_size, input_size),
              "weight_hh": (gates * hidden_size, hidden_size)}
    if bias:
        shapes.update(bias_ih=(gates * hidden_size,), bias_hh=(gates * hidden_size,))
    for key, shape in shapes.items():
        param = Parameter(zeros(shape, dtype=dtype, device=device))
        init.uniform_(param, -bound, bound)
        setattr(module, key + suffix, param)
    if not bias:
        module.register_parameter("bias_ih" + suffix, None)
        module.register_parameter("bias_hh" + suffix, None)


def check_state_tuple(hx: Any, has_cell_state: bool, expected: tuple, name: str,
                      labels: tuple[str, str]) -> tuple:
    """The given state as a tuple: (h,) or, for an LSTM, the pair (h, c) it must be."""
    if not has_cell_state:
        return (hx,)
    if isinstance(hx, (tuple, list)) and len(hx) == 2:
        return tuple(hx)
    got = f"a single tensor of shape {hx.shape}" if isinstance(hx, Tensor) else type(hx).__name__
    raise ValueError(f"{name}: expected the state as a tuple ({labels[0]}, {labels[1]}) of tensors "
                     f"shaped {expected}, got {got}")


def check_input_dtype(name: str, input: Tensor, weight: Tensor) -> None:  # noqa: A002
    """Inputs must have the parameters' dtype, as in PyTorch (no silent promotion)."""
    if input.dtype != weight.dtype:
        raise TypeError(f"{name}: expected input of dtype {weight.dtype} (the parameters' dtype), got "
                        f"{input.dtype}; convert the input, e.g. x.to({str(weight.dtype)!r}), or the "
                        "model, e.g. model.double()")


def project_input(x: Tensor, w_ih: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    """x U^T + b for any leading shape, as one 2-D matmul; ``b_hh`` is folded in when given."""
    lead = x.shape[:-1]
    projected = x.reshape(-1, x.shape[-1]) @ w_ih.T
    if b_ih is not None:
        projected = projected + (b_ih if b_hh is None else b_ih + b_hh)
    return projected.reshape(lead + (w_ih.shape[0],))


class _Cell(Module):
    """What RNNCell, LSTMCell and GRUCell share: parameters, input checks, batching, one step
    of their ``cell_type``."""

    cell_type: CellType

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: str | None = None, dtype: Any = None, cell_type: CellType | None = None) -> None:
        super().__init__()
        if cell_type is not None:  # the RNN cell's depends on its nonlinearity
            self.cell_type = cell_type
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        add_recurrent_weights(self, "", input_size, hidden_size, self.cell_type.gates, bias, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> Any:  # noqa: A002 (PyTorch's name)
        cell = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{cell}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},) for input_size={self.input_size}, got {input.shape}")
        check_input_dtype(cell, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        states = self._initial_state(hx, x, (x.shape[0], self.hidden_size), batched, cell)
        folds = self.cell_type.folds_hidden_bias
        x_proj = project_input(x, self.weight_ih, self.bias_ih, self.bias_hh if folds else None)
        new = self.cell_type.step(x_proj, states, self.weight_hh.T, None if folds else self.bias_hh)
        new = new if batched else tuple(s.squeeze(0) for s in new)
        return new if self.cell_type.has_cell_state else new[0]

    def _initial_state(self, hx: Any, x: Tensor, shape: tuple, batched: bool, cell: str) -> tuple:
        has_cell_state = self.cell_type.has_cell_state
        if hx is None:
            return tuple(zeros(shape, dtype=x.dtype, device=x.device) for _ in range(1 + has_cell_state))
        expected = shape if batched else shape[1:]
        given = check_state_tuple(hx, has_cell_state, expected, cell, ("h", "c"))
        for label, state in zip(("h", "c"), given):
            if state.shape != expected:
                raise ValueError(f"{cell}: expected {label} of shape {expected} = (batch, hidden_size) "
                                 f"for input of shape {x.shape if batched else x.shape[1:]}, "
                                 f"got {state.shape}")
        return given if batched else tuple(s.unsqueeze(0) for s in given)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """Elman cell: h' = tanh(x U^T + b_ih + h W^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: str | None = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype, cell_type_for(nonlinearity, "RNNCell"))
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTMCell(_Cell):
    """Long short-term memory cell; ``cell(x, (h, c))`` returns ``(h', c')``."""

    cell_type = LSTM_CELL


class GRUCell(_Cell):
    """Gated recurrent unit (PyTorch's form; see ``gru_step`` for the chapter's)."""

    cell_type = GRU_CELL


def cell_type_for(nonlinearity: str, owner: str) -> CellType:
    """The RNN cell type of ``nonlinearity`` ('tanh' or 'relu')."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return NONLINEARITIES[nonlinearity]
