"""What backward, the graph, grad modes, in-place ops, factories and gradcheck promise."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tinygrad_rnn as tg


def vec(values, device, requires_grad=True, dtype="float64"):
    return tg.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


# ---- accumulation -----------------------------------------------------------------------
def test_a_tensor_used_twice_accumulates_both_gradients(device):
    a = vec([1.0, -2.0, 3.0], device)
    b = a + a
    c = b * b
    c.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 8 * np.array([1.0, -2.0, 3.0]))


def test_a_diamond_graph_sums_the_gradients_of_both_paths(device):
    values = np.array([0.5, -1.0])
    x = vec(values, device)
    left, right = x.exp(), x * 3.0
    (left * right).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(values) * (3 * values + 3), rtol=1e-12)


def test_gradients_add_up_over_backward_calls_until_zeroed(device):
    x = vec([1.0, 2.0], device)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_retain_graph_allows_a_second_backward_through_the_same_graph(device):
    x = vec([1.0, 2.0], device)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_a_second_backward_without_retain_graph_raises_mentioning_retain_graph(device):
    x = vec([1.0, 2.0], device)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_backward_through_a_subgraph_freed_by_another_backward_raises(device):
    x = vec([1.0, 2.0], device)
    shared = x.exp()
    shared.sum().backward()
    with pytest.raises(RuntimeError, match="exp.*retain_graph"):
        (shared * 2.0).sum().backward()


def test_backward_on_a_non_scalar_without_grad_raises(device):
    y = vec([1.0, 2.0], device) * 2.0
    with pytest.raises(RuntimeError, match="one element"):
        y.backward()


def test_backward_with_an_explicit_grad_on_a_non_scalar(device):
    x = vec([1.0, 2.0, 3.0], device)
    (x * 2.0).backward(tg.tensor([1.0, 0.5, -1.0], dtype="float64", device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 1.0, -2.0])


def test_backward_accepts_a_list_as_grad(device):
    x = vec([1.0, 2.0], device)
    (x * x).backward([1.0, 10.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 40.0])


def test_backward_with_a_grad_of_the_wrong_shape_raises(device):
    y = vec([1.0, 2.0], device) * 2.0
    with pytest.raises(ValueError, match="shape"):
        y.backward(tg.tensor([1.0, 2.0, 3.0], device=device))


def test_backward_on_a_tensor_that_does_not_require_grad_raises(device):
    y = vec([1.0, 2.0], device, requires_grad=False) * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_backward_on_a_leaf_gives_the_leaf_the_passed_gradient(device):
    x = vec([1.0, 2.0], device)
    x.backward(tg.tensor([3.0, 4.0], dtype="float64", device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_leaf_gradient_does_not_alias_the_grad_passed_to_backward(device):
    x = vec([1.0, 2.0], device)
    upstream = tg.tensor([1.0, 1.0], dtype="float64", device=device)
    (x + 1.0).backward(upstream)
    upstream.mul_(0.0)  # the caller reuses its buffer
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_two_leaves_receiving_the_same_gradient_do_not_share_storage(device):
    a, b = vec([1.0, 2.0], device), vec([3.0, 4.0], device)
    (a + b).sum().backward()
    with tg.no_grad():
        a.grad.mul_(5.0)
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


# ---- no_grad and friends ---------------------------------------------------------------
def test_no_grad_context_records_nothing(device):
    x = vec([1.0, 2.0], device)
    with tg.no_grad():
        assert tg.is_grad_enabled() is False
        y = (x * 2.0).exp().sum()
    assert tg.is_grad_enabled() is True
    assert y.requires_grad is False
    assert y.grad_fn is None


def test_no_grad_decorator_records_nothing(device):
    x = vec([1.0, 2.0], device)

    @tg.no_grad()
    def evaluate(t):
        assert tg.is_grad_enabled() is False
        return t * 2.0

    y = evaluate(x)
    assert tg.is_grad_enabled() is True
    assert y.requires_grad is False and y.grad_fn is None
    assert (x * 2.0).grad_fn is not None  # recording is back on after the call


def test_no_grad_restores_recording_after_an_exception():
    with pytest.raises(KeyError):
        with tg.no_grad():
            raise KeyError("boom")
    assert tg.is_grad_enabled() is True


def test_enable_grad_records_inside_no_grad(device):
    x = vec([1.0], device)
    with tg.no_grad():
        with tg.enable_grad():
            y = x * 2.0
        z = x * 2.0
    assert y.requires_grad is True and y.grad_fn is not None
    assert z.requires_grad is False


def test_set_grad_enabled_false_records_nothing(device):
    x = vec([1.0], device)
    with tg.set_grad_enabled(False):
        y = x * 2.0
    assert y.grad_fn is None
    assert tg.is_grad_enabled() is True


def test_no_grad_in_one_thread_does_not_affect_another(device):
    x = vec([1.0, 2.0], device)
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with tg.no_grad():
            inside.set()
            release.wait(timeout=10)
            seen["worker_records"] = (x * 2.0).requires_grad

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(timeout=10)
        main_result = x * 2.0  # computed while the worker sits inside no_grad
        seen["main_enabled"] = tg.is_grad_enabled()
    finally:
        release.set()
        thread.join(timeout=10)
    assert main_result.requires_grad is True and main_result.grad_fn is not None
    assert seen == {"main_enabled": True, "worker_records": False}


def test_a_new_thread_records_even_when_started_inside_no_grad(device):
    x = vec([1.0], device)
    seen = {}

    def worker():
        seen["records"] = (x * 2.0).grad_fn is not None

    with tg.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(timeout=10)
    assert seen == {"records": True}


# ---- detach, leaves, retain_grad, grad_fn ------------------------------------------------
def test_detach_cuts_the_graph(device):
    x = vec([1.0, 2.0], device)
    y = x * 3.0
    d = y.detach()
    assert d.requires_grad is False and d.grad_fn is None and d.is_leaf
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])  # no path through d


def test_detach_shares_data_with_the_original(device):
    x = vec([1.0, 2.0], device)
    d = x.detach()
    with tg.no_grad():
        d.mul_(10.0)
    np.testing.assert_array_equal(x.numpy(), [10.0, 20.0])


def test_in_place_change_through_a_detached_alias_is_caught_by_backward(device):
    x = vec([1.0, 2.0], device)
    y = x.exp()
    y.detach().mul_(2.0)
    with pytest.raises(RuntimeError, match="exp"):
        y.sum().backward()


def test_only_leaves_get_grad_by_default(device):
    x = vec([1.0, 2.0], device)
    hidden = x * 2.0
    out = hidden.tanh().sum()
    out.backward()
    assert x.grad is not None
    assert hidden.grad is None
    assert out.grad is None


def test_retain_grad_keeps_the_gradient_of_a_non_leaf(device):
    x = vec([1.0, 2.0], device)
    hidden = x * 2.0
    hidden.retain_grad()
    other = hidden * hidden
    (other * 3.0).sum().backward()
    assert hidden.retains_grad is True
    np.testing.assert_array_equal(hidden.grad.numpy(), 6 * np.array([2.0, 4.0]))
    assert other.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), 12 * np.array([2.0, 4.0]))


def test_retain_grad_on_one_output_of_a_split(device):
    x = vec([1.0, 2.0, 3.0, 4.0], device)
    first, second = x.split(2)
    second.retain_grad()
    (first * 2.0 + second * 5.0).sum().backward()
    np.testing.assert_array_equal(second.grad.numpy(), [5.0, 5.0])
    assert first.grad is None


def test_is_leaf_distinguishes_created_from_computed_tensors(device):
    x = vec([1.0], device)
    constant = vec([1.0], device, requires_grad=False)
    assert x.is_leaf and constant.is_leaf
    assert not (x * 2.0).is_leaf
    assert (constant * 2.0).is_leaf  # no history: nothing requires grad
    with tg.no_grad():
        assert (x * 2.0).is_leaf


@pytest.mark.parametrize("make, name", [
    (lambda x: x * 2.0, "mul"),
    (lambda x: x + 1.0, "add"),
    (lambda x: 1.0 - x, "sub"),
    (lambda x: x / 2.0, "div"),
    (lambda x: x ** 2, "pow"),
    (lambda x: -x, "neg"),
    (lambda x: x @ x, "matmul"),
    (lambda x: x.sum(), "sum"),
    (lambda x: x.max(), "amax"),
    (lambda x: x.exp(), "exp"),
    (lambda x: x.sigmoid(), "sigmoid"),
    (lambda x: x.log_softmax(), "log_softmax"),
    (lambda x: x.reshape(2, 1), "reshape"),
    (lambda x: x.T, "permute"),
    (lambda x: x[0], "getitem"),
    (lambda x: tg.cat([x, x]), "cat"),
    (lambda x: x.split(1)[0], "split"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_grad_fn_is_named_after_the_op(make, name, device):
    assert make(vec([1.0, 2.0], device)).grad_fn.name == name


def test_walking_grad_fn_parents_by_hand_reaches_the_leaves(device):
    a, b = vec([1.0, 2.0], device), vec([3.0, 4.0], device)
    loss = (a * b * 2.0).sum()
    sum_node = loss.grad_fn
    assert sum_node.name == "sum"
    ((scaled_node, index),) = sum_node.parents
    assert scaled_node.name == "mul" and index == 0
    product_edge, constant_edge = scaled_node.parents
    assert constant_edge is None  # the Python scalar needs no gradient
    product_node = product_edge[0]
    assert product_node.name == "mul"
    leaves = [edge[0] for edge in product_node.parents]
    assert leaves[0] is a and leaves[1] is b


def test_integer_tensors_cannot_require_grad(device):
    with pytest.raises(TypeError, match="floating-point"):
        tg.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        tg.zeros(3, dtype="int64", device=device, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        tg.tensor([1, 2], device=device).requires_grad_()


def test_requires_grad_of_a_non_leaf_cannot_be_changed(device):
    y = vec([1.0], device) * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


# ---- in-place ops -----------------------------------------------------------------------
INPLACE = {
    "add_": (lambda t: t.add_(2.0), [3.0, 0.0]),
    "add_alpha": (lambda t: t.add_(tg.tensor([1.0, 1.0], dtype="float64"), alpha=3.0),
                  [4.0, 1.0]),
    "sub_": (lambda t: t.sub_(1.0), [0.0, -3.0]),
    "mul_": (lambda t: t.mul_(3.0), [3.0, -6.0]),
    "div_": (lambda t: t.div_(2.0), [0.5, -1.0]),
    "zero_": (lambda t: t.zero_(), [0.0, 0.0]),
    "fill_": (lambda t: t.fill_(7.0), [7.0, 7.0]),
    "copy_": (lambda t: t.copy_(tg.tensor([5.0, 6.0])), [5.0, 6.0]),
    "copy_broadcast": (lambda t: t.copy_(9.0), [9.0, 9.0]),
    "clamp_": (lambda t: t.clamp_(-1.0, 0.5), [0.5, -1.0]),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_in_place_op_bumps_the_version_counter(name):
    t = tg.tensor([1.0, -2.0], dtype="float64")
    before = t._version[0]
    INPLACE[name][0](t)
    assert t._version[0] == before + 1


@pytest.mark.parametrize("name", list(INPLACE))
def test_in_place_op_updates_the_values_in_the_same_storage(name):
    t = tg.tensor([1.0, -2.0], dtype="float64")
    storage = t.data
    assert INPLACE[name][0](t) is t
    assert t.data is storage
    np.testing.assert_array_equal(t.numpy(), INPLACE[name][1])


def test_backward_after_a_saved_input_was_modified_in_place_raises_naming_the_op(device):
    x = vec([1.0, 2.0], device)
    w = vec([3.0, 4.0], device, requires_grad=False)
    y = (x * w).sum()
    w.mul_(2.0)
    with pytest.raises(RuntimeError, match="mul"):
        y.backward()


@pytest.mark.parametrize("make, modify, name", [
    (lambda a: a.sigmoid(), lambda b: b.mul_(2.0), "sigmoid"),
    (lambda a: a.exp(), lambda b: b.add_(1.0), "exp"),
    (lambda a: a.tanh(), lambda b: b.sub_(0.5), "tanh"),
    (lambda a: a.sqrt(), lambda b: b.div_(2.0), "sqrt"),
], ids=["sigmoid_mul_", "exp_add_", "tanh_sub_", "sqrt_div_"])
def test_backward_after_a_saved_output_was_modified_in_place_raises_naming_the_op(
        make, modify, name, device):
    a = vec([0.5, 1.5], device)
    b = make(a)
    modify(b)
    with pytest.raises(RuntimeError, match=name):
        b.sum().backward()


def test_in_place_change_of_an_output_that_backward_does_not_need_is_allowed(device):
    a = vec([1.0, 2.0], device)
    c = vec([3.0, 4.0], device, requires_grad=False)
    b = a * c  # mul saves a and c, not its output b
    b.add_(1.0)
    b.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize("modify, grad_a", [
    (lambda b, c: b.mul_(3.0), [3.0, 3.0]),
    (lambda b, c: b.div_(4.0), [0.25, 0.25]),
    (lambda b, c: b.mul_(c), [5.0, 6.0]),
], ids=["mul_scalar", "div_scalar", "mul_tensor"])
def test_in_place_op_on_a_non_leaf_is_differentiable(modify, grad_a, device):
    a = vec([1.0, 2.0], device)
    c = vec([5.0, 6.0], device)
    b = a + 1.0  # add saves nothing for backward
    modify(b, c)
    b.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), grad_a)
    if c.grad is not None:  # mul_ by c: d/dc = the value of b before the update
        np.testing.assert_array_equal(c.grad.numpy(), [2.0, 3.0])


def test_in_place_op_on_a_leaf_requiring_grad_raises_while_recording(device):
    x = vec([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="no_grad"):
        x.add_(1.0)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


def test_in_place_op_on_a_leaf_requiring_grad_works_inside_no_grad(device):
    x = vec([1.0, 2.0], device)
    with tg.no_grad():
        x.sub_(0.5)
    np.testing.assert_array_equal(x.numpy(), [0.5, 1.5])
    assert x.is_leaf and x.requires_grad
    assert x._version[0] == 1


def test_in_place_op_on_a_reduced_scalar_updates_it(device):
    total = (vec([1.0, 2.0], device) * 1.0).sum().detach()
    total.add_(10.0)
    assert total.item() == 13.0


# ---- errors that name the op and the shapes ---------------------------------------------
def test_matmul_shape_error_names_the_op_both_shapes_and_the_inner_dimensions(device):
    a, b = tg.zeros(32, 128, device=device), tg.zeros(64, 512, device=device)
    with pytest.raises(tg.ShapeError) as info:
        a @ b
    message = str(info.value)
    for fragment in ("matmul", "(32, 128)", "(64, 512)", "128 and 64"):
        assert fragment in message
    assert isinstance(info.value, ValueError)


def test_broadcasting_failure_names_the_op_and_both_shapes(device):
    with pytest.raises(tg.ShapeError) as info:
        tg.zeros(3, 2, device=device) + tg.zeros(4, device=device)
    message = str(info.value)
    assert "add" in message and "(3, 2)" in message and "(4,)" in message


def test_cat_of_mismatched_shapes_raises_a_shape_error_naming_cat(device):
    with pytest.raises(tg.ShapeError, match="cat"):
        tg.cat([tg.zeros(2, 3, device=device), tg.zeros(2, 4, device=device)], 0)


# ---- conversion and printing ------------------------------------------------------------
def test_numpy_of_a_tensor_requiring_grad_is_read_only():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    array = x.numpy()
    assert array.flags.writeable is False
    with pytest.raises(ValueError):
        array[0] = 5.0
    assert (x * 2.0).numpy().flags.writeable is False


def test_numpy_of_a_scalar_loss_returns_its_value():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    assert float(loss.numpy()) == 5.0


def test_detach_numpy_is_writable_and_shares_memory():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    array = x.detach().numpy()
    assert array.flags.writeable is True
    array[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_item_returns_a_python_number(device):
    assert tg.tensor([2.5], device=device).item() == 2.5
    assert isinstance(tg.tensor(3.0, device=device).item(), float)
    assert isinstance(tg.tensor(3, device=device).item(), int)
    assert (vec([1.0, 2.0], device) * 2.0).sum().item() == 6.0


def test_item_of_several_elements_raises(device):
    with pytest.raises(ValueError, match="one-element"):
        tg.tensor([1.0, 2.0], device=device).item()


def test_repr_shows_values_and_grad_fn():
    y = tg.tensor([1.5, 2.5], requires_grad=True) * 2.0
    text = repr(y)
    assert "3." in text and "5." in text
    assert "grad_fn=<Mul>" in text


def test_repr_of_a_leaf_shows_requires_grad_and_non_default_dtype():
    text = repr(tg.tensor([1.0], dtype="float64", requires_grad=True))
    assert "requires_grad=True" in text and "float64" in text


# ---- factories ------------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.randn, tg.rand])
def test_shaped_factories_accept_varargs_or_a_tuple(factory, device):
    assert factory(2, 3, device=device).shape == (2, 3)
    assert factory((2, 3), device=device).shape == (2, 3)
    assert factory(4, device=device).shape == (4,)


@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.randn, tg.rand])
def test_shaped_factories_default_to_float32_and_take_a_dtype(factory, device):
    assert factory(2, device=device).dtype == tg.float32
    assert factory(2, dtype="float64", device=device).dtype == tg.float64


@pytest.mark.parametrize("factory", [tg.zeros, tg.ones, tg.randn, tg.rand, tg.uniform])
def test_factories_make_leaves_that_require_grad_only_when_asked(factory, device):
    plain, tracked = factory(3, device=device), factory(3, device=device, requires_grad=True)
    assert plain.requires_grad is False
    assert tracked.requires_grad is True and tracked.is_leaf


def test_zeros_and_ones_values(device):
    np.testing.assert_array_equal(tg.zeros(2, 2, device=device).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(tg.ones(3, device=device).numpy(), np.ones(3))


@pytest.mark.parametrize("fill, dtype", [(7.5, tg.float32), (7, tg.int64), (True, tg.bool_)],
                         ids=["float", "int", "bool"])
def test_full_infers_the_dtype_from_the_fill_value(fill, dtype, device):
    t = tg.full((2, 3), fill, device=device)
    assert t.shape == (2, 3) and t.dtype == dtype
    assert np.all(t.numpy() == fill)


def test_full_accepts_fill_value_and_dtype_keywords(device):
    t = tg.full(2, 2, fill_value=1.5, dtype="float64", device=device)
    assert t.shape == (2, 2) and t.dtype == tg.float64 and np.all(t.numpy() == 1.5)


def test_like_factories_copy_shape_and_dtype(device):
    base = tg.tensor(np.ones((2, 3)), device=device)
    for like in (tg.zeros_like, tg.ones_like):
        t = like(base)
        assert t.shape == (2, 3) and t.dtype == tg.float64 and t.device == base.device
    assert tg.zeros_like(base, dtype="float32").dtype == tg.float32
    np.testing.assert_array_equal(tg.ones_like(base).numpy(), np.ones((2, 3)))
    assert tg.zeros_like(base, requires_grad=True).requires_grad is True


def test_arange_gives_int64_for_integers_and_float32_otherwise(device):
    ints = tg.arange(5, device=device)
    assert ints.dtype == tg.int64
    np.testing.assert_array_equal(ints.numpy(), [0, 1, 2, 3, 4])
    floats = tg.arange(0, 1, 0.25, device=device)
    assert floats.dtype == tg.float32
    np.testing.assert_array_equal(floats.numpy(), [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(tg.arange(2, 8, 3, device=device).numpy(), [2, 5])


def test_eye_is_the_identity(device):
    np.testing.assert_array_equal(tg.eye(3, device=device).numpy(), np.eye(3))
    rectangular = tg.eye(2, 3, device=device)
    assert rectangular.shape == (2, 3) and rectangular.dtype == tg.float32


def test_rand_lies_in_the_unit_interval(device):
    values = tg.rand(1000, device=device).numpy()
    assert values.min() >= 0.0 and values.max() < 1.0


def test_uniform_lies_within_low_and_high(device):
    values = tg.uniform(2000, low=-2.0, high=3.0, device=device).numpy()
    assert values.min() >= -2.0 and values.max() < 3.0
    assert values.min() < -1.5 and values.max() > 2.5  # actually spread over the interval


def test_uniform_rejects_high_below_low(device):
    with pytest.raises(ValueError, match="high"):
        tg.uniform(3, low=1.0, high=0.0, device=device)


def test_randint_lies_within_low_and_high(device):
    values = tg.randint(3, 7, (500,), device=device)
    assert values.dtype == tg.int64
    assert set(np.unique(values.numpy())) == {3, 4, 5, 6}


def test_from_numpy_shares_memory_and_keeps_the_dtype():
    array = np.array([1.0, 2.0])
    t = tg.from_numpy(array, requires_grad=True)
    assert t.dtype == tg.float64 and t.requires_grad
    array[0] = 9.0
    assert t.detach().numpy()[0] == 9.0


def test_manual_seed_makes_random_factories_repeatable(device):
    tg.manual_seed(1234)
    first = (tg.randn(5, device=device).numpy(), tg.rand(5, device=device).numpy())
    tg.manual_seed(1234)
    second = (tg.randn(5, device=device).numpy(), tg.rand(5, device=device).numpy())
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_different_seeds_give_different_numbers(device):
    tg.manual_seed(1)
    first = tg.randn(5, device=device).numpy()
    tg.manual_seed(2)
    assert not np.array_equal(first, tg.randn(5, device=device).numpy())


# ---- custom ops -----------------------------------------------------------------------------
class Softplus(tg.Function):
    """log(1 + e^x), written by a user with the array module of the inputs."""

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.log1p(self.xp.exp(x))

    def backward(self, grad):
        (x,) = self.saved
        return grad / (1.0 + self.xp.exp(-x))  # d softplus/dx = sigmoid(x)


class WrongSquare(tg.Function):
    """x^2 with a deliberately wrong derivative (3x instead of 2x)."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, grad):
        (x,) = self.saved
        return 3 * x * grad


