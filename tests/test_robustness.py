"""Robustness: how tinygrad_rnn fails, and that it fails loudly, early and at the user's line.

docs/robustness.md lists every failure mode with the tests that cover it. This file adds
what the other test files do not cover: anomaly detection, the dtype rules, ``.numpy()``
aliasing, memory over a long training run, very long sequences and chains, reference
cycles, the exact wording of the main error messages, and where tracebacks point. A few
modes tested elsewhere are tested here again from another angle, such as an LSTM graph
instead of a toy one.
"""
from __future__ import annotations

import gc
import inspect
import operator
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, optim, viz
from tinygrad_rnn.checkpoint import CheckpointError, load, save
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn.utils import clip_grad_norm_

from fake_backend import FAKE_DEVICE

THIS_FILE = os.path.basename(__file__)
PACKAGE_DIR = os.path.dirname(os.path.abspath(tg.__file__))


def _here() -> int:
    """The line number of the caller: put it on the same line as the op it should point at."""
    return inspect.currentframe().f_back.f_lineno


def _in_package(filename: str) -> bool:
    return os.path.abspath(filename).startswith(PACKAGE_DIR + os.sep)




# ---- anomaly detection ------------------------------------------------------------------------
def test_anomaly_mode_names_the_op_and_the_user_line_when_backward_produces_inf():
    with tg.detect_anomaly():
        x = tg.tensor([0.0, 4.0], requires_grad=True)
        y = x.sqrt(); line = _here()  # noqa: E702 (the op and its line number together)
        with np.errstate(divide="ignore"), pytest.raises(RuntimeError) as info:
            y.sum().backward()  # d sqrt(x)/dx = 1 / (2 sqrt(x)) is inf at 0
    message = str(info.value)
    assert message.startswith("sqrt: backward produced NaN or Inf")
    assert THIS_FILE in message and f"line {line}" in message
    assert "y = x.sqrt()" in message  # the source line itself is shown


def test_anomaly_mode_raises_in_forward_when_exp_overflows_from_a_finite_input():
    x = tg.tensor([1000.0], requires_grad=True)
    with tg.detect_anomaly(), np.errstate(over="ignore"), pytest.raises(RuntimeError) as info:
        line = _here(); x.exp()  # noqa: E702
    message = str(info.value)
    assert message.startswith("exp: forward produced NaN or Inf from finite inputs")
    assert THIS_FILE in message and f"line {line}" in message


def test_anomaly_mode_raises_in_forward_for_log_of_zero():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with tg.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(RuntimeError, match="^log: forward"):
        x.log()


def test_anomaly_mode_in_backward_of_a_graph_built_outside_it_says_so():
    x = tg.tensor([0.0], requires_grad=True)
    y = x.sqrt()  # recorded without anomaly mode: no creation stack
    with tg.detect_anomaly(), np.errstate(divide="ignore"), pytest.raises(RuntimeError) as info:
        y.sum().backward()
    assert "sqrt: backward" in str(info.value) and "created outside anomaly mode" in str(info.value)


def test_set_detect_anomaly_as_a_call_switches_the_mode_until_switched_back():
    previous = tg.is_anomaly_enabled()
    try:
        tg.set_detect_anomaly(True)
        assert tg.is_anomaly_enabled()
        with np.errstate(over="ignore"), pytest.raises(RuntimeError, match="^exp:"):
            tg.tensor([1000.0]).exp()
        tg.set_detect_anomaly(False)
        assert not tg.is_anomaly_enabled()
        with np.errstate(over="ignore"):
            assert tg.tensor([1000.0]).exp().item() == np.inf  # no check any more
    finally:
        tg.set_detect_anomaly(previous)


def test_set_detect_anomaly_as_a_context_manager_restores_the_previous_mode():
    assert not tg.is_anomaly_enabled()
    with tg.set_detect_anomaly(True):
        assert tg.is_anomaly_enabled()
        with tg.set_detect_anomaly(False):
            assert not tg.is_anomaly_enabled()
        assert tg.is_anomaly_enabled()
    assert not tg.is_anomaly_enabled()


