"""Specification of the PyTorch surface of ``nn`` and ``nn.functional``: activations, losses
with weights / ignore_index / label smoothing, pad, normalize, embedding, LayerNorm, the
activation / loss / plumbing modules, ParameterList, and Module's hooks, buffers and walks.

Values and gradients are compared with PyTorch's, stored in ``tests/fixtures/nn_api.npz``
by ``tests/make_nn_api_fixtures.py`` from the cases of ``tests/nn_api_cases.py`` (torch is
not needed here); gradients are also checked against finite differences in float64.
"""
from __future__ import annotations

import json
import math
import os
import zlib

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from nn_api_cases import CASES, MODULE_TREES, REPRS, STATE_DICT_KEYS, output_weights

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "nn_api.npz")
with np.load(FIXTURE, allow_pickle=False) as _npz:
    DATA = {k: _npz[k] for k in _npz.files}
RTOL, ATOL = 1e-9, 1e-12


# ---- running a case -----------------------------------------------------------------------------
def _inputs(name: str, device: str) -> list:
    """The case's stored inputs as tensors on ``device``; float ones not in ``constants`` require grad."""
    arrays = [DATA[f"{name}/in{i}"] for i in range(sum(k.startswith(f"{name}/in") for k in DATA))]
    return [tg.tensor(a, device=device, requires_grad=a.dtype == np.float64 and i not in CASES[name].constants)
            for i, a in enumerate(arrays)]


def _run(name: str, device: str) -> tuple:
    """(output, [(fixture key of a gradient, tensor it belongs to), ...])."""
    case, tensors = CASES[name], _inputs(name, device)
    differentiable = [(f"grad{i}", t) for i, t in enumerate(tensors) if t.requires_grad]
    if case.module is None:
        return case.call(tg, *tensors), differentiable
    module = case.module(tg).double().to(device)
    prefix = f"{name}/param/"
    module.load_state_dict({k[len(prefix):]: v for k, v in DATA.items() if k.startswith(prefix)},
                           strict=False)
    differentiable += [(f"grad/param/{pname}", p) for pname, p in module.named_parameters()]
    return case.call(module, *tensors), differentiable


