"""Device registry: which backend serves which device string.

``get_backend("cpu")`` returns the NumPy backend; ``get_backend("cuda:0")`` the CuPy
one (imported only when first asked for). Backends register a device *type*
(``"cpu"``, ``"cuda"``) with a factory that builds the backend for one device index.
The process-wide default device comes from ``TINYGRAD_RNN_DEVICE`` at import and
``set_default_device``; an explicit ``device=`` argument overrides both.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator

import numpy

from .base import Backend
from .numpy_backend import NumpyBackend

# dtypes are NumPy's (CuPy uses the same objects), re-exported as tinygrad_rnn.float32 etc.
float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
bool_ = numpy.dtype("bool")

_factories: dict[str, Callable[[int], Backend]] = {}
_instances: dict[str, Backend] = {}
_seed: list[int | None] = [None]  # the last manual_seed, applied to backends created later


def format_array(array: numpy.ndarray, prefix: str = "") -> str:
    """NumPy's array printing, as used by ``Tensor.__repr__``."""
    return numpy.array2string(array, separator=", ", prefix=prefix, threshold=200)


def register_backend(device_type: str, factory: Callable[[int], Backend]) -> None:
    """Make ``device_type`` (and ``device_type:N``) a known device served by ``factory(N)``."""
    _factories[device_type] = factory


def canonical_device(device: str) -> str:
    """``"cuda"`` -> ``"cuda:0"``, ``"cpu:0"`` -> ``"cpu"``; raises for unknown device types."""
    if not isinstance(device, str):
        device = str(device)
    device_type, _, index = device.strip().lower().partition(":")
    if device_type not in _factories:
        known = ", ".join(sorted(_factories))
        raise ValueError(f"unknown device {device!r}: expected one of {known} (optionally ':<index>')")
    if index and not index.isdigit():
        raise ValueError(f"invalid device {device!r}: the index after ':' must be a non-negative integer")
    if device_type == "cpu":
        return "cpu"
    return f"{device_type}:{int(index or 0)}"


def device_and_dtype(device: Any, dtype: Any) -> tuple[Any, Any]:
    """Sort out ``to(x)``: ``x`` may be a device (``"cuda"``) or a dtype (``"float64"``, float64)."""
    if device is not None and dtype is None:
        is_device = isinstance(device, str) and device.partition(":")[0].strip().lower() in _factories
        if not is_device:
            try:
                return None, numpy.dtype(device)
            except TypeError:
                pass
    return device, dtype


def get_backend(device: str | None = None) -> Backend:
    """The backend serving ``device`` (the default device when None), created on first use."""
    name = canonical_device(default_device() if device is None else device)
    backend = _instances.get(name)
    if backend is None:
        device_type, _, index = name.partition(":")
        backend = _factories[device_type](int(index or 0))
        backend.device = name
        if _seed[0] is not None:
            backend.seed(_seed[0])
        _instances[name] = backend
    return backend


@contextlib.contextmanager
def standing_in(real: Backend, stand_in: Any) -> Iterator[None]:
    """While a compiled step is captured, tensors made on ``real``'s device (by the factories)
    get ``stand_in`` as their backend, so their operations are recorded too."""
    previous = _instances.get(real.device)
    _instances[real.device] = stand_in
    try:
        yield
    finally:
        _instances[real.device] = previous


def available_devices() -> list[str]:
    """Devices that can be used right now (``"cpu"`` always; ``"cuda:N"`` when CuPy sees a GPU)."""
    devices = []
    for device_type in _factories:
        if device_type == "cpu":
            devices.append("cpu")
            continue
        for index in range(8):
            try:
                get_backend(f"{device_type}:{index}")
            except (RuntimeError, ImportError, ValueError):
                break
            devices.append(f"{device_type}:{index}")
    return devices


def device_mismatch(op: str, tensors: Any) -> RuntimeError:
    """The error for an op given tensors on different devices: it names the op and the devices."""
    devices = " and ".join(dict.fromkeys(t.device for t in tensors))
    if " and " not in devices:  # one device, two backend objects: one of them captures a compiled step
        return RuntimeError(f"{op}: a tensor that the compiled step did not find was used while the step was "
                            "captured (it is reached through something compile() does not look into, such as "
                            "a helper function's globals); pass it to the step as an argument, or name its "
                            "module, optimizer or tensor in the step's closure or globals")
    return RuntimeError(f"{op}: expected all tensors on the same device, got {devices}; "
                        f"move them first, e.g. tensor.to({tensors[0].device!r})")


def manual_seed(seed: int) -> None:
    """Seed the random generator of every device, now and for devices used later."""
    _seed[0] = int(seed)
    for backend in _instances.values():
        backend.seed(_seed[0])


# ---- default device ---------------------------------------------------------------
_default = ["cpu"]


def set_default_device(device: str) -> None:
    """Make ``device`` the default for new tensors, factories and modules."""
    get_backend(device)  # fail now, with the backend's own message, if it cannot be used
    _default[0] = canonical_device(device)


def default_device() -> str:
    """The current default device string."""
    return _default[0]


register_backend("cpu", lambda index: NumpyBackend("cpu"))


def _create_cuda_backend(index: int) -> Backend:
    from .cupy_backend import CupyBackend  # lazy: importing tinygrad_rnn never imports CuPy

    return CupyBackend(index)


register_backend("cuda", _create_cuda_backend)

if os.environ.get("TINYGRAD_RNN_DEVICE"):
    _default[0] = canonical_device(os.environ["TINYGRAD_RNN_DEVICE"])

__all__ = [
    "Backend", "NumpyBackend", "register_backend", "get_backend", "available_devices",
    "canonical_device", "device_and_dtype", "device_mismatch", "format_array", "manual_seed", "set_default_device", "default_device",
    "float16", "float32", "float64", "int32", "int64", "bool_",
]
