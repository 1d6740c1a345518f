"""``LayerNorm``: normalise each sample over its trailing dimensions, then scale and shift."""
from __future__ import annotations

from typing import Any, Sequence

from ..core.factories import ones, zeros
from ..core.tensor import Tensor
from . import functional as F
from .module import Module, Parameter


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, the statistics taken over the last
    ``len(normalized_shape)`` dimensions of each sample (not over the batch, unlike batch norm).

    ``weight`` (ones) and ``bias`` (zeros) are shaped ``normalized_shape`` and exist only with
    ``elementwise_affine`` (``bias`` also needs ``bias=True``), under PyTorch's names.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(zeros(shape, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
