"""docs/autograd_internals.md quotes the engine line by line: every quoted line must still
be in the code, so the walkthrough never describes an engine that no longer exists."""
from __future__ import annotations

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "autograd_internals.md")
ENGINE = [os.path.join(ROOT, "tinygrad_rnn", "core", name) for name in ("autograd.py", "tensor.py", "grad.py")]


def _without_comment(line: str) -> str:
    return line.split("  #")[0].strip()


def _engine_lines() -> set[str]:
    return {_without_comment(line) for path in ENGINE for line in open(path, encoding="utf-8")}


def _quoted_blocks() -> list[list[str]]:
    """Python blocks of the document whose first line is a line of the engine's code."""
    code = _engine_lines()
    blocks = re.findall(r"```python\n(.*?)```", open(DOC, encoding="utf-8").read(), re.S)
    lines = [[_without_comment(line) for line in block.splitlines() if line.strip() and line.strip() != "..."]
             for block in blocks]
    return [block for block in lines if block and block[0] in code]


def test_the_walkthrough_quotes_the_engine():
    assert len(_quoted_blocks()) >= 6  # recording, ordering, the walk, sums, create_graph ...


@pytest.mark.parametrize("block", _quoted_blocks(), ids=lambda block: block[0][:40])
def test_every_quoted_line_is_in_the_code(block):
    code = _engine_lines()
    missing = [line for line in block if line not in code]
    assert not missing, f"docs/autograd_internals.md quotes lines the code no longer has: {missing}"
