"""The core benchmark script runs end to end (a smoke test: no timing is checked)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_core.py"


def test_bench_core_quick_runs() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--rounds", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backward" in result.stdout.lower()
