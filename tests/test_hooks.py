"""``Tensor.register_hook``: a function that sees (and may replace) a tensor's gradient during
backward, with PyTorch's semantics: a leaf's hook sees the sum of every gradient arriving, a
computed tensor's hook runs before the gradient flows on, hooks run in the order registered."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg


def leaf(values, device):
    return tg.tensor(np.array(values, dtype="float64"), requires_grad=True, device=device)


def test_a_leaf_hook_sees_the_summed_gradient_once(device):
    x = leaf([1.0, 2.0], device)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 3 + x * x).sum().backward()  # two uses of x: d/dx = 3 + 2x
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 7.0])
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])


def test_a_leaf_hook_can_replace_the_gradient_added_to_grad(device):
    x = leaf([1.0, 2.0], device)
    x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 40.0])


def test_a_computed_tensors_hook_changes_what_flows_on(device):
    """y = x^2 is used by z = sum(y * x) + sum(y); its hook adds 1 to dz/dy before y's backward."""
    x = leaf([1.0, 2.0, 3.0], device)
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()) or g + 1)
    y.retain_grad()
    ((y * x).sum() + y.sum()).backward()
    np.testing.assert_array_equal(seen[0], [2.0, 3.0, 4.0])  # dz/dy = x + 1
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 4.0, 5.0])  # .grad sees the hooked value
    # dz/dx = (dz/dy + 1) * 2x + y
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 20.0, 39.0])


def test_hooks_run_in_the_order_registered_each_seeing_the_last_result(device):
    x = leaf([1.0], device)
    order = []
    x.register_hook(lambda g: order.append(("first", g.item())) or g * 2)
    x.register_hook(lambda g: order.append(("second", g.item())) or g + 1)
    (x * 5).sum().backward()
    assert order == [("first", 5.0), ("second", 10.0)]
    assert x.grad.item() == 11.0


def test_remove_unregisters_the_hook(device):
    x = leaf([1.0], device)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    handle.remove()
    (x * 2).sum().backward()
    assert calls == [1]
    assert x.grad.item() == 4.0


def test_hooks_run_in_grad_too(device):
    x = leaf([1.0, 2.0], device)
    x.register_hook(lambda g: -g)
    (g,) = tg.grad((x * x).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [-2.0, -4.0])
    assert x.grad is None


def test_hooks_compose_with_create_graph(device):
    """Under create_graph the hook gets a tensor with history: d/dx of 3 * d(x^3)/dx = 18x."""
    x = leaf([2.0], device)
    y = x * x * x
    y.register_hook(lambda g: g * 3)
    (gx,) = tg.grad(y.sum(), [x], create_graph=True)
    assert gx.item() == 36.0  # 3 * 3x^2
    gx.sum().backward()
    assert x.grad.item() == 36.0  # 18x


def test_a_hook_on_a_tensor_without_grad_is_refused(device):
    with pytest.raises(RuntimeError, match="register_hook.*does not require grad"):
        tg.ones(2, device=device).register_hook(lambda g: g)


def test_a_hook_returning_a_wrong_shape_is_refused(device):
    x = leaf([1.0, 2.0], device)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"register_hook.*shape \(\).*shape \(2,\)"):
        (x * x).sum().backward()


def test_a_hook_returning_something_else_is_refused(device):
    x = leaf([1.0], device)
    x.register_hook(lambda g: 1.0)
    with pytest.raises(TypeError, match="must return a Tensor or None"):
        (x * x).sum().backward()


def test_hooks_on_hidden_states_watch_the_gradient_through_time(device):
    """The classic use: a hook on every h_t of an unrolled RNN records ||dL/dh_t||; with small
    recurrent weights it shrinks step by step back in time, and equals what retain_grad keeps."""
    tg.manual_seed(0)
    cell = tg.nn.RNNCell(3, 8).to(device)
    cell.weight_hh.data = cell.weight_hh.data * 0.3
    norms = {}
    h = tg.zeros(1, 8, device=device)
    states = []
    for t in range(12):
        h = cell(tg.ones(1, 3, device=device), h)
        h.register_hook(lambda g, t=t: norms.__setitem__(t, float((g * g).sum().item()) ** 0.5))
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    assert sorted(norms) == list(range(12))
    for t, state in enumerate(states):
        assert norms[t] == pytest.approx(float(np.linalg.norm(state.grad.numpy())))
    assert all(norms[t] < norms[t + 1] for t in range(11))  # vanishing: earlier steps get less


def test_the_tutorials_hook_example_prints_what_the_text_says(capsys):
    """docs/tutorial.md hooks every hidden state of a hand-unrolled RNNCell."""
    import os
    import re

    tutorial = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "tutorial.md")
    text = open(tutorial, encoding="utf-8").read()
    block = next(code for code in re.findall(r"```python\n(.*?)```", text, re.S) if "register_hook" in code)
    exec(compile(block, tutorial, "exec"), {})  # noqa: S102 (the tutorial's own code)
    printed = capsys.readouterr().out.strip()
    assert f"It prints `{printed}`" in text
