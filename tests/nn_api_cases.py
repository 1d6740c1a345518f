"""The ``nn`` API cases that ``tests/make_nn_api_fixtures.py`` runs with PyTorch and
``tests/test_nn_api.py`` runs with tinygrad_rnn: one expression per case, written once.

``lib`` is ``torch`` or ``tinygrad_rnn``; ``F(lib)`` is its ``nn.functional``. The function
names, argument names and module names are the same in both libraries, so the same
expression is PyTorch's reference and our test.

- ``CASES``: inputs drawn from a generator seeded per case (float64 values, int64 classes),
  and ``call(lib, *tensors)``; or, for a module case, ``module(lib)`` builds the module (the
  fixture draws its parameters) and ``call(module, *tensors)`` runs it. The fixture stores
  the output and the gradient of ``<w, output>`` (``output_weights``) for every float input
  not listed in ``constants`` (loss weights: PyTorch does not differentiate them) and for
  every parameter.
- ``REPRS``, ``STATE_DICT_KEYS``, ``MODULE_TREES``: module constructions whose ``repr``,
  ``state_dict`` keys, ``named_modules`` names and ``apply`` order the fixture records.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    inputs: Callable[[np.random.Generator], list]
    call: Callable[..., Any]
    module: Callable[[Any], Any] | None = None
    constants: tuple[int, ...] = ()


def F(lib: Any) -> Any:
    return lib.nn.functional


def output_weights(shape: tuple) -> np.ndarray:
    """The fixed weights w of the scalar <w, output> whose gradient the fixture stores."""
    return np.sin(np.arange(int(np.prod(shape))) * 1.618 + 0.5).reshape(shape)


# ---- inputs ------------------------------------------------------------------------------------
def uniform(shape: tuple, low: float = -3.0, high: float = 3.0) -> Callable:
    return lambda rng: [rng.uniform(low, high, shape)]


def with_zeros(shape: tuple, low: float = -3.0, high: float = 3.0) -> Callable:
    """Uniform values with every third one exactly 0 (where relu-like functions have a kink)."""
    def make(rng: np.random.Generator) -> list:
        x = rng.uniform(low, high, shape)
        x.flat[::3] = 0.0
        return [x]
    return make


def pair(shape: tuple, ties: bool = False) -> Callable:
    """Two arrays (input, target); with ``ties`` every fourth target equals its input."""
    def make(rng: np.random.Generator) -> list:
        x, t = rng.standard_normal(shape), rng.standard_normal(shape)
        if ties:
            t.flat[::4] = x.flat[::4]
        return [x, t]
    return make


def probabilities(shape: tuple) -> Callable:
    """Probabilities p in (0.05, 0.95) and soft targets t in [0, 1]."""
    return lambda rng: [rng.uniform(0.05, 0.95, shape), rng.uniform(0.0, 1.0, shape)]


def scores_and_classes(shape: tuple, classes: int, ignored: int | None = -100, weight: bool = False,
                       log_probs: bool = False) -> Callable:
    """Scores (N, C, ...) and class targets (N, ...); the second target is ``ignored``; with
    ``weight``, a third input: class weights in (0.2, 2)."""
    def make(rng: np.random.Generator) -> list:
        scores = rng.standard_normal(shape)
        if log_probs:
            axis = 0 if len(shape) == 1 else 1
            scores = scores - np.log(np.exp(scores).sum(axis=axis, keepdims=True))
        target_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
        target = rng.integers(0, classes, target_shape)
        if ignored is not None and target.ndim:
            target.flat[1] = ignored
        arrays = [scores, np.asarray(target, dtype=np.int64)]
        return arrays + [rng.uniform(0.2, 2.0, (classes,))] if weight else arrays
    return make


def scores_and_probabilities(shape: tuple, weight: bool = False) -> Callable:
    """Scores and targets that are class probabilities (each sums to 1 over the class axis)."""
    def make(rng: np.random.Generator) -> list:
        axis = 0 if len(shape) == 1 else 1
        target = rng.uniform(0.0, 1.0, shape)
        arrays = [rng.standard_normal(shape), target / target.sum(axis=axis, keepdims=True)]
        return arrays + [rng.uniform(0.2, 2.0, (shape[axis],))] if weight else arrays
    return make


def embedding_inputs(rng: np.random.Generator) -> list:
    """A (5, 3) table and ids (2, 4) that use rows 1 and 4 several times."""
    return [rng.standard_normal((5, 3)), np.array([[1, 4, 0, 1], [4, 1, 2, 4]], dtype=np.int64)]


def ids(rng: np.random.Generator) -> list:
    return [np.array([[1, 4, 0, 1], [4, 1, 2, 4]], dtype=np.int64)]


def rows_with_a_zero_row(rng: np.random.Generator) -> list:
    x = rng.standard_normal((4, 3))
    x[2] = 0.0
    return [x]


def saturated_probabilities(rng: np.random.Generator) -> list:
    """Probabilities exactly 0 or 1, or below PyTorch's clamp e^-100, with hard targets."""
    return [np.array([0.0, 0.0, 1.0, 1.0, 1e-50, 0.3]), np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])]


