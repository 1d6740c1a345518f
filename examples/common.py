"""What every example shares: its command-line options and how it saves a figure."""
from __future__ import annotations

import argparse
import os
import time
from typing import Any

import tinygrad_rnn as tg


def example_parser(doc: str, name: str, quick_help: str = "tiny sizes, a few seconds (for the tests)") -> argparse.ArgumentParser:
    """``--device``, ``--quick``, ``--out`` (default ``examples_out/<name>``) and ``--seed``; add your own."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    parser.add_argument("--device", default="cpu", help='"cpu" or "cuda"')
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=os.path.join("examples_out", name), help="folder for the figures")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def start_run(args: argparse.Namespace) -> float:
    """Make the output folder, seed the random numbers; returns the start time."""
    os.makedirs(args.out, exist_ok=True)
    tg.manual_seed(args.seed)
    return time.perf_counter()


def save_figure(figure: Any, path: str) -> str:
    """Write a matplotlib figure (tightly laid out unless it manages its own layout) and close it."""
    import matplotlib.pyplot as plt

    if not figure.get_constrained_layout():
        figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
