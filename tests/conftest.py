"""Shared fixtures: the devices every device-sensitive test runs on, and a collector-free mode;
and a one-line-per-reason summary of the skipped tests."""
from __future__ import annotations

from collections import Counter

import pytest

import tinygrad_rnn
from tinygrad_rnn.core.autograd import cycle_collector_paused
from fake_backend import FAKE_DEVICE, register as register_fake_device

# a NumPy-backed second device (tests only) so device plumbing is exercised without a GPU
register_fake_device()


def _cuda_unavailable_reason() -> str | None:
    """None when ``cuda:0`` can be used, else why not (for the skip message)."""
    try:
        devices = tinygrad_rnn.available_devices()
    except Exception as error:  # a broken CuPy install must skip, not error, the GPU tests
        return f"available_devices() raised {type(error).__name__}: {error}"
    if "cuda:0" not in devices:
        return f"'cuda:0' is not among the available devices {devices}"
    return None


@pytest.fixture(scope="session", params=["cpu", "fake", "cuda"])
def device(request: pytest.FixtureRequest) -> str:
    """The device string to create tensors on: ``"cpu"`` and the test-only ``"fake:0"`` always,
    ``"cuda:0"`` when usable. On "fake", anything created on the default device instead of the
    inputs' device fails with a device-mismatch error.

    Session-scoped so hypothesis tests can use it (it holds no state).
    """
    if request.param == "fake":
        return FAKE_DEVICE
    if request.param == "cuda":
        reason = _cuda_unavailable_reason()
        if reason is not None:
            pytest.skip(f"CuPy/GPU not available: {reason}")
        return "cuda:0"
    return "cpu"


@pytest.fixture
def gc_disabled():
    """Run the test with the cycle collector off: only reference counting frees memory."""
    with cycle_collector_paused():
        yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per reason for the skipped tests ("584 tests skipped: CuPy/GPU not available: ..."),
    instead of one line per test: on a machine without a GPU every CUDA case is skipped for the
    same reason. ``pytest -rs`` still lists them one by one."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count} test{'s' * (count != 1)} skipped: {reason}")