def class_weights(lib: Any) -> Any:
    """Four fixed class weights, for loss modules made with a weight."""
    return lib.tensor([0.5, 1.0, 2.0, 1.5], dtype=lib.float64)


CASES: dict[str, Case] = {
    # activations
    "relu": Case(with_zeros((3, 5)), lambda lib, x: F(lib).relu(x)),
    "relu_module": Case(with_zeros((3, 5)), lambda m, x: m(x), module=lambda lib: lib.nn.ReLU()),
    "tanh": Case(uniform((3, 5)), lambda lib, x: F(lib).tanh(x)),
    "tanh_module": Case(uniform((3, 5)), lambda m, x: m(x), module=lambda lib: lib.nn.Tanh()),
    "sigmoid": Case(uniform((3, 5)), lambda lib, x: F(lib).sigmoid(x)),
    "sigmoid_module": Case(uniform((3, 5)), lambda m, x: m(x), module=lambda lib: lib.nn.Sigmoid()),
    "leaky_relu": Case(with_zeros((3, 5)), lambda lib, x: F(lib).leaky_relu(x)),
    "leaky_relu_slope": Case(with_zeros((3, 5)), lambda lib, x: F(lib).leaky_relu(x, negative_slope=0.2)),
    "leaky_relu_module": Case(with_zeros((3, 5)), lambda m, x: m(x), module=lambda lib: lib.nn.LeakyReLU(0.3)),
    "gelu": Case(with_zeros((4, 6), -6.0, 6.0), lambda lib, x: F(lib).gelu(x)),
    "gelu_tanh": Case(with_zeros((4, 6), -6.0, 6.0), lambda lib, x: F(lib).gelu(x, approximate="tanh")),
    "gelu_module": Case(with_zeros((4, 6), -6.0, 6.0), lambda m, x: m(x), module=lambda lib: lib.nn.GELU()),
    "gelu_tanh_module": Case(uniform((4, 6)), lambda m, x: m(x), module=lambda lib: lib.nn.GELU("tanh")),
    "softplus": Case(uniform((4, 6), -30.0, 30.0), lambda lib, x: F(lib).softplus(x)),
    "softplus_beta_threshold": Case(uniform((4, 6), -5.0, 5.0),
                                    lambda lib, x: F(lib).softplus(x, beta=2.0, threshold=4.0)),
    "softplus_module": Case(uniform((4, 6), -8.0, 8.0), lambda m, x: m(x),
                            module=lambda lib: lib.nn.Softplus(beta=0.5, threshold=3.0)),
    "softmax_module": Case(uniform((4, 6), -5.0, 5.0), lambda m, x: m(x), module=lambda lib: lib.nn.Softmax(dim=1)),
    "log_softmax_module": Case(uniform((2, 3, 4), -5.0, 5.0), lambda m, x: m(x),
                               module=lambda lib: lib.nn.LogSoftmax(dim=-1)),
    # layers as functions
    "embedding": Case(embedding_inputs, lambda lib, w, i: F(lib).embedding(i, w)),
    "embedding_padding_idx": Case(embedding_inputs, lambda lib, w, i: F(lib).embedding(i, w, padding_idx=1)),
    "embedding_negative_padding_idx": Case(embedding_inputs,
                                           lambda lib, w, i: F(lib).embedding(i, w, padding_idx=-1)),
    "embedding_module_padding_idx": Case(ids, lambda m, i: m(i),
                                         module=lambda lib: lib.nn.Embedding(5, 3, padding_idx=4)),
    "one_hot": Case(ids, lambda lib, i: F(lib).one_hot(i)),
    "one_hot_num_classes": Case(ids, lambda lib, i: F(lib).one_hot(i, num_classes=7)),
    "layer_norm": Case(lambda rng: [rng.standard_normal((2, 3, 4)), rng.uniform(0.5, 1.5, (3, 4)),
                                    rng.standard_normal((3, 4))],
                       lambda lib, x, w, b: F(lib).layer_norm(x, (3, 4), w, b, eps=1e-3)),
    "layer_norm_no_affine": Case(uniform((2, 5)), lambda lib, x: F(lib).layer_norm(x, [5])),
    "layer_norm_module": Case(uniform((2, 3, 4)), lambda m, x: m(x), module=lambda lib: lib.nn.LayerNorm(4)),
    "layer_norm_module_no_bias": Case(uniform((2, 3, 4)), lambda m, x: m(x),
                                      module=lambda lib: lib.nn.LayerNorm((3, 4), eps=1e-2, bias=False)),
    "layer_norm_module_no_affine": Case(uniform((2, 4)), lambda m, x: m(x),
                                        module=lambda lib: lib.nn.LayerNorm(4, elementwise_affine=False)),
    "normalize": Case(rows_with_a_zero_row, lambda lib, x: F(lib).normalize(x)),
    "normalize_p1_dim0": Case(rows_with_a_zero_row, lambda lib, x: F(lib).normalize(x, p=1.0, dim=0)),
    "normalize_p3_last_dim": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).normalize(x, p=3.0, dim=-1)),
    "normalize_p_inf": Case(rows_with_a_zero_row, lambda lib, x: F(lib).normalize(x, p=math.inf)),
    "normalize_eps": Case(lambda rng: [rng.uniform(-0.01, 0.01, (3, 4))],
                          lambda lib, x: F(lib).normalize(x, eps=0.05)),
    "flatten_module": Case(uniform((2, 3, 4, 2)), lambda m, x: m(x), module=lambda lib: lib.nn.Flatten()),
    "flatten_module_dims": Case(uniform((2, 3, 4, 2)), lambda m, x: m(x),
                                module=lambda lib: lib.nn.Flatten(0, -2)),
    "identity_module": Case(uniform((2, 3)), lambda m, x: m(x), module=lambda lib: lib.nn.Identity(54, unused=1)),
    # pad: (before, after) pairs from the last dimension backwards
    "pad_constant": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).pad(x, (1, 2))),
    "pad_constant_value_and_crop": Case(uniform((2, 3, 4)),
                                        lambda lib, x: F(lib).pad(x, (1, -1, 2, 0), value=0.5)),
    "pad_constant_three_dims": Case(uniform((2, 3, 4)),
                                    lambda lib, x: F(lib).pad(x, (0, 1, 1, 0, 2, 1), mode="constant", value=-1.0)),
    "pad_reflect": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).pad(x, (3, 2), mode="reflect")),
    "pad_reflect_two_dims": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).pad(x, (1, 2, 2, 1), mode="reflect")),
    "pad_reflect_crop": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).pad(x, (-1, 2), mode="reflect")),
    "pad_replicate": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).pad(x, (2, 3, 1, 0), mode="replicate")),
    "pad_circular": Case(uniform((2, 3, 4)), lambda lib, x: F(lib).pad(x, (4, 1), mode="circular")),
    "pad_circular_crop": Case(uniform((2, 3, 4)),
                              lambda lib, x: F(lib).pad(x, (-1, 2, 1, -1), mode="circular")),
    # regression losses
    "l1_loss": Case(pair((3, 4), ties=True), lambda lib, x, t: F(lib).l1_loss(x, t)),
    "l1_loss_sum": Case(pair((3, 4), ties=True), lambda lib, x, t: F(lib).l1_loss(x, t, reduction="sum")),
    "l1_loss_none": Case(pair((3, 4)), lambda lib, x, t: F(lib).l1_loss(x, t, reduction="none")),
    "l1_loss_module": Case(pair((3, 4)), lambda m, x, t: m(x, t), module=lambda lib: lib.nn.L1Loss()),
    "mse_loss_module_sum": Case(pair((3, 4)), lambda m, x, t: m(x, t),
                                module=lambda lib: lib.nn.MSELoss(reduction="sum")),
    # binary cross-entropy
    "bce": Case(probabilities((3, 4)), lambda lib, p, t: F(lib).binary_cross_entropy(p, t)),
    "bce_sum": Case(probabilities((3, 4)), lambda lib, p, t: F(lib).binary_cross_entropy(p, t, reduction="sum")),
    "bce_weight_none": Case(lambda rng: probabilities((3, 4))(rng) + [rng.uniform(0.2, 2.0, (4,))],
                            lambda lib, p, t, w: F(lib).binary_cross_entropy(p, t, w, reduction="none"), constants=(2,)),
    "bce_saturated": Case(saturated_probabilities,
                          lambda lib, p, t: F(lib).binary_cross_entropy(p, t, reduction="none"), constants=(1,)),
    "bce_module": Case(probabilities((2, 3)), lambda m, p, t: m(p, t), module=lambda lib: lib.nn.BCELoss()),
    "bce_with_logits_pos_weight": Case(
        lambda rng: [rng.normal(0, 3, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.5, 3, (4,))],
        lambda lib, x, t, pw: F(lib).binary_cross_entropy_with_logits(x, t, pos_weight=pw), constants=(2,)),
    "bce_with_logits_weight_pos_weight_sum": Case(
        lambda rng: [rng.normal(0, 3, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.5, 2, (3, 1)),
                     rng.uniform(0.5, 3, (4,))],
        lambda lib, x, t, w, pw: F(lib).binary_cross_entropy_with_logits(x, t, w, reduction="sum", pos_weight=pw),
        constants=(2, 3)),
    "bce_with_logits_module": Case(
        lambda rng: [rng.normal(0, 3, (3, 4)), rng.uniform(0, 1, (3, 4))], lambda m, x, t: m(x, t),
        module=lambda lib: lib.nn.BCEWithLogitsLoss(pos_weight=class_weights(lib), reduction="none")),
    # class losses with weights, ignore_index, label smoothing, class probabilities
    "nll_loss_weight": Case(scores_and_classes((5, 4), 4, weight=True, log_probs=True),
                            lambda lib, x, t, w: F(lib).nll_loss(x, t, w), constants=(2,)),
    "nll_loss_weight_sum": Case(scores_and_classes((5, 4), 4, weight=True, log_probs=True),
                                lambda lib, x, t, w: F(lib).nll_loss(x, t, w, reduction="sum"), constants=(2,)),
    "nll_loss_weight_custom_ignore_index": Case(
        scores_and_classes((6, 3), 3, ignored=2, weight=True, log_probs=True),
        lambda lib, x, t, w: F(lib).nll_loss(x, t, weight=w, ignore_index=2), constants=(2,)),
    "nll_loss_weight_ncd": Case(scores_and_classes((2, 4, 3), 4, weight=True, log_probs=True),
                                lambda lib, x, t, w: F(lib).nll_loss(x, t, w), constants=(2,)),
    "nll_loss_unbatched_weight": Case(scores_and_classes((4,), 4, weight=True, log_probs=True),
                                      lambda lib, x, t, w: F(lib).nll_loss(x, t, w), constants=(2,)),
    "nll_loss_module": Case(scores_and_classes((5, 4), 4, ignored=0, log_probs=True), lambda m, x, t: m(x, t),
                            module=lambda lib: lib.nn.NLLLoss(ignore_index=0, reduction="sum")),
    "cross_entropy_weight": Case(scores_and_classes((5, 4), 4, weight=True),
                                 lambda lib, x, t, w: F(lib).cross_entropy(x, t, w), constants=(2,)),
    "cross_entropy_weight_none": Case(scores_and_classes((5, 4), 4, weight=True),
                                      lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, reduction="none"),
                                      constants=(2,)),
    "cross_entropy_label_smoothing": Case(scores_and_classes((5, 4), 4),
                                          lambda lib, x, t: F(lib).cross_entropy(x, t, label_smoothing=0.2)),
    "cross_entropy_label_smoothing_sum": Case(
        scores_and_classes((5, 4), 4),
        lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="sum", label_smoothing=0.2)),
    "cross_entropy_label_smoothing_none": Case(
        scores_and_classes((5, 4), 4),
        lambda lib, x, t: F(lib).cross_entropy(x, t, reduction="none", label_smoothing=0.2)),
    "cross_entropy_weight_label_smoothing": Case(
        scores_and_classes((5, 4), 4, weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, label_smoothing=0.3), constants=(2,)),
    "cross_entropy_weight_label_smoothing_sum": Case(
        scores_and_classes((5, 4), 4, weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, reduction="sum", label_smoothing=0.3), constants=(2,)),
    "cross_entropy_weight_label_smoothing_ncd": Case(
        scores_and_classes((2, 4, 3), 4, weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, label_smoothing=0.1), constants=(2,)),
    "cross_entropy_weight_label_smoothing_custom_ignore_index": Case(
        scores_and_classes((6, 3), 3, ignored=1, weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.25),
        constants=(2,)),
    "cross_entropy_unbatched_weight_label_smoothing": Case(
        scores_and_classes((4,), 4, weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, label_smoothing=0.1), constants=(2,)),
    "cross_entropy_probabilities": Case(scores_and_probabilities((5, 4)),
                                        lambda lib, x, t: F(lib).cross_entropy(x, t)),
    "cross_entropy_probabilities_weight_label_smoothing": Case(
        scores_and_probabilities((5, 4), weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, label_smoothing=0.3), constants=(2,)),
    "cross_entropy_probabilities_ncd_sum": Case(
        scores_and_probabilities((2, 4, 3), weight=True),
        lambda lib, x, t, w: F(lib).cross_entropy(x, t, w, reduction="sum"), constants=(2,)),
    "cross_entropy_probabilities_unbatched": Case(scores_and_probabilities((4,)),
                                                  lambda lib, x, t: F(lib).cross_entropy(x, t)),
    "cross_entropy_module": Case(
        scores_and_classes((5, 4), 4, ignored=1), lambda m, x, t: m(x, t),
        module=lambda lib: lib.nn.CrossEntropyLoss(class_weights(lib), ignore_index=1, label_smoothing=0.1)),
    "nll_loss_module_weight": Case(scores_and_classes((5, 4), 4, log_probs=True), lambda m, x, t: m(x, t),
                                   module=lambda lib: lib.nn.NLLLoss(class_weights(lib))),
}


