"""What every example shares: its command-line options and how it saves a figure."""
from __future__ import annotations

import argparse
import os
from typing import Any


def example_parser(doc: str, name: str, quick_help: str = "tiny sizes, a few seconds (for the tests)") -> argparse.ArgumentParser:
    """``--device``, ``--quick`` and ``--out`` (default ``examples_out/<name>``); add your own."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    parser.add_argument("--device", default="cpu", help='"cpu" or "cuda"')
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=os.path.join("examples_out", name), help="folder for the figures")
    return parser


def save_figure(figure: Any, path: str) -> str:
    """Write a matplotlib figure (tightly laid out unless it manages its own layout) and close it."""
    import matplotlib.pyplot as plt

    if not figure.get_constrained_layout():
        figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