def test_a_custom_op_passes_gradcheck(device):
    x = tg.tensor(np.linspace(-3, 3, 7), dtype="float64", device=device, requires_grad=True)
    assert tg.gradcheck(Softplus.apply, [x]) is True


def test_a_custom_op_records_a_named_node_and_computes_its_values(device):
    values = np.linspace(-3, 3, 7)
    x = tg.tensor(values, dtype="float64", device=device, requires_grad=True)
    y = Softplus.apply(x)
    assert y.grad_fn.name == "softplus"
    np.testing.assert_allclose(y.numpy(), np.log1p(np.exp(values)), rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-values)), rtol=1e-12)


def test_a_custom_op_under_no_grad_records_nothing(device):
    x = tg.tensor([0.0, 1.0], dtype="float64", device=device, requires_grad=True)
    with tg.no_grad():
        y = Softplus.apply(x)
    assert y.requires_grad is False and y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), np.log1p(np.exp([0.0, 1.0])), rtol=1e-12)


# ---- gradcheck itself -----------------------------------------------------------------------
def test_gradcheck_returns_true_for_a_correct_op(device):
    x = tg.tensor([[0.5, -1.0], [2.0, 0.1]], dtype="float64", device=device, requires_grad=True)
    assert tg.gradcheck(lambda t: (t * t).tanh(), [x]) is True


