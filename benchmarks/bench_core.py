"""Benchmark the core engine: how backward scales with graph size, and per-op overhead.

Two questions, each answered by a table:

1. Is backward linear in the number of recorded ops?  We build a long chain of
   cheap elementwise ops on a tiny tensor (so the NumPy work is negligible and
   only the engine's bookkeeping is measured), then time the build and the
   backward pass separately and divide by the chain length.
2. What does the engine cost per op on small tensors?  We time
   ``z = op(a, b); z.backward(grad)`` for a 64x64 add and matmul against the
   same arrays pushed through raw NumPy by hand, and the forward alone under
   ``no_grad()`` against the bare NumPy op.

Every measurement is repeated for several rounds after a warm-up; the tables
report the median, min and max over the rounds.

    python benchmarks/bench_core.py                          # full run (~1-2 minutes)
    python benchmarks/bench_core.py --quick --rounds 1       # smoke run (seconds)
    python benchmarks/bench_core.py --markdown docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import tinygrad_rnn as tg

FULL_CHAIN_LENGTHS = (10_000, 100_000, 200_000)
QUICK_CHAIN_LENGTHS = (1_000, 10_000)
FULL_OP_ITERATIONS = 3_000
QUICK_OP_ITERATIONS = 200
SMALL_SHAPE = (64, 64)

# --markdown replaces the text between these markers (or appends a new section).
SECTION_HEADING = "## Core engine (issue: core engine)"


@dataclass
class Stats:
    """Median, min and max of one measurement over the rounds (all in the same unit)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: list[float], scale: float = 1.0) -> "Stats":
        """Summarise ``samples``, each multiplied by ``scale`` (e.g. 1e6 for microseconds)."""
        scaled = [s * scale for s in samples]
        return cls(statistics.median(scaled), min(scaled), max(scaled))

    def cell(self, digits: int = 1) -> str:
        """``median (min-max)``, as printed in a table cell."""
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