def test_detect_anomaly_context_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with tg.detect_anomaly():
            raise KeyError("boom")
    assert not tg.is_anomaly_enabled()


def test_detect_anomaly_works_as_a_decorator():
    @tg.detect_anomaly()
    def loss_of(x):
        assert tg.is_anomaly_enabled()
        return x.exp().sum()

    with np.errstate(over="ignore"), pytest.raises(RuntimeError, match="^exp:"):
        loss_of(tg.tensor([1000.0], requires_grad=True))
    assert not tg.is_anomaly_enabled()
    assert loss_of(tg.tensor([0.0], requires_grad=True)).item() == 1.0


def test_anomaly_mode_is_off_by_default_in_a_fresh_process():
    code = "import tinygrad_rnn as tg; print(tg.is_anomaly_enabled())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "False"


def test_without_anomaly_mode_nan_propagates_silently():
    assert not tg.is_anomaly_enabled()
    x = tg.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = x.sqrt()  # nan at -1: no exception
        y.sum().backward()  # nan and inf gradients: no exception either
    assert np.isnan(y.numpy()[0])
    grad = x.grad.numpy()
    assert np.isnan(grad[0]) and np.isinf(grad[1]) and grad[2] == 0.25


def test_anomaly_mode_does_not_blame_an_op_for_nan_already_in_its_input():
    x = tg.tensor([np.nan, 1.0], requires_grad=True)
    with tg.detect_anomaly():
        y = x.exp()  # the NaN came in; exp did not produce it
    assert np.isnan(y.numpy()[0]) and np.isclose(y.numpy()[1], np.e)


def test_without_anomaly_mode_ops_record_no_creation_stack():
    x = tg.tensor([1.0], requires_grad=True)
    assert not hasattr((x * 2.0).grad_fn, "creation_stack")
    with tg.detect_anomaly():
        node = (x * 2.0).grad_fn
    assert any(THIS_FILE in frame for frame in node.creation_stack)  # the check is not vacuous


def test_anomaly_mode_is_per_thread():
    seen = []
    with tg.detect_anomaly():
        thread = threading.Thread(target=lambda: seen.append(tg.is_anomaly_enabled()))
        thread.start()
        thread.join()
    assert seen == [False]


# ---- dtypes -----------------------------------------------------------------------------------
BINARY_OPS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "maximum": tg.maximum, "minimum": tg.minimum,
}


def test_matmul_of_two_dtypes_raises_like_pytorch_and_names_both():
    a = tg.tensor([[1.5, 2.0], [0.5, 1.25]], dtype="float32")
    b = tg.tensor([[0.5, 1.0], [2.0, 0.75]], dtype="float64")
    with pytest.raises(TypeError, match="matmul.*same dtype.*float32 and float64"):
        a @ b


@pytest.mark.parametrize("name", sorted(BINARY_OPS))
@pytest.mark.parametrize("order", ["float32_first", "float64_first"])
def test_float32_with_float64_promotes_to_float64(name, order):
    a = tg.tensor([[1.5, 2.0], [0.5, 1.25]], dtype="float32")
    b = tg.tensor([[0.5, 1.0], [2.0, 0.75]], dtype="float64")
    first, second = (a, b) if order == "float32_first" else (b, a)
    assert BINARY_OPS[name](first, second).dtype == tg.float64


@pytest.mark.parametrize("name", sorted(BINARY_OPS))
def test_gradients_come_back_in_each_inputs_own_dtype(name):
    a = tg.tensor([[1.5, 2.0], [0.5, 1.25]], dtype="float32", requires_grad=True)
    b = tg.tensor([[0.5, 1.0], [2.0, 0.75]], dtype="float64", requires_grad=True)
    out = BINARY_OPS[name](a, b)
    (out * out).sum().backward()
    assert a.grad.dtype == tg.float32 and b.grad.dtype == tg.float64
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "bool"])
def test_integer_and_bool_tensors_cannot_require_grad_and_the_message_names_the_dtype(dtype):
    with pytest.raises(TypeError) as info:
        tg.tensor(np.zeros(3, dtype=dtype), requires_grad=True)
    assert dtype in str(info.value) and "floating-point" in str(info.value)


