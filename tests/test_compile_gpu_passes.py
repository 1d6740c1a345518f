"""The GPU-only parts of ``tinygrad_rnn.compile``, tested on the CPU where their logic allows.

- ``fuse_elementwise`` (in ``GPU_PASSES``): runs of elementwise instructions become one
  ``FusedKernel``; off a GPU a kernel runs its operations one at a time, so fusing must not
  change a result, and the CUDA source it would compile is checked as text.
- ``cuda_graph=True``: the graphed replay (static inputs, static outputs, checks after the
  launch, no random numbers) on the test device "fake", whose ``capture_graph`` replays the
  recorded function on the same arrays as a graph would.

On a CUDA device (``scripts/gpu_check.sh``) the same tests run against real kernels and graphs.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.app.models import CharRNN, detach_state
from tinygrad_rnn.compiler import DEFAULT_PASSES, GPU_PASSES
from tinygrad_rnn.compiler.fusion import FusedKernel, fuse_elementwise
from tinygrad_rnn.nn.functional import cross_entropy

V, H, B, T = 11, 8, 3, 5


def char_lm(cell: str, device: str, dropout: float = 0.0, dtype: str = "float32"):
    """A seeded 2-layer char LM, its Adam optimizer and its training step."""
    tg.manual_seed(0)
    model = CharRNN(V, H, 2, cell, dropout, device=device, dtype=dtype)
    optimizer = tg.optim.Adam(model.parameters(), lr=0.01)

    def step(x, y, state):
        logits, state = model(x, state)
        loss = cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, detach_state(state)

    return model, step


def batches(device: str, count: int = 6) -> list:
    rng = np.random.default_rng(3)
    return [tuple(tg.tensor(rng.integers(0, V, (T, B)), device=device) for _ in range(2)) for _ in range(count)]


def train(step, data) -> list[float]:
    state, losses = None, []
    for x, y in data:
        loss, state = step(x, y, state)
        losses.append(loss.item())
    return losses


def kernels(program) -> list[FusedKernel]:
    return [c for c in program.constants if isinstance(c, FusedKernel)]


# ---- fused elementwise kernels --------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_fusing_changes_no_result(cell, device):
    """GPU_PASSES against DEFAULT_PASSES: the same training (a kernel off the GPU runs the very
    operations it replaced), with the gate maths of every time step in fused kernels."""
    data = batches(device)
    plain_model, plain_step = char_lm(cell, device)
    fused_model, fused_step = char_lm(cell, device)
    compiled = tg.compile(fused_step, passes=GPU_PASSES)
    assert train(compiled, data) == train(tg.compile(plain_step, passes=DEFAULT_PASSES), data)
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    found = kernels(compiled.program)
    assert len(found) >= T  # one kernel or more per time step
    assert "backend.fused(" in compiled.program.source
    for kernel in found:
        assert len(set(kernel.inputs)) == len(kernel.inputs) and kernel.outputs


def test_the_cuda_source_of_a_sigmoid():
    """sigmoid(x) = 1 / (1 + exp(-x)): four operations, one kernel, typed literals."""
    x = tg.tensor(np.linspace(-2, 2, 6, dtype="float32"))

    @tg.compile(passes=[("fuse_elementwise", fuse_elementwise)])
    def forward(x):
        return x.sigmoid()

    for _ in range(2):
        result = forward(x)
    np.testing.assert_allclose(result.numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    (kernel,) = kernels(forward.program)
    (source,) = kernel.inputs
    (result_name,) = kernel.outputs
    assert kernel.parameters == (f"float32 {source}", f"float32 {result_name}")
    lines = kernel.cuda_source.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("float ") and f"= -{source};" in lines[0]
    assert "= exp(" in lines[1] and "((float)1) + " in lines[2]
    assert lines[3].startswith(f"{result_name} = ((float)1) / ")


def test_float64_kernels_compute_in_double():
    """Parameters, locals and literals (tanh's derivative 1 - y^2) take the arrays' type."""
    w = tg.tensor(np.full(4, 0.5), dtype="float64", requires_grad=True)

    @tg.compile(passes=[("fuse_elementwise", fuse_elementwise)])
    def step(x):
        loss = ((x * w).tanh() * 3.0).sum()
        loss.backward()
        return loss

    step(tg.tensor(np.ones(4), dtype="float64"))
    sources = [k.cuda_source for k in kernels(step.program)]
    assert sources and all(k.parameters[0].startswith("float64 ") for k in kernels(step.program))
    assert any("((double)1) - " in source for source in sources)
    assert not any("float " in source for source in sources)


def test_a_result_read_after_its_run_is_an_output_of_the_kernel():
    """What only the run reads stays inside the kernel; what is read later (or saved for
    backward) comes out of it."""
    w = tg.tensor(np.ones(3, dtype="float32"), requires_grad=True)

    @tg.compile(passes=[("fuse_elementwise", fuse_elementwise)])
    def step(x):
        hidden = (x * w).tanh()  # saved by tanh's backward: an output of the kernel
        loss = (hidden * hidden).sum()
        loss.backward()
        return loss

    x = tg.tensor(np.array([0.1, 0.2, 0.3], dtype="float32"))
    for _ in range(3):
        w.grad = None
        loss = step(x)
    expected = np.tanh(x.numpy())
    assert loss.item() == pytest.approx(float((expected ** 2).sum()), rel=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), 2 * expected * (1 - expected ** 2) * x.numpy(), rtol=1e-6)
    assert any(len(k.outputs) < len(k.steps) for k in kernels(step.program))  # some values stayed inside


# ---- CUDA graphs ---------------------------------------------------------------------------------
def graph_device(device: str) -> None:
    if device == "cpu":
        pytest.skip("the CPU cannot record graphs (see test_cuda_graph_needs_a_cuda_device)")


def test_a_graphed_step_trains_as_the_plain_replay(device):
    """New batches each call are copied into the recorded input arrays; the parameters are
    updated in place by every launch; the results equal the ungraphed replay's bit for bit."""
    graph_device(device)
    data = batches(device)
    graphed_model, graphed_step = char_lm("lstm", device)
    plain_model, plain_step = char_lm("lstm", device)
    graphed = tg.compile(graphed_step, cuda_graph=True)
    assert train(graphed, data) == train(tg.compile(plain_step), data)
    for a, b in zip(graphed_model.parameters(), plain_model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.grad is not None


def test_a_graphed_step_returns_its_static_outputs(device):
    """As with PyTorch's CUDA graphs, a returned tensor is the graph's own array: the next
    call overwrites it (copy what you keep)."""
    graph_device(device)
    w = tg.tensor(np.ones(2, dtype="float32"), requires_grad=True, device=device)
    step = tg.compile(lambda x: (x * w).sum() * 1.0, cuda_graph=True)
    step(tg.tensor([1.0, 1.0], device=device))      # captured eagerly
    first = step(tg.tensor([1.0, 2.0], device=device))  # recorded
    kept = first.numpy().copy()
    second = step(tg.tensor([5.0, 5.0], device=device))
    assert kept == 3.0 and second.item() == 10.0 and first.item() == 10.0


def test_checks_are_made_after_the_launch(device):
    """A graph cannot stop to read a value: an out-of-range class index is found after the step."""
    graph_device(device)
    model, step = char_lm("gru", device)
    graphed = tg.compile(step, cuda_graph=True)
    data = batches(device, 3)
    train(graphed, data)
    bad = tg.tensor(np.full((T, B), V), device=device)  # V is one past the last class
    with pytest.raises(IndexError, match="embedding: ids must be in"):
        graphed(bad, data[0][1], None)


def test_a_graph_refuses_random_numbers(device):
    """Dropout draws new numbers each step; a graph would draw the recorded ones again."""
    graph_device(device)
    model, step = char_lm("lstm", device, dropout=0.5)
    graphed = tg.compile(step, cuda_graph=True)
    with pytest.raises(tg.CaptureError, match="random numbers"):
        train(graphed, batches(device, 3))


def test_cuda_graph_needs_a_cuda_device():
    model, step = char_lm("rnn", "cpu")
    graphed = tg.compile(step, cuda_graph=True)
    with pytest.raises(RuntimeError, match="CUDA graphs need a CUDA device"):
        train(graphed, batches("cpu", 3))
