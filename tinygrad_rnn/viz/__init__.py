"""Seeing the graph: DOT pictures of recorded computations, unrolled-in-time views and
gradient flow.

    >>> from tinygrad_rnn import viz
    >>> viz.render(loss, params=model, group="timestep", path="lstm.svg")
    >>> viz.explore(loss, params=model, path="lstm.html")   # watch backward in a browser

``scope`` and ``name`` are the small public mechanism the recurrent layers use to label
what they record (layer, direction, time step; the gates and states of each step); use
them in your own code too (``tag`` names one value inside an expression).
"""
from .dot import to_dot
from .explore import Explorer, explore
from .gradflow import hidden_grad_norms, plot_grad_norms
from .record import info, name, record_gradients, recording, scope, tag
from .render import find_renderer, render, render_source

__all__ = ["scope", "name", "tag", "info", "to_dot", "render", "render_source", "find_renderer",
           "hidden_grad_norms", "plot_grad_norms", "record_gradients", "recording", "explore", "Explorer"]
