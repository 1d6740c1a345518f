"""Time the eager training step of two checkouts of tinygrad_rnn against each other.

The engine was rewritten to be read (no speed tricks inside it); this measures what that
costs. Each round runs, in fresh subprocesses and alternating, the same character-level
training step (CharRNN: embedding -> one RNN/LSTM/GRU layer -> linear head -> mean
cross-entropy -> backward -> SGD) on this checkout and on a baseline checkout, and the
ratio is taken within the round, so machine noise affects both sides alike.

    git worktree add /tmp/baseline <commit>          # the code to compare with
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_versions.py --baseline /tmp/baseline
    ... --sizes S --cells lstm --rounds 3             # a quicker run
    ... --markdown docs/benchmarks.md                 # write the table into its section
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"S": (65, 128, 32, 32, 10), "L": (65, 512, 64, 64, 2), "S64": (65, 64, 8, 32, 10)}  # V, H, B, T, steps
SECTION_HEADING = "## The eager engine against the code before its rewrite"


def child(checkout: str, size: str, cell: str) -> None:
    """In a subprocess: import tinygrad_rnn from ``checkout`` and print the median step time (ms)."""
    sys.path.insert(0, checkout)
    import numpy as np
    import tinygrad_rnn as tg
    try:
        from tinygrad_rnn.app.models import CharRNN
    except ImportError:  # checkouts from before the core/app layout
        from tinygrad_rnn.models import CharRNN
    from tinygrad_rnn.nn.functional import cross_entropy

    vocab, hidden, batch, length, steps = SIZES[size]
    tg.manual_seed(0)
    model = CharRNN(vocab, hidden, 1, cell)
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    ids, targets = tg.tensor(rng.integers(0, vocab, (length, batch))), tg.tensor(rng.integers(0, vocab, (length * batch,)))

    def step() -> None:
        logits, _ = model(ids)
        loss = cross_entropy(logits.reshape(-1, vocab), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"ms": 1000 * statistics.median(times)}))


def measure(checkout: str, size: str, cell: str) -> float:
    result = subprocess.run([sys.executable, __file__, "--child", checkout, size, cell], capture_output=True,
                            text=True, check=True, env=os.environ)
    return json.loads(result.stdout.strip().splitlines()[-1])["ms"]


def report(baseline: str, sizes: list[str], cells: list[str], rounds: int) -> str:
    current = str(HERE.parent)
    rows = []
    for size in sizes:
        for cell in cells:
            pairs = []
            for _ in range(rounds):
                before, after = measure(baseline, size, cell), measure(current, size, cell)
                pairs.append((before, after))
                print(f"{size} {cell}: baseline {before:.2f} ms, this checkout {after:.2f} ms", flush=True)
            ratios = [after / before for before, after in pairs]
            rows.append(f"| {size} | {cell} | {statistics.median(p[0] for p in pairs):.2f} | "
                        f"{statistics.median(p[1] for p in pairs):.2f} | {statistics.median(ratios):.2f} "
                        f"({min(ratios):.2f}-{max(ratios):.2f}) |")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    return "\n".join([
        f"Baseline: `{baseline}`; this checkout: `{current}`. Median of {rounds} rounds, each a fresh "
        f"subprocess per side, alternating; OPENBLAS_NUM_THREADS={threads}. Sizes (V, H, B, T): "
        + ", ".join(f"{name} {SIZES[name][:4]}" for name in sizes) + ".",
        "",
        "| size | cell | baseline ms/step | this checkout ms/step | ratio (min-max) |",
        "|---|---|---|---|---|",
        *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a checkout of the code to compare with (e.g. a git worktree)")
    parser.add_argument("--sizes", default="S,L", help="comma-separated, from " + ", ".join(SIZES))
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="write the table into this file's section")
    parser.add_argument("--child", nargs=3, metavar=("CHECKOUT", "SIZE", "CELL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if not args.baseline:
        parser.error("--baseline CHECKOUT is required")
    body = report(args.baseline, args.sizes.split(","), args.cells.split(","), args.rounds)
    sys.path.insert(0, str(HERE))
    from bench_core import publish

    publish(body, args.markdown, "versions", SECTION_HEADING)


if __name__ == "__main__":
    main()