def _close(actual: tg.Tensor, expected: np.ndarray, what: str) -> None:
    assert actual is not None, f"{what}: no value"
    values = actual.numpy()
    assert values.shape == expected.shape, f"{what}: shape {values.shape}, PyTorch's {expected.shape}"
    assert values.dtype == expected.dtype, f"{what}: dtype {values.dtype}, PyTorch's {expected.dtype}"
    np.testing.assert_allclose(values, expected, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_matches_pytorch(name, device):
    out, _ = _run(name, device)
    assert out.device == device
    _close(out, DATA[f"{name}/out"], f"{name} output")


GRADIENT_CASES = sorted(n for n in CASES if any(k.startswith(f"{n}/grad") for k in DATA))


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_gradients_match_pytorch(name, device):
    out, differentiable = _run(name, device)
    weights = tg.tensor(output_weights(out.shape), device=device)
    (out * weights).sum().backward()
    for key, tensor in differentiable:
        _close(tensor.grad, DATA[f"{name}/{key}"], f"{name} {key}")


# ---- gradients against finite differences (float64, smooth points) --------------------------
def _leaf(array, device):
    return tg.tensor(np.asarray(array, dtype=np.float64), device=device, requires_grad=True)


def _away_from_zero(rng, shape):
    return rng.uniform(0.2, 3.0, shape) * rng.choice([-1.0, 1.0], shape)


def _constant(array, device):
    return tg.tensor(np.asarray(array), device=device)


GRADCHECKS = {
    # name: (inputs(rng) -> arrays, function of the leaves and the device)
    "relu": (lambda rng: [_away_from_zero(rng, (3, 4))], lambda x, d: F.relu(x)),
    "leaky_relu": (lambda rng: [_away_from_zero(rng, (3, 4))], lambda x, d: F.leaky_relu(x, 0.1)),
    "gelu": (lambda rng: [rng.uniform(-5, 5, (3, 4))], lambda x, d: F.gelu(x)),
    "gelu_tanh": (lambda rng: [rng.uniform(-5, 5, (3, 4))], lambda x, d: F.gelu(x, approximate="tanh")),
    "softplus_beta": (lambda rng: [rng.uniform(-3, 3, (3, 4))], lambda x, d: F.softplus(x, beta=3.0)),
    "erf": (lambda rng: [rng.uniform(-4, 4, (13,))], lambda x, d: tg.ops.erf(x)),
    "layer_norm_two_dims": (lambda rng: [rng.standard_normal((2, 3, 4)), rng.uniform(0.5, 1.5, (3, 4)),
                                         rng.standard_normal((4,))],
                            lambda x, w, b, d: F.layer_norm(x, (3, 4), w, b)),  # bias broadcasts
    "normalize_dim0": (lambda rng: [rng.standard_normal((3, 4))], lambda x, d: F.normalize(x, dim=0)),
    "normalize_p1": (lambda rng: [_away_from_zero(rng, (3, 4))], lambda x, d: F.normalize(x, p=1.0)),
    "normalize_p_inf": (lambda rng: [np.array([[3.0, -1.0, 0.5], [0.2, -2.0, 1.0]])],
                        lambda x, d: F.normalize(x, p=math.inf)),
    "pad_constant_crop": (lambda rng: [rng.standard_normal((2, 3, 4))],
                          lambda x, d: F.pad(x, (1, -2, -1, 2), value=3.0)),
    "pad_reflect": (lambda rng: [rng.standard_normal((2, 3, 4))], lambda x, d: F.pad(x, (3, 2, 1, 2), mode="reflect")),
    "pad_replicate": (lambda rng: [rng.standard_normal((2, 3, 4))], lambda x, d: F.pad(x, (3, 2), mode="replicate")),
    "pad_circular": (lambda rng: [rng.standard_normal((2, 3, 4))], lambda x, d: F.pad(x, (4, 2), mode="circular")),
    "embedding": (lambda rng: [rng.standard_normal((4, 2))],
                  lambda w, d: F.embedding(_constant([[0, 3, 3], [2, 0, 1]], d), w)),
    "l1_loss": (lambda rng: [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) + 5.0],
                lambda x, t, d: F.l1_loss(x, t)),
    "bce_weight_broadcast": (lambda rng: [rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0, 1, (3, 4))],
                             lambda p, t, d: F.binary_cross_entropy(p, t, _constant(np.arange(1.0, 4.0)[:, None], d))),
    "bce_with_logits_pos_weight": (lambda rng: [rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))],
                                   lambda x, t, d: F.binary_cross_entropy_with_logits(
                                       x, t, pos_weight=_constant([0.5, 1.0, 2.0, 4.0], d))),
    "nll_loss_weight_ignore_index": (lambda rng: [rng.standard_normal((4, 3))],
                                     lambda x, d: F.nll_loss(x, _constant([2, -100, 0, 2], d),
                                                             _constant([0.3, 1.0, 2.0], d))),
    "cross_entropy_weight_label_smoothing_ncd": (
        lambda rng: [rng.standard_normal((2, 3, 4))],
        lambda x, d: F.cross_entropy(x, _constant([[0, 1, 2, -100], [2, 2, 1, 0]], d),
                                     _constant([0.3, 1.0, 2.0], d), label_smoothing=0.2)),
    "cross_entropy_probabilities_label_smoothing": (
        lambda rng: [rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))],
        lambda x, t, d: F.cross_entropy(x, t, label_smoothing=0.1, reduction="sum")),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_gradient_passes_gradcheck(name, device):
    make, fn = GRADCHECKS[name]
    leaves = [_leaf(a, device) for a in make(np.random.default_rng(zlib.crc32(name.encode())))]
    assert tg.gradcheck(lambda *xs: fn(*xs, device), leaves)


