"""Feed-forward layers: ``Linear``, ``Embedding``, ``Dropout``."""
from __future__ import annotations

import math
from typing import Any

from ..core.factories import zeros
from ..core.tensor import Tensor
from ..ops.common import check_same_device
from . import functional as F
from . import init
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b, with W shaped (out_features, in_features) as in PyTorch.

    Initialised U(-1/sqrt(in_features), 1/sqrt(in_features)), PyTorch's default.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype, device=device))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dtype, device=device))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: expected input with last dimension {self.in_features} "
                             f"(in_features), got shape {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: integer ids (any shape) -> rows of ``weight`` (num_embeddings, embedding_dim).

    Initialised N(0, 1) like PyTorch. Its backward adds each row's gradient once per use.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype, device=device))
        init.normal_(self.weight)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        check_same_device("Embedding", self.weight, ids)
        if ids.size:
            low, high = ids.data.min(), ids.data.max()
            ids.backend.check((low >= 0) & (high < self.num_embeddings), IndexError,
                              f"Embedding: ids must be in [0, {self.num_embeddings}), got values from {{}} to {{}}",
                              low, high)
        return self.weight[ids]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Randomly zero elements with probability ``p`` in training mode; identity in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
