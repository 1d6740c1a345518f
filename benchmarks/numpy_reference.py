"""A character-level language model written by hand in NumPy, with its backward (BPTT) derived by hand.

This is the floor the recurrent benchmark measures ``tinygrad_rnn`` against: the same model
as ``tinygrad_rnn.app.models.CharRNN`` with one layer, and the same parameterisation as
``tinygrad_rnn.nn`` and PyTorch, but no autograd, no graph and no per-op bookkeeping::

    ids (T, B) -> x_t = embedding[ids_t]                          (T, B, H)
               -> h_t = cell(x_t, h_{t-1}),  h_0 = 0              one RNN / LSTM / GRU layer
               -> logits_t = h_t head_W^T + head_b                (T, B, V)
               -> loss = mean over all T*B targets of -log softmax(logits)[target]

Parameters carry CharRNN's state-dict names, so the same arrays load into every implementation:
``embedding.weight`` (V, H), ``rnn.weight_ih_l0`` / ``rnn.weight_hh_l0`` (G*H, H),
``rnn.bias_ih_l0`` / ``rnn.bias_hh_l0`` (G*H,), ``head.weight`` (V, H), ``head.bias`` (V,),
with G = 1 (RNN), 4 (LSTM gates i, f, g, o) or 3 (GRU gates r, z, n).

What makes it fast (each is something an autograd engine cannot easily do for you):

* the input projections of all T steps are one matmul, and so are the weight gradients
  dW_ih and dW_hh (one (G*H, T*B) @ (T*B, H) product each, after the time loop);
* every step does one matmul for all gates, h_{t-1} @ W_hh^T, and the backward one,
  dgates_t @ W_hh;
* the arrays a step writes are allocated once per (T, B) and reused by later steps; in
  backward each gate's gradient overwrites the gate's value in place (it is not needed again);
* softmax and cross-entropy are fused, and the logits' buffer becomes their gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
W_IH, W_HH, B_IH, B_HH = "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"
EMBEDDING, HEAD_W, HEAD_B = "embedding.weight", "head.weight", "head.bias"


def init_params(cell: str, vocab_size: int, hidden_size: int, rng: np.random.Generator,
                dtype: np.dtype | str = np.float32) -> dict[str, np.ndarray]:
    """Random parameters drawn as PyTorch initialises them: the embedding N(0, 1), the rest
    U(-1/sqrt(H), 1/sqrt(H))."""
    rows = GATES[cell] * hidden_size
    bound = 1.0 / np.sqrt(hidden_size)
    shapes = {W_IH: (rows, hidden_size), W_HH: (rows, hidden_size), B_IH: (rows,), B_HH: (rows,),
              HEAD_W: (vocab_size, hidden_size), HEAD_B: (vocab_size,)}
    params = {EMBEDDING: rng.standard_normal((vocab_size, hidden_size)).astype(dtype)}
    params.update({name: rng.uniform(-bound, bound, shape).astype(dtype) for name, shape in shapes.items()})
    return params


@dataclass
class Buffers:
    """The arrays one training step writes, for one (T, B); later steps of that shape reuse them."""

    x: np.ndarray            # (T, B, H)   embedded inputs x_t
    gates: np.ndarray        # (T, B, G*H) x_t W_ih^T + biases; then gate values; then their gradients
    hidden_proj: np.ndarray  # (T, B, G*H) GRU only: h_{t-1} W_hh^T + b_hh; then its gradient
    h: np.ndarray            # (T+1, B, H) hidden states, h[0] = h_0 = 0
    c: np.ndarray            # (T+1, B, H) LSTM only: cell states, c[0] = 0
    tanh_c: np.ndarray       # (T, B, H)   LSTM only: tanh(C_t)
    dh: np.ndarray           # (T, B, H)   dL/dh_t; after BPTT it holds dL/dx_t
    logits: np.ndarray       # (T*B, V)    logits; then dL/dlogits
    grads: dict[str, np.ndarray]


def sigmoid_(x: np.ndarray) -> None:
    """σ(x) = (1 + tanh(x/2)) / 2 in place: four passes, and no overflow for any x."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def transposed(w: np.ndarray) -> np.ndarray:
    """A contiguous copy of w^T: made once per forward pass, it makes each step's matmul faster."""
    return np.ascontiguousarray(w.T)


def split_gates(gates: np.ndarray, count: int) -> list[np.ndarray]:
    """Views of the ``count`` gate blocks (PyTorch's order) along the last axis."""
    size = gates.shape[-1] // count
    return [gates[..., k * size:(k + 1) * size] for k in range(count)]