@pytest.mark.parametrize("name", ["erf", "gelu", "bce_weight_broadcast", "layer_norm_two_dims",
                                  "cross_entropy_weight_label_smoothing_ncd"])
def test_gradient_of_gradient_passes_gradgradcheck(name, device):
    make, fn = GRADCHECKS[name]
    leaves = [_leaf(a, device) for a in make(np.random.default_rng(zlib.crc32(name.encode())))]
    assert tg.gradgradcheck(lambda *xs: fn(*xs, device), leaves)


# ---- functional: behaviours beyond the stored values ------------------------------------------
def test_erf_matches_math_erf_from_minus_8_to_8_and_at_infinities():
    points = np.concatenate([np.linspace(-8.0, 8.0, 4001), [math.inf, -math.inf, 0.0]])
    expected = [math.erf(v) for v in points]
    np.testing.assert_allclose(tg.ops.erf(tg.tensor(points)).numpy(), expected, rtol=0, atol=2e-15)


def test_erf_keeps_float32_and_nan():
    out = tg.ops.erf(tg.tensor([0.5, float("nan")]))
    assert out.dtype == np.float32
    assert math.isclose(out.numpy()[0], math.erf(0.5), rel_tol=1e-6) and math.isnan(out.numpy()[1])


def test_relu_inplace_overwrites_and_returns_the_input():
    x = tg.tensor([-1.0, 2.0, -3.0])
    assert F.relu(x, inplace=True) is x
    assert x.tolist() == [0.0, 2.0, 0.0]


def test_leaky_relu_inplace_keeps_the_gradient_path():
    x = tg.tensor([-1.0, 2.0], requires_grad=True)
    y = x * 1.0
    F.leaky_relu(y, 0.5, inplace=True).sum().backward()
    assert x.grad.tolist() == [0.5, 1.0]


def test_embedding_padding_row_gets_no_gradient_but_is_returned():
    weight = tg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    out = F.embedding(tg.tensor([2, 0, 2]), weight, padding_idx=2)
    np.testing.assert_array_equal(out.detach().numpy()[0], [4.0, 5.0])
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])


def test_embedding_module_starts_its_padding_row_at_zero():
    emb = nn.Embedding(6, 4, padding_idx=-2)
    assert emb.padding_idx == 4
    assert not np.any(emb.weight.numpy()[4]) and np.all(emb.weight.numpy()[5] != 0)


def test_cross_entropy_with_every_target_ignored_and_label_smoothing_is_nan_with_zero_gradients():
    x = tg.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([-100, -100]), tg.tensor([1.0, 2.0, 3.0], dtype="float64"),
                           label_smoothing=0.3)
    assert math.isnan(loss.item())
    loss.backward()
    assert not np.any(x.grad.numpy())


def test_loss_weights_receive_no_gradient():
    x = tg.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    weight = tg.tensor([1.0, 2.0, 0.5, 1.0], dtype="float64", requires_grad=True)
    F.cross_entropy(x, tg.tensor([0, 3, 1]), weight).backward()
    assert weight.grad is None and x.grad is not None


def test_pad_without_value_pads_integers_with_zero_and_casts_a_float_value():
    x = tg.tensor([1, 2, 3])
    assert F.pad(x, (1, 1)).tolist() == [0, 1, 2, 3, 0]
    assert F.pad(x, (1, 0), value=2.7).tolist() == [2, 1, 2, 3]


def test_one_hot_is_the_ops_one_hot():
    assert F.one_hot is tg.one_hot


# ---- functional: errors ---------------------------------------------------------------------------
def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="'sigmoid'"):
        F.gelu(tg.zeros(2), approximate="sigmoid")


