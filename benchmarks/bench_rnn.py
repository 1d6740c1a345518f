"""Benchmark one training step of a character-level RNN/LSTM/GRU language model.

The step: token ids (T, B) -> embedding -> one recurrent layer (hidden size H) over T steps
-> linear head to V logits at every step -> mean cross-entropy over all B*T targets ->
backward through time -> plain SGD update (lr 0.1), in float32. Implementations, run on
the same weights and batch:

* ``numpy_ref``    the model written by hand in NumPy with hand-derived BPTT
                   (``numpy_reference.py``): the floor every ratio is measured against;
* ``torch_nn``     torch.nn.RNN/LSTM/GRU + Embedding + Linear + cross_entropy + SGD;
* ``torch_prims``  the same cell from torch's primitive ops in a Python loop;
* ``tinygrad_rnn`` ``tinygrad_rnn.app.models.CharRNN`` + ``cross_entropy`` + ``optim.SGD``, eager;
* ``compiled``     the same step through ``tinygrad_rnn.compile`` (captured once, then replayed,
                   with the default optimisation passes); its first calls (the captures) are
                   timed apart, against an eager step.

The torch rows need an interpreter with both torch and tinygrad_rnn; without torch they are
skipped. Before timing, the NumPy reference's gradients are checked against tinygrad_rnn's
in float64. Timing warms every implementation up, then interleaves them round-robin: each
round times a few steps of each, and ratios are taken within a round. Peak memory of one
LSTM step at size LONG is measured in a fresh subprocess per implementation.

    python benchmarks/bench_rnn.py                                   # full run (~6 minutes on 2 cores)
    python benchmarks/bench_rnn.py --quick --rounds 1 --sizes S      # smoke run (seconds)
    # with the torch rows: an interpreter that has torch, and tinygrad_rnn on its path
    PYTHONPATH=/work/main /tmp/torchenv/bin/python benchmarks/bench_rnn.py --markdown docs/benchmarks.md

NumPy's BLAS uses its default thread count unless told otherwise (PyTorch is given the same
count). On small virtual machines ``OPENBLAS_NUM_THREADS=1`` can be several times faster and
much steadier for these small matmuls: measure both before trusting one.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import numpy_reference as ref
import tinygrad_rnn as tg
from bench_core import Stats, machine_line, publish
from tinygrad_rnn.app.models import CharRNN
from tinygrad_rnn.nn.functional import cross_entropy
from tinygrad_rnn.optim import SGD

LR = 0.1
WARMUP_STEPS = 2
SEED = 0
CELLS = ("rnn", "lstm", "gru")
IMPLEMENTATIONS = ("numpy_ref", "torch_nn", "torch_prims", "tinygrad_rnn", "compiled")
TORCH_IMPLEMENTATIONS = ("torch_nn", "torch_prims")
GRAD_RTOL = 1e-6   # float64 gradients, numpy_ref against tinygrad_rnn
LOSS_RTOL = 1e-5   # float32 losses of the first step, every implementation against numpy_ref

# targets, printed next to the results (not asserted)
RATIO_TARGETS = {"S": 1.4, "L": 1.15}          # tinygrad_rnn / numpy_ref, every cell
LONG_LSTM_TARGET = 1.6                          # the same ratio at LONG, LSTM
MEMORY_TARGET = 1.5                             # peak memory growth of one LONG step / numpy_ref's
PER_TIME_STEP_TARGET = 1.5                      # (ms per time step at LONG) / (at S64)
PHASE_TARGET = 2.5                              # tinygrad_rnn's backward+update / forward
COMPILED_TARGETS = {"S": 1.0, "S64": 1.0, "L": 1.0, "LONG": 1.1}  # compiled / numpy_ref, every cell
COMPILED_MEMORY_TARGET = 1.3                    # compiled's peak memory growth at LONG / numpy_ref's
CAPTURE_TARGET = 3.0                            # compiled's first call / an eager step

# --markdown replaces the text between these markers (or the placeholder under the heading).
SECTION_HEADING = "## Recurrent training step"


@dataclass(frozen=True)
class Size:
    """One workload: vocabulary V, hidden size H, batch B, sequence length T, and steps timed per round."""

    name: str
    vocab: int
    hidden: int
    batch: int
    seq_len: int
    steps_per_round: int

    def describe(self) -> str:
        return f"V={self.vocab}, H={self.hidden}, B={self.batch}, T={self.seq_len}"


FULL_SIZES = {"S": Size("S", 65, 128, 32, 32, 5), "L": Size("L", 65, 512, 64, 64, 1),
              "LONG": Size("LONG", 65, 64, 8, 2000, 1), "S64": Size("S64", 65, 64, 8, 32, 5)}
QUICK_SIZES = {"S": Size("S", 65, 16, 4, 8, 2), "L": Size("L", 65, 32, 4, 8, 1),
               "LONG": Size("LONG", 65, 16, 4, 100, 1), "S64": Size("S64", 65, 16, 4, 8, 2)}
TINY = Size("tiny", 11, 8, 3, 5, 1)  # the gradient check's small config


def progress(message: str) -> None:
    """A progress line, printed at once (the report comes at the end)."""
    print(message, flush=True)


# ---- threads and the machine ------------------------------------------------------------------

def blas_threads() -> tuple[int, str]:
    """How many threads NumPy's BLAS uses, and where that number came from."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            if os.environ.get(variable, "").isdigit():
                return int(os.environ[variable]), variable
        return os.cpu_count() or 1, "os.cpu_count(), OpenBLAS's default"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return (pools[0]["num_threads"], "threadpoolctl") if pools else (os.cpu_count() or 1, "os.cpu_count()")


