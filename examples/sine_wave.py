"""Predicting a noisy sine wave with an LSTM: truncated BPTT, Adam and gradient clipping.

What it teaches
---------------
The classic first RNN regression (it is DeZero's step 59-61 example): a long noisy
sine wave, and a model that reads it one value at a time and predicts the next one,

    x_t = sin(2 pi t / P) + noise,   target_t = x_{t+1},
    h_t, C_t = LSTM(x_t, h_{t-1}, C_{t-1})        (the chapter's 5.2)
    y^_t = V h_t + c                              (a Linear read-out)
    loss = mean_t (y^_t - x_{t+1})^2

The series is one long sequence, far too long to back-propagate through in one piece,
so it is trained with *truncated* BPTT: cut into chunks of ``--bptt`` steps, run in
order, with the state carried from one chunk into the next but *detached*
(``h.detach()``), so the gradient of each chunk stops at its start while the forward
pass still remembers everything before. Adam updates the weights after every chunk,
``clip_grad_norm_`` keeps the occasional large recurrent gradient from blowing up a
step, and a cosine schedule lowers the learning rate to zero over the epochs (the
last, small steps are what make the free-running generation below stay in phase).

After training, the model is tested on a clean wave with a different phase (a cosine):
one step ahead (always fed the true value) and free-running (fed its own predictions,
so errors compound).

Run
---
    python examples/sine_wave.py                 # ~40 s on a CPU; examples_out/sine_wave/
    python examples/sine_wave.py --quick --out /tmp/sine

Figures: ``loss.png`` (training MSE per epoch) and ``prediction.png`` (truth vs
one-step-ahead prediction, and free-running generation).
"""
from __future__ import annotations

import os
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils import clip_grad_norm_
from common import example_parser, save_figure, start_run

SCRIPT = "sine_wave"


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def noisy_sine(n: int, period: float, noise: float, seed: int) -> np.ndarray:
    """n samples of sin(2 pi t / period) plus uniform noise in [-noise, noise] (as DeZero)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.sin(2 * np.pi * t / period) + rng.uniform(-noise, noise, size=n)


def clean_wave(n: int, period: float, phase: float = np.pi / 2) -> np.ndarray:
    """The test signal: the same frequency, another phase (a cosine by default), no noise."""
    return np.sin(2 * np.pi * np.arange(n) / period + phase)


def as_sequence(values: np.ndarray, device: str) -> tg.Tensor:
    """A 1-D series as the (L, N=1, H_in=1) layout the recurrent layers take."""
    return tg.tensor(values.reshape(-1, 1, 1), dtype="float32", device=device)


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------
class SineModel(nn.Module):
    """LSTM over the series, then a Linear read-out of each hidden state: y^_t = V h_t + c."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: tg.Tensor, state=None):
        out, state = self.lstm(x, state)      # out: (L, 1, H), state: (h_n, c_n)
        return self.head(out), state          # (L, 1, 1)


# ---------------------------------------------------------------------------------------
# Training: truncated BPTT
# ---------------------------------------------------------------------------------------
def train_epoch(model: SineModel, opt: optim.Optimizer, series: tg.Tensor, bptt: int,
                clip: float) -> float:
    """One pass over the series in chunks of ``bptt`` steps; returns the mean chunk loss."""
    inputs, targets = series[:-1], series[1:]         # predict x_{t+1} from x_0..x_t
    params = list(model.parameters())
    state, losses = None, []
    for start in range(0, len(inputs), bptt):
        x, y = inputs[start:start + bptt], targets[start:start + bptt]
        prediction, (h, c) = model(x, state)
        loss = F.mse_loss(prediction, y)
        opt.zero_grad()
        loss.backward()                               # BPTT through this chunk only
        clip_grad_norm_(params, clip)                 # rescale if ||grad|| > clip
        opt.step()
        state = (h.detach(), c.detach())              # keep the values, cut the history
        losses.append(loss.item())
    return float(np.mean(losses))


# ---------------------------------------------------------------------------------------
# Testing
# ---------------------------------------------------------------------------------------
@tg.no_grad()
def one_step_ahead(model: SineModel, wave: np.ndarray, device: str) -> np.ndarray:
    """Predictions of wave[1:] when the model is always fed the true previous value."""
    prediction, _ = model(as_sequence(wave[:-1], device))
    return prediction.numpy().reshape(-1)


@tg.no_grad()
def free_running(model: SineModel, wave: np.ndarray, warmup: int, device: str) -> np.ndarray:
    """Feed the first ``warmup`` true values, then the model's own predictions.

    Returns predictions of wave[warmup:] (one value per later step).
    """
    prediction, state = model(as_sequence(wave[:warmup], device))   # warm up the state
    value = prediction[-1:]                                        # first guess: wave[warmup]
    generated = []
    for _ in range(len(wave) - warmup):
        generated.append(value.item())
        value, state = model(value, state)                         # its own output as input
    return np.array(generated)


