"""``render``: write a graph picture with Graphviz.

The system ``dot`` is used when installed; otherwise the ``graphviz-pure`` command
(a self-contained port of dot from PyPI, installed with this package; SVG and PNG).
With neither, the DOT source is saved next to the requested path and the error says
how to install Graphviz. Files are written to a temporary name and renamed, so a
failed render never leaves half a picture.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from typing import Any

from ..files import write_atomically
from ..core.tensor import Tensor
from .dot import to_dot

FORMATS = ("svg", "png", "pdf")
PURE_FORMATS = ("svg", "png")  # what graphviz-pure can write
INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS), or `pip install graphviz-pure` (SVG and PNG only)")


def _graphviz_pure() -> str | None:
    """The graphviz-pure command: on PATH, or beside this Python (a venv that is not activated)."""
    return shutil.which("graphviz-pure") or shutil.which("graphviz-pure", path=sysconfig.get_path("scripts"))


def find_renderer(format: str = "svg") -> list[str] | None:  # noqa: A002 (Graphviz's word)
    """The command that can render ``format``: the system dot first, then graphviz-pure."""
    if shutil.which("dot"):
        return [shutil.which("dot")]
    pure = _graphviz_pure()
    if pure and format in PURE_FORMATS:
        return [pure]
    return None


def render_bytes(source: str, format: str = "svg") -> bytes:  # noqa: A002
    """The picture of DOT ``source`` in ``format``, from the first renderer found."""
    if format not in FORMATS:
        raise ValueError(f"render: format must be one of {', '.join(FORMATS)}, got {format!r}")
    command = find_renderer(format)
    if command is None:
        extra = (" (graphviz-pure is installed but cannot write PDF; choose svg or png)"
                 if format == "pdf" and _graphviz_pure() else "")
        raise RendererMissing(f"render: no Graphviz renderer found for {format}{extra}; {INSTALL_HINT}")
    result = subprocess.run(command + [f"-T{format}"], input=source.encode("utf-8"),
                            capture_output=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"render: {os.path.basename(command[0])} failed (exit {result.returncode}): "
                           + result.stderr.decode("utf-8", "replace").strip()[:500])
    return result.stdout


class RendererMissing(RuntimeError):
    """Neither the system ``dot`` nor graphviz-pure can draw the requested format."""


def render_source(source: str, path: str, format: str = "svg") -> str:  # noqa: A002
    """Render DOT ``source`` to ``path``; returns the path written. Without a renderer the
    DOT source is saved beside ``path`` and the error says where."""
    try:
        picture = render_bytes(source, format)
    except RendererMissing as error:
        dot_path = os.path.splitext(path)[0] + ".dot"
        write_atomically(dot_path, lambda stream: stream.write(source.encode("utf-8")))
        raise RendererMissing(f"{error}. The DOT source was written to {dot_path}") from None
    write_atomically(path, lambda stream: stream.write(picture))
    return path


def render(*outputs: Tensor, path: str, format: str | None = None, **to_dot_options: Any) -> str:  # noqa: A002
    """Draw the graph of ``outputs`` (see ``to_dot`` for the options) into ``path``.

    ``format`` defaults to the path's extension (svg, png or pdf). Returns the path.
    """
    format = format or os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    return render_source(to_dot(*outputs, **to_dot_options).source, path, format)