def import_torch(threads: int) -> ModuleType | None:
    """torch, set to use ``threads`` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def machine_report(torch: ModuleType | None) -> str:
    """The machine, NumPy, BLAS and torch, with their thread counts."""
    threads, source = blas_threads()
    lines = [f"Machine: {machine_line()}", f"BLAS threads: {threads} (from {source})."]
    if torch is None:
        lines.append("PyTorch: not importable in this interpreter; torch_nn and torch_prims skipped.")
    else:
        lines.append(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads "
                     f"(torch.set_num_threads, to match BLAS).")
    return "\n".join(lines)


# ---- the implementations ----------------------------------------------------------------------

class Trainer:
    """One implementation of the training step, with its own copy of the weights and the batch."""

    name = ""

    def step(self) -> float:
        """One training step (forward, backward, SGD update); returns the loss before the update."""
        raise NotImplementedError  # abstract: each implementation's step


class NumpyTrainer(Trainer):
    """The hand-written NumPy model of ``numpy_reference``."""

    name = "numpy_ref"

    def __init__(self, cell: str, params: dict[str, np.ndarray], ids: np.ndarray,
                 targets: np.ndarray) -> None:
        self.model = ref.CharModel(cell, {k: v.copy() for k, v in params.items()})
        self.ids, self.targets = ids, targets

    def step(self) -> float:
        return self.model.train_step(self.ids, self.targets, LR)


class TinygradTrainer(Trainer):
    """tinygrad_rnn's CharRNN; also times its forward and its backward + update apart."""

    name = "tinygrad_rnn"

    def __init__(self, cell: str, params: dict[str, np.ndarray], ids: np.ndarray, targets: np.ndarray,
                 device: str) -> None:
        vocab, hidden = params[ref.HEAD_W].shape
        self.model = CharRNN(vocab, hidden, cell=cell, device=device, dtype=params[ref.HEAD_W].dtype)
        self.model.load_state_dict(params)
        self.optimizer = SGD(self.model.parameters(), lr=LR)
        self.ids = tg.tensor(ids, device=device)
        self.targets = tg.tensor(targets.reshape(-1), device=device)
        self.backend = tg.get_backend(device)
        self.forward_seconds = self.backward_seconds = 0.0  # running totals over all steps

    def loss(self) -> tg.Tensor:
        """The forward pass: mean cross-entropy of the logits at every step."""
        logits, _ = self.model(self.ids)
        return cross_entropy(logits.reshape(-1, logits.shape[-1]), self.targets)

    def step(self) -> float:
        start = time.perf_counter()
        loss = self.loss()
        self.backend.synchronize()  # a GPU runs asynchronously: wait before reading the clock
        middle = time.perf_counter()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        self.backend.synchronize()
        end = time.perf_counter()
        self.forward_seconds += middle - start
        self.backward_seconds += end - middle
        return value