SCALAR_EXPRESSIONS = {
    "x + 1": lambda x: x + 1, "1 + x": lambda x: 1 + x, "x - 0.1": lambda x: x - 0.1,
    "0.1 - x": lambda x: 0.1 - x, "x * 3.14159": lambda x: x * 3.14159, "2.5 * x": lambda x: 2.5 * x,
    "x / 3": lambda x: x / 3, "1.0 / x": lambda x: 1.0 / x, "x ** 2": lambda x: x ** 2,
    "x ** 0.5": lambda x: x ** 0.5, "2.0 ** x": lambda x: 2.0 ** x, "maximum(x, 0.5)": lambda x: tg.maximum(x, 0.5),
    "where(x > 1, x, 0.0)": lambda x: tg.where(x > 1, x, 0.0), "x * True": lambda x: x * True,
    "x.clip(0.1, 1.7)": lambda x: x.clip(0.1, 1.7), "x + 2**40": lambda x: x + 2 ** 40,
}


@pytest.mark.parametrize("expression", sorted(SCALAR_EXPRESSIONS))
def test_python_scalars_never_promote_float32(expression):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    out = SCALAR_EXPRESSIONS[expression](x)
    assert out.dtype == tg.float32
    out.sum().backward()
    assert x.grad.dtype == tg.float32


# ---- .numpy() ---------------------------------------------------------------------------------
def test_numpy_of_a_tensor_requiring_grad_is_a_read_only_view_of_its_values():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    array = x.numpy()
    assert np.shares_memory(array, x.data)  # no copy: reading is free
    with pytest.raises(ValueError, match="read-only"):
        array[0] = 5.0
    assert x.data[0] == 1.0


def test_numpy_of_a_detached_tensor_is_writable_and_shares_memory():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    array = x.detach().numpy()
    assert array.flags.writeable and np.shares_memory(array, x.data)
    array[0] = 5.0
    assert x.numpy()[0] == 5.0  # the write shows in the tensor: it is the same memory


def test_numpy_asarray_of_a_tensor_gives_its_values_not_an_object_array():
    # np.asarray / np.testing / matplotlib call __array__; without it NumPy iterates the
    # tensor and builds an object array of 0-d Tensors (recording unbind nodes on the way)
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    array = np.asarray(x)
    assert array.dtype == np.float32 and array.shape == (2, 2)
    np.testing.assert_array_equal(array, [[1.0, 2.0], [3.0, 4.0]])


# ---- memory over a long training run ------------------------------------------------------------
def _lstm_trainer():
    """One step of a small LSTM regression with Adam; returns the loss (after backward)."""
    tg.manual_seed(0)
    lstm, head = nn.LSTM(8, 16), nn.Linear(16, 1)
    opt = optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)
    x, target = tg.randn(20, 4, 8), tg.randn(4, 1)

    def step():
        opt.zero_grad()
        out, _ = lstm(x)
        loss = F.mse_loss(head(out[-1]), target)
        loss.backward()
        opt.step()
        return loss

    return step


def test_500_lstm_training_steps_keep_traced_memory_flat():
    step = _lstm_trainer()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        for k in range(1, 501):
            step()
            if k == 100:
                at_100 = tracemalloc.get_traced_memory()[0]
        at_500 = tracemalloc.get_traced_memory()[0]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    growth = at_500 - at_100
    print(f"traced memory from step 100 to step 500: {growth:+,} bytes")
    assert growth < 1_000_000, f"traced memory grew by {growth:,} bytes from step 100 to step 500"


def test_each_training_steps_graph_is_freed_by_the_next_step(gc_disabled):
    step = _lstm_trainer()
    loss = step()
    for _ in range(5):
        previous = weakref.ref(loss.grad_fn)
        loss = step()
        assert previous() is None  # freed by reference counting alone, no gc.collect()


