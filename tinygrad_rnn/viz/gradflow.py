"""Gradient flow through time: ||dL/dh_t|| per step, and a plot comparing cells.

In a vanilla RNN, dL/dh_t is multiplied by W^T and the tanh slope once per step back,
so its norm shrinks (or grows) geometrically; an LSTM's cell state passes gradients
along with the forget gate as the only factor. These helpers measure exactly that from
the recorded graph: the recurrent layers tag each step's hidden state ``h`` and record
the step as the scope ``t=N``.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..backends import get_backend
from ..core.tensor import Tensor
from .record import info, record_for


def hidden_grad_norms(loss: Tensor, name: str = "h", layer: int = 0, direction: str = "forward") -> Any:
    """||dL/dh_t|| for t = 0..T-1 as a NumPy array (NaN for steps no gradient reached).

    Works after ``loss.backward()`` (the norms were recorded during it) and before (it then
    runs its own pass, storing nothing in ``.grad``). ``name`` picks the tagged value (``"c"``
    for the LSTM cell state); ``layer``/``direction`` pick one layer of a stacked or
    bidirectional model.
    """
    if loss.data.size != 1:
        raise ValueError(f"hidden_grad_norms: loss must be a scalar, got shape {loss.shape}")
    record = record_for(loss)
    wanted = {f"layer={layer}", f"direction={direction}"}
    squares: dict[int, float] = {}
    for node in record.order:
        labels = info(node)
        if labels.name != name:
            continue
        if {label for label in labels.scope if label.startswith(("layer=", "direction="))} - wanted:
            continue  # another layer or direction
        steps = [int(label[2:]) for label in labels.scope if label.startswith("t=")]
        norm = record.norm(node)
        if steps and norm is not None:
            squares[steps[-1]] = squares.get(steps[-1], 0.0) + norm ** 2
    if not squares:
        raise ValueError(f"hidden_grad_norms: no value tagged {name!r} with a time step was found; "
                         "run an RNN/LSTM/GRU layer (or tag values and use scope(t=...)) before the loss")
    length = max(squares) + 1
    return get_backend("cpu").asarray([math.sqrt(squares[t]) if t in squares else math.nan
                                       for t in range(length)])


def plot_grad_norms(curves: Mapping[str, Sequence[float]], path: str,
                    title: str = "gradient flowing back through time") -> str:
    """One log-scale line of ||dL/dh_t|| against t per cell (``{"RNN": norms, ...}``); writes ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for label, norms in curves.items():
        axes.semilogy(range(len(norms)), list(norms), label=label)
    axes.set_xlabel("time step t")
    axes.set_ylabel("||dL/dh_t||")
    axes.set_title(title)
    axes.legend()
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
