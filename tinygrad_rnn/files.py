"""Writing files: atomically (the new file appears complete, or the old one stays untouched),
into a folder that is checked to exist first."""
from __future__ import annotations

import os
import tempfile
from typing import IO, Callable


def write_atomically(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash or an exception mid-write leaves ``path`` as it was and removes the temporary
    file. The result gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def require_folder(path: str, flag: str) -> None:
    """Raise FileNotFoundError, naming ``flag``, when the folder ``path`` is to be written into does not exist.

    Checked before any work is done, so that the error names the user's option rather than
    a temporary file, and comes before a long training run rather than after it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the folder of {flag} {path} does not exist ({folder}); "
                                "create it first or choose another path")