# ---- scale --------------------------------------------------------------------------------------
def test_bptt_over_10000_steps_runs_with_finite_gradients():
    tg.manual_seed(3)
    rnn = nn.RNN(2, 4)
    x = tg.randn(10_000, 1, 2, requires_grad=True)
    start = time.perf_counter()
    out, h_n = rnn(x)
    (out.sum() + h_n.sum()).backward()
    elapsed = time.perf_counter() - start
    print(f"BPTT over T=10,000: forward + backward {elapsed:.1f} s")
    assert out.shape == (10_000, 1, 4)
    assert np.all(np.isfinite(x.grad.numpy())) and np.any(x.grad.numpy())
    for name, p in rnn.named_parameters():
        assert np.all(np.isfinite(p.grad.numpy())), name


def test_backward_through_a_chain_of_a_million_ops(gc_disabled):
    # the collector is off only to keep the test quick: with 10^6 live nodes each full
    # collection walks them all (about 20 s on 2 CPU cores); nothing here needs it
    x = tg.tensor([1.5], requires_grad=True)
    start = time.perf_counter()
    y = x
    for _ in range(1_000_000):
        y = -y
    built = time.perf_counter()
    y.backward()
    done = time.perf_counter()
    print(f"10^6-node chain: build {built - start:.1f} s, backward {done - built:.1f} s")
    assert y.item() == 1.5 and x.grad.item() == 1.0  # (-1)^(10^6) = 1


# ---- reference cycles ---------------------------------------------------------------------------
def _graph_with_weakrefs():
    """A small LSTM + loss graph, and weak references to every node and intermediate tensor."""
    tg.manual_seed(1)
    lstm, head = nn.LSTM(3, 4), nn.Linear(4, 2)
    x = tg.randn(5, 2, 3, requires_grad=True)
    out, (h, c) = lstm(x)
    logits = head(out).reshape(-1, 2)
    loss = F.cross_entropy(logits, tg.randint(0, 2, (10,))) + (h * c).sum()
    nodes, stack = [], [loss.grad_fn]
    while stack:  # every Function reachable from the loss
        node = stack.pop()
        if node in nodes:
            continue
        nodes.append(node)
        stack.extend(edge[0] for edge in node.parents if edge is not None and isinstance(edge[0], tg.Function))
    node_refs = [weakref.ref(n) for n in nodes]
    tensor_refs = [weakref.ref(t) for t in (out, h, c, logits)]
    del out, h, c, logits, nodes, node, stack
    return loss, x, lstm, node_refs, tensor_refs


def test_graph_is_freed_by_reference_counting_after_backward(gc_disabled):
    loss, x, lstm, node_refs, tensor_refs = _graph_with_weakrefs()
    assert len(node_refs) > 50 and all(r() is not None for r in node_refs)
    loss.backward()
    del loss
    alive = [r() for r in node_refs + tensor_refs if r() is not None]
    assert alive == []
    assert x.grad is not None and all(p.grad is not None for p in lstm.parameters())


def test_graph_is_freed_by_reference_counting_without_backward(gc_disabled):
    loss, _, _, node_refs, tensor_refs = _graph_with_weakrefs()
    assert all(r() is not None for r in node_refs)
    del loss
    alive = [r() for r in node_refs + tensor_refs if r() is not None]
    assert alive == []


def test_the_cycle_collector_finds_no_tinygrad_objects(gc_disabled):
    gc.collect()
    flags = gc.get_debug()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep everything the collector would free in gc.garbage
        step = _lstm_trainer()
        for _ in range(3):
            step()
        gru = nn.GRU(3, 4, num_layers=2, bidirectional=True)
        out, h = gru(tg.randn(4, 2, 3))
        loss = out.sum() + h.sum()
        loss.backward(retain_graph=True)
        loss.backward()
        with tg.detect_anomaly():
            (tg.randn(3, requires_grad=True).tanh() * 2.0).sum().backward()
        del step, gru, out, h, loss
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("tinygrad_rnn")]
        assert ours == [], f"{len(ours)} tinygrad_rnn objects were only reclaimable by the collector"
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()


