"""Compiled steps on a GPU against eager ones and against the CPU (run by scripts/gpu_check.sh).

For each cell, the char LM trains the same steps from the same weights and batches as:

- ``cpu eager``: the reference;
- ``cuda eager``, ``cuda compiled`` (default passes), ``cuda fused`` (``GPU_PASSES``: fused
  elementwise kernels) and ``cuda graph`` (``GPU_PASSES`` and ``cuda_graph=True``);

and prints each one's largest relative difference in loss from the reference, and its
median milliseconds per step after the captures. Any difference above 1e-3 (float32 on two
devices) is a failure: the exit status is 1.

    python scripts/gpu_compiled_check.py [--hidden 128 --batch 32 --seq-len 32 --steps 12]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn.app.models import CharRNN
from tinygrad_rnn.compiler import DEFAULT_PASSES, GPU_PASSES
from tinygrad_rnn.nn.functional import cross_entropy

VOCAB = 65
TOLERANCE = 1e-3
WAYS = {  # name: (device, how the step runs)
    "cpu eager": ("cpu", None),
    "cuda eager": ("cuda", None),
    "cuda compiled": ("cuda", dict(passes=DEFAULT_PASSES)),
    "cuda fused": ("cuda", dict(passes=GPU_PASSES)),
    "cuda graph": ("cuda", dict(passes=GPU_PASSES, cuda_graph=True)),
}


def run(cell: str, device: str, how: dict | None, args: argparse.Namespace) -> tuple[list[float], float]:
    """Train ``args.steps`` steps; the losses and the median seconds per step after the first three."""
    tg.manual_seed(0)
    model = CharRNN(VOCAB, args.hidden, 1, cell, device=device)
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1)
    backend = tg.get_backend(device)
    rng = np.random.default_rng(0)
    batches = [(tg.tensor(rng.integers(0, VOCAB, (args.seq_len, args.batch)), device=device),
                tg.tensor(rng.integers(0, VOCAB, (args.seq_len, args.batch)), device=device))
               for _ in range(args.steps)]

    def step(x, y):
        logits, _ = model(x)
        loss = cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    step_once = step if how is None else tg.compile(step, **how)
    losses, seconds = [], []
    for x, y in batches:
        start = time.perf_counter()
        loss = step_once(x, y)
        value = loss.item()  # also waits for the device
        backend.synchronize()
        seconds.append(time.perf_counter() - start)
        losses.append(value)
    return losses, statistics.median(seconds[3:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    failed = False
    print("| cell | way | max relative loss difference from cpu eager | ms per step |\n|---|---|---:|---:|")
    for cell in ("rnn", "lstm", "gru"):
        reference = None
        for name, (device, how) in WAYS.items():
            try:
                losses, seconds = run(cell, device, how, args)
            except Exception as error:  # report every way, then fail
                print(f"| {cell} | {name} | error: {type(error).__name__}: {str(error)[:120]} | |")
                failed = True
                continue
            reference = reference if reference is not None else np.array(losses)
            difference = float(np.max(np.abs(np.array(losses) / reference - 1)))
            failed |= difference > TOLERANCE
            print(f"| {cell} | {name} | {difference:.1e} | {seconds * 1e3:.2f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
