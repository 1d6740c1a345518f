"""The sequence examples (examples/vanishing_gradients.py, long_dependency.py, char_rnn.py)
run end to end in --quick mode, write their figures, and show the effect they teach."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)


def assert_png(path: str) -> None:
    assert os.path.isfile(path), path
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_MAGIC, path


def assert_svg(path: str) -> None:
    assert os.path.isfile(path), path
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg"), root.tag


def test_vanishing_gradients(tmp_path):
    import vanishing_gradients

    result = vanishing_gradients.main(["--quick", "--out", str(tmp_path)])
    ratio = result["ratio"]
    assert set(ratio) == {"RNN", "LSTM", "GRU"}
    assert all(0 < r < 1 for r in ratio.values()), ratio          # all decay at initialisation
    assert ratio["RNN"] < ratio["LSTM"], ratio                     # the RNN's decays fastest
    assert result["lstm_forget_bias"][5.0] > result["lstm_forget_bias"][0.0]
    assert result["rnn_weight_gain"][4.0] > 1 > result["rnn_weight_gain"][1.0]  # vanish <-> explode
    assert_png(str(tmp_path / "grad_norms.png"))
    assert_png(str(tmp_path / "init_knobs.png"))
    assert_svg(str(tmp_path / "grad_flow_rnn_vs_lstm.svg"))


def test_long_dependency(tmp_path):
    """Run as a script, as a user would: the script sets BLAS to one thread before NumPy is loaded,
    and on a busy 2-core machine the default (two threads) makes these tiny products 10-100x slower."""
    script = os.path.join(EXAMPLES, "long_dependency.py")
    proc = subprocess.run([sys.executable, script, "--quick", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = re.findall(r"^ +(\S.*?) +G= *(\d+): accuracy ([\d.]+) after +(\d+) steps", proc.stdout, re.M)
    accuracy = {(row, int(gap)): float(value) for row, gap, value, _ in runs}
    steps = {(row, int(gap)): int(count) for row, gap, _, count in runs}
    rows, gaps = sorted({row for row, _ in accuracy}), sorted({gap for _, gap in accuracy})
    assert gaps == [5, 30] and {"RNN", "LSTM", "GRU"} <= set(rows)
    assert len(accuracy) == len(rows) * len(gaps) and all(0 <= a <= 1 for a in accuracy.values()), accuracy
    chance = 0.25
    short, long = gaps
    assert all(accuracy[cell, short] > 0.9 for cell in ("RNN", "LSTM", "GRU")), accuracy  # a short gap is easy
    # the point of the figure: at the long gap the RNN stays near chance, the gated cells still learn
    assert accuracy["RNN", long] < chance + 0.15, accuracy
    assert min(accuracy["LSTM", long], accuracy["GRU", long]) > 0.9, accuracy
    assert steps["RNN", long] == 200 > max(steps["LSTM", long], steps["GRU", long]), steps  # 200: the budget
    blocks = dict(re.findall(r"^  (RNN|LSTM|GRU) +(\d+) = ", proc.stdout, re.M))
    assert int(blocks["LSTM"]) > int(blocks["GRU"]) > int(blocks["RNN"]), blocks
    assert_png(str(tmp_path / "accuracy_vs_gap.png"))


def test_char_rnn(tmp_path):
    import char_rnn

    result = char_rnn.main(["--quick", "--out", str(tmp_path)])
    assert math.isfinite(result["final_train_loss"]) and math.isfinite(result["final_val_loss"])
    assert result["final_train_loss"] < result["initial_train_loss"] - 0.3
    assert result["final_val_loss"] < result["uniform_loss"]
    assert_png(str(tmp_path / "loss_curve.png"))
    samples = (tmp_path / "samples.txt").read_text(encoding="utf-8")
    for temperature in char_rnn.TEMPERATURES:
        assert f"temperature {temperature}" in samples
    assert all(len(text) > len(char_rnn.PRIME) for text in result["samples"].values())
