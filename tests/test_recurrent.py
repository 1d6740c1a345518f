"""Specification of nn's recurrent cells and layers: gradients, equations, shapes, names,
checks, BPTT (long and truncated), graph structure, dropout and dtypes."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

L, N, H_IN, H = 3, 2, 3, 4  # small sizes for the finite-difference checks


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _randn(*shape, requires_grad=False, seed=0):
    data = np.random.default_rng(seed).normal(size=shape)
    return tg.tensor(data, requires_grad=requires_grad)  # float64: nudged in place by gradcheck


def _np(p):
    return p.detach().numpy()


def _walk_nodes(root):
    """Every graph node reachable from ``root`` (a tensor), walked iteratively."""
    seen, stack = set(), [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        for edge in node.parents:
            if edge is not None and isinstance(edge[0], tg.Function):
                stack.append(edge[0])


# ---- gradcheck: cells ----------------------------------------------------------------------
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_rnn_cell_gradcheck(nonlinearity, batched):
    tg.manual_seed(0)
    cell = nn.RNNCell(H_IN, H, nonlinearity=nonlinearity).double()
    x = _randn(*((N, H_IN) if batched else (H_IN,)), requires_grad=True, seed=1)
    h = _randn(*((N, H) if batched else (H,)), requires_grad=True, seed=2)
    assert tg.gradcheck(lambda x, h, *params: cell(x, h), [x, h] + list(cell.parameters()))


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_lstm_cell_gradcheck(batched):
    tg.manual_seed(0)
    cell = nn.LSTMCell(H_IN, H).double()
    x = _randn(*((N, H_IN) if batched else (H_IN,)), requires_grad=True, seed=1)
    h = _randn(*((N, H) if batched else (H,)), requires_grad=True, seed=2)
    c = _randn(*((N, H) if batched else (H,)), requires_grad=True, seed=3)
    assert tg.gradcheck(lambda x, h, c, *params: cell(x, (h, c)),
                        [x, h, c] + list(cell.parameters()))


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_gru_cell_gradcheck(batched):
    tg.manual_seed(0)
    cell = nn.GRUCell(H_IN, H).double()
    x = _randn(*((N, H_IN) if batched else (H_IN,)), requires_grad=True, seed=1)
    h = _randn(*((N, H) if batched else (H,)), requires_grad=True, seed=2)
    assert tg.gradcheck(lambda x, h, *params: cell(x, h), [x, h] + list(cell.parameters()))


def test_cell_gradcheck_without_initial_state():
    tg.manual_seed(0)
    cell = nn.LSTMCell(H_IN, H).double()
    x = _randn(N, H_IN, requires_grad=True, seed=1)
    assert tg.gradcheck(lambda x, *params: cell(x), [x] + list(cell.parameters()))


# ---- gradcheck: layers ------------------------------------------------------------------------
LAYER_CONFIGS = {
    "1layer": dict(),
    "2layers": dict(num_layers=2),
    "bidirectional": dict(bidirectional=True),
    "batch_first": dict(batch_first=True),
    "2layers_bidirectional_batch_first": dict(num_layers=2, bidirectional=True, batch_first=True),
}
LAYERS = {
    "RNN_tanh": (nn.RNN, dict()),
    "RNN_relu": (nn.RNN, dict(nonlinearity="relu")),
    "LSTM": (nn.LSTM, dict()),
    "GRU": (nn.GRU, dict()),
}


@pytest.mark.parametrize("config", list(LAYER_CONFIGS))
@pytest.mark.parametrize("layer", list(LAYERS))
def test_layer_gradcheck_wrt_input_states_and_parameters(layer, config):
    cls, extra = LAYERS[layer]
    kwargs = dict(LAYER_CONFIGS[config], **extra)
    tg.manual_seed(0)
    model = cls(H_IN, H, **kwargs).double()
    count = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    x = _randn(*((N, L, H_IN) if kwargs.get("batch_first") else (L, N, H_IN)),
               requires_grad=True, seed=1)
    h0 = _randn(count, N, H, requires_grad=True, seed=2)
    params = list(model.parameters())
    if cls is nn.LSTM:
        c0 = _randn(count, N, H, requires_grad=True, seed=3)

        def fn(x, h0, c0, *params):
            out, (h_n, c_n) = model(x, (h0, c0))
            return out, h_n, c_n

        assert tg.gradcheck(fn, [x, h0, c0] + params)
    else:
        assert tg.gradcheck(lambda x, h0, *params: model(x, h0), [x, h0] + params)


@pytest.mark.parametrize("layer", ["RNN_tanh", "LSTM", "GRU"])
def test_layer_gradcheck_unbatched_without_initial_state(layer):
    cls, extra = LAYERS[layer]
    tg.manual_seed(0)
    model = cls(H_IN, H, bidirectional=True, **extra).double()
    x = _randn(L, H_IN, requires_grad=True, seed=1)

    def fn(x, *params):
        out, state = model(x)
        return (out,) + (tuple(state) if isinstance(state, tuple) else (state,))

    assert tg.gradcheck(fn, [x] + list(model.parameters()))


# ---- one step equals the written equations --------------------------------------------------
def _cell_arrays(cell):
    return _np(cell.weight_ih), _np(cell.weight_hh), _np(cell.bias_ih), _np(cell.bias_hh)


def test_lstm_cell_step_equals_equations():
    tg.manual_seed(1)
    cell = nn.LSTMCell(H_IN, H).double()
    x, h, c = _randn(N, H_IN, seed=4), _randn(N, H, seed=5), _randn(N, H, seed=6)
    h1, c1 = cell(x, (h, c))
    w_ih, w_hh, b_ih, b_hh = _cell_arrays(cell)
    gates = x.numpy() @ w_ih.T + b_ih + h.numpy() @ w_hh.T + b_hh
    i, f, g, o = np.split(gates, 4, axis=1)
    i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
    c_expected = f * c.numpy() + i * g
    h_expected = o * np.tanh(c_expected)
    np.testing.assert_allclose(c1.numpy(), c_expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h1.numpy(), h_expected, rtol=1e-12, atol=1e-14)


def test_gru_cell_step_equals_pytorch_equations():
    tg.manual_seed(2)
    cell = nn.GRUCell(H_IN, H).double()
    x, h = _randn(N, H_IN, seed=7), _randn(N, H, seed=8)
    w_ih, w_hh, b_ih, b_hh = _cell_arrays(cell)
    W_ir, W_iz, W_in = np.split(w_ih, 3)
    W_hr, W_hz, W_hn = np.split(w_hh, 3)
    b_ir, b_iz, b_in = np.split(b_ih, 3)
    b_hr, b_hz, b_hn = np.split(b_hh, 3)
    xv, hv = x.numpy(), h.numpy()
    r = _sigmoid(xv @ W_ir.T + b_ir + hv @ W_hr.T + b_hr)
    z = _sigmoid(xv @ W_iz.T + b_iz + hv @ W_hz.T + b_hz)
    n = np.tanh(xv @ W_in.T + b_in + r * (hv @ W_hn.T + b_hn))
    expected = (1 - z) * n + z * hv
    np.testing.assert_allclose(cell(x, h).numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_step_equals_equations(nonlinearity):
    tg.manual_seed(3)
    cell = nn.RNNCell(H_IN, H, nonlinearity=nonlinearity).double()
    x, h = _randn(N, H_IN, seed=9), _randn(N, H, seed=10)
    w_ih, w_hh, b_ih, b_hh = _cell_arrays(cell)
    pre = x.numpy() @ w_ih.T + b_ih + h.numpy() @ w_hh.T + b_hh
    expected = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0.0)
    np.testing.assert_allclose(cell(x, h).numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_default_state_is_zeros(cls):
    tg.manual_seed(4)
    cell = cls(H_IN, H).double()
    x = _randn(N, H_IN, seed=11)
    zeros = tg.zeros(N, H, dtype="float64")
    explicit = cell(x, (zeros, zeros)) if cls is nn.LSTMCell else (cell(x, zeros),)
    implicit = cell(x) if cls is nn.LSTMCell else (cell(x),)
    for a, b in zip(explicit, implicit):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_unbatched_equals_batch_of_one(cls):
    tg.manual_seed(5)
    cell = cls(H_IN, H).double()
    x = _randn(H_IN, seed=12)
    single = cell(x)
    batched = cell(x.reshape(1, H_IN))
    single = single if isinstance(single, tuple) else (single,)
    batched = batched if isinstance(batched, tuple) else (batched,)
    for s, b in zip(single, batched):
        assert s.shape == (H,) and b.shape == (1, H)
        np.testing.assert_allclose(s.numpy(), b.numpy()[0], rtol=1e-12)


# ---- layer equals its cell stepped over time -----------------------------------------------
def _load_cell_from_layer(cell, layer, suffix):
    cell.load_state_dict({name: getattr(layer, name + suffix)
                          for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})


def test_lstm_layer_equals_lstm_cell_stepped_over_time():
    tg.manual_seed(6)
    lstm = nn.LSTM(H_IN, H).double()
    cell = nn.LSTMCell(H_IN, H).double()
    _load_cell_from_layer(cell, lstm, "_l0")
    x, h0, c0 = _randn(5, N, H_IN, seed=13), _randn(1, N, H, seed=14), _randn(1, N, H, seed=15)
    out, (h_n, c_n) = lstm(x, (h0, c0))
    h, c = h0[0], c0[0]
    steps = []
    for t in range(5):
        h, c = cell(x[t], (h, c))
        steps.append(h.numpy())
    np.testing.assert_allclose(out.numpy(), np.stack(steps), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.numpy()[0], h.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n.numpy()[0], c.numpy(), rtol=1e-12, atol=1e-14)


def test_bidirectional_lstm_reverse_direction_runs_backwards_in_time():
    tg.manual_seed(7)
    lstm = nn.LSTM(H_IN, H, bidirectional=True).double()
    cell = nn.LSTMCell(H_IN, H).double()
    _load_cell_from_layer(cell, lstm, "_l0_reverse")
    x = _randn(4, N, H_IN, seed=16)
    out, (h_n, c_n) = lstm(x)
    h = c = tg.zeros(N, H, dtype="float64")
    backwards = {}
    for t in reversed(range(4)):
        h, c = cell(x[t], (h, c))
        backwards[t] = h.numpy()
    np.testing.assert_allclose(out.numpy()[:, :, H:], np.stack([backwards[t] for t in range(4)]),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.numpy()[1], backwards[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n.numpy()[1], c.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layer_cls, cell_cls", [(nn.GRU, nn.GRUCell), (nn.RNN, nn.RNNCell)])
def test_gru_and_rnn_layers_equal_their_cells_stepped_over_time(layer_cls, cell_cls):
    tg.manual_seed(8)
    layer, cell = layer_cls(H_IN, H).double(), cell_cls(H_IN, H).double()
    _load_cell_from_layer(cell, layer, "_l0")
    x, h0 = _randn(5, N, H_IN, seed=17), _randn(1, N, H, seed=18)
    out, h_n = layer(x, h0)
    h = h0[0]
    for t in range(5):
        h = cell(x[t], h)
        np.testing.assert_allclose(out.numpy()[t], h.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.numpy()[0], h.numpy(), rtol=1e-12, atol=1e-14)


def test_second_layer_consumes_first_layers_output():
    tg.manual_seed(9)
    deep = nn.LSTM(H_IN, H, num_layers=2).double()
    first, second = nn.LSTM(H_IN, H).double(), nn.LSTM(H, H).double()
    first.load_state_dict({k: v for k, v in deep.state_dict().items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in deep.state_dict().items()
                            if k.endswith("_l1")})
    x = _randn(4, N, H_IN, seed=19)
    out, (h_n, c_n) = deep(x)
    mid, (h_a, c_a) = first(x)
    expected, (h_b, c_b) = second(mid)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), np.concatenate([h_a.numpy(), h_b.numpy()]), rtol=1e-12)
    np.testing.assert_allclose(c_n.numpy(), np.concatenate([c_a.numpy(), c_b.numpy()]), rtol=1e-12)


def test_batch_first_equals_time_major_transposed():
    tg.manual_seed(10)
    a = nn.GRU(H_IN, H, num_layers=2, bidirectional=True).double()
    b = nn.GRU(H_IN, H, num_layers=2, bidirectional=True, batch_first=True).double()
    b.load_state_dict(a.state_dict())
    x = _randn(5, N, H_IN, seed=20)
    out_a, h_a = a(x)
    out_b, h_b = b(x.transpose(0, 1))
    np.testing.assert_allclose(out_b.numpy(), out_a.numpy().transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(h_b.numpy(), h_a.numpy(), rtol=1e-12)


# ---- shapes -------------------------------------------------------------------------------------
SEQ, BATCH, FEAT, HID = 7, 5, 3, 6


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layout", ["batched", "batch_first", "unbatched"])
def test_lstm_output_and_state_shapes(layout, bidirectional, num_layers):
    d = 2 if bidirectional else 1
    lstm = nn.LSTM(FEAT, HID, num_layers=num_layers, bidirectional=bidirectional,
                   batch_first=layout == "batch_first")
    shape = {"batched": (SEQ, BATCH, FEAT), "batch_first": (BATCH, SEQ, FEAT),
             "unbatched": (SEQ, FEAT)}[layout]
    out, (h_n, c_n) = lstm(tg.randn(*shape))
    expected_out = {"batched": (SEQ, BATCH, d * HID), "batch_first": (BATCH, SEQ, d * HID),
                    "unbatched": (SEQ, d * HID)}[layout]
    expected_state = (d * num_layers, HID) if layout == "unbatched" else (d * num_layers, BATCH, HID)
    assert out.shape == expected_out
    assert h_n.shape == expected_state and c_n.shape == expected_state


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU])
@pytest.mark.parametrize("layout", ["batched", "batch_first", "unbatched"])
def test_rnn_and_gru_output_and_state_shapes(cls, layout):
    layer = cls(FEAT, HID, num_layers=2, bidirectional=True, batch_first=layout == "batch_first")
    shape = {"batched": (SEQ, BATCH, FEAT), "batch_first": (BATCH, SEQ, FEAT),
             "unbatched": (SEQ, FEAT)}[layout]
    out, h_n = layer(tg.randn(*shape))
    assert out.shape == {"batched": (SEQ, BATCH, 2 * HID), "batch_first": (BATCH, SEQ, 2 * HID),
                         "unbatched": (SEQ, 2 * HID)}[layout]
    assert h_n.shape == ((4, HID) if layout == "unbatched" else (4, BATCH, HID))


def test_unbatched_input_accepts_unbatched_initial_state():
    gru = nn.GRU(FEAT, HID, num_layers=2)
    out, h_n = gru(tg.randn(SEQ, FEAT), tg.zeros(2, HID))
    assert out.shape == (SEQ, HID) and h_n.shape == (2, HID)


def test_last_output_equals_final_hidden_state():
    lstm = nn.LSTM(FEAT, HID, num_layers=2)
    out, (h_n, _) = lstm(tg.randn(SEQ, BATCH, FEAT))
    np.testing.assert_array_equal(out.numpy()[-1], h_n.numpy()[-1])


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_output_shapes(cls):
    cell = cls(FEAT, HID)
    batched, single = cell(tg.randn(BATCH, FEAT)), cell(tg.randn(FEAT))
    if cls is nn.LSTMCell:
        assert [t.shape for t in batched] == [(BATCH, HID)] * 2
        assert [t.shape for t in single] == [(HID,)] * 2
    else:
        assert batched.shape == (BATCH, HID) and single.shape == (HID,)


# ---- parameter names, shapes and init --------------------------------------------------------
def test_bidirectional_two_layer_lstm_parameter_names_and_shapes():
    lstm = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    expected = [
        ("weight_ih_l0", (80, 10)), ("weight_hh_l0", (80, 20)),
        ("bias_ih_l0", (80,)), ("bias_hh_l0", (80,)),
        ("weight_ih_l0_reverse", (80, 10)), ("weight_hh_l0_reverse", (80, 20)),
        ("bias_ih_l0_reverse", (80,)), ("bias_hh_l0_reverse", (80,)),
        ("weight_ih_l1", (80, 40)), ("weight_hh_l1", (80, 20)),
        ("bias_ih_l1", (80,)), ("bias_hh_l1", (80,)),
        ("weight_ih_l1_reverse", (80, 40)), ("weight_hh_l1_reverse", (80, 20)),
        ("bias_ih_l1_reverse", (80,)), ("bias_hh_l1_reverse", (80,)),
    ]
    assert [(name, p.shape) for name, p in lstm.named_parameters()] == expected
    assert list(lstm.state_dict()) == [name for name, _ in expected]


@pytest.mark.parametrize("cls, gates", [(nn.RNN, 1), (nn.GRU, 3)])
def test_rnn_and_gru_parameter_shapes(cls, gates):
    layer = cls(10, 20, num_layers=2)
    shapes = {name: p.shape for name, p in layer.named_parameters()}
    assert shapes == {"weight_ih_l0": (gates * 20, 10), "weight_hh_l0": (gates * 20, 20),
                      "bias_ih_l0": (gates * 20,), "bias_hh_l0": (gates * 20,),
                      "weight_ih_l1": (gates * 20, 20), "weight_hh_l1": (gates * 20, 20),
                      "bias_ih_l1": (gates * 20,), "bias_hh_l1": (gates * 20,)}


@pytest.mark.parametrize("cls, gates", [(nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)])
def test_cell_parameter_names_and_shapes(cls, gates):
    cell = cls(10, 20)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_ih", (gates * 20, 10)), ("weight_hh", (gates * 20, 20)),
        ("bias_ih", (gates * 20,)), ("bias_hh", (gates * 20,))]


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_default_init_within_pytorch_bound(cls):
    tg.manual_seed(11)
    hidden = 25
    module = cls(10, hidden, num_layers=2) if cls in (nn.RNN, nn.LSTM, nn.GRU) else cls(10, hidden)
    bound = 1.0 / math.sqrt(hidden)
    everything = np.concatenate([p.numpy().ravel() for p in module.parameters()])
    assert everything.min() >= -bound and everything.max() <= bound
    assert everything.max() > 0.95 * bound and everything.min() < -0.95 * bound
    for name, p in module.named_parameters():
        assert p.dtype == np.float32 and p.requires_grad, name


# ---- input validation ------------------------------------------------------------------------
def _raises_with(call, *fragments):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("shape", [(4,), (2, 3, 4, 3)])
def test_layer_wrong_input_rank_raises(cls, shape):
    _raises_with(lambda: cls(3, 5)(tg.randn(*shape)), str(shape))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_layer_wrong_feature_size_raises_naming_both(cls):
    _raises_with(lambda: cls(3, 5)(tg.randn(4, 2, 7)), "3", "(4, 2, 7)")


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU])
def test_layer_wrong_h0_shape_raises_with_expected_and_actual(cls):
    layer = cls(3, 5, num_layers=2)
    _raises_with(lambda: layer(tg.randn(4, 2, 3), tg.zeros(1, 2, 5)), "(2, 2, 5)", "(1, 2, 5)")


def test_lstm_wrong_c0_shape_raises_with_expected_and_actual():
    lstm = nn.LSTM(3, 5)
    _raises_with(lambda: lstm(tg.randn(4, 2, 3), (tg.zeros(1, 2, 5), tg.zeros(1, 2, 6))),
                 "c0", "(1, 2, 5)", "(1, 2, 6)")


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_layer_h0_batch_mismatching_input_raises(cls):
    layer = cls(3, 5)
    h0 = tg.zeros(1, 3, 5)
    state = (h0, tg.zeros(1, 3, 5)) if cls is nn.LSTM else h0
    _raises_with(lambda: layer(tg.randn(4, 2, 3), state), "(1, 2, 5)", "(1, 3, 5)")


def test_batch_first_h0_batch_mismatch_raises():
    gru = nn.GRU(3, 5, batch_first=True)
    _raises_with(lambda: gru(tg.randn(2, 4, 3), tg.zeros(1, 4, 5)), "(1, 2, 5)", "(1, 4, 5)")


def test_unbatched_input_with_batched_h0_raises():
    rnn = nn.RNN(3, 5)
    _raises_with(lambda: rnn(tg.randn(4, 3), tg.zeros(1, 1, 5)), "(1, 5)", "(1, 1, 5)")


@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_given_single_tensor_instead_of_tuple_raises(num_layers):
    lstm = nn.LSTM(3, 5, num_layers=num_layers)
    h0 = tg.zeros(num_layers, 2, 5)
    with pytest.raises(ValueError) as info:
        lstm(tg.randn(4, 2, 3), h0)
    message = str(info.value)
    assert "(h0, c0)" in message, message
    assert str(h0.shape) in message, message


def test_lstm_cell_given_single_tensor_instead_of_tuple_raises():
    cell = nn.LSTMCell(3, 5)
    with pytest.raises(ValueError) as info:
        cell(tg.randn(2, 3), tg.zeros(2, 5))
    assert "(h, c)" in str(info.value), str(info.value)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_wrong_input_raises_with_expected_and_actual(cls):
    cell = cls(3, 5)
    _raises_with(lambda: cell(tg.randn(2, 4)), "3", "(2, 4)")
    _raises_with(lambda: cell(tg.randn(1, 2, 3)), "(1, 2, 3)")


def test_cell_wrong_state_shape_raises_with_expected_and_actual():
    cell = nn.GRUCell(3, 5)
    _raises_with(lambda: cell(tg.randn(2, 3), tg.zeros(3, 5)), "(2, 5)", "(3, 5)")


def test_invalid_constructor_arguments_raise():
    with pytest.raises(ValueError):
        nn.RNN(3, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        nn.RNNCell(3, 5, nonlinearity="gelu")
    with pytest.raises(ValueError):
        nn.LSTM(3, 5, num_layers=0)
    with pytest.raises(ValueError):
        nn.GRU(3, 5, dropout=1.5)


# ---- BPTT ------------------------------------------------------------------------------------
def test_long_bptt_5000_steps_no_recursion_error_and_finite_grads():
    tg.manual_seed(12)
    rnn = nn.RNN(2, 4)
    x = tg.randn(5000, 1, 2, requires_grad=True)
    out, h_n = rnn(x)
    assert out.shape == (5000, 1, 4)
    (out.sum() + h_n.sum()).backward()
    assert x.grad is not None and np.all(np.isfinite(x.grad.numpy()))
    for name, p in rnn.named_parameters():
        assert p.grad is not None and np.all(np.isfinite(p.grad.numpy())), name
        assert np.any(p.grad.numpy()), name


def _two_chunks(detach):
    tg.manual_seed(13)
    lstm = nn.LSTM(3, 4)
    x1 = tg.randn(6, 2, 3, requires_grad=True)
    x2 = tg.randn(6, 2, 3, requires_grad=True)
    _, (h, c) = lstm(x1)
    if detach:
        h, c = h.detach(), c.detach()
    out2, _ = lstm(x2, (h, c))
    out2.sum().backward()
    return lstm, x1, x2


def test_truncated_bptt_detached_state_blocks_gradient_to_previous_chunk():
    _, x1, x2 = _two_chunks(detach=True)
    assert x1.grad is None or not np.any(x1.grad.numpy())
    assert x2.grad is not None and np.any(x2.grad.numpy())


def test_without_detach_gradient_reaches_previous_chunk():
    _, x1, x2 = _two_chunks(detach=False)
    assert x1.grad is not None and np.any(x1.grad.numpy())
    assert np.any(x2.grad.numpy())


def test_truncated_bptt_parameter_grads_come_from_second_chunk_only():
    lstm_detached, _, _ = _two_chunks(detach=True)
    lstm_full, _, _ = _two_chunks(detach=False)
    # the same weights and inputs, but the full graph adds the first chunk's contribution
    assert not np.allclose(lstm_detached.weight_ih_l0.grad.numpy(), lstm_full.weight_ih_l0.grad.numpy())


def test_detached_state_is_a_leaf_sharing_values():
    lstm = nn.LSTM(3, 4)
    _, (h, c) = lstm(tg.randn(2, 1, 3))
    hd = h.detach()
    assert hd.is_leaf and not hd.requires_grad
    np.testing.assert_array_equal(hd.numpy(), h.numpy())


# ---- graph structure ------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_layer_forward_takes_time_steps_with_unbind(cls):
    layer = cls(3, 4)
    out, _ = layer(tg.randn(6, 2, 3))
    names = [type(node).__name__ for node in _walk_nodes(out)]
    assert "Unbind" in names
    # no per-step indexing: nothing slices the sequence step by step
    assert names.count("Getitem") < 6


def _node_count(steps):
    lstm = nn.LSTM(8, 8)
    out, (h_n, c_n) = lstm(tg.randn(steps, 1, 8))
    return sum(1 for _ in _walk_nodes(out))


def test_graph_size_grows_linearly_with_sequence_length():
    small, large = _node_count(400), _node_count(1600)
    assert 3.5 <= large / small <= 4.5


# ---- dropout between layers -----------------------------------------------------------------
def test_inter_layer_dropout_only_in_train_mode():
    tg.manual_seed(14)
    lstm = nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = tg.randn(5, 4, 3)
    lstm.eval()
    a, _ = lstm(x)
    b, _ = lstm(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    lstm.train()
    c, _ = lstm(x)
    d, _ = lstm(x)
    assert not np.allclose(c.numpy(), d.numpy())
    assert not np.allclose(c.numpy(), a.numpy())


def test_single_layer_dropout_has_no_effect():
    tg.manual_seed(15)
    gru = nn.GRU(3, 4, dropout=0.5)
    x = tg.randn(5, 2, 3)
    a, _ = gru(x)
    b, _ = gru(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dropout_is_not_applied_to_last_layer_output():
    tg.manual_seed(16)
    lstm = nn.LSTM(3, 8, num_layers=2, dropout=0.9).train()
    out, (h_n, _) = lstm(tg.randn(5, 4, 3))
    assert np.all(out.numpy() != 0.0)
    np.testing.assert_array_equal(out.numpy()[-1], h_n.numpy()[-1])


# ---- dtypes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_float32_model_gives_float32_output_and_grads(cls):
    layer = cls(3, 4, num_layers=2, bidirectional=True)
    x = tg.randn(5, 2, 3, requires_grad=True)
    assert x.dtype == np.float32
    out, state = layer(x)
    states = state if isinstance(state, tuple) else (state,)
    assert out.dtype == np.float32 and all(s.dtype == np.float32 for s in states)
    out.sum().backward()
    assert x.grad.dtype == np.float32
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.dtype == np.float32, name


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_float32_cell_gives_float32_output_and_grads(cls):
    cell = cls(3, 4)
    x = tg.randn(2, 3, requires_grad=True)
    out = cell(x)
    out = out if isinstance(out, tuple) else (out,)
    assert all(o.dtype == np.float32 for o in out)
    sum(o.sum() for o in out).backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in cell.parameters())


def test_double_model_gives_float64_output():
    lstm = nn.LSTM(3, 4).double()
    out, (h_n, c_n) = lstm(tg.randn(2, 1, 3, dtype="float64"))
    assert out.dtype == h_n.dtype == c_n.dtype == np.float64
