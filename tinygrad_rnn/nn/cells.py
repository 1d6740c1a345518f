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
from typing import Any

from ..factories import zeros
from ..grad_mode import tag
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

NONLINEARITIES = ("tanh", "relu")


def rnn_step(x_proj: Tensor, h: Tensor, w_hh_t: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """The chapter's 5.1: h_t = tanh(U x_t + W h_{t-1} + b)."""
    pre_activation = x_proj + h @ w_hh_t
    return tag(pre_activation.tanh() if nonlinearity == "tanh" else pre_activation.relu(), "h")


def lstm_gates(x_proj: Tensor, h: Tensor, w_hh_t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four gates of the chapter's 5.2 for one step: (i_t, f_t, C~_t, o_t)."""
    gates = x_proj + h @ w_hh_t                 # W_* [h_{t-1}, x_t] + b_* for all four gates
    i, f, g, o = gates.chunk(4, axis=-1)
    i = tag(i.sigmoid(), "input gate")          # i_t = σ(W_i [h_{t-1}, x_t] + b_i)
    f = tag(f.sigmoid(), "forget gate")         # f_t = σ(W_f [h_{t-1}, x_t] + b_f)
    g = tag(g.tanh(), "candidate cell")         # C~_t = tanh(W_C [h_{t-1}, x_t] + b_C)
    o = tag(o.sigmoid(), "output gate")         # o_t = σ(W_o [h_{t-1}, x_t] + b_o)
    return i, f, g, o


def lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor) -> tuple[Tensor, Tensor]:
    """The chapter's 5.2, one time step; returns (h_t, C_t)."""
    i, f, g, o = lstm_gates(x_proj, h, w_hh_t)
    c = tag(f * c + i * g, "c")                 # cell state    C_t = f_t * C_{t-1} + i_t * C~_t
    h = tag(o * c.tanh(), "h")                  # hidden state  h_t = o_t * tanh(C_t)
    return h, c


def gru_step(x_proj: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """The chapter's 5.3 in PyTorch's form (``x_proj`` holds x U^T + bias_ih only).

    The chapter (Cho et al.) resets the state *before* the matmul and lets z weigh the
    new state:  h~_t = tanh(W [r_t * h_{t-1}, x_t]),  h_t = (1 - z_t) h_{t-1} + z_t h~_t.
    PyTorch (followed here, so weights carry over) resets *after* the hidden matmul,
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)), and lets z weigh the *old*
    state: h_t = (1 - z_t) n_t + z_t h_{t-1}. Same family, different parameterisation.
    """
    h_proj = h @ w_hh_t
    if b_hh is not None:
        h_proj = h_proj + b_hh
    size = h.shape[-1]
    x_rz, x_n = x_proj.split([2 * size, size], axis=-1)
    h_rz, h_n = h_proj.split([2 * size, size], axis=-1)
    # r_t = σ(W_ir x_t + W_hr h_{t-1} + b_r) and z_t = σ(W_iz x_t + W_hz h_{t-1} + b_z), side by side
    r, z = tag((x_rz + h_rz).sigmoid(), "reset gate | update gate").chunk(2, axis=-1)
    n = tag((x_n + r * h_n).tanh(), "new state")        # n_t = tanh(W_in x_t + r_t * (W_hn h_{t-1} + b_hn))
    return tag(n + z * (h - n), "h")            # h_t = (1 - z_t) * n_t + z_t * h_{t-1}, one op fewer


def add_recurrent_weights(module: Module, suffix: str, input_size: int, hidden_size: int,
                          gates: int, bias: bool, device: str | None, dtype: Any) -> None:
    """Register weight_ih{suffix}, weight_hh{suffix}, bias_ih{suffix}, bias_hh{suffix} (PyTorch's
    names and shapes), initialised U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as PyTorch does."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size else 0.0
    shapes = {"weight_ih": (gates * hidden_size, input_size),
              "weight_hh": (gates * hidden_size, hidden_size)}
    if bias:
        shapes.update(bias_ih=(gates * hidden_size,), bias_hh=(gates * hidden_size,))
    for name, shape in shapes.items():
        param = Parameter(zeros(shape, dtype=dtype, device=device))
        init.uniform_(param, -bound, bound)
        setattr(module, name + suffix, param)
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
    """What RNNCell, LSTMCell and GRUCell share: parameters, input checks, batching."""

    num_gates = 1
    has_cell_state = False
    folds_hidden_bias = True  # b_hh can join b_ih outside the recurrence (not for the GRU)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        add_recurrent_weights(self, "", input_size, hidden_size, self.num_gates, bias, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> Any:  # noqa: A002 (PyTorch's name)
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},) for input_size={self.input_size}, got {input.shape}")
        check_input_dtype(name, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        state_shape = (x.shape[0], self.hidden_size)
        states = self._initial_state(hx, x, state_shape, batched, name)
        b_hh = self.bias_hh if self.folds_hidden_bias else None
        x_proj = project_input(x, self.weight_ih, self.bias_ih, b_hh)
        w_hh_t = self.weight_hh.T
        new = self.step(x_proj, states, w_hh_t, None if self.folds_hidden_bias else self.bias_hh)
        new = new if batched else tuple(s.squeeze(0) for s in new)
        return new if self.has_cell_state else new[0]

    def _initial_state(self, hx: Any, x: Tensor, shape: tuple, batched: bool, name: str) -> tuple:
        count = 2 if self.has_cell_state else 1
        if hx is None:
            return tuple(zeros(shape, dtype=x.dtype, device=x.device) for _ in range(count))
        expected = shape if batched else shape[1:]
        given = check_state_tuple(hx, self.has_cell_state, expected, name, ("h", "c"))
        for label, state in zip(("h", "c"), given):
            if state.shape != expected:
                raise ValueError(f"{name}: expected {label} of shape {expected} = (batch, hidden_size) "
                                 f"for input of shape {x.shape if batched else x.shape[1:]}, "
                                 f"got {state.shape}")
        return given if batched else tuple(s.unsqueeze(0) for s in given)

    def step(self, x_proj: Tensor, states: tuple, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple:
        """One time step from projected input and previous state(s) to the new state(s)."""
        raise NotImplementedError  # abstract: each cell type writes its equations

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """Elman cell: h' = tanh(x U^T + b_ih + h W^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: str | None = None, dtype: Any = None) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def step(self, x_proj: Tensor, states: tuple, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple:
        return (rnn_step(x_proj, states[0], w_hh_t, self.nonlinearity),)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTMCell(_Cell):
    """Long short-term memory cell; ``cell(x, (h, c))`` returns ``(h', c')``."""

    num_gates = 4
    has_cell_state = True

    def step(self, x_proj: Tensor, states: tuple, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple:
        return lstm_step(x_proj, states[0], states[1], w_hh_t)


class GRUCell(_Cell):
    """Gated recurrent unit (PyTorch's form; see ``gru_step`` for the chapter's)."""

    num_gates = 3
    folds_hidden_bias = False

    def step(self, x_proj: Tensor, states: tuple, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple:
        return (gru_step(x_proj, states[0], w_hh_t, b_hh),)
