"""A character-level LSTM language model on the bundled Shakespeare, with the training toolkit.

The chapter's RNN (5.1) reads one symbol x_t per step, updates its hidden state
h_t = f(U x_t + W h_{t-1} + b) and predicts the next symbol with y_t = softmax(V h_t + c).
Here the symbols are characters, the cell is the LSTM of 5.2, and the whole loop is the
library's training toolkit (``tinygrad_rnn.app.train``), the same code as ``tinygrad-rnn train``:

- the text is cut into ``batch`` parallel streams and read ``seq_len`` characters at a
  time (truncated BPTT: the state is carried from one chunk to the next but detached, so
  gradients flow back at most ``seq_len`` steps);
- loss = mean cross-entropy of the next character (nats per character; a model that
  knows nothing scores ln(vocabulary size));
- Adam, gradient-norm clipping at 1.0 (RNN gradients can explode), a validation loss on
  the last 10% of the text every ``eval_every`` steps.

Then it samples text at several temperatures: softmax(logits / T), where T < 1 sharpens
the distribution (safe, repetitive text) and T > 1 flattens it (varied, more misspelt).

Run:
    python examples/char_rnn.py                    # ~2 minutes of training on 2 CPU cores
    python examples/char_rnn.py --quick            # a few seconds, tiny model (for tests)
    python examples/char_rnn.py --device cuda      # the same on the GPU (needs CuPy)
    python examples/char_rnn.py --steps 2000 --hidden 256 --cell gru

Writes into --out (default examples_out/char_rnn/): loss_curve.png, samples.txt.
"""
from __future__ import annotations

import os

# The matrices here are small; a multi-threaded BLAS only adds synchronisation, and on a busy
# machine OpenBLAS's threads made small products up to 100x slower. One thread unless you set
# these yourself (they must be set before NumPy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn.data import Vocabulary, load_corpus  # noqa: E402
from tinygrad_rnn.app.train import TrainConfig, sample_text, train  # noqa: E402
from common import example_parser, save_figure

TEMPERATURES = (0.5, 0.8, 1.0, 1.2)
PRIME = "MENENIUS:\n"  # the corpus opens with Coriolanus; Menenius speaks most often


def plot_losses(train_losses: list, val_losses: list, uniform: float, path: str, title: str) -> None:
    """Training loss per step (faint), its moving average, validation points, and ln(V)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(train_losses) + 1)
    window = max(1, min(50, len(train_losses) // 10))
    smooth = np.convolve(train_losses, np.ones(window) / window, mode="valid")  # centred average
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    axes.plot(steps, train_losses, color="#9ecae1", linewidth=0.8, label="training (each batch)")
    axes.plot(steps[(window - 1) // 2:][:len(smooth)], smooth, color="#08519c", linewidth=2,
              label=f"training ({window}-step average)")
    if val_losses:
        axes.plot([s for s, _ in val_losses], [v for _, v in val_losses], "o-", color="#e6550d",
                  linewidth=2, markersize=5, label="validation (held-out 10%)")
    axes.axhline(uniform, color="grey", linestyle="--", linewidth=1)
    axes.text(len(train_losses), uniform, "  uniform guess ln(V)", va="bottom", ha="right",
              color="grey", fontsize=8)
    axes.set_xlabel("training step")
    axes.set_ylabel("cross-entropy (nats per character)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend()
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict:
    parser = example_parser(__doc__, "char_rnn", quick_help="a tiny model for a few seconds (tests)")
    parser.add_argument("--cell", default="lstm", choices=("rnn", "lstm", "gru"))
    parser.add_argument("--hidden", type=int, default=None, help="hidden size (default 128; quick 32)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 1000; quick 40)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    quick = args.quick
    config = TrainConfig(
        cell=args.cell,
        hidden=args.hidden or (32 if quick else 128),
        seq_len=16 if quick else 64,          # truncated-BPTT length: gradients reach 64 steps back
        batch=8 if quick else 32,             # parallel streams through the text
        steps=args.steps or (40 if quick else 1000),
        lr=1e-2 if quick else 3e-3,           # Adam
        clip=1.0,                             # clip_grad_norm_(parameters, 1.0) each step
        device=args.device,
        eval_every=10 if quick else 100,
        checkpoint=None,
        seed=args.seed,
        progress=not quick,
    )
    vocab_size = len(Vocabulary.from_text(load_corpus()))
    uniform = math.log(vocab_size)
    print(f"{config.cell.upper()} with {config.hidden} hidden units, {config.steps} steps of "
          f"{config.batch} x {config.seq_len} characters, Adam lr {config.lr}, clip {config.clip}, "
          f"on {config.device}; vocabulary {vocab_size} characters (uniform guess: "
          f"{uniform:.3f} nats/char)")

    started = time.perf_counter()
    result = train(config)
    seconds = time.perf_counter() - started
    losses = result.train_losses
    tail = losses[-min(len(losses), config.eval_every):]
    final_train = sum(tail) / len(tail)   # the last eval_every batches: less noisy than one batch
    final_val = result.val_losses[-1][1] if result.val_losses else float("nan")
    params = sum(p.numel() for p in result.model.parameters())
    print(f"\ntrained in {seconds:.1f} s ({config.steps * config.batch * config.seq_len / seconds:,.0f} "
          f"characters/s), {params:,} parameters")
    print(f"training loss   {losses[0]:.3f} -> {final_train:.3f} nats/char "
          f"({final_train / math.log(2):.2f} bits/char; mean of the last {len(tail)} steps)")
    print(f"validation loss {final_val:.3f} nats/char" + "".join(
        f"\n  step {step:5d}: {value:.3f}" for step, value in result.val_losses))

    curve = os.path.join(args.out, "loss_curve.png")
    plot_losses(losses, result.val_losses, uniform, curve,
                f"character-level {config.cell.upper()} ({config.hidden} units) on the bundled "
                f"Shakespeare: {seconds:.0f} s on {config.device}")

    samples, length = {}, 80 if quick else 300
    for temperature in TEMPERATURES:
        tg.manual_seed(args.seed + 1)     # the same random draws for every temperature
        samples[temperature] = sample_text(result.model, result.vocab, PRIME, length, temperature)
    text = "".join(f"=== temperature {t} ===\n{s}\n\n" for t, s in samples.items())
    samples_path = os.path.join(args.out, "samples.txt")
    with open(samples_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    print("\n" + text.rstrip())
    print(f"\nwrote {curve}\nwrote {samples_path}")
    return {"initial_train_loss": losses[0], "final_train_loss": final_train, "final_val_loss": final_val,
            "val_losses": result.val_losses, "uniform_loss": uniform, "seconds": seconds,
            "parameters": params, "samples": samples, "figures": [curve], "samples_path": samples_path}


if __name__ == "__main__":
    main()
