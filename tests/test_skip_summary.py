"""``pytest`` sums the skipped tests up by reason (tests/conftest.py) instead of listing each one."""
from __future__ import annotations

import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
PYPROJECT = os.path.join(os.path.dirname(TESTS), "pyproject.toml")

SKIPPING_TESTS = '''
import pytest

@pytest.mark.parametrize("n", range(3))
def test_needs_a_gpu(n):
    pytest.skip("CuPy/GPU not available: no GPU here")

@pytest.mark.skipif(True, reason="Graphviz dot is not installed")
def test_needs_dot():
    pass

def test_runs():
    pass
'''


def test_skips_are_summed_up_by_reason(tmp_path):
    (tmp_path / "test_skipping.py").write_text(SKIPPING_TESTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", PYPROJECT, "--rootdir", str(tmp_path),
                           "-p", "conftest", "-p", "no:cacheprovider", str(tmp_path / "test_skipping.py")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "3 tests skipped: CuPy/GPU not available: no GPU here" in lines, proc.stdout
    assert "1 test skipped: Graphviz dot is not installed" in lines, proc.stdout
    assert not any(line.startswith("SKIPPED") for line in lines), proc.stdout  # not one line per test
