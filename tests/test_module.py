"""Specification of ``tinygrad_rnn.nn.Module`` and its containers (PyTorch's conventions)."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn


class Tagger(nn.Module):
    """A custom model holding an LSTM and a Linear head, as users write them."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)


class Leaf(nn.Module):
    """Own parameters registered in a deliberately non-alphabetical order."""

    def __init__(self) -> None:
        super().__init__()
        self.zeta = nn.Parameter(tg.zeros(2))
        self.alpha = nn.Parameter(tg.ones(3))
        self.mid = nn.Linear(1, 1)
        self.beta = nn.Parameter(tg.zeros(1))


TAGGER_NAMES = ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                "head.weight", "head.bias"]


# ---- Parameter ---------------------------------------------------------------------------
def test_parameter_from_tensor_is_leaf_requiring_grad_and_shares_memory():
    t = tg.randn(3, 4)
    p = nn.Parameter(t)
    assert isinstance(p, tg.Tensor)
    assert p.is_leaf and p.requires_grad and p.grad is None
    assert np.shares_memory(p.data, t.data)
    t.data[0, 0] = 42.0
    assert p.data[0, 0] == 42.0


def test_parameter_from_numpy_array_keeps_values_and_dtype():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    p = nn.Parameter(a)
    assert p.is_leaf and p.requires_grad
    assert p.shape == (2, 3) and p.dtype == np.float64
    np.testing.assert_array_equal(p.numpy(), a)


def test_parameter_repr_says_parameter():
    assert repr(nn.Parameter(tg.zeros(2))).startswith("Parameter containing:")


# ---- registration and walking the tree -----------------------------------------------------
def test_parameters_registered_in_definition_order():
    names = [name for name, _ in Leaf().named_parameters()]
    assert names == ["zeta", "alpha", "beta", "mid.weight", "mid.bias"]


def test_parameters_yields_the_registered_objects():
    m = Leaf()
    assert [id(p) for p in m.parameters()] == [id(m.zeta), id(m.alpha), id(m.beta),
                                                id(m.mid.weight), id(m.mid.bias)]


def test_submodules_registered_in_definition_order():
    m = Tagger()
    assert [name for name, _ in m.named_children()] == ["lstm", "head"]
    assert list(m._modules) == ["lstm", "head"]


def test_named_parameters_use_dotted_names():
    m = Tagger()
    named = list(m.named_parameters())
    assert [name for name, _ in named] == TAGGER_NAMES
    assert named[0][1] is m.lstm.weight_ih_l0
    assert named[-1][1] is m.head.bias
    assert named[0][1].shape == (16, 3)


def test_named_parameters_nested_three_deep():
    outer = nn.Sequential(nn.Sequential(nn.Linear(2, 2)), nn.Linear(2, 1, bias=False))
    assert [n for n, _ in outer.named_parameters()] == ["0.0.weight", "0.0.bias", "1.weight"]


def test_shared_parameter_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert len(list(model.parameters())) == 3


def test_shared_submodule_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, layer)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 2  # the Sequential and the one Linear


def test_modules_is_self_then_depth_first():
    m = Tagger()
    assert [type(x).__name__ for x in m.modules()] == ["Tagger", "LSTM", "Linear"]
    assert next(iter(m.modules())) is m
    assert [name for name, _ in m.named_modules()] == ["", "lstm", "head"]


def test_children_are_immediate_submodules_only():
    inner = nn.Linear(2, 2)
    model = nn.Sequential(nn.Sequential(inner), nn.Linear(2, 1))
    children = list(model.children())
    assert len(children) == 2
    assert children[0] is model[0] and children[1] is model[1]
    assert all(c is not inner for c in children)


def test_reassigning_plain_value_unregisters_parameter():
    m = nn.Linear(2, 2)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]


# ---- state_dict -------------------------------------------------------------------------------
def test_state_dict_keys_in_named_parameter_order():
    m = Tagger()
    assert list(m.state_dict().keys()) == TAGGER_NAMES


def test_state_dict_values_equal_parameters():
    m = Tagger()
    sd = m.state_dict()
    for name, p in m.named_parameters():
        np.testing.assert_array_equal(sd[name].numpy(), p.numpy())


def test_state_dict_values_are_detached_and_share_memory():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    for name in ("weight", "bias"):
        value, param = sd[name], getattr(m, name)
        assert value.requires_grad is False and value.grad_fn is None
        assert not isinstance(value, nn.Parameter)
        assert np.shares_memory(value.data, param.data)
    with tg.no_grad():
        m.weight.data[0, 0] = 7.0
    assert sd["weight"].data[0, 0] == 7.0