class CompiledTrainer(TinygradTrainer):
    """The same model and step as ``TinygradTrainer``, through ``tinygrad_rnn.compile``.

    ``capture_seconds`` holds the first calls, which capture a program (two: the first step
    starts without gradients, later ones with them); every later call replays.
    """

    name = "compiled"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.compiled_step = tg.compile(self.eager_step)
        self.capture_seconds: list[float] = []

    def eager_step(self) -> tg.Tensor:
        loss = self.loss()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss

    def step(self) -> float:
        captures = self.compiled_step.captures
        start = time.perf_counter()
        value = self.compiled_step().item()
        self.backend.synchronize()
        if self.compiled_step.captures != captures:
            self.capture_seconds.append(time.perf_counter() - start)
        return value


def torch_rnn_step(x_proj: Any, state: tuple, w_hh_t: Any, b_hh: Any) -> tuple:
    """h_t = tanh(x_t W_ih^T + b + h_{t-1} W_hh^T)."""
    return ((x_proj + state[0] @ w_hh_t).tanh(),)


def torch_lstm_step(x_proj: Any, state: tuple, w_hh_t: Any, b_hh: Any) -> tuple:
    """The LSTM: gates (i, f, g, o) from one matmul, C_t = f C_{t-1} + i g, h_t = o tanh(C_t)."""
    h, c = state
    i, f, g, o = (x_proj + h @ w_hh_t).chunk(4, dim=-1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def torch_gru_step(x_proj: Any, state: tuple, w_hh_t: Any, b_hh: Any) -> tuple:
    """PyTorch's GRU: n = tanh(x_n + r (h W_hn^T + b_hn)), h_t = (1 - z) n + z h_{t-1}."""
    h = state[0]
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh_t + b_hh).chunk(3, dim=-1)
    r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (n + z * (h - n),)


TORCH_STEPS = {"rnn": torch_rnn_step, "lstm": torch_lstm_step, "gru": torch_gru_step}


