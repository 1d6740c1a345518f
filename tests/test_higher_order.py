"""Higher-order gradients: ``backward(create_graph=True)``, ``tinygrad_rnn.grad`` with
``torch.autograd.grad``'s semantics, and ``gradgradcheck``; second derivatives of recurrent
models against stored PyTorch values (``make_higher_order_fixtures.py``)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "higher_order.npz")


def leaf(values, device="cpu"):
    return tg.tensor(values, dtype="float64", device=device, requires_grad=True)


@pytest.fixture(scope="module")
def torch_values():
    with np.load(FIXTURES, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _load(module: nn.Module, values: dict, prefix: str) -> None:
    module.load_state_dict({name: values[f"{prefix}/param/{name}"] for name, _ in module.named_parameters()})


# ---- against PyTorch -----------------------------------------------------------------------------
def test_gradient_penalty_of_a_small_lstm_matches_pytorch(torch_values, device):
    model = nn.ModuleDict({"lstm": nn.LSTM(3, 4), "head": nn.Linear(4, 2)}).double().to(device)
    _load(model, torch_values, "penalty")
    x = tg.tensor(torch_values["penalty/x"], device=device)
    y = tg.tensor(torch_values["penalty/y"], device=device)
    out, _ = model["lstm"](x)
    loss = ((model["head"](out) - y) ** 2).mean()
    params = list(model.parameters())
    grads = tg.grad(loss, params, create_graph=True)
    penalty = sum((g * g).sum() for g in grads)
    penalty.backward()
    np.testing.assert_allclose(loss.item(), torch_values["penalty/loss"], rtol=1e-12)
    np.testing.assert_allclose(penalty.item(), torch_values["penalty/gp"], rtol=1e-10)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), torch_values[f"penalty/grad/{name}"], rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_hessian_vector_product_of_a_small_gru_matches_pytorch(torch_values, device):
    gru = nn.GRU(3, 4).double().to(device)
    _load(gru, torch_values, "hvp")
    out, h_n = gru(tg.tensor(torch_values["hvp/x"], device=device))
    loss = (out * tg.tensor(torch_values["hvp/w"], device=device)).sum() + (h_n ** 2).sum()
    named = list(gru.named_parameters())
    grads = tg.grad(loss, [p for _, p in named], create_graph=True)
    dot = sum((g * tg.tensor(torch_values[f"hvp/v/{name}"], device=device)).sum()
              for (name, _), g in zip(named, grads))
    hv = tg.grad(dot, [p for _, p in named])
    for (name, _), h in zip(named, hv):
        np.testing.assert_allclose(h.numpy(), torch_values[f"hvp/hv/{name}"], rtol=1e-9, atol=1e-12,
                                   err_msg=name)


# ---- grad() semantics (torch.autograd.grad) --------------------------------------------------------
def test_grad_returns_what_backward_would_store_and_stores_nothing():
    x, w = leaf([1.0, -2.0]), leaf([[0.5, 1.0], [2.0, -1.0]])
    gx, gw = tg.grad(((x @ w).tanh()).sum(), [x, w])
    assert x.grad is None and w.grad is None and gx.grad_fn is None
    ((x @ w).tanh()).sum().backward()
    np.testing.assert_allclose(gx.numpy(), x.grad.numpy())
    np.testing.assert_allclose(gw.numpy(), w.grad.numpy())


def test_grad_of_an_input_the_outputs_do_not_use_raises_unless_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.grad((x * x).sum(), [x, unused])
    gx, nothing = tg.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and nothing is None


def test_grad_frees_the_graph_unless_retained_and_retains_it_with_create_graph():
    x = leaf([3.0])
    y = (x * x).sum()
    tg.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        tg.grad(y, x)
    z = (x * x).sum()
    tg.grad(z, x, create_graph=True)
    assert tg.grad(z, x)[0].item() == 6.0  # retain_graph defaulted to create_graph


def test_grad_with_grad_outputs_weights_a_non_scalar_output():
    x = leaf([1.0, 2.0, 3.0])
    (g,) = tg.grad(x * x, x, grad_outputs=tg.tensor([1.0, 0.0, -1.0], dtype="float64"))
    np.testing.assert_array_equal(g.numpy(), [2.0, 0.0, -6.0])
    with pytest.raises(RuntimeError, match="one element"):
        tg.grad(x * x, x)
    with pytest.raises(ValueError, match="shape"):
        tg.grad(x * x, x, grad_outputs=tg.tensor([1.0], dtype="float64"))


def test_grad_of_a_tensor_inside_the_graph_is_its_total_gradient():
    x = leaf([1.0, 2.0])
    h = x * 3
    y = (h * h).sum() + h.sum()  # h is used twice: its gradient is the sum, 2h + 1
    (gh,) = tg.grad(y, h)
    np.testing.assert_array_equal(gh.numpy(), [7.0, 13.0])


def test_grad_of_several_outputs_adds_their_gradients():
    x = leaf([1.0, 2.0])
    (g,) = tg.grad([(x * x).sum(), (3 * x).sum()], x)
    np.testing.assert_array_equal(g.numpy(), [5.0, 7.0])


def test_grad_needs_inputs_that_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.grad((leaf([1.0]) * 2).sum(), tg.tensor([1.0]))


def test_backward_with_create_graph_leaves_a_differentiable_grad():
    x = leaf([0.5, -1.0])
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    assert first.grad_fn is not None
    np.testing.assert_allclose(first.detach().numpy(), [0.75, 3.0])
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -6.0])  # d^2 x^3 / dx^2 = 6x


def test_backward_inputs_accumulates_only_into_those_tensors():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x * w).sum().backward(inputs=[w])
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])


def test_third_derivative_of_tanh_by_repeated_grad():
    x = leaf([0.3, -0.7])
    y = x.tanh()
    d1 = tg.grad(y.sum(), x, create_graph=True)[0]
    d2 = tg.grad(d1.sum(), x, create_graph=True)[0]
    d3 = tg.grad(d2.sum(), x)[0]
    t = np.tanh([0.3, -0.7])
    np.testing.assert_allclose(d1.detach().numpy(), 1 - t ** 2)
    np.testing.assert_allclose(d2.detach().numpy(), -2 * t * (1 - t ** 2))
    np.testing.assert_allclose(d3.numpy(), (1 - t ** 2) * (6 * t ** 2 - 2))


def test_gradgradcheck_catches_a_backward_that_saved_a_copy():
    class SquareSavingACopy(tg.Function):
        def forward(self, x):
            self.save_for_backward(x.copy())  # not the input: to a recorded backward, a constant
            return x * x

        def backward(self, grad):
            (x,) = self.saved
            return 2 * x * grad  # right first derivative, but its own derivative is lost

    x = leaf([0.5, 1.5])
    assert tg.gradcheck(SquareSavingACopy.apply, [x])
    with pytest.raises(tg.GradcheckError):
        tg.gradgradcheck(SquareSavingACopy.apply, [x])


# ---- recurrent cells and layers: second derivatives by finite differences --------------------------
TINY = dict(input_size=2, hidden_size=2)


@pytest.mark.parametrize("make", [
    lambda: nn.RNNCell(**TINY), lambda: nn.RNNCell(**TINY, nonlinearity="relu"),
    lambda: nn.LSTMCell(**TINY), lambda: nn.GRUCell(**TINY)], ids=["rnn", "rnn_relu", "lstm", "gru"])
def test_cells_pass_gradgradcheck(make):
    tg.manual_seed(0)
    cell = make().double()
    x = tg.randn(3, 2, dtype="float64", requires_grad=True)

    def run(x, *params):
        state = cell(x)
        return state if isinstance(state, tuple) else (state,)

    assert tg.gradgradcheck(run, [x, *cell.parameters()])


@pytest.mark.parametrize("layer", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("options", [{}, {"num_layers": 2, "bidirectional": True}], ids=["one", "stacked_bidir"])
def test_layers_pass_gradgradcheck(layer, options):
    tg.manual_seed(1)
    module = getattr(nn, layer)(**TINY, **options).double()
    x = tg.randn(3, 2, 2, dtype="float64", requires_grad=True)

    def run(x, *params):
        out, state = module(x)
        return (out,) + (state if isinstance(state, tuple) else (state,))

    assert tg.gradgradcheck(run, [x, *module.parameters()])