def test_gradcheck_raises_for_a_wrong_op_naming_analytic_and_numeric_values(device):
    x = tg.tensor([0.5, -1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(WrongSquare.apply, [x])
    assert isinstance(info.value, AssertionError)
    message = str(info.value)
    assert "analytic" in message and "numeric" in message
    # the worst element is x = 2: analytic 3 * 2 * w, numeric 2 * 2 * w for its weight w
    assert "index (2,)" in message


def test_gradcheck_along_directions_also_catches_a_wrong_op(device):
    x = tg.tensor(np.linspace(0.5, 2.0, 12), dtype="float64", device=device, requires_grad=True)
    assert tg.gradcheck(lambda t: t * t, [x], directions=4) is True
    with pytest.raises(tg.GradcheckError, match="analytic"):
        tg.gradcheck(WrongSquare.apply, [x], directions=4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradcheck_leaves_the_inputs_values_dtype_and_grad_as_it_found_them(dtype, device):
    x = tg.tensor([1.0, 2.0], dtype=dtype, device=device, requires_grad=True)
    x.grad = tg.tensor([7.0, 8.0], dtype=dtype, device=device)
    assert tg.gradcheck(lambda t: t.exp(), [x]) is True
    assert x.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 8.0])


def test_gradcheck_without_an_input_requiring_grad_raises(device):
    with pytest.raises(ValueError, match="requires grad"):
        tg.gradcheck(lambda t: t * 2.0, [tg.tensor([1.0], device=device)])
