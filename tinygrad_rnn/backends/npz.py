"""Host-side ``.npz`` files: the one file format of checkpoints and fixtures (never pickled)."""
from __future__ import annotations

from typing import IO, Any

import numpy


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
