"""``save``/``load``: nested dicts of tensors, arrays and numbers in one ``.npz`` file.

No pickle, ever: every leaf becomes a plain array, and a JSON description of the
nesting (which keys, which kinds) is stored beside them, so ``load`` rebuilds the
structure with ``allow_pickle=False``. Writes go to a temporary file in the same
folder that is renamed over the target only when complete, so an interrupted save
leaves the previous checkpoint intact. Tensors from any device are brought to the host
first: the file format is NumPy's.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import IO, Any

import numpy

from .backends import canonical_device, get_backend
from .core.tensor import Tensor
from .files import write_atomically

FORMAT = "tinygrad_rnn.checkpoint/1"
_META_KEY = "__structure__"


# ---- the file format: NumPy's .npz on the host, never pickled --------------------------------
def write_npz(stream: IO[bytes], arrays: dict[str, Any]) -> None:
    """Write host arrays (and strings, stored as 0-d unicode arrays) to an open binary stream."""
    numpy.savez(stream, **{name: numpy.asarray(value) for name, value in arrays.items()})


def read_npz(path: str) -> dict[str, Any]:
    """Every array of an ``.npz`` file, read eagerly, with pickled objects refused.

    Raises ``ValueError`` (also for truncated files) or ``OSError``.
    """
    loaded = numpy.load(path, allow_pickle=False)
    if not isinstance(loaded, numpy.lib.npyio.NpzFile):
        raise ValueError("a single .npy array, not an .npz archive")
    with loaded as archive:
        return {name: archive[name] for name in archive.files}


_ZIP_MAGIC = b"PK\x03\x04"  # an .npz file is a zip archive, and a zip archive starts with these bytes
_NPY_MAGIC = b"\x93NUMPY"   # a single array written by numpy.save


class CheckpointError(ValueError):
    """A file that is not a readable tinygrad_rnn checkpoint (truncated, foreign, malformed)."""


def _describe(value: Any, arrays: dict, path: str) -> Any:
    """The JSON description of ``value``; its arrays go into ``arrays`` under numbered keys."""
    if isinstance(value, dict):
        return {"kind": "dict", "items": [[_key(k, path), _describe(v, arrays, f"{path}/{k}")]
                                          for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"kind": type(value).__name__, "items": [_describe(v, arrays, f"{path}/{i}")
                                                        for i, v in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"kind": "value", "value": value}
    key = f"a{len(arrays)}"
    if isinstance(value, Tensor):
        arrays[key] = value.backend.to_numpy(value.data)
        return {"kind": "tensor", "key": key, "device": value.device}
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        if getattr(value.dtype, "hasobject", False):
            raise TypeError(f"save: {path or 'the value'} is an object array, which cannot be "
                            "stored without pickle")
        arrays[key] = get_backend("cpu").asarray(value)
        return {"kind": "array", "key": key}
    raise TypeError(f"save: cannot store {type(value).__name__} at {path or 'the top level'}; "
                    "use dicts, lists, tensors, arrays, numbers, strings or None")


def _key(key: Any, path: str) -> list:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"save: dict keys must be str or int, got {type(key).__name__} at {path or '/'}")
    return [type(key).__name__, key]


def save(state: Any, path: str | os.PathLike) -> None:
    """Write ``state`` (nested dicts/lists of tensors, arrays, numbers, strings) to ``path``.

    The write is atomic: a crash mid-save leaves any previous file at ``path`` untouched.
    """
    arrays: dict = {}
    structure = {"format": FORMAT, "root": _describe(state, arrays, "")}
    arrays[_META_KEY] = json.dumps(structure)
    write_atomically(os.fspath(path), lambda stream: write_npz(stream, arrays))


def _rebuild(node: dict, arrays: Any, device: str | None) -> Any:
    kind = node["kind"]
    if kind == "dict":
        return {(int(k) if t == "int" else k): _rebuild(v, arrays, device) for (t, k), v in node["items"]}
    if kind in ("list", "tuple"):
        items = [_rebuild(v, arrays, device) for v in node["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "value":
        return node["value"]
    array = arrays[node["key"]]
    if kind == "tensor":
        return Tensor(array, device=device or node["device"])
    return array


def _check_is_npz(path: str) -> None:
    """Refuse, by its first bytes, a file that is no .npz archive at all (a text file, a .npy
    array, a pickle), before NumPy's reader reports it in terms of its own internals."""
    if os.path.isdir(path):
        raise CheckpointError(f"load: {path!r} is a directory, not a tinygrad_rnn checkpoint file")
    with open(path, "rb") as handle:
        start = handle.read(len(_NPY_MAGIC))
    if start.startswith(_ZIP_MAGIC):
        return
    what = ("it is empty" if not start else "it holds one array, as numpy.save writes" if start == _NPY_MAGIC
            else "it is not an .npz file")
    raise CheckpointError(f"load: {path!r} is not a tinygrad_rnn checkpoint: {what}; checkpoints are "
                          ".npz files written by tinygrad_rnn.save or by tinygrad-rnn train/demo")


def load(path: str | os.PathLike, device: str | None = None) -> Any:
    """Read a checkpoint written by ``save``; tensors go to ``device`` (default: where they were).

    Raises ``CheckpointError`` for truncated, foreign or malformed files and
    ``FileNotFoundError`` when there is no file.
    """
    path = os.fspath(path)
    if device is not None:
        device = canonical_device(device)  # a bad device is the caller's error, not the file's
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path!r}")
    _check_is_npz(path)
    try:
        arrays = read_npz(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"load: {path!r} is a damaged or foreign .npz file, not a readable "
                              f"tinygrad_rnn checkpoint: {error}") from None
    if _META_KEY not in arrays:
        raise CheckpointError(f"load: {path!r} is an .npz file but not a tinygrad_rnn checkpoint "
                              "(it has no structure record)")
    try:
        structure = json.loads(str(arrays.pop(_META_KEY)))
    except ValueError as error:
        raise CheckpointError(f"load: {path!r} has a corrupt structure record: {error}") from None
    if not isinstance(structure, dict) or structure.get("format") != FORMAT:
        found = structure.get("format") if isinstance(structure, dict) else None
        raise CheckpointError(f"load: {path!r} has format {found!r}, expected {FORMAT!r}")
    try:
        return _rebuild(structure["root"], arrays, device)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"load: {path!r} has a malformed structure record: {error!r}") from None
