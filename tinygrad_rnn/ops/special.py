"""Ops whose forward is not a short composition of the others: the error function ``erf``
(which exact GELU needs; NumPy has none), and binary cross-entropy on probabilities, whose
clamped logarithms and guarded gradient follow PyTorch's rather than the derivative of the
clamp (a saturated probability of exactly 0 or 1 still gets a finite, useful gradient).
"""
from __future__ import annotations

import math

from ..core.autograd import Function
from ..core.tensor import Tensor
from .convert import floating, operands

SERIES_TERMS = 40  # terms of the series below |x| = 2.5: full float64 precision there
FRACTION_DEPTH = 40  # levels of the continued fraction from |x| = 2.5 on: likewise
SWITCH = 2.5
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
BCE_EPSILON = 9.999999960041972e-13  # PyTorch's 1e-12, stored as a float32


class Erf(Function):
    """erf(x) = 2/sqrt(pi) * integral_0^x e^(-s^2) ds.

    Below |x| = 2.5 the series erf(x) = 2/sqrt(pi) e^(-x^2) sum_n x (2x^2)^n / (1*3*...*(2n+1)),
    whose terms are all positive (no cancellation). Above it erf(x) = sign(x) (1 - erfc(|x|)),
    with erfc(a) = e^(-a^2)/sqrt(pi) / (a + (1/2)/(a + (2/2)/(a + (3/2)/(a + ...)))), a
    continued fraction evaluated from its last level up. Both branches are computed on every
    element (each on inputs kept inside its range) and ``where`` picks one.
    """

    __slots__ = ()

    def forward(self, x):
        xp = self.xp
        small = xp.abs(x) < SWITCH
        near = xp.where(small, x, 0)  # the series only sees |x| < 2.5, where it converges fast
        two_x2, term = 2 * near * near, near
        total = term
        for n in range(1, SERIES_TERMS):
            term = term * two_x2 / (2 * n + 1)
            total = total + term
        series = TWO_OVER_SQRT_PI * xp.exp(-near * near) * total
        far = xp.maximum(xp.abs(x), SWITCH)  # the fraction only sees |x| >= 2.5 (NaN stays NaN)
        fraction = far
        for k in range(FRACTION_DEPTH, 0, -1):
            fraction = far + (k / 2) / fraction
        erfc = xp.exp(-far * far) / (math.sqrt(math.pi) * fraction)
        self.save_for_backward(x)
        return xp.where(small, series, xp.sign(x) * (1 - erfc))

    def backward(self, grad):
        # d erf(x)/dx = 2/sqrt(pi) e^(-x^2)
        (x,) = self.saved
        return grad * (TWO_OVER_SQRT_PI * self.xp.exp(-(x * x)))


class BinaryCrossEntropy(Function):
    """Elementwise -(t log p + (1 - t) log(1 - p)) with each log clamped to >= -100, as PyTorch.

    The clamp keeps the loss finite at p = 0 or 1; the gradient in p is PyTorch's
    (p - t) / max(p (1 - p), 1e-12), the derivative of the unclamped loss with its
    denominator kept away from 0, so a saturated prediction is pushed back hard instead of
    getting 0 (the clamp's derivative) or NaN (0/0).
    """

    __slots__ = ()

    def forward(self, p, t):
        xp = self.xp
        with self.backend.ignore_float_errors():  # log(0) = -inf is expected: it is clamped
            log_p, log_q = xp.maximum(xp.log(p), -100), xp.maximum(xp.log(1 - p), -100)
        self.save_for_backward(p, t)
        return -(t * log_p + (1 - t) * log_q)

    def backward(self, grad):
        # d/dp = (p - t) / (p (1 - p))   (denominator clamped to >= 1e-12)
        # d/dt = log(1 - p) - log(p)     (unclamped: +-inf at p = 0 or 1, as in PyTorch)
        p, t = self.saved
        xp = self.xp
        need_p, need_t = self.needs_input_grad
        grad_p = grad * (p - t) / xp.maximum(p * (1 - p), BCE_EPSILON) if need_p else None
        grad_t = None
        if need_t:
            with self.backend.ignore_float_errors():  # log(0): the infinite slope is the answer
                grad_t = grad * (xp.log(1 - p) - xp.log(p))
        return grad_p, grad_t


def erf(x: Tensor) -> Tensor:
    """Elementwise error function erf(x) = 2/sqrt(pi) * integral_0^x e^(-s^2) ds (PyTorch's erf)."""
    return Erf.apply(floating(x))


def binary_cross_entropy_terms(input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
    """Per-element binary cross-entropy of probabilities ``input`` against ``target`` (same
    shape), unweighted and unreduced; ``nn.functional.binary_cross_entropy`` builds on it."""
    return BinaryCrossEntropy.apply(*operands(floating(input), target))
