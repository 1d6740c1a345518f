"""Regenerate the graph pictures shown in the README and docs/.

    python scripts/make_docs_pictures.py      (writes docs/graph_*.svg, docs/grad_flow_rnn_vs_lstm.svg)
"""
from __future__ import annotations

import os

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn import functional as F

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


class Tiny(nn.Module):
    """A recurrent layer over a short sequence and a linear read-out of its last state."""

    def __init__(self, layer: type, hidden: int = 4) -> None:
        super().__init__()
        self.rnn = layer(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[-1])


def unrolled_pictures() -> None:
    """An RNN, an LSTM and a GRU over 3 steps, one cluster per time step."""
    for layer in (nn.RNN, nn.LSTM, nn.GRU):
        tg.manual_seed(0)
        model = Tiny(layer)
        loss = F.mse_loss(model(tg.randn(3, 1, 2)), tg.zeros(1, 1))
        loss.name = "loss"
        path = os.path.join(DOCS, f"graph_{layer.__name__.lower()}.svg")
        viz.render(loss, path=path, params=model, group="timestep")
        print("wrote", path)


def gradient_flow_picture(steps: int = 20) -> None:
    """RNN and LSTM side by side, each step coloured by ||dL/dh_t|| on one shared scale."""
    losses, params = [], {}
    for layer in (nn.RNN, nn.LSTM):
        tg.manual_seed(0)
        model = Tiny(layer, hidden=8)
        with viz.scope(layer.__name__):  # keeps the two models' steps in separate clusters
            loss = model(tg.randn(steps, 1, 2)).sum()
        loss.name = f"{layer.__name__} output"
        losses.append(loss)
        params.update({f"{layer.__name__}.{k}": v for k, v in model.named_parameters()})
    path = os.path.join(DOCS, "grad_flow_rnn_vs_lstm.svg")
    viz.render(*losses, path=path, params=params, collapse="timestep", steps=(6, 4), grad_flow=True,
               rankdir="TB")
    print("wrote", path)


if __name__ == "__main__":
    unrolled_pictures()
    gradient_flow_picture()
