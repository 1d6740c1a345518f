"""``tinygrad-rnn``: demo, train, sample and graph from the command line.

Every failure the user can cause (a missing file, a bad option, a checkpoint of
another model, CUDA without CuPy) ends in one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from typing import Sequence

from ..backends import manual_seed
from ..checkpoint import CheckpointError
from ..files import require_folder
from .train import (OPTIMIZERS, TrainConfig, TrainingError, build_model, load_checkpoint, resumed_config,
                    sample_text, train)
from .models import CELLS
from ..data import Vocabulary, load_corpus
from ..core.factories import randn, zeros
from ..nn import Linear
from ..nn.functional import cross_entropy, mse_loss
from ..core.tensor import Tensor
from ..viz import explore, recording, render

DEMO_STEPS = 500  # about a minute on 2 CPU cores
DEFAULTS = TrainConfig()  # for --help: the training defaults are written once, in TrainConfig
TRAIN_SETTINGS = {field.name for field in dataclasses.fields(TrainConfig)}
RESUME_HELP = ("With --resume, the run continues with the settings saved in the checkpoint (cell, hidden, "
               "layers, dropout, seq-len, batch, lr, optim, clip, seed, data file and the --steps target), "
               "so give only what changes: --steps or --epochs (a total counted from the start of the run, "
               "so above the checkpoint's step), --device, --eval-every, --checkpoint-every, --no-progress. "
               "Any other option given must agree with the checkpoint.")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def _add_train_options(run: argparse.ArgumentParser) -> None:
    """The options of ``train``. Each defaults to None, so that ``run_train`` can tell the options
    given on the command line (which --resume checks against the checkpoint) from those left out,
    which take their defaults from TrainConfig (or, with --resume, from the checkpoint)."""
    run.add_argument("--cell", choices=sorted(CELLS), help=f"recurrent cell (default {DEFAULTS.cell})")
    run.add_argument("--hidden", type=_positive_int, help=f"hidden size (default {DEFAULTS.hidden})")
    run.add_argument("--layers", type=_positive_int, help=f"stacked layers (default {DEFAULTS.layers})")
    run.add_argument("--dropout", type=_probability,
                     help=f"dropout between stacked layers (default {DEFAULTS.dropout})")
    run.add_argument("--seq-len", type=_positive_int, help=f"BPTT length (default {DEFAULTS.seq_len})")
    run.add_argument("--batch", type=_positive_int, help=f"batch size (default {DEFAULTS.batch})")
    length = run.add_mutually_exclusive_group()
    length.add_argument("--steps", type=_positive_int,
                        help=f"total training steps, counted from the start even with --resume "
                        f"(default {DEFAULTS.steps}; with --resume, the checkpoint's)")
    length.add_argument("--epochs", type=_positive_int,
                        help="train for this many passes over the text instead of --steps")
    run.add_argument("--lr", type=float, help=f"learning rate (default {DEFAULTS.lr})")
    run.add_argument("--optim", choices=sorted(OPTIMIZERS), help=f"optimizer (default {DEFAULTS.optim})")
    run.add_argument("--clip", type=float, help=f"gradient-norm clip, 0 to disable (default {DEFAULTS.clip})")
    run.add_argument("--device", help=f"cpu or cuda (default {DEFAULTS.device})")
    run.add_argument("--seed", type=int, help=f"random seed (default {DEFAULTS.seed})")
    run.add_argument("--data", help="UTF-8 text file (default: the bundled corpus)")
    run.add_argument("--checkpoint", help="checkpoint file (.npz) to write, and to resume from with --resume")
    run.add_argument("--resume", action="store_true",
                     help="continue the run saved in --checkpoint, with its settings (see below)")
    run.add_argument("--eval-every", type=int,
                     help=f"steps between validation losses, 0 for none (default {DEFAULTS.eval_every})")
    run.add_argument("--checkpoint-every", type=int,
                     help=f"steps between checkpoints, 0 for only at the end (default {DEFAULTS.checkpoint_every})")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--eager", action="store_true", default=None,
                     help="run each training step eagerly (default: a compiled step, captured once and replayed)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinygrad-rnn", description="Train and sample character-level RNN/LSTM/GRU "
                     "language models with tinygrad_rnn.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="train a small LSTM on the bundled corpus for about a minute",
                               description="Zero configuration: train a character LSTM on the bundled "
                               "Shakespeare, print samples before and after, write a loss curve and a checkpoint.")
    demo.add_argument("--out", default="tinygrad_rnn_demo", help="output folder (default ./tinygrad_rnn_demo)")
    demo.add_argument("--steps", type=_positive_int, default=DEMO_STEPS, help=f"training steps (default {DEMO_STEPS})")
    demo.add_argument("--device", default=DEFAULTS.device, help=f"cpu or cuda (default {DEFAULTS.device})")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.add_argument("--eager", action="store_true", help="eager training steps instead of compiled ones")

    run = commands.add_parser("train", help="train a character model on a text file",
                              description="Train a character-level model with truncated BPTT.",
                              epilog=RESUME_HELP)
    _add_train_options(run)

    sample = commands.add_parser("sample", help="generate text from a checkpoint",
                                 description="Load a checkpoint written by train or demo and sample text.")
    sample.add_argument("--checkpoint", required=True, help="checkpoint file (.npz)")
    sample.add_argument("--length", type=_positive_int, default=300, help="characters to generate (default 300)")
    sample.add_argument("--temperature", type=float, default=0.8, help="softmax temperature > 0 (default 0.8)")
    sample.add_argument("--prime", default="\n", help="text to start from (default a newline)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--device", default=DEFAULTS.device, help=f"cpu or cuda (default {DEFAULTS.device})")
    graph = commands.add_parser("graph", help="draw the unrolled graph of a tiny recurrent model",
                                description="Build a tiny RNN/LSTM/GRU, run forward and backward over a few "
                                "steps, and render its computation graph with Graphviz.")
    graph.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent cell (default lstm)")
    graph.add_argument("--steps", type=_positive_int, default=3, help="time steps (default 3)")
    graph.add_argument("--hidden", type=_positive_int, default=4, help="hidden size (default 4)")
    graph.add_argument("--input", type=_positive_int, default=2, help="input size (default 2)")
    graph.add_argument("--out", default="graph.svg", help="picture to write: .svg, .png or .pdf (default graph.svg)")
    graph.add_argument("--format", choices=["svg", "png", "pdf"], help="output format (default: from --out)")
    graph.add_argument("--group", choices=["timestep", "none"], default="timestep",
                       help="draw each time step as a cluster (default) or not")
    graph.add_argument("--collapse", action="store_true", help="draw each time step as one node")
    graph.add_argument("--grad-flow", action="store_true", help="colour nodes by log10 of their gradient norm")
    graph.add_argument("--backward", action="store_true", help="number ops in the order backward visits them")
    graph.add_argument("--html", metavar="FILE", help="also write the interactive explorer page "
                       "(one self-contained .html: click nodes, step through backward)")
    graph.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def run_demo(args: argparse.Namespace) -> None:
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "checkpoint.npz")
    config = TrainConfig(steps=args.steps, device=args.device, checkpoint=path, progress=not args.no_progress,
                         eager=args.eager)
    text = load_corpus()
    vocab = Vocabulary.from_text(text)
    manual_seed(config.seed)
    untrained = build_model(config, len(vocab))
    print(f"Training a {config.hidden}-unit character LSTM on the bundled Shakespeare "
          f"({len(text):,} characters, {len(vocab)} symbols) for {config.steps} steps.")
    print("\nBefore training:\n" + sample_text(untrained, vocab, "ROMEO:", 160) + "\n")
    result = train(config)
    print("\nAfter training:\n" + sample_text(result.model, vocab, "ROMEO:", 300) + "\n")
    curve = os.path.join(args.out, "loss_curve.png")
    plot_losses(result, curve)
    picture, page = os.path.join(args.out, "unrolled_graph.svg"), os.path.join(args.out, "graph.html")
    try:
        draw_unrolled(result.model, vocab, "ROMEO", picture, page)
        wrote = f"{curve}, {picture}, {page}"
    except RuntimeError as error:  # no Graphviz renderer: the message says where the DOT went
        print(f"(graph picture skipped: {error})")
        wrote = curve
    print(f"loss {result.train_losses[0]:.3f} -> {result.train_losses[-1]:.3f}; wrote {wrote} and {path}")


def draw_unrolled(model, vocab: Vocabulary, text: str, path: str, page: str) -> None:
    """The model's graph over a few characters, one cluster per time step, with its loss: a
    picture at ``path`` and, after a backward pass, the explorer page at ``page``."""
    ids = Tensor(vocab.encode(text[:-1]), device=model.head.weight.device).reshape(-1, 1)
    targets = Tensor(vocab.encode(text[1:]), device=ids.device).reshape(-1)
    with recording():  # keep values and gradients for the explorer page
        logits, _ = model(ids)
        loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), targets)
        loss.backward(retain_graph=True)
    render(loss, path=path, params=model, group="timestep")
    explore(loss, path=page, params=model, title=f"the trained model over {text!r}")


def run_graph(args: argparse.Namespace) -> None:
    """A tiny model over a few steps: forward, backward, and its picture (and explorer page)."""
    require_folder(args.out, "--out")
    if args.html:
        require_folder(args.html, "--html")
    manual_seed(args.seed)
    layer = CELLS[args.cell](args.input, args.hidden)
    head = Linear(args.hidden, 1)
    x = randn(args.steps, 1, args.input)
    with recording():  # keep values and gradients for the explorer page
        out, _ = layer(x)
        loss = mse_loss(head(out[-1]), zeros(1, 1))
        loss.backward(retain_graph=True)
    params = {**{f"{args.cell}.{k}": v for k, v in layer.named_parameters()},
              **{f"head.{k}": v for k, v in head.named_parameters()}}
    options = dict(params=params, group=None if args.group == "none" else args.group,
                   collapse="timestep" if args.collapse else None, grad_flow=args.grad_flow,
                   backward_order=args.backward)
    render(loss, path=args.out, format=args.format, **options)
    print(f"wrote {args.out}")
    if args.html:
        explore(loss, path=args.html, title=f"{args.cell} over {args.steps} steps", **options)
        print(f"wrote {args.html}")


def plot_losses(result, path: str) -> None:
    """Training loss per step (and validation points) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(range(1, len(result.train_losses) + 1), result.train_losses, lw=1, label="training")
    if result.val_losses:
        steps, losses = zip(*result.val_losses)
        axes.plot(steps, losses, "o-", label="validation")
    axes.set_xlabel("step")
    axes.set_ylabel("cross-entropy (nats/char)")
    axes.set_title("character LSTM on the bundled corpus")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_train(args: argparse.Namespace) -> None:
    """Train as the options say; with --resume, continue the checkpoint's run (see RESUME_HELP)."""
    given = {name: value for name, value in vars(args).items() if name in TRAIN_SETTINGS and value is not None}
    given["progress"] = not args.no_progress
    config = resumed_config(args.checkpoint, given) if args.resume else TrainConfig(**given)
    result = train(config)
    if result.train_losses:
        print(f"trained to step {result.steps_done}: loss {result.train_losses[-1]:.3f}")
    print(sample_text(result.model, result.vocab, "\n", 200))
    if config.checkpoint:
        print(f"wrote the checkpoint {config.checkpoint} (step {result.steps_done}); to train it further: "
              f"tinygrad-rnn train --checkpoint {shlex.quote(config.checkpoint)} --resume --steps N")
    else:
        print("no --checkpoint given, so the trained model was not saved")


def run_sample(args: argparse.Namespace) -> None:
    if args.temperature <= 0:
        raise TrainingError(f"--temperature must be positive, got {args.temperature}")
    saved = load_checkpoint(args.checkpoint, args.device)
    vocab = Vocabulary(saved["vocab"])
    model = build_model(TrainConfig(**{**saved["config"], "device": args.device}), len(vocab))
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as error:
        raise TrainingError(f"{args.checkpoint} does not match its recorded architecture: "
                            + " ".join(str(error).split())) from None
    manual_seed(args.seed)
    print(sample_text(model, vocab, args.prime, args.length, args.temperature))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"demo": run_demo, "train": run_train, "sample": run_sample, "graph": run_graph}
    try:
        handlers[args.command](args)
    except KeyboardInterrupt:
        print("tinygrad-rnn: interrupted", file=sys.stderr)
        return 130
    except (TrainingError, CheckpointError, RuntimeError, ValueError, OSError) as error:
        print(f"tinygrad-rnn {args.command}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0
