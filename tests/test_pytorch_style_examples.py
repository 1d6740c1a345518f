"""The PyTorch-style examples (examples/names_classifier.py, names_generator.py) are PyTorch code
with two import lines changed: they run on tinygrad_rnn, and, where torch is installed, the
same files with ``import torch`` run on PyTorch."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SCRIPTS = ["names_classifier.py", "names_generator.py"]
IMPORTS = {"import tinygrad_rnn as torch": "import torch", "from tinygrad_rnn import nn": "from torch import nn"}


def run(folder: str, script: str) -> str:
    result = subprocess.run([sys.executable, os.path.join(folder, script), "--quick"], capture_output=True,
                            text=True, timeout=300, cwd=folder, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def as_pytorch(source: str) -> str:
    """The file with its two tinygrad_rnn import lines turned into PyTorch's."""
    for ours, theirs in IMPORTS.items():
        source = re.sub(rf"^{re.escape(ours)}\b.*$", theirs, source, flags=re.M)
    return source


@pytest.mark.parametrize("script", SCRIPTS)
def test_only_the_import_lines_name_tinygrad_rnn(script):
    source = open(os.path.join(EXAMPLES, script), encoding="utf-8").read()
    lines = [line for line in source.splitlines() if "tinygrad_rnn" in line]
    assert [line.split("  #")[0] for line in lines] == list(IMPORTS)
    assert "tinygrad_rnn" not in as_pytorch(source)


def test_the_classifier_learns_above_chance():
    out = run(EXAMPLES, "names_classifier.py")
    accuracy, chance = map(float, re.search(r"held-out accuracy ([\d.]+) \(chance ([\d.]+)\)", out).groups())
    assert accuracy > 1.5 * chance, out
    assert len(re.findall(r"^\s+\w+ -> \w+ \(\d\.\d\d\)$", out, re.M)) == 6, out


def test_the_generator_makes_up_names_for_each_language():
    out = run(EXAMPLES, "names_generator.py")
    losses = [float(v) for v in re.findall(r"loss ([\d.]+)", out)]
    assert losses[-1] < losses[0], out
    rows = re.findall(r"^\s*(\w+): (.+)$", out, re.M)
    assert len(rows) == 6 and all(len(names.split(", ")) == 4 for _, names in rows), out


def test_the_same_files_run_on_pytorch(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (it is not a dependency)")
    shutil.copytree(os.path.join(EXAMPLES, "data"), tmp_path / "data")
    for script in SCRIPTS:
        source = open(os.path.join(EXAMPLES, script), encoding="utf-8").read()
        (tmp_path / script).write_text(as_pytorch(source), encoding="utf-8")
    assert "held-out accuracy" in run(str(tmp_path), "names_classifier.py")
    assert "Japanese:" in run(str(tmp_path), "names_generator.py")