# ---- describing the machine ----------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's guess elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def blas_info() -> str:
    """Which BLAS NumPy calls: threadpoolctl's runtime view if installed, else NumPy's build info."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)"
                     for p in pools) or "unknown"


def machine_line() -> str:
    """One line naming the platform, CPU, core count, Python, NumPy and BLAS."""
    return (f"{platform.platform()}; {cpu_model()}; {os.cpu_count()} cores; "
            f"Python {platform.python_version()}; NumPy {np.__version__}; BLAS {blas_info()}")


# ---- timing ----------------------------------------------------------------------------------

def time_per_call(step: Callable[[], object], iterations: int, rounds: int) -> list[float]:
    """Seconds per call of ``step``, one sample per round of ``iterations`` calls (after a warm-up)."""
    for _ in range(max(1, iterations // 10)):
        step()
    samples: list[float] = []
    for _ in range(rounds):
        gc.collect()  # every round starts with the same amount of garbage: none
        start = time.perf_counter()
        for _ in range(iterations):
            step()
        samples.append((time.perf_counter() - start) / iterations)
    return samples


# ---- 1. backward on long chains --------------------------------------------------------------

def build_chain(x: tg.Tensor, length: int) -> tg.Tensor:
    """``length`` recorded ops on ``x``: alternately ``* 1.0001`` and ``+ 0.001`` (length is even)."""
    y = x
    for _ in range(length // 2):
        y = y * 1.0001
        y = y + 0.001
    return y


def time_chain(length: int) -> tuple[float, float]:
    """Seconds to build a chain of ``length`` ops, and seconds for its backward pass."""
    x = tg.randn(4, requires_grad=True)
    gc.collect()
    start = time.perf_counter()
    y = build_chain(x, length)
    built = time.perf_counter()
    y.backward(tg.ones_like(y))
    done = time.perf_counter()
    return built - start, done - built


def graph_is_freed(length: int, run_backward: bool) -> bool:
    """Build a chain, optionally backward through it, drop it: is its first node gone?

    A weak reference to the first node tells; no ``gc.collect()`` is run, so the graph
    must be freed by reference counting alone. Getting here at all also shows that
    neither backward nor the freeing recursed once per node (RecursionError, or a crash).
    """
    x = tg.randn(4, requires_grad=True)
    y = x * 1.0
    first_node = weakref.ref(y.grad_fn)
    y = build_chain(y, length)
    if run_backward:
        y.backward(tg.ones_like(y))
    del y
    return first_node() is None


def chain_table(lengths: tuple[int, ...], rounds: int) -> str:
    """Markdown table of build and backward times per chain length, plus the linearity ratio."""
    time_chain(lengths[0])  # warm-up
    # each round times every length, so drift in the machine's load or heap hits all alike
    samples: dict[int, list[tuple[float, float]]] = {length: [] for length in lengths}
    for _ in range(rounds):
        for length in lengths:
            samples[length].append(time_chain(length))
    rows = ["| ops in chain | build (ms) | backward (ms) | build per op (us) | backward per op (us) |",
            "|---:|---:|---:|---:|---:|"]
    per_op_backward = {}
    for length in lengths:
        build = [b for b, _ in samples[length]]
        backward = [w for _, w in samples[length]]
        per_op_backward[length] = Stats.of(backward, 1e6 / length)
        rows.append(f"| {length:,} | {Stats.of(build, 1e3).cell(0)} | "
                    f"{Stats.of(backward, 1e3).cell(0)} | {Stats.of(build, 1e6 / length).cell(2)} | "
                    f"{per_op_backward[length].cell(2)} |")
    small, large = lengths[0], lengths[-1]
    ratio = per_op_backward[large].median / per_op_backward[small].median
    freed = graph_is_freed(large, run_backward=True) and graph_is_freed(large, run_backward=False)
    return "\n".join(rows) + (
        f"\n\nBackward time per op, {large:,} vs {small:,} ops (medians): ratio {ratio:.2f} "
        f"(1.00 = perfectly linear).\n"
        f"Graph of {large:,} ops freed by reference counting, with and without backward: "
        f"{'yes' if freed else 'NO'} (no RecursionError).")


# ---- 2. per-op overhead on small tensors -----------------------------------------------------

def op_steps(kind: str) -> tuple[Callable[[], object], ...]:
    """For ``kind`` ("add" or "matmul") on 64x64 inputs, four loop bodies to time:
    tinygrad_rnn forward + backward, the same arrays in NumPy, tinygrad_rnn forward, NumPy forward."""
    a = tg.randn(*SMALL_SHAPE, requires_grad=True)
    b = tg.randn(*SMALL_SHAPE, requires_grad=True)
    grad = tg.randn(*SMALL_SHAPE)
    na, nb, ng = a.detach().numpy(), b.detach().numpy(), grad.numpy()

    def tg_forward() -> tg.Tensor:
        return a + b if kind == "add" else a @ b

    def tg_forward_backward() -> None:
        a.grad = b.grad = None  # as a training loop's zero_grad would, so grads are not summed
        tg_forward().backward(grad)

    def numpy_forward() -> np.ndarray:
        return na + nb if kind == "add" else na @ nb

    def numpy_forward_backward() -> tuple[np.ndarray, ...]:
        if kind == "add":
            return na + nb, ng, ng  # the gradient passes through to both inputs unchanged
        return na @ nb, ng @ nb.T, na.T @ ng

    return tg_forward_backward, numpy_forward_backward, tg_forward, numpy_forward


def overhead_table(iterations: int, rounds: int) -> str:
    """Markdown table of microseconds per op, tinygrad_rnn against NumPy, and the difference."""
    rows = ["| op (64x64) | pass | tinygrad_rnn (us) | NumPy (us) | overhead (us, medians) |",
            "|---|---|---:|---:|---:|"]

    def row(kind: str, mode: str, ours: list[float], numpy: list[float]) -> str:
        ours_us, numpy_us = Stats.of(ours, 1e6), Stats.of(numpy, 1e6)
        return (f"| {kind} | {mode} | {ours_us.cell()} | {numpy_us.cell()} | "
                f"{ours_us.median - numpy_us.median:.1f} |")

    for kind in ("add", "matmul"):
        tg_both, numpy_both, tg_forward, numpy_forward = op_steps(kind)
        rows.append(row(kind, "forward + backward", time_per_call(tg_both, iterations, rounds),
                        time_per_call(numpy_both, iterations, rounds)))
        with tg.no_grad():
            forward_only = time_per_call(tg_forward, iterations, rounds)
        rows.append(row(kind, "forward (no_grad)", forward_only,
                        time_per_call(numpy_forward, iterations, rounds)))
    return "\n".join(rows)


# ---- report ----------------------------------------------------------------------------------

def report(args: argparse.Namespace) -> str:
    """The whole report as Markdown: command, machine, both tables."""
    lengths = QUICK_CHAIN_LENGTHS if args.quick else FULL_CHAIN_LENGTHS
    iterations = QUICK_OP_ITERATIONS if args.quick else FULL_OP_ITERATIONS
    command = " ".join(["python benchmarks/bench_core.py", *sys.argv[1:]])
    return (f"Command: `{command}`\n\n"
            f"Machine: {machine_line()}; tinygrad_rnn device: {tg.default_device()} "
            f"(the NumPy column always runs on the CPU)\n\n"
            f"Cells are median (min-max) over {args.rounds} rounds; the garbage collector "
            f"stays on, as in normal use.\n\n"
            f"### Chain backward (elementwise ops on a tensor of shape (4,))\n\n"
            f"{chain_table(lengths, args.rounds)}\n\n"
            f"### Per-op cost, {iterations:,} calls per round\n\n"
            f"{overhead_table(iterations, args.rounds)}\n")


def write_markdown(path: Path, body: str, name: str, heading: str) -> None:
    """Put ``body`` between the ``name`` markers in ``path``; else in place of the paragraph
    under ``heading``; else append it as a new section. Text outside the markers is kept."""
    begin, end = f"<!-- {name}: begin generated -->", f"<!-- {name}: end generated -->"
    block = f"{begin}\n{body}{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + block + rest.split(end, 1)[1]
    elif f"{heading}\n" in text:
        before, rest = text.split(f"{heading}\n", 1)
        next_section = rest.find("\n## ")
        text = before + f"{heading}\n\n{block}\n" + (rest[next_section:] if next_section >= 0 else "")
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    path.write_text(text)


def publish(body: str, markdown: Path | None, name: str, heading: str) -> None:
    """Print the report and, with ``--markdown FILE``, write it into its section of FILE."""
    print(body)
    if markdown:
        write_markdown(markdown, body, name, heading)
        print(f"written to {markdown}")


def parse_args() -> argparse.Namespace:
    """The command line: --quick, --rounds, --device and --markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke run (chains of 10^3 and 10^4 ops)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement")
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the report into FILE, replacing this benchmark's section")
    parser.add_argument("--device", default="cpu", help="tinygrad_rnn's device: cpu or cuda")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    tg.set_default_device(args.device)  # every tensor the benchmark creates goes there
    publish(report(args), args.markdown, "bench_core", SECTION_HEADING)


if __name__ == "__main__":
    main()
