"""Neural-network building blocks: ``Module`` and its layers, losses, initialisers.

Names, shapes and defaults follow ``torch.nn`` so that weights and habits carry over.
"""
from . import functional, init, utils
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN

__all__ = ["Module", "ModuleDict", "ModuleList", "Sequential", "Parameter", "Linear", "Embedding", "Dropout",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "functional", "init", "utils"]