class TorchTrainer(Trainer):
    """PyTorch: ``torch.nn``'s layers (``primitives=False``) or the cell from primitive ops."""

    def __init__(self, torch: ModuleType, cell: str, params: dict[str, np.ndarray], ids: np.ndarray,
                 targets: np.ndarray, primitives: bool) -> None:
        self.torch, self.cell, self.primitives = torch, cell, primitives
        self.name = "torch_prims" if primitives else "torch_nn"
        self.vocab, hidden = params[ref.HEAD_W].shape
        layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.model = torch.nn.ModuleDict({"embedding": torch.nn.Embedding(self.vocab, hidden),
                                          "rnn": layer(hidden, hidden),
                                          "head": torch.nn.Linear(hidden, self.vocab)})
        self.model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()})
        self.weights = dict(self.model.named_parameters())
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.ids, self.targets = torch.from_numpy(ids), torch.from_numpy(targets.reshape(-1))

    def logits(self) -> Any:
        """Logits (T, B, V): through torch.nn's layer, or unrolled step by step."""
        x = self.model["embedding"](self.ids)
        if self.primitives:
            hidden_states = self.unroll(x)
        else:
            hidden_states = self.model["rnn"](x)[0]
        return self.model["head"](hidden_states)

    def unroll(self, x: Any) -> Any:
        """The recurrence from primitive ops: one matmul for all input projections, then a loop."""
        w = self.weights
        bias = w["rnn.bias_ih_l0"] if self.cell == "gru" else w["rnn.bias_ih_l0"] + w["rnn.bias_hh_l0"]
        x_proj = x @ w["rnn.weight_ih_l0"].T + bias
        w_hh_t = w["rnn.weight_hh_l0"].T
        zero = x.new_zeros(x.shape[1:])
        state = (zero, zero) if self.cell == "lstm" else (zero,)
        outputs = []
        for x_t in x_proj.unbind(0):
            state = TORCH_STEPS[self.cell](x_t, state, w_hh_t, w["rnn.bias_hh_l0"])
            outputs.append(state[0])
        return self.torch.stack(outputs)

    def step(self) -> float:
        loss = self.torch.nn.functional.cross_entropy(self.logits().reshape(-1, self.vocab), self.targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


def make_trainer(name: str, cell: str, params: dict[str, np.ndarray], batch: tuple[np.ndarray, np.ndarray],
                 device: str, torch: ModuleType | None) -> Trainer:
    """The implementation called ``name``, from the given weights and (ids, targets)."""
    if name == "numpy_ref":
        return NumpyTrainer(cell, params, *batch)
    if name in ("tinygrad_rnn", "compiled"):
        return (CompiledTrainer if name == "compiled" else TinygradTrainer)(cell, params, *batch, device)
    return TorchTrainer(torch, cell, params, *batch, primitives=name == "torch_prims")


def workload(size: Size, cell: str, dtype: str = "float32") -> tuple[dict[str, np.ndarray], tuple]:
    """The weights and the batch (ids, targets) every implementation starts from, for one size and cell."""
    rng = np.random.default_rng(SEED)
    params = ref.init_params(cell, size.vocab, size.hidden, rng, dtype)
    shape = (size.seq_len, size.batch)
    return params, (rng.integers(0, size.vocab, shape), rng.integers(0, size.vocab, shape))


def available(torch: ModuleType | None) -> list[str]:
    """The implementations this interpreter can run."""
    return [name for name in IMPLEMENTATIONS if torch is not None or name not in TORCH_IMPLEMENTATIONS]


# ---- correctness checks -----------------------------------------------------------------------

def check_gradients(sizes: list[Size], cells: list[str], device: str, torch: ModuleType | None) -> str:
    """Assert that numpy_ref's float64 gradients match tinygrad_rnn's (rtol 1e-6), and that every
    implementation's float32 loss of the first step matches numpy_ref's; return the summary lines."""
    grad_error = loss_error = 0.0
    for size in sizes:
        for cell in cells:
            params, (ids, targets) = workload(size, cell, "float64")
            expected_loss, expected = ref.CharModel(cell, params).loss_and_grads(ids, targets)
            ours = TinygradTrainer(cell, params, ids, targets, device)
            loss = ours.loss()
            loss.backward()
            np.testing.assert_allclose(loss.item(), expected_loss, rtol=GRAD_RTOL)
            for name, param in ours.model.named_parameters():
                grad, want = param.grad.numpy(), expected[name]
                np.testing.assert_allclose(grad, want, rtol=GRAD_RTOL, atol=1e-12,
                                           err_msg=f"{size.name} {cell} d{name}")
                grad_error = max(grad_error, float(np.abs(grad - want).max() / np.abs(want).max()))
            params, batch = workload(size, cell)
            losses = {name: make_trainer(name, cell, params, batch, device, torch).step()
                      for name in available(torch)}
            for name, value in losses.items():
                np.testing.assert_allclose(value, losses["numpy_ref"], rtol=LOSS_RTOL,
                                           err_msg=f"{size.name} {cell} float32 loss of {name}")
                loss_error = max(loss_error, abs(value / losses["numpy_ref"] - 1))
    where = " and ".join(f"{s.name} ({s.describe()})" for s in sizes)
    return (f"Gradient check (float64, numpy_ref vs tinygrad_rnn on {device}, rtol {GRAD_RTOL:g}): "
            f"passed for {', '.join(cells)} at {where}; max relative error {grad_error:.1e} "
            f"(max |difference| / max |gradient|, over all parameters).\n\n"
            f"Loss check (float32, first step from the same weights, rtol {LOSS_RTOL:g}): "
            f"{', '.join(available(torch))} agree; max relative difference {loss_error:.1e}.")


# ---- timing -----------------------------------------------------------------------------------

@dataclass
class Timing:
    """Per-round seconds per step of every implementation, for one size and cell."""

    size: Size
    cell: str
    seconds: dict[str, list[float]] = field(default_factory=dict)
    forward: list[float] = field(default_factory=list)   # tinygrad_rnn's forward, per round
    backward: list[float] = field(default_factory=list)  # tinygrad_rnn's backward + update, per round
    captures: list[float] = field(default_factory=list)  # compiled: seconds of the calls that captured

    def ms(self, name: str) -> Stats:
        """Milliseconds per step: median, min and max over the rounds."""
        return Stats.of(self.seconds[name], 1e3)

    def ratio(self, name: str) -> float:
        """Median over the rounds of (this implementation's time) / (numpy_ref's, same round)."""
        return statistics.median(a / b for a, b in zip(self.seconds[name], self.seconds["numpy_ref"]))

    def phase_ratio(self) -> float:
        """Median over the rounds of tinygrad_rnn's (backward + update) / forward."""
        return statistics.median(b / f for f, b in zip(self.forward, self.backward))


def time_workload(size: Size, cell: str, rounds: int, device: str, torch: ModuleType | None) -> Timing:
    """Warm up every implementation, then time them round-robin for ``rounds`` rounds."""
    params, batch = workload(size, cell)
    trainers = [make_trainer(name, cell, params, batch, device, torch) for name in available(torch)]
    for trainer in trainers:
        for _ in range(WARMUP_STEPS):
            trainer.step()
    timing = Timing(size, cell, {t.name: [] for t in trainers})
    timing.captures = [s for t in trainers if isinstance(t, CompiledTrainer) for s in t.capture_seconds]
    gc.collect()
    gc.freeze()  # what exists now (torch's modules, the models) is not rescanned by every collection
    try:
        run_rounds(trainers, timing, rounds, size.steps_per_round)
    finally:
        gc.unfreeze()
    progress(f"  {size.name} {cell}: " + ", ".join(
        f"{name} {timing.ms(name).median:.1f} ms" for name in timing.seconds)
        + f"; tinygrad_rnn / numpy_ref {timing.ratio('tinygrad_rnn'):.2f}")
    return timing


def run_rounds(trainers: list[Trainer], timing: Timing, rounds: int, steps: int) -> None:
    """Time ``steps`` steps of each trainer per round, in rotating order; record into ``timing``."""
    for round_index in range(rounds):
        first = round_index % len(trainers)  # rotate who goes first: no one always runs after the same
        for trainer in trainers[first:] + trainers[:first]:
            gc.collect()  # every block starts with no garbage left by the previous one
            phases = (trainer.forward_seconds, trainer.backward_seconds) \
                if type(trainer) is TinygradTrainer else None
            start = time.perf_counter()
            for _ in range(steps):
                trainer.step()
            timing.seconds[trainer.name].append((time.perf_counter() - start) / steps)
            if phases is not None:
                timing.forward.append((trainer.forward_seconds - phases[0]) / steps)
                timing.backward.append((trainer.backward_seconds - phases[1]) / steps)


# ---- memory -----------------------------------------------------------------------------------

def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    On Linux, VmHWM from /proc/self/status: it starts afresh when the process image does. The
    portable ``ru_maxrss`` does not: Linux hands a parent's peak on to a child across fork and
    exec, so a child of a big benchmark process would show no growth at all.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def reset_peak_rss() -> bool:
    """Start VmHWM afresh from the current resident memory (Linux: ``clear_refs``); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_memory(name: str, size: Size, cell: str, torch: ModuleType | None) -> dict[str, float | None]:
    """Memory growth (MB) of one training step, in this process: peak RSS, then tracemalloc's peak.

    Each measurement builds the model and batch first and then runs one step, so what grows is
    what the step allocates (numpy_ref's reusable buffers included: the first step makes them).
    ``compiled`` is measured at a replay: its two capturing calls and a first replay run
    first, then the peak starts afresh (``reset_peak_rss``) and the program's pool of arrays
    is allocated anew inside the measured step. tracemalloc sees NumPy's arrays (and Python objects)
    but not torch's allocator: None for torch.
    """
    params, batch = workload(size, cell)

    def ready_trainer() -> Trainer:
        trainer = make_trainer(name, cell, params, batch, "cpu", torch)
        if isinstance(trainer, CompiledTrainer):
            while trainer.compiled_step.captures < 2:
                trainer.step()
            trainer.step()  # the replay is compiled now; its pool is allocated anew in the measured step
        gc.collect()
        return trainer

    def measured_step(trainer: Trainer) -> None:
        if isinstance(trainer, CompiledTrainer):
            compiled = trainer.compiled_step.last
            compiled.program.allocate_arena(compiled.backend)  # counted, as numpy_ref's first-step buffers are
        trainer.step()

    trainer = ready_trainer()
    if isinstance(trainer, CompiledTrainer) and not reset_peak_rss():
        rss_mb = None
    else:
        before = peak_rss_mb()
        measured_step(trainer)
        rss_mb = peak_rss_mb() - before
    if name in TORCH_IMPLEMENTATIONS:
        return {"rss_mb": rss_mb, "traced_mb": None}
    del trainer
    gc.collect()
    trainer = ready_trainer()
    tracemalloc.start()
    measured_step(trainer)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"rss_mb": rss_mb, "traced_mb": peak / 2**20}


def memory_in_subprocess(name: str, cell: str, quick: bool) -> dict[str, float | None]:
    """``measure_memory`` in a fresh interpreter running this script, so nothing is shared."""
    command = [sys.executable, __file__, "--measure-memory", name, "--cells", cell]
    result = subprocess.run(command + (["--quick"] if quick else []), capture_output=True, text=True,
                            timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"memory measurement of {name} {cell} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- report -----------------------------------------------------------------------------------

def timing_tables(timings: list[Timing], names: list[str]) -> str:
    """Milliseconds per step of every implementation, then their ratios to numpy_ref."""
    rows = ["| size | cell | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    rows += [f"| {t.size.name} | {t.cell} | " + " | ".join(t.ms(n).cell() for n in names) + " |"
             for t in timings]
    others = names[1:]
    rows += ["", "Ratio to numpy_ref (median over rounds of the per-round ratio; lower is faster):", "",
             "| size | cell | " + " | ".join(others) + " |", "|---|---|" + "---:|" * len(others)]
    rows += [f"| {t.size.name} | {t.cell} | " + " | ".join(f"{t.ratio(n):.2f}" for n in others) + " |"
             for t in timings]
    return "\n".join(rows)


def phase_table(timings: list[Timing]) -> str:
    """tinygrad_rnn's forward against its backward + update."""
    rows = ["| size | cell | forward (ms) | backward + update (ms) | backward / forward |",
            "|---|---|---:|---:|---:|"]
    rows += [f"| {t.size.name} | {t.cell} | {statistics.median(t.forward) * 1e3:.1f} | "
             f"{statistics.median(t.backward) * 1e3:.1f} | {t.phase_ratio():.2f} |" for t in timings]
    return "\n".join(rows)


def capture_table(timings: list[Timing]) -> str:
    """The compiled step's capturing calls against the eager step (tinygrad_rnn's median)."""
    rows = ["| size | cell | first call (ms) | second call (ms) | eager step (ms) | first / eager | "
            "second / eager |", "|---|---|---:|---:|---:|---:|---:|"]
    for t in timings:
        if len(t.captures) >= 2 and "tinygrad_rnn" in t.seconds:
            eager = t.ms("tinygrad_rnn").median
            first, second = (c * 1e3 for c in t.captures[:2])
            rows.append(f"| {t.size.name} | {t.cell} | {first:.1f} | {second:.1f} | {eager:.1f} | "
                        f"{first / eager:.2f} | {second / eager:.2f} |")
    return "\n".join(rows)


def memory_table(memory: dict[str, dict[str, float | None]], size: Size, cell: str) -> str:
    """Peak memory growth of one step at LONG, and its ratio to numpy_ref's."""
    rows = [f"Peak memory growth of one training step at {size.name} ({size.describe()}), {cell}, each "
            "implementation in a fresh process on the CPU, from its model and batch built to the end of "
            "its first step (compiled: one replay, after its capturing calls). tracemalloc: peak of traced allocations (NumPy's arrays included; torch's "
            "allocator is not traced). Peak RSS: growth of the process's peak resident memory (VmHWM; "
            "`ru_maxrss` would include the parent's peak, which Linux hands on to a child).", "",
            "| implementation | tracemalloc peak (MB) | ratio | peak RSS growth (MB) | ratio |",
            "|---|---:|---:|---:|---:|"]
    base = memory["numpy_ref"]
    for name, m in memory.items():
        traced = "n/a" if m["traced_mb"] is None else f"{m['traced_mb']:.1f}"
        traced_ratio = "n/a" if m["traced_mb"] is None else f"{m['traced_mb'] / base['traced_mb']:.2f}"
        rss = "n/a" if m["rss_mb"] is None else f"{m['rss_mb']:.1f}"
        rss_ratio = f"{m['rss_mb'] / base['rss_mb']:.2f}" if m["rss_mb"] is not None and base["rss_mb"] > 0 else "-"
        rows.append(f"| {name} | {traced} | {traced_ratio} | {rss} | {rss_ratio} |")
    return "\n".join(rows)


def per_time_step(timing: Timing, name: str) -> float:
    """Milliseconds per time step (the median step time divided by T)."""
    return timing.ms(name).median / timing.size.seq_len


def per_time_step_table(pairs: dict[str, tuple[Timing, Timing]], names: list[str]) -> str:
    """Milliseconds per time step at S64 and at LONG, per cell and implementation, and their ratio."""
    rows = ["| cell | implementation | S64 (ms per time step) | LONG (ms per time step) | LONG / S64 |",
            "|---|---|---:|---:|---:|"]
    for cell, (short, long) in pairs.items():
        for name in names:
            rows.append(f"| {cell} | {name} | {per_time_step(short, name):.3f} | "
                        f"{per_time_step(long, name):.3f} | "
                        f"{per_time_step(long, name) / per_time_step(short, name):.2f} |")
    return "\n".join(rows)


def target_lines(timings: list[Timing], pairs: dict[str, tuple[Timing, Timing]],
                 memory_ratio: float | None, compiled_memory_ratio: float | None) -> str:
    """Each target that this run measured, its values and whether all of them are within it."""
    checks: list[tuple[str, float, dict[str, float]]] = []
    for size, target in RATIO_TARGETS.items():
        checks.append((f"{size}: tinygrad_rnn / numpy_ref", target,
                       {t.cell: t.ratio("tinygrad_rnn") for t in timings if t.size.name == size}))
    checks.append(("LONG, LSTM: tinygrad_rnn / numpy_ref", LONG_LSTM_TARGET,
                   {t.cell: t.ratio("tinygrad_rnn") for t in timings
                    if (t.size.name, t.cell) == ("LONG", "lstm")}))
    checks.append(("LONG, LSTM: tinygrad_rnn's peak memory growth (tracemalloc) / numpy_ref's", MEMORY_TARGET,
                   {} if memory_ratio is None else {"lstm": memory_ratio}))
    checks.append(("tinygrad_rnn's time per time step, LONG / S64", PER_TIME_STEP_TARGET,
                   {cell: per_time_step(long, "tinygrad_rnn") / per_time_step(short, "tinygrad_rnn")
                    for cell, (short, long) in pairs.items()}))
    for size, target in COMPILED_TARGETS.items():
        checks.append((f"{size}: compiled / numpy_ref", target,
                       {t.cell: t.ratio("compiled") for t in timings if t.size.name == size and "compiled" in t.seconds}))
    checks.append(("LONG, LSTM: compiled's peak memory growth (tracemalloc) / numpy_ref's", COMPILED_MEMORY_TARGET,
                   {} if compiled_memory_ratio is None else {"lstm": compiled_memory_ratio}))
    checks.append(("compiled: first call (capture) / eager step", CAPTURE_TARGET,
                   {f"{t.size.name} {t.cell}": t.captures[0] * 1e3 / t.ms("tinygrad_rnn").median
                    for t in timings if t.captures and "tinygrad_rnn" in t.seconds}))
    checks.append(("tinygrad_rnn's backward + update / forward", PHASE_TARGET,
                   {f"{t.size.name} {t.cell}": t.phase_ratio() for t in timings}))
    lines = ["Targets (printed, not asserted):", ""]
    for label, target, values in checks:
        if values:
            verdict = "met" if all(v <= target for v in values.values()) else "missed"
            lines.append(f"- {label} <= {target}: **{verdict}** ("
                         + ", ".join(f"{key} {value:.2f}" for key, value in values.items()) + ")")
    return "\n".join(lines)


def command_line() -> str:
    """This run's command, with the environment variables that change what is measured."""
    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "PYTHONPATH")
           if k in os.environ]
    return " ".join([*env, sys.executable, "benchmarks/bench_rnn.py", *sys.argv[1:]])


