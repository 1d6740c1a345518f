"""Seeing the graph: DOT pictures of recorded computations, unrolled-in-time views and
gradient flow.

    >>> from tinygrad_rnn import viz
    >>> viz.render(loss, params=model, group="timestep", path="lstm.svg")

``scope`` and ``tag`` are the small public mechanism the recurrent layers use to label
what they record (time step, layer, direction, gate); use them in your own code too.
"""
from ..grad_mode import scope, tag
from .dot import to_dot
from .gradflow import hidden_grad_norms, plot_grad_norms
from .record import record_gradients
from .render import find_renderer, render, render_source

__all__ = ["scope", "tag", "to_dot", "render", "render_source", "find_renderer",
           "hidden_grad_norms", "plot_grad_norms", "record_gradients"]