# ---- module bookkeeping ------------------------------------------------------------------------
def parameter_list(lib: Any) -> Any:
    return lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(3, 4)),
                                 lib.nn.Parameter(lib.zeros(5, dtype=lib.float64))])


REPRS: dict[str, Callable[[Any], Any]] = {
    "relu": lambda lib: lib.nn.ReLU(),
    "relu_inplace": lambda lib: lib.nn.ReLU(inplace=True),
    "leaky_relu": lambda lib: lib.nn.LeakyReLU(),
    "leaky_relu_inplace": lambda lib: lib.nn.LeakyReLU(0.2, inplace=True),
    "tanh": lambda lib: lib.nn.Tanh(),
    "sigmoid": lambda lib: lib.nn.Sigmoid(),
    "gelu": lambda lib: lib.nn.GELU(),
    "gelu_tanh": lambda lib: lib.nn.GELU(approximate="tanh"),
    "softplus": lambda lib: lib.nn.Softplus(),
    "softmax": lambda lib: lib.nn.Softmax(dim=1),
    "log_softmax": lambda lib: lib.nn.LogSoftmax(dim=-1),
    "identity": lambda lib: lib.nn.Identity(3, key="ignored"),
    "flatten": lambda lib: lib.nn.Flatten(),
    "flatten_dims": lambda lib: lib.nn.Flatten(0, 2),
    "layer_norm": lambda lib: lib.nn.LayerNorm(4),
    "layer_norm_options": lambda lib: lib.nn.LayerNorm((3, 4), eps=1e-3, elementwise_affine=False),
    "layer_norm_no_bias": lambda lib: lib.nn.LayerNorm([2, 3], bias=False),
    "embedding_padding_idx": lambda lib: lib.nn.Embedding(5, 3, padding_idx=1),
    "losses": lambda lib: lib.nn.ModuleList([lib.nn.CrossEntropyLoss(label_smoothing=0.1), lib.nn.MSELoss(),
                                             lib.nn.NLLLoss(), lib.nn.BCEWithLogitsLoss(), lib.nn.L1Loss(),
                                             lib.nn.BCELoss()]),
    "parameter_list": parameter_list,
    "sequential": lambda lib: lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.GELU(), lib.nn.LayerNorm(8),
                                                lib.nn.Flatten(0), lib.nn.Identity()),
    "named_sequential": lambda lib: lib.nn.Sequential(OrderedDict([("hidden", lib.nn.Linear(2, 3)),
                                                                   ("act", lib.nn.ReLU())])),
}