def test_load_state_dict_accepts_numpy_arrays():
    m = nn.Linear(3, 2)
    w = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.array([-1.0, 1.0])
    m.load_state_dict({"weight": w, "bias": b})
    np.testing.assert_array_equal(m.weight.numpy(), w.astype(np.float32))
    np.testing.assert_array_equal(m.bias.numpy(), b.astype(np.float32))
    assert m.weight.dtype == np.float32  # cast to the parameter's dtype


def test_load_state_dict_accepts_tensors_and_copies_values():
    src, dst = Tagger(), Tagger()
    dst.load_state_dict(src.state_dict())
    for (name, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
        assert not np.shares_memory(p.data, q.data), name
    with tg.no_grad():
        src.head.weight.data[...] = 123.0
    assert not np.any(dst.head.weight.numpy() == 123.0)


def test_load_state_dict_keeps_parameter_objects():
    m = nn.Linear(2, 2)
    weight = m.weight
    m.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert m.weight is weight and m.weight.requires_grad and m.weight.is_leaf


def test_load_state_dict_strict_raises_listing_missing_keys():
    m = Tagger()
    sd = m.state_dict()
    del sd["head.bias"], sd["lstm.bias_hh_l0"]
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    message = str(info.value)
    assert "missing" in message.lower()
    assert "head.bias" in message and "lstm.bias_hh_l0" in message


def test_load_state_dict_strict_raises_listing_unexpected_keys():
    m = nn.Linear(2, 2)
    sd = dict(m.state_dict())
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    assert "unexpected" in str(info.value).lower() and "extra.weight" in str(info.value)


def test_load_state_dict_strict_failure_changes_nothing():
    m = nn.Linear(2, 2)
    before = m.weight.numpy().copy()
    with pytest.raises(RuntimeError):
        m.load_state_dict({"weight": np.zeros((2, 2))})  # bias missing
    np.testing.assert_array_equal(m.weight.numpy(), before)


def test_load_state_dict_non_strict_returns_keys_and_loads_the_rest():
    m = nn.Linear(2, 2)
    old_bias = m.bias.numpy().copy()
    result = m.load_state_dict({"weight": np.full((2, 2), 3.0), "stray": np.zeros(1)}, strict=False)
    missing, unexpected = result
    assert missing == ["bias"] and unexpected == ["stray"]
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["stray"]
    np.testing.assert_array_equal(m.weight.numpy(), np.full((2, 2), 3.0))
    np.testing.assert_array_equal(m.bias.numpy(), old_bias)


def test_load_state_dict_strict_success_returns_empty_key_lists():
    m = nn.Linear(2, 2)
    missing, unexpected = m.load_state_dict(m.state_dict())
    assert missing == [] and unexpected == []


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_shape_mismatch_names_key_and_shapes(strict):
    m = nn.Linear(3, 2)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}, strict=strict)
    message = str(info.value)
    assert "weight" in message
    assert "(2, 3)" in message and "(3, 2)" in message


# ---- modes, gradients, dtypes and devices ------------------------------------------------
def test_train_and_eval_recurse_and_return_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in model.modules())  # modules start in training mode
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    assert model.train(False) is model
    assert not any(m.training for m in model.modules())


def _backward_once(model):
    x = tg.randn(5, 3)
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_zero_grad_sets_grads_to_none():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    _backward_once(model)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_zero_grad_set_to_none_false_gives_zeros():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    _backward_once(model)
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == p.dtype
        assert not np.any(p.grad.numpy())


def _check_dtype_conversion(convert, dtype):
    model = Tagger()
    params = list(model.parameters())
    values = [p.numpy().astype(np.float64) for p in params]
    assert convert(model) is model
    after = list(model.parameters())
    assert len(after) == len(params)
    for p, q, v in zip(params, after, values):
        assert q is p  # the same Parameter objects, converted in place
        assert isinstance(q, nn.Parameter) and q.requires_grad and q.is_leaf
        assert q.dtype == np.dtype(dtype)
        np.testing.assert_allclose(q.numpy().astype(np.float64), v, rtol=1e-6)
    assert model.lstm.weight_ih_l0 is params[0]


def test_double_converts_every_parameter_in_place():
    _check_dtype_conversion(lambda m: m.double(), "float64")


def test_float_converts_back_to_float32():
    _check_dtype_conversion(lambda m: m.double().float(), "float32")


def test_to_dtype_keyword_converts():
    _check_dtype_conversion(lambda m: m.to(dtype="float64"), "float64")


def test_to_dtype_object_positional_converts():
    _check_dtype_conversion(lambda m: m.to(tg.float64), "float64")


