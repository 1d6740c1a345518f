"""Utilities around training recurrent networks, as ``torch.nn.utils``: gradient clipping
(``clip_grad_norm_``, ``clip_grad_value_``) and, in ``nn.utils.rnn``, batches of sequences
of different lengths (padding and packing)."""
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