# ---- the recurrences, forward -----------------------------------------------------------------

def rnn_forward(buf: Buffers, params: dict[str, np.ndarray]) -> None:
    """h_t = tanh(a_t),  a_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T  (biases already in gates)."""
    w_hh_t = transposed(params[W_HH])
    step_proj = np.empty_like(buf.gates[0])
    for t in range(len(buf.gates)):
        np.matmul(buf.h[t], w_hh_t, out=step_proj)
        buf.gates[t] += step_proj
        np.tanh(buf.gates[t], out=buf.h[t + 1])


def lstm_forward(buf: Buffers, params: dict[str, np.ndarray]) -> None:
    """The LSTM equations; afterwards gates[t] holds (i, f, g, o) after their nonlinearities."""
    w_hh_t = transposed(params[W_HH])
    step_proj = np.empty_like(buf.gates[0])
    for t in range(len(buf.gates)):
        gates = buf.gates[t]
        np.matmul(buf.h[t], w_hh_t, out=step_proj)          # all four gates in one matmul
        gates += step_proj
        i, f, g, o = split_gates(gates, 4)
        sigmoid_(gates[:, :2 * i.shape[1]])                 # i_t, f_t = σ(.) (adjacent blocks, one call)
        np.tanh(g, out=g)                                   # g_t = C~_t = tanh(.)
        sigmoid_(o)                                         # o_t = σ(.)
        np.multiply(f, buf.c[t], out=buf.c[t + 1])
        buf.c[t + 1] += i * g                               # C_t = f_t C_{t-1} + i_t g_t
        np.tanh(buf.c[t + 1], out=buf.tanh_c[t])
        np.multiply(o, buf.tanh_c[t], out=buf.h[t + 1])     # h_t = o_t tanh(C_t)


def gru_forward(buf: Buffers, params: dict[str, np.ndarray]) -> None:
    """PyTorch's GRU; afterwards gates[t] holds (r, z, n) and hidden_proj[t] h_{t-1} W_hh^T + b_hh."""
    w_hh_t, b_hh = transposed(params[W_HH]), params[B_HH]
    for t in range(len(buf.gates)):
        proj = buf.hidden_proj[t]
        np.matmul(buf.h[t], w_hh_t, out=proj)               # all three gates in one matmul
        proj += b_hh
        r, z, n = split_gates(buf.gates[t], 3)
        h_n = split_gates(proj, 3)[2]                       # W_hn h_{t-1} + b_hn
        rz = buf.gates[t, :, :2 * r.shape[1]]
        rz += proj[:, :2 * r.shape[1]]
        sigmoid_(rz)                                        # r_t, z_t = σ(x-part + h-part), both at once
        n += r * h_n
        np.tanh(n, out=n)                                   # n_t = tanh(W_in x_t + b_in + r_t h_n)
        np.subtract(buf.h[t], n, out=buf.h[t + 1])
        buf.h[t + 1] *= z
        buf.h[t + 1] += n                                   # h_t = (1 - z_t) n_t + z_t h_{t-1}


# ---- the recurrences, backward (BPTT) ---------------------------------------------------------
# On entry dh[t] holds dL/dh_t from the head only; each step adds what flows back from step t+1
# (into dh[t-1]) before that step is processed. dL/dh_0 is not needed: h_0 is a constant.

def rnn_backward(buf: Buffers, w_hh: np.ndarray) -> None:
    """Gradients of the pre-activations a_t, written into gates[t]."""
    for t in reversed(range(len(buf.gates))):
        h = buf.h[t + 1]
        np.multiply(buf.dh[t], 1 - h * h, out=buf.gates[t])  # dL/da_t = dL/dh_t (1 - h_t^2)      (tanh')
        if t:
            buf.dh[t - 1] += buf.gates[t] @ w_hh             # dL/dh_{t-1} += dL/da_t W_hh


