"""A character-level language model: Embedding -> RNN/LSTM/GRU -> Linear (the chapter's V).

This is the model the command line trains; it is a plain ``Module`` built from the
library's layers, nothing special.
"""
from __future__ import annotations

from typing import Any

from ..core.grad_mode import no_grad
from ..nn import GRU, LSTM, RNN, Embedding, Linear, Module
from ..core.tensor import Tensor

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class CharRNN(Module):
    """ids (T, N) -> logits (T, N, vocab_size), carrying the recurrent state between calls."""

    def __init__(self, vocab_size: int, hidden_size: int = 128, num_layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.0, device: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"CharRNN: unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        self.cell, self.vocab_size = cell, vocab_size
        self.embedding = Embedding(vocab_size, hidden_size, device=device, dtype=dtype)
        self.rnn = CELLS[cell](hidden_size, hidden_size, num_layers=num_layers, dropout=dropout,
                               device=device, dtype=dtype)
        self.head = Linear(hidden_size, vocab_size, device=device, dtype=dtype)  # V: hidden -> output

    def forward(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        output, state = self.rnn(self.embedding(ids), state)
        return self.head(output), state


def detach_state(state: Any) -> Any:
    """The recurrent state with its history cut: the truncated-BPTT boundary."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@no_grad()
def generate(model: CharRNN, prime_ids: list[int], length: int, temperature: float = 1.0,
             device: str | None = None) -> list[int]:
    """Sample ``length`` ids after ``prime_ids``: softmax(logits / temperature) at each step.

    Low temperatures pick likely characters (repetitive text); high ones add variety.
    """
    if temperature <= 0:
        raise ValueError(f"generate: temperature must be positive, got {temperature}")
    if not prime_ids:
        raise ValueError("generate: the prime text must contain at least one character")
    was_training = model.training
    model.eval()
    device = device or model.head.weight.device
    ids = Tensor(prime_ids, device=device).reshape(-1, 1)
    logits, state = model(ids)
    out = []
    host = model.head.weight.backend
    for _ in range(length):
        probs = ((logits[-1, 0] / temperature).softmax()).numpy().astype("float64")
        probs = probs / probs.sum()
        draw = float(host.to_numpy(host.rand((), "float64")))
        next_id = min(int((probs.cumsum() < draw).sum()), len(probs) - 1)
        out.append(next_id)
        logits, state = model(Tensor([[next_id]], device=device), state)
    model.train(was_training)
    return out