def test_to_dtype_string_positional_converts():
    _check_dtype_conversion(lambda m: m.to("float64"), "float64")


def test_double_model_computes_in_float64():
    model = nn.Linear(3, 2).double()
    x = tg.randn(4, 3, dtype="float64")
    out = model(x)
    assert out.dtype == np.float64
    out.sum().backward()
    assert model.weight.grad.dtype == np.float64


def test_to_cpu_keeps_parameters_and_values():
    model = Tagger()
    params = list(model.parameters())
    values = [p.numpy().copy() for p in params]
    assert model.to("cpu") is model
    assert model.cpu() is model
    for p, q, v in zip(params, model.parameters(), values):
        assert q is p and q.device == "cpu"
        np.testing.assert_array_equal(q.numpy(), v)


# ---- repr ----------------------------------------------------------------------------------
def test_repr_linear():
    assert repr(nn.Linear(3, 4)) == "Linear(in_features=3, out_features=4, bias=True)"
    assert repr(nn.Linear(3, 4, bias=False)) == "Linear(in_features=3, out_features=4, bias=False)"


def test_repr_recurrent_layers_show_non_defaults_only():
    assert repr(nn.LSTM(10, 20, num_layers=2)) == "LSTM(10, 20, num_layers=2)"
    assert repr(nn.GRU(3, 5)) == "GRU(3, 5)"
    assert repr(nn.RNN(3, 5, batch_first=True)) == "RNN(3, 5, batch_first=True)"


def test_repr_sequential_lists_children():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1))
    assert repr(model) == ("Sequential(\n"
                           "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                           "  (1): Dropout(p=0.1)\n"
                           ")")


def test_repr_custom_module_lists_named_children():
    assert repr(Tagger()) == ("Tagger(\n"
                              "  (lstm): LSTM(3, 4)\n"
                              "  (head): Linear(in_features=4, out_features=2, bias=True)\n"
                              ")")


def test_repr_nested_containers_indent():
    model = nn.Sequential(nn.Sequential(nn.Linear(1, 1)))
    assert repr(model) == ("Sequential(\n"
                           "  (0): Sequential(\n"
                           "    (0): Linear(in_features=1, out_features=1, bias=True)\n"
                           "  )\n"
                           ")")


# ---- containers -------------------------------------------------------------------------------
def test_modulelist_append_index_len_iter():
    layers = nn.ModuleList()
    assert len(layers) == 0
    a, b = nn.Linear(2, 2), nn.Linear(2, 3)
    assert layers.append(a) is layers
    layers.append(b)
    assert len(layers) == 2
    assert layers[0] is a and layers[1] is b and layers[-1] is b
    assert list(layers) == [a, b]


def test_modulelist_registers_its_modules():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3, bias=False)])
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight"]


def test_modulelist_inside_module_registers_parameters():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])

    names = [n for n, _ in Stack().named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]


def test_sequential_forward_chains_modules():
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    model = nn.Sequential(first, second)
    x = tg.randn(5, 3)
    np.testing.assert_allclose(model(x).numpy(), second(first(x)).numpy(), rtol=1e-6)
    w1, b1, w2, b2 = (p.numpy() for p in model.parameters())
    expected = (x.numpy() @ w1.T + b1) @ w2.T + b2
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_calling_a_module_calls_forward():
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    np.testing.assert_array_equal(Double()(tg.tensor([1.0, 2.0])).numpy(), [2.0, 4.0])


def test_module_without_forward_raises_not_implemented():
    with pytest.raises(NotImplementedError):
        nn.Module()(tg.zeros(1))


def test_assigning_before_super_init_raises_helpful_attribute_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(AttributeError) as info:
        Broken()
    assert "super().__init__()" in str(info.value)
    assert "layer" in str(info.value)


# ---- bias=False ------------------------------------------------------------------------------
def test_linear_without_bias_has_no_bias_parameter():
    m = nn.Linear(3, 2, bias=False)
    assert m.bias is None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert list(m.state_dict()) == ["weight"]
    x = tg.randn(4, 3)
    np.testing.assert_allclose(m(x).numpy(), x.numpy() @ m.weight.numpy().T, rtol=1e-6)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_layer_without_bias_has_only_weights(cls):
    m = cls(3, 4, bias=False)
    assert m.bias_ih_l0 is None and m.bias_hh_l0 is None
    assert list(m.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_without_bias_has_only_weights(cls):
    m = cls(3, 4, bias=False)
    assert m.bias_ih is None and m.bias_hh is None
    assert list(m.state_dict()) == ["weight_ih", "weight_hh"]
    assert m(tg.randn(2, 3)) is not None  # and it still runs