def report(args: argparse.Namespace, sizes: list[Size], torch: ModuleType | None) -> str:
    """Run everything asked for; the report as Markdown."""
    names = available(torch)
    load_before = os.getloadavg()[0]
    if args.no_check:
        check = "Gradient check: skipped (--no-check)."
    else:
        progress("checking gradients ...")
        check_sizes = [TINY, (QUICK_SIZES if args.quick else FULL_SIZES)["S"]]
        check = check_gradients(check_sizes, args.cells, args.device, torch)
        progress(check)
    timings = []
    for size in sizes:
        progress(f"timing {size.name} ({size.describe()}), {args.rounds} rounds of "
                 f"{size.steps_per_round} step(s) per implementation ...")
        timings += [time_workload(size, cell, args.rounds, args.device, torch) for cell in args.cells]
    sections = [
        f"Command: `{command_line()}`", machine_report(torch).replace("\n", "\n\n"),
        "Sizes: " + "; ".join(f"{s.name}: {s.describe()}" for s in sizes) + ". One step = embedding, "
        "one recurrent layer over T steps, linear head, mean cross-entropy over B*T targets, full "
        f"BPTT backward, SGD update (lr {LR}), float32. tinygrad_rnn runs on `{args.device}`; "
        "numpy_ref and torch always run on the CPU.",
        f"Method: {WARMUP_STEPS} warm-up steps each, then {args.rounds} rounds; in every round each "
        "implementation (in rotating order) runs "
        + ", ".join(f"{s.steps_per_round} step(s) at {s.name}" for s in sizes)
        + ", and its mean time per step is one sample. Cells are median (min-max) over the rounds, "
        "in ms per training step. The garbage collector stays on, as in normal use, but what exists "
        "before the rounds (modules, torch's included, and the models) is frozen with `gc.freeze()`, "
        "so collections cost what they would in a process without torch.",
        check, timing_tables(timings, names),
        "tinygrad_rnn's step split in two (medians over rounds; the ratio is the median of the "
        "per-round ratios):\n\n" + phase_table(timings)]
    if "compiled" in names:
        sections.append("The compiled step's capturing calls (the first call captures the step without "
                        "gradients, the second with them; every later call replays), against the eager "
                        "step's median:\n\n" + capture_table(timings))
    memory_ratio = compiled_memory_ratio = None
    long_size = next((s for s in sizes if s.name == "LONG"), None)
    if long_size is not None:
        cell = "lstm" if "lstm" in args.cells else args.cells[0]  # one cell: a process each is slow
        progress(f"measuring memory at LONG ({cell}), one fresh process per implementation ...")
        memory = {name: memory_in_subprocess(name, cell, args.quick) for name in names}
        sections.append(memory_table(memory, long_size, cell))
        if cell == "lstm":
            memory_ratio = memory["tinygrad_rnn"]["traced_mb"] / memory["numpy_ref"]["traced_mb"]
            if "compiled" in memory:
                compiled_memory_ratio = memory["compiled"]["traced_mb"] / memory["numpy_ref"]["traced_mb"]
    by_key = {(t.size.name, t.cell): t for t in timings}
    pairs = {cell: (by_key["S64", cell], by_key["LONG", cell]) for cell in args.cells
             if ("S64", cell) in by_key and ("LONG", cell) in by_key}
    if pairs:
        short, long = next(iter(pairs.values()))
        sections.append(f"Cost per time step, LONG against S64 (same H and B, T = {long.size.seq_len} vs "
                        f"{short.size.seq_len}): a ratio near 1 (or below: fixed costs spread over more "
                        "steps) means the step is linear in T.\n\n" + per_time_step_table(pairs, names))
    sections.append(target_lines(timings, pairs, memory_ratio, compiled_memory_ratio))
    sections.append(f"Load average (1 minute) before and after the run: {load_before:.2f}, "
                    f"{os.getloadavg()[0]:.2f} (about 1 is this benchmark alone; more means other work "
                    "shared the CPUs).")
    return "\n\n".join(sections) + "\n"