@pytest.mark.parametrize("pad, mode, match", [
    ((1,), "constant", "pairs"),
    ((1, 1, 1, 1, 1, 1, 1, 1), "constant", "one pair per dimension"),
    ((-3, -2), "constant", "negative size"),
    ((4, 0), "reflect", "reflect needs padding < length"),
    ((5, 0), "circular", "circular padding <= length"),
])
def test_pad_rejects_bad_sizes_naming_them(pad, mode, match):
    with pytest.raises(ValueError, match=match):
        F.pad(tg.zeros(2, 3, 4), pad, mode=mode)


def test_pad_rejects_an_unknown_mode():
    with pytest.raises(NotImplementedError, match="'mirror'"):
        F.pad(tg.zeros(2, 3), (1, 1), mode="mirror")


def test_pad_from_edges_needs_one_or_two_leading_dimensions_like_pytorch():
    with pytest.raises(NotImplementedError, match=r"\(3,\)"):
        F.pad(tg.zeros(3), (1, 1), mode="reflect")


def test_pad_from_edges_takes_no_value():
    with pytest.raises(ValueError, match="takes no value"):
        F.pad(tg.zeros(2, 3), (1, 1), mode="replicate", value=1.0)


def test_normalize_rejects_a_dim_out_of_range():
    with pytest.raises(tg.ShapeError, match="dim 1"):
        F.normalize(tg.zeros(3))


def test_layer_norm_rejects_a_mismatched_shape_naming_both():
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)"):
        F.layer_norm(tg.zeros(2, 3), (4,))


@pytest.mark.parametrize("ids", [[0, 3], [-1, 1]])
def test_embedding_rejects_ids_out_of_range(ids):
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        F.embedding(tg.tensor(ids), tg.zeros(3, 2))


def test_embedding_rejects_a_padding_idx_out_of_range():
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(tg.tensor([1]), tg.zeros(3, 2), padding_idx=3)


def test_class_losses_reject_a_weight_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        F.cross_entropy(tg.zeros(2, 3), tg.tensor([0, 1]), tg.ones(2))


def test_cross_entropy_rejects_label_smoothing_outside_0_1():
    with pytest.raises(ValueError, match="1.5"):
        F.cross_entropy(tg.zeros(2, 3), tg.tensor([0, 1]), label_smoothing=1.5)


def test_cross_entropy_class_probabilities_must_be_floats():
    with pytest.raises(TypeError, match="probabilities"):
        F.cross_entropy(tg.zeros(2, 3), tg.zeros(2, 3, dtype="int64"))


def test_bce_rejects_inputs_outside_0_1():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([0.5, 1.5]), tg.tensor([1.0, 0.0]))


@pytest.mark.parametrize("loss", [F.binary_cross_entropy, F.l1_loss])
def test_elementwise_losses_reject_a_target_of_another_shape(loss):
    with pytest.raises(ValueError, match=r"\(2,\).*\(1, 2\)"):
        loss(tg.tensor([0.5, 0.5]), tg.tensor([[1.0, 0.0]]))


