"""Neural-network building blocks: ``Module`` and its layers, losses, initialisers.

Names, shapes and defaults follow ``torch.nn`` so that weights and habits carry over.
"""
from . import functional, init, utils
from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .cells import GRUCell, LSTMCell, RNNCell
from .containers import ModuleDict, ModuleList, ParameterList, Sequential
from .layers import Dropout, Embedding, Flatten, Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter
from .normalization import LayerNorm
from .recurrent import GRU, LSTM, RNN

__all__ = ["Module", "ModuleDict", "ModuleList", "Sequential", "ParameterList", "Parameter",
           "Linear", "Embedding", "Dropout", "Identity", "Flatten", "LayerNorm",
           "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "Softplus", "Softmax", "LogSoftmax",
           "L1Loss", "MSELoss", "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "functional", "init", "utils"]