# ---- error messages -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_broadcast_failure_of_every_binary_op_names_the_op_and_both_shapes(name):
    with pytest.raises(tg.ShapeError) as info:
        BINARY_OPS[name](tg.zeros(3, 2), tg.zeros(4))
    assert str(info.value).startswith(f"{name}: cannot apply to shapes (3, 2), (4,)")


def test_broadcast_failure_of_a_comparison_names_the_op_and_both_shapes():
    with pytest.raises(tg.ShapeError) as info:
        tg.zeros(3, 2) < tg.zeros(4)
    message = str(info.value)
    assert "less" in message and "(3, 2)" in message and "(4,)" in message


def test_matmul_inner_dimension_message_is_exact():
    with pytest.raises(tg.ShapeError) as info:
        tg.zeros(32, 128) @ tg.zeros(64, 512)
    assert str(info.value) == "matmul: (32, 128) @ (64, 512): inner dimensions 128 and 64 differ"


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_layer_wrong_input_size_message_has_expected_and_actual(cls):
    with pytest.raises(ValueError) as info:
        cls(3, 5)(tg.zeros(4, 2, 7))
    assert str(info.value) == (f"{cls.__name__}: expected input with 3 features (input_size), "
                               "got shape (4, 2, 7)")


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_layer_wrong_h0_shape_message_has_expected_and_actual(cls):
    layer = cls(3, 5, bidirectional=True)
    h0 = tg.zeros(1, 2, 5)  # one direction's worth
    with pytest.raises(ValueError) as info:
        layer(tg.zeros(4, 2, 3), (h0, tg.zeros(2, 2, 5)) if cls is nn.LSTM else h0)
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}: expected h0 of shape (2, 2, 5)")
    assert message.endswith("got (1, 2, 5)")


OTHER_DEVICE_OPS = {
    "add": lambda a, b: a + b,
    "matmul": lambda a, b: a @ b,
    "cat": lambda a, b: tg.cat([a, b]),
    "stack": lambda a, b: tg.stack([a, b]),
    "maximum": lambda a, b: tg.maximum(a, b),
    "where": lambda a, b: tg.where(a > 0, a, b),
    "less": lambda a, b: a < b,
}


@pytest.mark.parametrize("name", sorted(OTHER_DEVICE_OPS))
def test_device_mismatch_names_the_op_and_both_devices(name):
    a, b = tg.ones(2, 2), tg.ones(2, 2, device="fake")
    with pytest.raises(RuntimeError) as info:
        OTHER_DEVICE_OPS[name](a, b)
    message = str(info.value)
    assert message.startswith(f"{name}:") and "cpu" in message and FAKE_DEVICE in message


