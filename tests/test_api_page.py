"""docs/pytorch_api.md lists the PyTorch API the project covers: every name it lists exists."""
from __future__ import annotations

import importlib
import os
import re

import pytest

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "pytorch_api.md")


def covered_sections() -> dict[str, list[str]]:
    """``{"tinygrad_rnn.nn": ["Module", ...], ...}`` from the page's "Covered" part."""
    covered = open(PAGE, encoding="utf-8").read().split("## Covered", 1)[1].split("\n## ", 1)[0]
    sections = {}
    for heading, body in re.findall(r"^### `([\w.]+)` \(`[\w.]+`\)\n(.*?)(?=^### |\Z)", covered, re.S | re.M):
        sections[heading] = re.findall(r"`(\w+)`", body)
    return sections


def resolve(path: str):
    """``tinygrad_rnn.nn.Module`` -> the object: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def test_the_page_lists_every_namespace_it_promises():
    assert set(covered_sections()) >= {"tinygrad_rnn", "tinygrad_rnn.Tensor", "tinygrad_rnn.nn",
                                       "tinygrad_rnn.nn.functional", "tinygrad_rnn.nn.utils.rnn",
                                       "tinygrad_rnn.optim", "tinygrad_rnn.optim.lr_scheduler"}


@pytest.mark.parametrize("namespace, names", sorted(covered_sections().items()))
def test_every_listed_name_exists(namespace, names):
    where = resolve(namespace)
    missing = [name for name in names if not hasattr(where, name)]
    assert names and not missing, f"{namespace} lacks {missing}"
