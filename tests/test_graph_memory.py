"""The graph holds memory only as long as it must, and deep graphs need no recursion."""
from __future__ import annotations

import subprocess
import sys
import weakref

import numpy as np

import tinygrad_rnn as tg

DEPTH = 20_000


def make_graph(x):
    """loss = sum(tanh(x * 2) * 3), a weak reference to the node of ``tanh`` and one to the
    array that node saved for backward (its output)."""
    hidden = (x * 2.0).tanh()
    node = weakref.ref(hidden.grad_fn)
    saved = weakref.ref(hidden.grad_fn.saved[0])
    loss = (hidden * 3.0).sum()
    del hidden
    return loss, node, saved


def test_backward_frees_saved_arrays_and_the_graph_dies_with_its_output(device, gc_disabled):
    # PyTorch's semantics: backward releases what nodes saved; the structure stays walkable
    # (drawable) while the output lives, and reference counting frees it with the output
    x = tg.tensor([0.5, -1.0], device=device, requires_grad=True)
    loss, node, saved = make_graph(x)
    assert node() is not None and saved() is not None  # alive while still needed
    loss.backward()
    assert saved() is None
    assert node() is not None
    del loss
    assert node() is None
    assert x.grad is not None


def test_the_graph_dies_with_its_output_with_the_collector_enabled_but_not_run(device):
    x = tg.tensor([0.5, -1.0], device=device, requires_grad=True)
    loss, node, saved = make_graph(x)
    loss.backward()
    del loss
    assert node() is None and saved() is None


def test_a_retained_graph_lives_until_its_output_is_dropped(device, gc_disabled):
    x = tg.tensor([0.5, -1.0], device=device, requires_grad=True)
    loss, node, saved = make_graph(x)
    loss.backward(retain_graph=True)
    assert saved() is not None  # still usable for a second backward
    loss.backward(retain_graph=True)
    del loss
    assert node() is None and saved() is None


def test_a_graph_never_backpropagated_dies_with_its_output(device, gc_disabled):
    x = tg.tensor([0.5, -1.0], device=device, requires_grad=True)
    loss, node, saved = make_graph(x)
    del loss
    assert node() is None and saved() is None


def test_saved_values_of_a_graph_are_released_by_backward(device, gc_disabled):
    x = tg.tensor([0.5, -1.0], device=device, requires_grad=True)
    hidden = x.exp()  # exp saves its output
    saved = hidden.grad_fn.saved
    assert saved is not None and len(saved) == 1
    hidden.sum().backward()
    assert hidden.grad_fn.saved is not saved  # the saved buffers were dropped


def test_a_recorded_node_does_not_keep_its_input_tensors_alive(device, gc_disabled):
    x = tg.tensor([0.5, -1.0], device=device, requires_grad=True)
    intermediate = x * 2.0
    ref = weakref.ref(intermediate)
    y = intermediate.exp()  # exp saves its output array, not the input tensor
    del intermediate
    assert ref() is None
    y.sum().backward()  # the graph still reaches x through the nodes
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, -2.0]), rtol=1e-6)


def test_backward_through_a_deep_chain_gives_the_right_gradient(device):
    x = tg.tensor([1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    y = x
    for _ in range(DEPTH):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** DEPTH] * 2, rtol=1e-9)


def test_backward_through_a_deep_chain_of_alternating_ops(device):
    x = tg.tensor([0.3], dtype="float64", device=device, requires_grad=True)
    y, value, derivative = x, 0.3, 1.0  # forward-mode reference computed alongside
    for i in range(DEPTH):
        if i % 3 == 0:
            y, value, derivative = y * 1.0001, value * 1.0001, derivative * 1.0001
        elif i % 3 == 1:
            y, value = y + 0.5, value + 0.5
        else:
            y, value, derivative = 1.0 - y, 1.0 - value, -derivative
    y.sum().backward()
    assert 1.5 < abs(derivative) < 2.5  # (-1.0001)^6667: the check is not vacuous
    np.testing.assert_allclose(y.numpy(), [value], rtol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), [derivative], rtol=1e-9)


def test_dropping_a_deep_graph_without_backward_does_not_crash(device, gc_disabled):
    x = tg.tensor([1.0], device=device, requires_grad=True)
    y = x
    first = None
    for i in range(DEPTH):
        y = y.tanh() if i % 2 else y * 1.0
        if first is None:
            first = weakref.ref(y.grad_fn)
    del y  # deallocating the chain must not recurse once per node
    assert first() is None


def test_a_deep_backward_does_not_raise_the_recursion_limit(device):
    limit = sys.getrecursionlimit()
    x = tg.tensor([1.0], device=device, requires_grad=True)
    y = x
    for _ in range(DEPTH):
        y = y + 1.0
    y.sum().backward()
    del y
    assert sys.getrecursionlimit() == limit


def test_importing_the_library_leaves_the_recursion_limit_alone():
    code = ("import sys; before = sys.getrecursionlimit(); import tinygrad_rnn; "
            "print(before == sys.getrecursionlimit())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "True"


def test_importing_the_library_is_quick_and_loads_no_optional_dependency():
    code = ("import sys, time; t = time.perf_counter(); import tinygrad_rnn; "
            "print(time.perf_counter() - t, [m for m in ('graphviz', 'matplotlib', 'tqdm', 'cupy') "
            "if m in sys.modules])")
    seconds, loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout.split(" ", 1)
    assert loaded.strip() == "[]"  # pictures, plots, progress bars and CuPy load when first used
    assert float(seconds) < 5.0