def parse_args() -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,L,LONG,S64", help="comma-separated, from S, L, LONG, S64")
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated, from rnn, lstm, gru")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 7, or 2 with --quick)")
    parser.add_argument("--device", default="cpu", help="tinygrad_rnn's device: cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the report into FILE, replacing this benchmark's section")
    parser.add_argument("--no-check", action="store_true", help="skip the gradient and loss checks")
    parser.add_argument("--measure-memory", metavar="IMPL", choices=IMPLEMENTATIONS,
                        help=argparse.SUPPRESS)  # internal: the memory subprocess
    args = parser.parse_args()
    args.sizes, args.cells = args.sizes.split(","), args.cells.split(",")
    if unknown := [s for s in args.sizes if s not in FULL_SIZES] + [c for c in args.cells if c not in CELLS]:
        parser.error(f"unknown size or cell: {', '.join(unknown)}")
    args.rounds = args.rounds if args.rounds is not None else (2 if args.quick else 7)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    needs_torch = args.measure_memory in (None, *TORCH_IMPLEMENTATIONS)
    torch = import_torch(blas_threads()[0]) if needs_torch else None
    all_sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.measure_memory:
        print(json.dumps(measure_memory(args.measure_memory, all_sizes["LONG"], args.cells[0], torch)))
        return
    if torch is None:
        progress("torch is not importable here: torch_nn and torch_prims are skipped "
                 "(run with an interpreter that has torch and tinygrad_rnn, e.g. "
                 "PYTHONPATH=/work/main /tmp/torchenv/bin/python)")
    publish(report(args, [all_sizes[name] for name in args.sizes], torch), args.markdown, "bench_rnn",
            SECTION_HEADING)


if __name__ == "__main__":
    main()