def test_class_targets_on_another_device_are_refused_naming_both_devices():
    # on CUDA, CPU logits with GPU targets fail inside NumPy with a TypeError, and GPU logits
    # with CPU targets are silently copied; the fake device shows the missing check
    logits = tg.randn(4, 3, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        F.cross_entropy(logits, tg.tensor([0, 1, 2, 0], device="fake"))
    assert "cpu" in str(info.value) and FAKE_DEVICE in str(info.value)


def test_second_backward_through_an_lstm_graph_says_retain_graph():
    out, _ = nn.LSTM(2, 3)(tg.randn(4, 1, 2))
    loss = out.sum()
    loss.backward()
    with pytest.raises(RuntimeError) as info:
        loss.backward()
    message = str(info.value)
    assert "second time" in message and "retain_graph=True" in message


def test_in_place_change_of_a_saved_tensor_names_the_op_that_saved_it():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    y = h.log()  # log saves its input h
    h.mul_(3.0)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert message.startswith("log: a tensor saved for backward was modified in place")
    assert "version 0, now 1" in message


def test_in_place_update_of_a_weight_saved_through_a_transposed_view_is_caught():
    # optimizer.step() between forward and backward: Linear saved weight.T (a view), so the
    # update changes the saved values and backward must refuse, not return wrong gradients
    tg.manual_seed(4)
    layer = nn.Linear(2, 1)
    x = tg.tensor([[3.0, 4.0]], requires_grad=True)
    loss = layer(x).sum()
    with tg.no_grad():
        layer.weight.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_clip_grad_norm_refuses_an_inf_gradient_from_backward_and_leaves_it_unscaled():
    p = tg.tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        p.sqrt().sum().backward()  # gradient [inf, 0.25]
    with pytest.raises(RuntimeError) as info:
        clip_grad_norm_([p], max_norm=1.0, error_if_nonfinite=True)
    message = str(info.value)
    assert "clip_grad_norm_" in message and "inf" in message and "error_if_nonfinite=False" in message
    np.testing.assert_array_equal(p.grad.numpy(), [np.inf, 0.25])


class _PickleBomb:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_whose_tensor_was_swapped_for_a_pickled_object_array_is_refused(tmp_path):
    path, marker = tmp_path / "model.npz", tmp_path / "unpickled.marker"
    save({"weight": tg.ones(2, 2)}, path)
    with np.load(path, allow_pickle=False) as archive:
        structure = archive["__structure__"]
        key = next(name for name in archive.files if name != "__structure__")
    np.savez(path, __structure__=structure, **{key: np.array([_PickleBomb(marker)], dtype=object)})
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert "model.npz" in str(info.value)
    assert not marker.exists(), "load unpickled an object"


HOSTILE_NAMES = ['a"b', '"]; evil [label="x', "<b>bold</b>", "<", ">", "{record|field}", "back\\",
                 "\\N\\G\\L", "new\nline", "tab\there", "é中文", ""]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n) for n in HOSTILE_NAMES])
@pytest.mark.parametrize("show", [(), ("shape",)], ids=["bare", "with_shape"])
def test_dot_output_with_hostile_names_parses_with_graphviz(name, show):
    w = tg.tensor([[1.0, 2.0]], requires_grad=True, name=name or None)
    with viz.scope(name, t=0):  # a cluster label too
        out = (w * 2.0).sum()
    out.name = name or None
    source = viz.to_dot(out, params={name: w}, show=show, group="timestep").source
    result = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{result.stderr}\n{source}"
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    if name == "<b>bold</b>":  # shown as text, never interpreted as an HTML label
        assert "&lt;b&gt;bold&lt;/b&gt;" in result.stdout


def test_cli_bad_argument_gives_one_line_on_stderr_and_exit_status_2():
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_RNN_DEVICE"}
    result = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "train", "--hidden", "0"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "tinygrad-rnn train: error: argument --hidden: must be at least 1, got 0 (see --help)"]


# ---- errors point at the user's code ------------------------------------------------------------
def test_shape_error_traceback_ends_in_user_code_with_a_clean_message():
    a, b = tg.zeros(3, 2), tg.zeros(4)
    with pytest.raises(tg.ShapeError) as info:
        line = _here(); a * b  # noqa: E702
    error = info.value
    frames = traceback.extract_tb(error.__traceback__)
    assert _in_package(frames[-1].filename)  # raised inside the library ...
    user = [f for f in frames if not _in_package(f.filename)][-1]
    assert os.path.basename(user.filename) == THIS_FILE and user.lineno == line  # ... at this line
    assert error.__cause__ is None and error.__suppress_context__  # no "During handling ..." chain
    assert "\n" not in str(error)


def test_matmul_shape_error_has_no_chained_exception():
    with pytest.raises(tg.ShapeError) as info:
        tg.zeros(2, 3) @ tg.zeros(2, 3)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_recurrent_shape_error_traceback_ends_in_user_code():
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError) as info:
        line = _here(); lstm(tg.zeros(5, 2, 6))  # noqa: E702
    frames = traceback.extract_tb(info.value.__traceback__)
    user = [f for f in frames if not _in_package(f.filename)][-1]
    assert os.path.basename(user.filename) == THIS_FILE and user.lineno == line
    assert info.value.__context__ is None