STATE_DICT_KEYS: dict[str, Callable[[Any], Any]] = {
    "layer_norm": lambda lib: lib.nn.LayerNorm(4),
    "layer_norm_no_bias": lambda lib: lib.nn.LayerNorm(4, bias=False),
    "layer_norm_no_affine": lambda lib: lib.nn.LayerNorm(4, elementwise_affine=False),
    "parameter_list": parameter_list,
    "cross_entropy_loss_weight": lambda lib: lib.nn.CrossEntropyLoss(class_weights(lib)),
    "bce_with_logits_loss_pos_weight": lambda lib: lib.nn.BCEWithLogitsLoss(pos_weight=class_weights(lib)),
    "nested": lambda lib: lib.nn.ModuleDict({
        "norm": lib.nn.LayerNorm(3),
        "plist": lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2)), lib.nn.Parameter(lib.zeros(2, 2))]),
        "body": lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.GELU(), lib.nn.Embedding(4, 2, padding_idx=0)),
    }),
}


def shared_tree(lib: Any) -> Any:
    """A tree in which one Linear is reachable by three paths and a Sequential sits in a dict."""
    nn = lib.nn
    shared = nn.Linear(2, 2)
    return nn.Sequential(OrderedDict([
        ("encoder", shared),
        ("middle", nn.ModuleDict({"act": nn.ReLU(), "again": shared, "block": nn.Sequential(nn.Tanh(), shared)})),
        ("head", nn.ModuleList([nn.Linear(2, 1), nn.Identity()])),
    ]))


MODULE_TREES: dict[str, Callable[[Any], Any]] = {
    "shared": shared_tree,
    "layer_norm": lambda lib: lib.nn.LayerNorm(3),
    "nested_sequentials": lambda lib: lib.nn.Sequential(lib.nn.Sequential(lib.nn.Sequential(lib.nn.ReLU())),
                                                        lib.nn.Tanh()),
}
