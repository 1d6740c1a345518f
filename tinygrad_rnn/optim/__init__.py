"""Optimizers and learning-rate schedules, as ``torch.optim``.

- ``optimizer.py``: the ``Optimizer`` base (parameter groups, ``zero_grad``, ``state_dict``)
  and SGD, Adam, AdamW, RMSprop, Adagrad;
- ``lr_scheduler.py``: the schedules, also reachable as ``tinygrad_rnn.optim.lr_scheduler.StepLR``
  (PyTorch's spelling) and, for short, ``tinygrad_rnn.optim.StepLR``.
"""
from . import lr_scheduler
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, OneCycleLR,
                           ReduceLROnPlateau, StepLR)
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler", "LRScheduler", "StepLR",
           "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "OneCycleLR", "ReduceLROnPlateau"]
