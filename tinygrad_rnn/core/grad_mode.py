"""Whether ops are being recorded: ``no_grad()``, ``enable_grad()``, ``set_grad_enabled``.

The flag is thread-local, so a ``no_grad()`` block in one thread (say, a sampling
loop) never switches recording off in another.
"""
from __future__ import annotations

import functools
import os
import threading
import traceback
from typing import Any, Callable, Sequence, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode(threading.local):
    enabled = True  # class attributes: the defaults every new thread starts with
    anomaly = False  # check every forward and backward for NaN/Inf (see detect_anomaly)


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when new ops are recorded on the tape."""
    return _mode.enabled


class set_grad_enabled:
    """Switch recording on or off: as a call, a context manager or a decorator."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        self.previous = _mode.enabled
        _mode.enabled = self.enabled

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        _mode.enabled = self.previous


class _ModeContext:
    """Set one recording flag inside a block; a context manager that is also a decorator."""

    flag, value = "enabled", True

    def __enter__(self) -> None:
        self.previous = getattr(_mode, self.flag)
        setattr(_mode, self.flag, self.value)

    def __exit__(self, *exc_info: Any) -> None:
        setattr(_mode, self.flag, self.previous)

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():  # a fresh context per call keeps recursion and threads safe
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_ModeContext):
    """Record nothing inside: for evaluation, sampling and in-place parameter updates.

    >>> with no_grad():
    ...     y = model(x)       # y.requires_grad is False
    """

    flag, value = "enabled", False


class enable_grad(_ModeContext):
    """Record again inside a ``no_grad`` block."""

    flag, value = "enabled", True


def is_anomaly_enabled() -> bool:
    return _mode.anomaly


class set_detect_anomaly:
    """Turn anomaly detection on or off: as a call, or as a context manager."""

    def __init__(self, mode: bool) -> None:
        self.previous = _mode.anomaly
        _mode.anomaly = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        _mode.anomaly = self.previous


class detect_anomaly(_ModeContext):
    """Find where a NaN or Inf comes from.

    Inside the block every op records the stack of the code that created it, and any
    forward or backward that produces NaN/Inf (from finite inputs) raises a RuntimeError
    naming the op and showing that line of your code. Slow, so off by default: when off
    it costs one flag test per op. Also a decorator.
    """

    flag, value = "anomaly", True


def check_finite(node: Any, phase: str, results: Sequence, inputs: Sequence) -> None:
    """Anomaly mode: raise if the arrays ``results`` hold NaN/Inf although every input was finite."""
    xp = node.backend.xp
    finite = lambda a: a is None or a.dtype.kind not in "fc" or bool(xp.isfinite(a).all())  # noqa: E731
    if all(finite(r) for r in results) or not all(finite(a) for a in inputs):
        return
    where = "".join(getattr(node, "creation_stack", None) or ["  (created outside anomaly mode)\n"])
    raise RuntimeError(f"{node.name}: {phase} produced NaN or Inf from finite inputs. The op was "
                       f"created here:\n{where}")


def creation_site() -> list[str]:
    """The caller's stack outside tinygrad_rnn, formatted: where an op was created."""
    package = os.path.dirname(os.path.abspath(__file__))
    frames = [f for f in traceback.extract_stack() if not os.path.abspath(f.filename).startswith(package)]
    return traceback.format_list(frames[-4:])