def test_bce_with_logits_rejects_a_pos_weight_that_does_not_broadcast():
    with pytest.raises(ValueError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(tg.zeros(2, 3), tg.zeros(2, 3), pos_weight=tg.ones(2))


def test_loss_arguments_after_weight_are_keyword_only():
    with pytest.raises(TypeError):
        F.cross_entropy(tg.zeros(2, 3), tg.tensor([0, 1]), None, -100)  # noqa: the point of the test


# ---- modules: what PyTorch shows ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REPRS))
def test_repr_matches_pytorch(name):
    expected = json.loads(str(DATA["reprs"]))[name].replace("torch.", "")
    assert repr(REPRS[name](tg)) == expected


@pytest.mark.parametrize("name", sorted(STATE_DICT_KEYS))
def test_state_dict_keys_match_pytorch(name):
    assert list(STATE_DICT_KEYS[name](tg).state_dict()) == json.loads(str(DATA["state_dict_keys"]))[name]


@pytest.mark.parametrize("name", sorted(MODULE_TREES))
def test_named_modules_match_pytorch(name):
    expected = json.loads(str(DATA["module_trees"]))[name]
    model = MODULE_TREES[name](tg)
    assert [n for n, _ in model.named_modules()] == expected["named_modules"]
    assert [n for n, _ in model.named_modules(remove_duplicate=False)] == expected["named_modules_with_duplicates"]


@pytest.mark.parametrize("name", sorted(MODULE_TREES))
def test_apply_visits_children_first_like_pytorch(name):
    visited = []
    model = MODULE_TREES[name](tg)
    assert model.apply(lambda m: visited.append(type(m).__name__)) is model
    assert visited == json.loads(str(DATA["module_trees"]))[name]["apply_order"]


def test_named_modules_prefix_and_memo():
    model = nn.Sequential(nn.ReLU(), nn.Tanh())
    assert [n for n, _ in model.named_modules(prefix="net")] == ["net", "net.0", "net.1"]
    assert [n for n, _ in model.named_modules(memo={model[0]})] == ["", "1"]


def test_apply_can_reinitialise_weights():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    model.apply(lambda m: nn.init.uniform_(m.weight, 1.0, 1.0) if isinstance(m, nn.Linear) else None)
    assert all(np.all(m.weight.numpy() == 1.0) for m in (model[0], model[2]))


# ---- modules: hooks -----------------------------------------------------------------------------
def test_forward_hook_sees_module_inputs_and_output():
    seen = []
    layer = nn.Linear(2, 3)
    layer.register_forward_hook(lambda module, args, output: seen.append((module, args, output)))
    x = tg.randn(4, 2)
    out = layer(x)
    assert len(seen) == 1 and seen[0][0] is layer and seen[0][1][0] is x and seen[0][2] is out


def test_forward_hook_returning_a_value_replaces_the_output_for_later_hooks_too():
    layer, seen = nn.Identity(), []
    layer.register_forward_hook(lambda m, args, out: out * 2.0)
    layer.register_forward_hook(lambda m, args, out: seen.append(out.tolist()))
    assert layer(tg.tensor([1.0, 3.0])).tolist() == [2.0, 6.0]
    assert seen == [[2.0, 6.0]]


def test_removed_forward_hook_is_not_called():
    calls = []
    layer = nn.ReLU()
    handle = layer.register_forward_hook(lambda *a: calls.append(1))
    layer(tg.zeros(2))
    handle.remove()
    layer(tg.zeros(2))
    assert calls == [1]


def test_forward_hook_handle_is_a_context_manager():
    calls = []
    layer = nn.Tanh()
    with layer.register_forward_hook(lambda *a: calls.append(1)):
        layer(tg.zeros(2))
    layer(tg.zeros(2))
    assert calls == [1]


def test_forward_hooks_on_submodules_record_activations():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    shapes = {}
    for name, module in model.named_children():
        module.register_forward_hook(lambda m, args, out, name=name: shapes.update({name: out.shape}))
    model(tg.randn(5, 2))
    assert shapes == {"0": (5, 4), "1": (5, 4), "2": (5, 1)}


def test_register_forward_hook_rejects_a_non_callable():
    with pytest.raises(TypeError, match="register_forward_hook"):
        nn.ReLU().register_forward_hook("not a function")


# ---- modules: requires_grad_, buffers, containers ----------------------------------------------
def test_requires_grad_false_freezes_every_parameter_and_returns_the_module():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    model[1].requires_grad_()
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]


def test_loss_weight_is_a_buffer_moved_and_cast_with_the_module(device):
    loss = nn.CrossEntropyLoss(tg.tensor([1.0, 2.0, 3.0])).double().to(device)
    assert loss.weight.device == device and loss.weight.dtype == np.float64
    assert list(loss.buffers()) == [loss.weight] and not list(loss.parameters())
    value = loss(tg.zeros(2, 3, dtype="float64", device=device), tg.tensor([0, 2], device=device))
    np.testing.assert_allclose(value.item(), math.log(3.0))


