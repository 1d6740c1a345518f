"""The README's Python examples run as written and print what their comments say."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

import tinygrad_rnn as tg

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _python_block_after(heading: str) -> str:
    """The first ```python block of the README section that starts with ``heading``."""
    text = open(README, encoding="utf-8").read()
    section = text.split(f"## {heading}", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _run(code: str, namespace: dict | None = None) -> dict:
    namespace = {} if namespace is None else namespace
    exec(compile(code, README, "exec"), namespace)  # noqa: S102 (the README's own code)
    return namespace


def test_ten_lines_of_autograd(capsys):
    names = _run(_python_block_after("Ten lines of autograd"))
    printed = capsys.readouterr().out.split("\n")
    assert printed[0] == "<Sum>" and printed[-2] == "True"
    assert names["w"].grad.shape == (3, 1)


def test_your_own_op():
    names = _run(_python_block_after("Your own op"))
    x = names["x"]
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-x.detach().numpy())), rtol=1e-12)


def test_gradients_of_gradients(capsys):
    names = _run(_python_block_after("Gradients of gradients"))
    assert capsys.readouterr().out.strip() == "-0.726862"
    t = np.tanh(0.5)
    assert names["d2y"].item() == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)


@pytest.fixture(scope="module")
def trained_lstm():
    return _run(_python_block_after("An LSTM, trained"))


def test_an_lstm_trained_reaches_the_loss_its_comment_says(trained_lstm):
    assert trained_lstm["loss"].item() < 0.05  # "0.56 at step 0, 0.02 now"


def test_truncated_bptt_runs_on_chunks_of_the_same_wave(trained_lstm):
    namespace = dict(trained_lstm)
    x, y = namespace["x"], namespace["y"]
    namespace["chunks"] = [(x[:100], y[:100]), (x[100:], y[100:])]
    code = open(README, encoding="utf-8").read().split("### Truncated BPTT", 1)[1]
    _run(re.search(r"```python\n(.*?)```", code, re.S).group(1), namespace)
    h, c = namespace["state"]
    assert h.grad_fn is None and c.grad_fn is None  # detached: the next chunk starts a new graph


def test_seeing_the_graph_runs_after_the_ordinary_backward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tg.manual_seed(0)
    model = tg.nn.LSTM(2, 3)
    out, _ = model(tg.randn(4, 1, 2))
    loss = out.sum()
    loss.backward()  # the pictures work after it, from what it recorded
    names = _run(_python_block_after("Seeing the graph"), {"loss": loss, "model": model})
    assert (tmp_path / "lstm.svg").read_text().startswith(("<?xml", "<svg"))
    assert (tmp_path / "flow.svg").exists()
    assert names["viz"].hidden_grad_norms(loss).shape == (4,)


def test_compiled_steps(capsys):
    names = _run(_python_block_after("Compiled steps"))
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["2 (64, 16)", "True"]
    step = names["step"]
    listing = str(step.program)
    assert "sigmoid backward layer=0 direction=forward t=9" in listing and step.program.passes


def test_batches_of_different_lengths(capsys):
    _run(_python_block_after("Batches of different lengths"))
    assert capsys.readouterr().out.strip() == "[5, 2, 3] 0.0 True"
