"""The recurrent benchmark runs end to end, and its NumPy reference computes the right gradients.

The second test is what makes the benchmark's floor trustworthy: the hand-written BPTT of
``benchmarks/numpy_reference.py`` must give tinygrad_rnn's gradients (float64, tiny model).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.app.models import CharRNN
from tinygrad_rnn.nn.functional import cross_entropy

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import numpy_reference as ref  # noqa: E402 (found through the path set just above)


def test_bench_rnn_quick_runs() -> None:
    command = [sys.executable, str(BENCHMARKS / "bench_rnn.py"), "--quick", "--rounds", "1",
               "--sizes", "S", "--cells", "lstm"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Gradient check (float64" in result.stdout and "passed" in result.stdout


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_numpy_reference_gradients_match_tinygrad(cell: str) -> None:
    vocab, hidden, batch, steps = 7, 5, 3, 4
    rng = np.random.default_rng(1)
    params = ref.init_params(cell, vocab, hidden, rng, "float64")
    ids, targets = rng.integers(0, vocab, (steps, batch)), rng.integers(0, vocab, (steps, batch))
    loss, grads = ref.CharModel(cell, params).loss_and_grads(ids, targets)

    model = CharRNN(vocab, hidden, cell=cell, dtype="float64")
    model.load_state_dict(params)
    logits, _ = model(tg.tensor(ids))
    expected = cross_entropy(logits.reshape(-1, vocab), tg.tensor(targets.reshape(-1)))
    expected.backward()

    np.testing.assert_allclose(loss, expected.item(), rtol=1e-10)
    assert set(grads) == {name for name, _ in model.named_parameters()}
    for name, param in model.named_parameters():
        np.testing.assert_allclose(grads[name], param.grad.numpy(), rtol=1e-6, atol=1e-12, err_msg=name)