def lstm_backward(buf: Buffers, w_hh: np.ndarray) -> None:
    """Gradients of the four gates' pre-activations, written into gates[t] over their values."""
    dc = np.zeros_like(buf.c[0])                             # dL/dC_t flowing back from step t+1
    for t in reversed(range(len(buf.gates))):
        i, f, g, o = split_gates(buf.gates[t], 4)
        dh, tanh_c = buf.dh[t], buf.tanh_c[t]
        dc += dh * o * (1 - tanh_c * tanh_c)                 # dL/dC_t += dL/dh_t o_t tanh'(C_t)
        np.multiply(dh * tanh_c, o * (1 - o), out=o)         # dL/do^ = dL/dh_t tanh(C_t) σ'  (o_t = σ(o^))
        d_i = dc * g                                         # dL/di_t = dL/dC_t g_t
        np.multiply(dc * i, 1 - g * g, out=g)                # dL/dg^ = dL/dC_t i_t tanh'  (g_t = tanh(g^))
        np.multiply(d_i, i * (1 - i), out=i)                 # dL/di^ = dL/di_t σ'
        dc_prev = dc * f                                     # dL/dC_{t-1} = dL/dC_t f_t
        np.multiply(dc * buf.c[t], f * (1 - f), out=f)       # dL/df^ = dL/dC_t C_{t-1} σ'
        dc = dc_prev
        if t:
            buf.dh[t - 1] += buf.gates[t] @ w_hh             # dL/dh_{t-1} += dL/dgates^ W_hh (all gates)


def gru_backward(buf: Buffers, w_hh: np.ndarray) -> None:
    """Gradients of x_t's projections (r^, z^, n^) into gates[t], and of h_{t-1}'s into hidden_proj[t]."""
    for t in reversed(range(len(buf.gates))):
        r, z, n = split_gates(buf.gates[t], 3)
        h_n = split_gates(buf.hidden_proj[t], 3)[2]         # W_hn h_{t-1} + b_hn
        dh, h_prev = buf.dh[t], buf.h[t]
        d_n = dh * (1 - z)                                   # dL/dn_t = dL/dh_t (1 - z_t)
        if t:
            buf.dh[t - 1] += dh * z                          # dL/dh_{t-1} += dL/dh_t z_t  (direct path)
        np.multiply(dh * (h_prev - n), z * (1 - z), out=z)   # dL/dz^ = dL/dh_t (h_{t-1} - n_t) σ'
        np.multiply(d_n, 1 - n * n, out=n)                   # dL/dn^ = dL/dn_t tanh' = dL/d(W_in x_t + b_in)
        d_r = n * h_n                                        # dL/dr_t = dL/dn^ (W_hn h_{t-1} + b_hn)
        np.multiply(n, r, out=h_n)                           # dL/d(W_hn h_{t-1} + b_hn) = dL/dn^ r_t
        np.multiply(d_r, r * (1 - r), out=r)                 # dL/dr^ = dL/dr_t σ'
        rz = slice(0, 2 * r.shape[1])
        buf.hidden_proj[t, :, rz] = buf.gates[t, :, rz]      # r^ and z^ sum both projections: same gradient
        if t:
            buf.dh[t - 1] += buf.hidden_proj[t] @ w_hh       # dL/dh_{t-1} += dL/dproj_t W_hh


FORWARD = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}
BACKWARD = {"rnn": rnn_backward, "lstm": lstm_backward, "gru": gru_backward}


# ---- loss -------------------------------------------------------------------------------------