def test_non_persistent_buffer_is_not_in_state_dict():
    module = nn.Module()
    module.register_buffer("saved", tg.zeros(2))
    module.register_buffer("scratch", tg.zeros(2), persistent=False)
    assert list(module.state_dict()) == ["saved"]
    assert [n for n, _ in module.named_buffers()] == ["saved", "scratch"]


def test_load_state_dict_fills_buffers():
    loss = nn.BCEWithLogitsLoss(pos_weight=tg.ones(3))
    loss.load_state_dict({"pos_weight": np.array([1.0, 2.0, 3.0])})
    assert loss.pos_weight.tolist() == [1.0, 2.0, 3.0]


def test_module_dict_refuses_keys_that_would_hide_its_methods():
    with pytest.raises(KeyError, match="'keys'"):
        nn.ModuleDict({"keys": nn.ReLU()})


@pytest.mark.parametrize("key", ["", "a.b"])
def test_module_dict_refuses_empty_or_dotted_keys(key):
    with pytest.raises(KeyError):
        nn.ModuleDict({key: nn.ReLU()})


def test_module_dict_pop_and_clear_unregister():
    modules = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert isinstance(modules.pop("a"), nn.Linear)
    assert modules.keys() == ["b"] and not list(modules.parameters())
    modules.clear()
    assert len(modules) == 0 and "b" not in modules


def test_sequential_slice_keeps_names_and_module_list_slice_renumbers():
    model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Tanh())
    assert [n for n, _ in model[1:].named_children()] == ["1", "2"]
    listed = nn.ModuleList([nn.ReLU(), nn.Tanh()])[1:]
    assert isinstance(listed, nn.ModuleList) and [n for n, _ in listed.named_children()] == ["0"]


def test_parameter_list_turns_tensors_into_registered_parameters():
    t = tg.ones(2)
    params = nn.ParameterList([t])
    params.append(nn.Parameter(tg.zeros(3)))
    params += [tg.zeros(1)]
    assert len(params) == 3 and all(isinstance(p, nn.Parameter) for p in params)
    assert np.shares_memory(params[0].data, t.data)
    assert list(params.parameters()) == list(params) and params[-1].shape == (1,)


def test_parameter_list_setitem_replaces_in_place_of_the_index():
    params = nn.ParameterList([tg.zeros(1), tg.zeros(2)])
    params[0] = tg.ones(4)
    assert [p.shape for p in params] == [(4,), (2,)]
    with pytest.raises(IndexError):
        params[2] = tg.ones(1)


def test_parameter_list_rejects_non_tensors():
    with pytest.raises(TypeError, match="ParameterList"):
        nn.ParameterList([1.0])


def test_layer_norm_parameters_start_at_ones_and_zeros_with_pytorch_names():
    norm = nn.LayerNorm((2, 3))
    assert [(n, p.shape) for n, p in norm.named_parameters()] == [("weight", (2, 3)), ("bias", (2, 3))]
    assert np.all(norm.weight.numpy() == 1.0) and not np.any(norm.bias.numpy())


def test_flatten_rejects_start_after_end():
    with pytest.raises(ValueError, match="start_dim"):
        nn.Flatten(2, 1)(tg.zeros(2, 3, 4))


def test_loss_module_rejects_an_unknown_reduction_when_made():
    with pytest.raises(ValueError, match="'average'"):
        nn.MSELoss(reduction="average")


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_softmax_modules_need_the_dim(name):
    """PyTorch guesses a missing dim (with a deprecation warning); here the error says which to pass."""
    with pytest.raises(ValueError, match=f"{name}: pass dim="):
        getattr(tg.nn, name)()(tg.ones(2, 3))