def plot_loss(losses: list[float], noise_var: float, path: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.semilogy(range(1, len(losses) + 1), losses, "o-", ms=3, label="training MSE (mean over chunks)")
    ax.axhline(noise_var, color="gray", ls="--", label=f"noise variance {noise_var:.1e}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE")
    ax.set_title("training loss, LSTM on a noisy sine (truncated BPTT)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return path


def plot_predictions(wave: np.ndarray, one_step: np.ndarray, generated: np.ndarray, warmup: int,
                     mse_one: float, mse_free: float, path: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(wave))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    ax1.plot(t, wave, color="black", lw=1, label="truth (clean cosine)")
    ax1.plot(t[1:], one_step, color="C1", ls="--", lw=1.5,
             label=f"one step ahead (MSE {mse_one:.2e} for t >= {warmup})")
    ax1.axvspan(0, warmup - 1, color="gray", alpha=0.15, label="state filling up (not scored)")
    ax1.set_title("prediction of the next value, fed the true previous value")
    ax1.legend(fontsize=8, loc="upper right")
    ax2.plot(t, wave, color="black", lw=1, label="truth")
    ax2.plot(t[warmup:], generated, color="C2", lw=1.5, label=f"free-running (MSE {mse_free:.2e})")
    ax2.axvspan(0, warmup - 1, color="gray", alpha=0.15, label=f"warm-up: {warmup} true values")
    ax2.set_title("generation: after the warm-up the model is fed its own predictions")
    ax2.set_xlabel("t")
    ax2.legend(fontsize=8, loc="upper right")
    for ax in (ax1, ax2):
        ax.set_ylim(-1.6, 1.6)
        ax.grid(alpha=0.3)
    save_figure(fig, path)
    return path


# ---------------------------------------------------------------------------------------
def parse_args(argv):
    parser = example_parser(__doc__, SCRIPT, quick_help="tiny sizes (for the tests)")
    parser.add_argument("--points", type=int, default=None,
                        help="length of the series (1000; quick 300)")
    parser.add_argument("--period", type=float, default=50.0, help="samples per cycle of the sine")
    parser.add_argument("--noise", type=float, default=0.05, help="uniform noise amplitude")
    parser.add_argument("--hidden", type=int, default=None, help="LSTM hidden size (64; quick 16)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the series (30; quick 6)")
    parser.add_argument("--bptt", type=int, default=30, help="truncated BPTT chunk length")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="max gradient norm")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    points = args.points or (300 if args.quick else 1000)
    hidden = args.hidden or (16 if args.quick else 64)
    epochs = args.epochs or (6 if args.quick else 30)
    start = start_run(args)

    values = noisy_sine(points, args.period, args.noise, args.seed)
    series = as_sequence(values, args.device)
    model = SineModel(hidden).to(args.device)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    schedule = optim.CosineAnnealingLR(opt, T_max=epochs)   # lr: args.lr -> 0 over the epochs
    noise_var = args.noise ** 2 / 3                    # variance of uniform(-a, a) noise
    print(f"{points} points, period {args.period:g}, noise +-{args.noise}; LSTM hidden {hidden}, "
          f"chunks of {args.bptt}, {epochs} epochs, Adam lr {args.lr} (cosine to 0), clip {args.clip}")

    losses = []
    for epoch in range(epochs):
        losses.append(train_epoch(model, opt, series, args.bptt, args.clip))
        schedule.step()
        if epoch == 0 or (epoch + 1) % max(1, epochs // 8) == 0 or epoch == epochs - 1:
            print(f"  epoch {epoch + 1:>3}: training MSE {losses[-1]:.5f}")
    train_seconds = time.perf_counter() - start

    # Both tests are scored on the same steps, t >= warmup (one cycle): before that the
    # state is still filling up from zero and the one-step predictions are visibly off.
    wave = clean_wave(4 * int(args.period), args.period)    # 4 cycles of a clean cosine
    warmup = int(args.period)
    one_step = one_step_ahead(model, wave, args.device)      # predictions of wave[1:]
    mse_one = float(np.mean((one_step[warmup - 1:] - wave[warmup:]) ** 2))
    generated = free_running(model, wave, warmup, args.device)
    mse_free = float(np.mean((generated - wave[warmup:]) ** 2))
    signal_var = float(np.var(wave))
    copy_mse = float(np.mean((wave[warmup - 1:-1] - wave[warmup:]) ** 2))  # "repeat the last value"

    loss_png = plot_loss(losses, noise_var, os.path.join(args.out, "loss.png"))
    pred_png = plot_predictions(wave, one_step, generated, warmup, mse_one, mse_free,
                                os.path.join(args.out, "prediction.png"))
    seconds = time.perf_counter() - start
    print(f"signal variance {signal_var:.3f}; noise variance {noise_var:.1e}")
    print(f"final training MSE {losses[-1]:.5f}")
    print(f"test, one step ahead: MSE {mse_one:.2e} (repeat-last-value baseline {copy_mse:.2e})")
    print(f"test, free-running {len(generated)} steps: MSE {mse_free:.2e}")
    print(f"trained in {train_seconds:.1f} s, {seconds:.1f} s in all; figures in {args.out}")
    return {"final_mse": mse_one, "free_running_mse": mse_free, "train_mse": losses[-1],
            "losses": losses, "signal_variance": signal_var, "noise_variance": noise_var,
            "copy_baseline_mse": copy_mse, "figures": [loss_png, pred_png], "seconds": seconds,
            "out": args.out}


if __name__ == "__main__":
    main()