def softmax_cross_entropy_(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean of -log softmax(logits)[target] over the rows; ``logits`` becomes dL/dlogits in place."""
    rows = np.arange(len(targets))
    logits -= logits.max(axis=1, keepdims=True)              # shift each row: exp cannot overflow
    picked = logits[rows, targets]                           # the (shifted) logit of each target
    np.exp(logits, out=logits)
    sums = logits.sum(axis=1, keepdims=True)
    loss = (np.log(sums).sum(dtype=np.float64) - picked.sum(dtype=np.float64)) / len(targets)
    logits *= 1.0 / (sums * len(targets))                    # dL/dlogits = (softmax - onehot) / N
    logits[rows, targets] -= 1.0 / len(targets)
    return float(loss)


def embedding_grad(out: np.ndarray, ids: np.ndarray, d_rows: np.ndarray) -> None:
    """out[v] = sum of d_rows[n] over all n with ids[n] == v (what ``np.add.at(out, ids, d_rows)``
    does), by sorting the ids and summing each run of equal ids with one ``reduceat``: about twice
    as fast as ``np.add.at``, and the only temporary is d_rows in sorted order."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.diff(sorted_ids, prepend=-1))  # where each run of equal ids begins
    out[...] = 0
    out[sorted_ids[starts]] = np.add.reduceat(d_rows[order], starts, axis=0)


# ---- the model --------------------------------------------------------------------------------

class CharModel:
    """Embedding -> one RNN/LSTM/GRU layer -> Linear head, trained with mean cross-entropy and SGD."""

    def __init__(self, cell: str, params: dict[str, np.ndarray]) -> None:
        if cell not in GATES:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(GATES)}")
        self.cell, self.params = cell, params
        self._buffers: Buffers | None = None

    def buffers(self, steps: int, batch: int) -> Buffers:
        """The step's arrays for this (T, B): the previous step's when the shape is the same."""
        buf = self._buffers
        if buf is not None and buf.h.shape[:2] == (steps + 1, batch):
            return buf
        vocab, hidden = self.params[HEAD_W].shape
        rows, dtype = self.params[W_HH].shape[0], self.params[W_HH].dtype
        lstm, gru = self.cell == "lstm", self.cell == "gru"

        def empty(*shape: int) -> np.ndarray:
            return np.empty(shape, dtype)

        self._buffers = Buffers(
            x=empty(steps, batch, hidden), gates=empty(steps, batch, rows),
            hidden_proj=empty(steps, batch, rows) if gru else empty(0),
            h=np.zeros((steps + 1, batch, hidden), dtype),
            c=np.zeros((steps + 1, batch, hidden), dtype) if lstm else empty(0),
            tanh_c=empty(steps, batch, hidden) if lstm else empty(0),
            dh=empty(steps, batch, hidden), logits=empty(steps * batch, vocab),
            grads={name: np.empty_like(p) for name, p in self.params.items()})
        return self._buffers

    def loss_and_grads(self, ids: np.ndarray, targets: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Forward and backward of one batch: the loss and every parameter's gradient.

        The gradients live in the model's buffers: they are valid until the next call.
        """
        p, cell = self.params, self.cell
        steps, batch = ids.shape
        n, hidden = steps * batch, p[HEAD_W].shape[1]
        buf = self.buffers(steps, batch)
        grads, x = buf.grads, buf.x.reshape(n, hidden)
        gates = buf.gates.reshape(n, -1)
        h_out = buf.h[1:].reshape(n, hidden)                 # h_1 ... h_T, the head's inputs

        # forward
        np.take(p[EMBEDDING], ids, axis=0, out=buf.x)        # x_t = embedding[ids_t]
        np.matmul(x, p[W_IH].T, out=gates)                   # input projections of all steps at once
        gates += p[B_IH] if cell == "gru" else p[B_IH] + p[B_HH]  # (the GRU's b_hh stays inside r * (.))
        FORWARD[cell](buf, p)
        np.matmul(h_out, p[HEAD_W].T, out=buf.logits)
        buf.logits += p[HEAD_B]
        loss = softmax_cross_entropy_(buf.logits, targets.reshape(-1))

        # backward: head, BPTT through the recurrence, then the weights in big products
        d_logits = buf.logits
        np.matmul(d_logits.T, h_out, out=grads[HEAD_W])      # dL/dhead_W = Σ dlogits^T h_t
        d_logits.sum(axis=0, out=grads[HEAD_B])              # dL/dhead_b = Σ dlogits
        np.matmul(d_logits, p[HEAD_W], out=buf.dh.reshape(n, hidden))  # dL/dh_t from the head
        BACKWARD[cell](buf, p[W_HH])
        d_hidden_proj = buf.hidden_proj.reshape(n, -1) if cell == "gru" else gates
        np.matmul(gates.T, x, out=grads[W_IH])               # dL/dW_ih = Σ_t dgates_t^T x_t
        gates.sum(axis=0, out=grads[B_IH])                   # dL/db_ih = Σ_t dgates_t
        np.matmul(d_hidden_proj.T, buf.h[:-1].reshape(n, hidden), out=grads[W_HH])  # Σ_t dgates_t^T h_{t-1}
        d_hidden_proj.sum(axis=0, out=grads[B_HH])           # dL/db_hh = Σ_t dgates_t (of h's projection)
        d_x = buf.dh.reshape(n, hidden)                      # dL/dh is spent: reuse it for dL/dx
        np.matmul(gates, p[W_IH], out=d_x)                   # dL/dx_t = dgates_t W_ih
        embedding_grad(grads[EMBEDDING], ids.reshape(-1), d_x)  # dL/dembedding[v] = Σ_{ids = v} dL/dx
        return loss, grads

    def train_step(self, ids: np.ndarray, targets: np.ndarray, lr: float) -> float:
        """One step of plain SGD, p -= lr * dL/dp, in place; returns the loss before the update."""
        loss, grads = self.loss_and_grads(ids, targets)
        for name, grad in grads.items():
            grad *= lr
            self.params[name] -= grad
        return loss
