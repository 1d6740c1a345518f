"""Multi-layer, optionally bidirectional RNN/LSTM/GRU layers with PyTorch's interface.

A layer unrolls its cell's equations over time. For each layer and direction the
input projections of *all* time steps are one matmul, then ``unbind`` hands out the
per-step slices from a single graph node (so backward assembles their gradients once,
not once per step), and only the recurrent part runs step by step. BPTT is the
ordinary backward through this unrolled graph.

Shapes (PyTorch's): input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or
unbatched (L, H_in); h0/c0 and h_n/c_n (D * num_layers, N, H) with D = 2 if
bidirectional else 1; output (L, N, D * H).

A batch of sequences of different lengths comes as a ``PackedSequence`` (see
``nn.utils.rnn``); then the output is one too, and step t runs on the sequences that
have a step t only, so h_n/c_n hold each sequence's state after its own last step.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

from ..core.autograd import cycle_collector_paused
from ..core.factories import zeros
from ..viz import scope
from ..ops import cat, stack
from ..core.tensor import Tensor
from . import functional as F
from .cells import (GRU_CELL, LSTM_CELL, CellType, add_recurrent_weights, cell_type_for, check_input_dtype,
                    check_state_tuple, project_input)
from .module import Module
from .utils.rnn import PackedSequence, packed_layout, packed_like


class _Recurrent(Module):
    """What RNN, LSTM and GRU share: parameters per layer and direction, checks, unrolling
    the step of their ``cell_type`` (the same as their cell's)."""

    cell_type: CellType

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: str | None = None, dtype: Any = None, cell_type: CellType | None = None) -> None:
        super().__init__()
        if cell_type is not None:  # the RNN's depends on its nonlinearity
            self.cell_type = cell_type
        name = type(self).__name__
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                add_recurrent_weights(self, self._suffix(layer, direction), layer_input, hidden_size,
                                      self.cell_type.gates, bias, device, dtype)

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def forward(self, input: Tensor | PackedSequence, hx: Any = None) -> tuple:  # noqa: A002 (PyTorch's name)
        """``output, h_n`` (``output, (h_n, c_n)`` for an LSTM); ``output`` is a PackedSequence
        when ``input`` is one."""
        with cycle_collector_paused():  # the unrolled graph has no cycles: rescanning its nodes is waste
            return self._forward(input, hx)

    def _forward(self, input: Tensor | PackedSequence, hx: Any) -> tuple:  # noqa: A002
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, batched = self._time_major(input)
        states = self._initial_states(hx, x, x.shape[1], batched)
        x, finals = self._layers(x, states, self._unroll)
        output = x.transpose(0, 1) if self.batch_first and batched else x
        return (output if batched else output.squeeze(1)), self._final_states(finals, batched)

    def _forward_packed(self, packed: PackedSequence, hx: Any) -> tuple:
        """The layers over a packed batch: (PackedSequence of outputs, final states taken at each
        sequence's last step). ``hx`` and the final states are in the original batch order;
        inside, the batch is sorted longest first, as the packed data is."""
        data = self._check_packed(packed.data)
        batch_sizes = packed_layout(packed)[0]
        states = self._initial_states(hx, data, batch_sizes[0], True, packed.sorted_indices)
        data, finals = self._layers(data, states, partial(self._unroll_packed, batch_sizes))
        return packed_like(packed, data), self._final_states(finals, True, packed.unsorted_indices)

    def _layers(self, x: Tensor, states: list, unroll: Callable) -> tuple[Tensor, list]:
        """Run every layer, each direction with ``unroll``, the next layer reading the outputs of
        both directions side by side: (last layer's outputs, final state of each layer and direction)."""
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                sequence, final = unroll(x, layer, direction, states[layer * self.num_directions + direction])
                outputs.append(sequence)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else cat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout)
        return x, finals

    def _final_states(self, finals: list, batched: bool, order: Tensor | None = None) -> Any:
        """h_n, or (h_n, c_n) for an LSTM: (D * num_layers, N, H), the batch taken in ``order``."""
        stacked = []
        for k in range(1 + self.cell_type.has_cell_state):
            state = stack([final[k] for final in finals])
            if order is not None:
                state = state[:, order]
            stacked.append(state if batched else state.squeeze(1))
        return tuple(stacked) if self.cell_type.has_cell_state else stacked[0]

    def _weights(self, layer: int, direction: int) -> tuple:
        """A layer and direction's (w_ih, w_hh, b_ih, b_hh where it joins b_ih in the input
        projection, b_hh where each step adds it: the GRU's, which its reset gate scales)."""
        suffix = self._suffix(layer, direction)
        w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        b_ih, b_hh = getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)
        folds = self.cell_type.folds_hidden_bias
        return w_ih, w_hh, b_ih, b_hh if folds else None, None if folds else b_hh

    def _unroll(self, x: Tensor, layer: int, direction: int, state: tuple) -> tuple:
        """Run one layer in one direction over all L steps: (outputs (L, N, H), final state)."""
        step = self.cell_type.step
        with scope(layer=layer, direction="reverse" if direction else "forward"):  # for the pictures
            w_ih, w_hh, b_ih, folded_bias, recurrent_bias = self._weights(layer, direction)
            inputs = project_input(x, w_ih, b_ih, folded_bias).unbind(0)
            w_hh_t = w_hh.T  # transposed once, used by every step
            steps = range(len(inputs) - 1, -1, -1) if direction else range(len(inputs))
            hidden = [None] * len(inputs)
            for t in steps:
                with scope(t=t):
                    state = step(inputs[t], state, w_hh_t, recurrent_bias)
                hidden[t] = state[0]
            return stack(hidden), state

    def _unroll_packed(self, batch_sizes: list[int], x: Tensor, layer: int, direction: int,
                       initial: tuple) -> tuple:
        """Run one layer in one direction over a packed batch (rows sorted longest first): step t
        on the first ``batch_sizes[t]`` rows only. Returns (packed outputs (sum of lengths, H),
        final state (N, H): each sequence's state after its own last step).

        Forwards the batch shrinks: rows that stop are set aside, holding their final state.
        Backwards (reverse direction) it grows: a sequence joins, with its initial state, at
        its own last step. Only slicing and joining, so BPTT is still the graph's backward.
        """
        step = self.cell_type.step
        with scope(layer=layer, direction="reverse" if direction else "forward"):  # for the pictures
            w_ih, w_hh, b_ih, folded_bias, recurrent_bias = self._weights(layer, direction)
            inputs = project_input(x, w_ih, b_ih, folded_bias).split(batch_sizes)  # (batch_sizes[t], G * H) each
            w_hh_t = w_hh.T
            steps = range(len(inputs) - 1, -1, -1) if direction else range(len(inputs))
            hidden = [None] * len(inputs)
            state, stopped = (), []
            for t in steps:
                size, rows = batch_sizes[t], state[0].shape[0] if state else 0
                if size < rows:  # the last rows' sequences ended at the previous step
                    parts = [s.split([size, rows - size]) for s in state]
                    state = tuple(part[0] for part in parts)
                    stopped.append(tuple(part[1] for part in parts))
                elif size > rows:  # the next rows' sequences start here, with their initial state
                    joining = tuple(s[rows:size] for s in initial)
                    state = tuple(cat(pair) for pair in zip(state, joining)) if state else joining
                with scope(t=t):
                    state = step(inputs[t], state, w_hh_t, recurrent_bias)
                hidden[t] = state[0]
            stopped.append(state)
            final = stopped[0] if len(stopped) == 1 else tuple(cat(rows) for rows in zip(*reversed(stopped)))
            return cat(hidden), final

    # ---- checks ------------------------------------------------------------------------
    def _time_major(self, input: Tensor) -> tuple[Tensor, bool]:  # noqa: A002
        """The input as (L, N, H_in), and whether it had a batch axis."""
        name = type(self).__name__
        if input.ndim not in (2, 3):
            layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
            raise ValueError(f"{name}: expected input of 3 dimensions {layout} or 2 (L, H_in), "
                             f"got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input with {self.input_size} features "
                             f"(input_size), got shape {input.shape}")
        check_input_dtype(name, input, self.weight_ih_l0)
        if input.ndim == 2:
            return input.unsqueeze(1), False
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _check_packed(self, data: Tensor) -> Tensor:
        """The data of a packed input, which must be (sum of lengths, H_in)."""
        name = type(self).__name__
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ValueError(f"{name}: expected a PackedSequence whose data is (sum of lengths, "
                             f"{self.input_size}) for input_size={self.input_size}, got data of shape {data.shape}")
        check_input_dtype(name, data, self.weight_ih_l0)
        return data

    def _initial_states(self, hx: Any, x: Tensor, batch: int, batched: bool, order: Tensor | None = None) -> list:
        """One state tuple, (h,) or (h, c), per layer and direction, for ``batch`` sequences (the
        given state's batch taken in ``order`` when one is given)."""
        name = type(self).__name__
        count = self.num_layers * self.num_directions
        shape = (count, batch, self.hidden_size)
        has_cell_state = self.cell_type.has_cell_state
        if hx is None:
            zero = zeros(shape[1:], dtype=x.dtype, device=x.device)
            return [(zero, zero) if has_cell_state else (zero,)] * count
        expected = shape if batched else (count, self.hidden_size)
        given = check_state_tuple(hx, has_cell_state, expected, name, ("h0", "c0"))
        for label, state in zip(("h0", "c0"), given):
            if not isinstance(state, Tensor) or state.shape != expected:
                got = state.shape if isinstance(state, Tensor) else type(state).__name__
                raise ValueError(f"{name}: expected {label} of shape {expected} = (num_layers * "
                                 f"num_directions, {'batch, ' if batched else ''}hidden_size), got {got}")
        if not batched:
            given = tuple(s.unsqueeze(1) for s in given)
        if order is not None:
            given = tuple(s[:, order] for s in given)
        per_layer = [s.unbind(0) for s in given]
        return [tuple(states[k] for states in per_layer) for k in range(count)]

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                    "bidirectional": False}
        parts += [f"{k}={getattr(self, k)}" for k, v in defaults.items() if getattr(self, k) != v]
        return ", ".join(parts)


class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(x_t U^T + b_ih + h_{t-1} W^T + b_hh), stacked and/or bidirectional."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, cell_type_for(nonlinearity, "RNN"))
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTM(_Recurrent):
    """Long short-term memory: ``output, (h_n, c_n) = lstm(x, (h0, c0))``."""

    cell_type = LSTM_CELL


class GRU(_Recurrent):
    """Gated recurrent unit (PyTorch's form): ``output, h_n = gru(x, h0)``."""

    cell_type = GRU_CELL
