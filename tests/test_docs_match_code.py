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


def _compiled_example():
    """The step section 11 lists: nn.RNN(2, 3), a Linear(3, 1) head, squared error, SGD; T = 2, batch 1."""
    import tinygrad_rnn as tg
    from tinygrad_rnn.compiler import passes

    tg.manual_seed(0)
    cell, head = tg.nn.RNN(2, 3), tg.nn.Linear(3, 1)  # found in this order: the listing numbers them so
    opt = tg.optim.SGD(list(cell.parameters()) + list(head.parameters()), lr=0.1)

    def step(x, y):
        out, _ = cell(x)
        loss = ((head(out) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    x, y = tg.randn(2, 1, 2), tg.randn(2, 1, 1)
    plain, optimised = tg.compile(step, passes=()), tg.compile(step)
    with pytest.MonkeyPatch.context() as patch:  # the text quotes it with every result pooled
        patch.setattr(passes, "SMALLEST_POOLED", 0)
        for compiled in (plain, optimised):
            for _ in range(3):
                compiled(x, y)
    return plain.program, optimised.program


def _instruction(line: str) -> str:
    return " ".join(line.split("#")[0].split())


def test_the_listing_in_section_11_is_what_the_program_prints():
    """Every instruction line of the section's listing is a line of that program's listing, and
    every instruction the text quotes from the optimised program is in it."""
    text = open(DOC, encoding="utf-8").read().split("## 11.")[1]
    listing = re.search(r"```\n(# \d+ instructions.*?)```", text, re.S).group(1)
    plain, optimised = _compiled_example()
    printed = {_instruction(line) for line in str(plain).splitlines()}
    quoted = [_instruction(line) for line in listing.splitlines() if line.startswith("b")]
    assert len(quoted) >= 15 and [line for line in quoted if line not in printed] == []
    assert listing.splitlines()[0].startswith(str(plain).splitlines()[0].split(";")[0])
    source = optimised.source
    for line in ("b29 = xp.tanh(b28, out=b108)", "b27 = xp.matmul(b26, b23, out=m6)"):
        assert line in source


def test_every_test_robustness_md_cites_exists():
    """docs/robustness.md names the tests that cover each failure mode (``file.py::test_name``):
    each file exists and defines that test."""
    tests = os.path.dirname(os.path.abspath(__file__))
    text = open(os.path.join(os.path.dirname(tests), "docs", "robustness.md"), encoding="utf-8").read()
    cited = set(re.findall(r"\b(test_\w+\.py)::(test_\w+)", text))
    assert len(cited) > 50
    missing = []
    for file, name in sorted(cited):
        path = os.path.join(tests, file)
        if not os.path.exists(path) or not re.search(rf"^def {name}\(", open(path, encoding="utf-8").read(), re.M):
            missing.append(f"{file}::{name}")
    assert not missing, f"docs/robustness.md cites tests that do not exist: {missing}"
