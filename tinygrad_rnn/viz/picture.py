"""``Picture``: what ``to_dot`` returns. It is a ``graphviz.Digraph`` (``.source``,
``.render()``) that also remembers which recorded node each picture node stands for (the
explorer needs that), and shows itself in Jupyter through the package's own renderer, so a
notebook draws it without system Graphviz (graphviz-pure is used then).
"""
from __future__ import annotations

from typing import Any

import graphviz

from .render import render_bytes


class Picture(graphviz.Digraph):
    """A Digraph plus ``walk`` (the recorded nodes and their picture names), ``representative``
    (picture name -> the step or elision node drawn in its place) and ``step_keys`` (the time
    steps drawn, in order)."""

    walk: Any = None
    representative: dict[str, str] = {}
    step_keys: list[tuple] = []

    def _repr_svg_(self) -> str:
        return render_bytes(self.source, "svg").decode("utf-8")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **_: Any) -> dict[str, str]:
        return {"image/svg+xml": self._repr_svg_()}
