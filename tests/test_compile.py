"""``tinygrad_rnn.compile``: a training step captured once as a program, then replayed.

What these tests guard:

- without passes a replay *is* the eager step: the same losses, parameters and optimizer
  state, bit for bit, over 50 steps of a char-LM (every cell, one and two layers, dropout);
- with the default passes it differs from the eager step only by rounding;
- what cannot be replayed is refused with ``CaptureError`` (reading values into Python, a
  replaced parameter, Python control flow the signature cannot see), and a refused capture
  leaves the model as it was;
- random numbers are drawn anew at every replay, in the eager order;
- ``.grad``, the returned structure, signatures and the program cache behave as documented;
- each optimisation pass does its one rewrite, and computes what the plain program computes;
- the program can be read (``str(program)``) and is plain Python (``program.source``).

Sizes are small (vocabulary 11, hidden 8, batch 3, 5 time steps) so the file runs in seconds.
"""
from __future__ import annotations

import collections
import re
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.app.models import CharRNN, detach_state
from tinygrad_rnn.compiler import passes as passes_module
from tinygrad_rnn.compiler.passes import DEFAULT_PASSES
from tinygrad_rnn.nn.functional import cross_entropy
from tinygrad_rnn.nn.utils import clip_grad_norm_

V, H, B, T = 11, 8, 3, 5  # vocabulary, hidden size, batch, time steps
STEPS = 50
CELLS = ["rnn", "lstm", "gru"]
SETUPS = [  # (layers, dropout, optimizer); dropout only acts between layers
    pytest.param(1, 0.0, "adam", id="1layer-adam-clip"),
    pytest.param(2, 0.3, "sgd", id="2layers-dropout-sgd-momentum"),
    pytest.param(2, 0.3, "adam", id="2layers-dropout-adam-clip"),
]
STATE_NAMES = {"adam": {"exp_avg", "exp_avg_sq", "step"}, "sgd": {"momentum_buffer"}}


@pytest.fixture(scope="module", autouse=True)
def pool_every_result():
    """The steps here are tiny; ``reuse_dead_buffers`` pools their results all the same, so that
    its allocator is exercised (by default it leaves small arrays to NumPy's allocator)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passes_module, "SMALLEST_POOLED", 0)
        yield


# ---- the char-LM training step, and how runs are compared ----------------------------------------
class CharLM:
    """A seeded ``CharRNN`` with its optimizer; ``step`` is the training step that compile wraps.

    Adam comes with gradient clipping, SGD with momentum; two models built with the same
    arguments start from the same weights.
    """

    def __init__(self, cell: str = "lstm", layers: int = 1, dropout: float = 0.0, optimizer: str = "adam",
                 device: str = "cpu", dtype: str = "float32") -> None:
        tg.manual_seed(0)
        self.model = CharRNN(V, H, layers, cell, dropout, device=device, dtype=dtype)
        params = self.model.parameters()
        if optimizer == "adam":
            self.optimizer = tg.optim.Adam(params, lr=0.01)
        else:
            self.optimizer = tg.optim.SGD(params, lr=0.1, momentum=0.9)
        self.clip = optimizer == "adam"

    def step(self, x, y, state):
        """Forward, loss, backward, (clipping,) update: the loss and the detached recurrent state."""
        logits, state = self.model(x, state)
        loss = cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip:
            clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return loss, detach_state(state)


def batches(device: str, steps: int = STEPS, shapes: list | None = None) -> list:
    """(input ids, target ids) pairs, shaped (T, B) unless ``shapes`` says otherwise; the same
    pairs at every call."""
    rng = np.random.default_rng(1)
    shapes = shapes or [(T, B)] * steps
    return [tuple(tg.tensor(rng.integers(0, V, shape), device=device) for _ in range(2)) for shape in shapes]


def train(step, data: list) -> list[float]:
    """Run ``step`` over ``data``, carrying the recurrent state from batch to batch: the losses."""
    tg.manual_seed(1)  # the dropout masks of every run start from the same draw
    state, losses = None, []
    for x, y in data:
        loss, state = step(x, y, state)
        losses.append(loss.item())
    return losses


def parameters(lm: CharLM) -> list[np.ndarray]:
    return [p.numpy().copy() for p in lm.model.parameters()]


def optimizer_state(lm: CharLM) -> dict:
    """{(parameter index, name): value on the host} for every entry of the optimizer's state."""
    index = {id(p): i for i, p in enumerate(lm.model.parameters())}
    return {(index[id(p)], name): np.array(p.backend.to_numpy(value))
            for p, entries in lm.optimizer.state.items() for name, value in entries.items()}


def snapshot(lm: CharLM) -> tuple[list, dict]:
    """Copies of the parameters and of the optimizer state."""
    return parameters(lm), optimizer_state(lm)


def assert_same_state(actual: tuple[list, dict], expected: tuple[list, dict]) -> None:
    """Two snapshots equal bit for bit."""
    for a, b in zip(actual[0], expected[0]):
        np.testing.assert_array_equal(a, b)
    assert actual[1].keys() == expected[1].keys()
    for key in expected[1]:
        np.testing.assert_array_equal(actual[1][key], expected[1][key], err_msg=str(key))


# ---- 1. without passes, a replay is the eager step -----------------------------------------------
@pytest.mark.parametrize("layers, dropout, optimizer", SETUPS)
@pytest.mark.parametrize("cell", CELLS)
def test_replay_without_passes_is_bit_for_bit_the_eager_step(cell, layers, dropout, optimizer, device):
    """50 steps: every loss, every parameter and the optimizer state (Adam's moments and step
    count, SGD's momentum) equal exactly, dropout masks included."""
    data = batches(device)
    eager, compiled = (CharLM(cell, layers, dropout, optimizer, device) for _ in range(2))
    step = tg.compile(compiled.step, passes=())
    assert train(step, data) == train(eager.step, data)
    assert_same_state(snapshot(compiled), snapshot(eager))
    assert {name for _, name in optimizer_state(compiled)} == STATE_NAMES[optimizer]
    if optimizer == "adam":
        assert optimizer_state(compiled)[(0, "step")] == STEPS
    # two signatures: the first call (no recurrent state, no optimizer state yet), then all the others
    assert step.captures == 2


# ---- 2. with the default passes, the same training up to rounding --------------------------------
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("layers, dropout, optimizer", SETUPS)
@pytest.mark.parametrize("cell", CELLS)
def test_replay_with_default_passes_matches_the_eager_step_to_rounding(cell, layers, dropout, optimizer,
                                                                       dtype, rtol, device):
    """50 steps: losses to ``rtol``; each parameter to ``rtol`` of its largest value (the passes
    reorder sums, and Adam magnifies the rounding of entries near zero)."""
    data = batches(device)
    eager, compiled = (CharLM(cell, layers, dropout, optimizer, device, dtype) for _ in range(2))
    step = tg.compile(compiled.step)
    np.testing.assert_allclose(train(step, data), train(eager.step, data), rtol=rtol)
    assert step.program.passes == [name for name, _ in DEFAULT_PASSES]
    for a, b in zip(parameters(compiled), parameters(eager)):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


# ---- 3. what a replay could not repeat is refused ------------------------------------------------
@pytest.mark.parametrize("read, message", [
    pytest.param(lambda loss: loss.item(), r"\.item\(\)", id="item"),
    pytest.param(float, r"\.item\(\)", id="float"),
    pytest.param(bool, r"bool\(tensor\)", id="bool"),
    pytest.param(lambda loss: "high" if loss > 2 else "low", r"bool\(tensor\)", id="if"),
    pytest.param(lambda loss: loss.numpy(), r"\.numpy\(\)", id="numpy"),
    pytest.param(lambda loss: loss.tolist(), r"\.tolist\(\)", id="tolist"),
])
def test_reading_a_value_into_python_is_refused_and_the_model_is_left_as_it_was(read, message, device):
    """The read comes after the optimizer step: the refused capture must undo the update,
    the gradients and the optimizer state, so eager training goes on as if nothing happened."""
    lm, fresh = CharLM(device=device), CharLM(device=device)
    x, y = batches(device, steps=1)[0]

    def step(x, y):
        loss, _ = lm.step(x, y, None)
        read(loss)
        return loss

    with pytest.raises(tg.CaptureError, match=message):
        tg.compile(step)(x, y)
    assert_same_state(snapshot(lm), snapshot(fresh))  # parameters as built, no optimizer state
    assert all(p.grad is None for p in lm.model.parameters())
    assert lm.step(x, y, None)[0].item() == fresh.step(x, y, None)[0].item()


def test_a_parameter_replaced_after_capture_is_refused(device):
    """A replay updates the arrays it was captured with: a new Parameter object in their
    place must be refused, not silently left untrained."""
    tg.manual_seed(0)
    model = nn.Linear(H, V, device=device)

    def step(x):  # plain SGD by hand: no optimizer holds the old parameters
        loss = (model(x) ** 2).sum()
        loss.backward()
        with tg.no_grad():
            for p in model.parameters():
                p.sub_(0.1 * p.grad)
        model.zero_grad()
        return loss

    compiled = tg.compile(step)
    x = tg.ones(B, H, device=device)
    compiled(x)
    compiled(x)
    model.weight = nn.Parameter(tg.zeros(V, H, device=device))
    with pytest.raises(tg.CaptureError, match="replaced"):
        compiled(x)


def branching_step(lm: CharLM):
    """A training step whose ops depend on a call counter, which no signature includes."""
    calls = []

    def step(x, y):
        calls.append(None)
        loss, _ = lm.step(x, y, None)
        return loss * 2 if len(calls) % 2 else loss

    return step


def call_until_check_refuses(step, lm: CharLM, x, y) -> tuple:
    """Call ``step`` (compiled with ``check=True``) until it raises: new signatures are captured
    (no Adam state, then some), then replays are checked. The snapshot from before that call."""
    with pytest.raises(tg.CaptureError, match="other operations"):
        for _ in range(3):
            before = snapshot(lm)
            step(x, y)
    return before


def test_check_mode_refuses_python_control_flow_outside_the_signature(device):
    """Python control flow on something outside the signature changes the ops from call to
    call: a replay would silently repeat the captured branch; ``check=True`` sees it."""
    lm = CharLM(device=device)
    x, y = batches(device, steps=1)[0]
    call_until_check_refuses(tg.compile(branching_step(lm), check=True), lm, x, y)


@pytest.mark.parametrize("passes", [(), DEFAULT_PASSES], ids=["no-passes", "default-passes"])
def test_check_mode_accepts_a_faithful_step(passes, device):
    """``check=True`` on a correct step (dropout included) raises nothing and trains as eagerly."""
    data = batches(device, steps=4)
    eager, checked = CharLM("gru", 2, 0.3, device=device), CharLM("gru", 2, 0.3, device=device)
    assert train(tg.compile(checked.step, passes=passes, check=True), data) == train(eager.step, data)
    assert_same_state(snapshot(checked), snapshot(eager))


# ---- 4. random numbers: new at every replay, in the eager order ----------------------------------
def test_dropout_draws_new_masks_at_every_replay_in_the_eager_order(device):
    """A replay draws from the device's generator, as the eager step does: not the captured mask again."""
    drop = nn.Dropout(0.5)
    x = tg.ones(4, 6, device=device)

    def step(x):
        return drop(x)

    compiled = tg.compile(step)
    tg.manual_seed(3)
    replayed = [compiled(x).numpy().copy() for _ in range(4)]
    tg.manual_seed(3)
    eager = [step(x).numpy().copy() for _ in range(4)]
    assert compiled.captures == 1
    assert not any(np.array_equal(replayed[0], later) for later in replayed[1:])
    np.testing.assert_array_equal(replayed, eager)
    assert set(np.unique(replayed)) == {0.0, 2.0}  # kept entries are scaled by 1 / (1 - p)


# ---- 5. what a call leaves and returns -----------------------------------------------------------
def test_grad_after_a_compiled_step_equals_the_eager_grad(device):
    """After a replay each parameter's ``.grad`` is a Tensor holding this step's (clipped) gradient."""
    data = batches(device, steps=4)  # two captures, then two replays
    eager, compiled = CharLM("lstm", 2, 0.3, device=device), CharLM("lstm", 2, 0.3, device=device)
    train(tg.compile(compiled.step, passes=()), data)
    train(eager.step, data)
    for p, q in zip(compiled.model.parameters(), eager.model.parameters()):
        assert isinstance(p.grad, tg.Tensor)
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_outputs_are_tensors_in_the_structure_the_step_returned(device):
    """A list holding a Tensor, a tuple of Tensors (an LSTM's (h, c)) and a plain value comes
    back as such, at every call, with this call's values."""
    data = batches(device, steps=4)  # two captures, then two replays
    lm, eager = CharLM(device=device), CharLM(device=device)

    def step(x, y):
        loss, state = lm.step(x, y, None)
        return [loss, state, "done"]

    compiled = tg.compile(step)
    for x, y in data:
        loss, (h, c), note = out = compiled(x, y)
        expected_loss, (expected_h, expected_c) = eager.step(x, y, None)
        assert type(out) is list and note == "done"
        assert all(isinstance(t, tg.Tensor) for t in (loss, h, c))
        assert loss.shape == () and h.shape == c.shape == (1, B, H)
        assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-6)
        for replayed, expected in ((h, expected_h), (c, expected_c)):
            np.testing.assert_allclose(replayed.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


# ---- 6. signatures and the program cache ---------------------------------------------------------
def test_a_new_input_shape_is_captured_and_an_old_one_replayed(device):
    """New (T, B) shapes capture a program each; shapes seen before replay theirs; the training
    stays bit for bit the eager one throughout."""
    shapes = [(T, B), (T, B), (T, B), (7, B), (T, 2), (T, B), (7, B), (T, 2)]
    data = batches(device, shapes=shapes)
    eager, compiled = CharLM(device=device), CharLM(device=device)
    step = tg.compile(compiled.step, passes=())
    captures = []
    for x, y in data:
        assert step(x, y, None)[0].item() == eager.step(x, y, None)[0].item()
        captures.append(step.captures)
    # the first call has no Adam state yet: (T, B) is captured twice
    assert captures == [1, 2, 2, 3, 4, 4, 4, 4]
    assert len(step.cache) == 4
    assert_same_state(snapshot(compiled), snapshot(eager))


def test_more_signatures_than_max_programs_warn_and_keep_the_newest(device):
    """Past ``max_programs`` signatures the oldest program is dropped, with a warning; a dropped
    signature is captured again when it comes back."""
    step = tg.compile(lambda x: tg.tanh(x).sum(), max_programs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two signatures fit: no warning
        step(tg.ones(1, device=device))
        step(tg.ones(2, device=device))
    with pytest.warns(UserWarning, match="more than 2 signatures"):
        assert step(tg.ones(3, device=device)).item() == pytest.approx(3 * np.tanh(1.0))
    assert len(step.cache) == 2 and step.captures == 3
    step(tg.ones(3, device=device))  # still cached
    assert step.captures == 3
    with pytest.warns(UserWarning, match="more than 2 signatures"):
        step(tg.ones(1, device=device))  # dropped: captured again
    assert len(step.cache) == 2 and step.captures == 4


# ---- 7. each optimisation pass on its own --------------------------------------------------------
PASSES = dict(DEFAULT_PASSES)
MATMUL = r" @ "
CONCATENATE = r"xp\.concatenate\("
NEW_SUM = r"^\s+\w+ = \w+ \+ \w+$"
# a sum written into its first operand's array: ``a += b``, or ``s = xp.add(a, b, out=a)``
IN_PLACE_SUM = r"^\s+\w+ \+= \w+$|^\s+\w+ = xp\.add\((\w+), \w+, out=\1\)$"
OUT = r"out="
DEL = r"^\s+del "


def trained_with(names: tuple, device: str = "cpu"):
    """A one-layer LSTM char-LM trained 6 steps by a step compiled with the passes ``names``
    (none: the plain program): the compiled step, the losses and the parameters."""
    lm = CharLM("lstm", device=device)
    step = tg.compile(lm.step, passes=[(name, PASSES[name]) for name in names])
    losses = train(step, batches(device, steps=6))
    return step, losses, parameters(lm)


def program_with(*names: str):
    """The LSTM step's program after the passes ``names``."""
    return trained_with(names)[0].program


@pytest.fixture(scope="module")
def plain_program():
    """The LSTM step's program without passes: what each pass is compared with."""
    return program_with()


def count(program, pattern: str) -> int:
    """How many lines of the program's source match ``pattern``."""
    return len(re.findall(pattern, program.source, re.MULTILINE))


def names_used_after_their_del(source: str) -> list[str]:
    """The lines of ``source`` that read a name an earlier ``del`` removed (a correct program has none)."""
    deleted: set[str] = set()
    late = []
    for line in source.splitlines()[1:]:
        line = line.strip()
        if line.startswith("del "):
            deleted.update(name.strip() for name in line[4:].split(","))
            continue
        assigned = re.match(r"^((?:\w+, )*\w+),? = ", line)
        targets = set(assigned.group(1).split(", ")) if assigned else set()
        used = set(re.findall(r"\b[a-z]\d+\b", line[assigned.end():] if assigned else line))
        if used & deleted:
            late.append(line)
        deleted -= targets
    return late


@pytest.mark.parametrize("name, rtol", [("batch_weight_gradients", 1e-6), ("write_parts_in_place", 0),
                                        ("accumulate_in_place", 0), ("reuse_dead_buffers", 0),
                                        ("free_dead_buffers", 0)])
def test_each_pass_alone_computes_what_the_plain_program_computes(name, rtol, device):
    """Only ``batch_weight_gradients`` changes the arithmetic (the order of a sum); the others
    change where values are stored, so their results are bit for bit the plain program's."""
    _, plain_losses, plain_params = trained_with((), device)
    step, losses, params = trained_with((name,), device)
    assert step.program.passes == [name]
    np.testing.assert_allclose(losses, plain_losses, rtol=rtol, atol=0)
    for a, b in zip(params, plain_params):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


def test_batch_weight_gradients_makes_one_product_of_all_time_steps(plain_program):
    """weight_hh's gradient, a sum of T per-step products, becomes one product of the stacked
    factors: two concatenations more, T - 1 matrix products fewer."""
    program = program_with("batch_weight_gradients")
    assert count(program, CONCATENATE) == count(plain_program, CONCATENATE) + 2
    assert count(program, MATMUL) == count(plain_program, MATMUL) - (T - 1)
    assert "weight gradient, all steps at once" in str(program)


def test_write_parts_in_place_leaves_no_copying_stack(plain_program):
    """Every stack of results the program made (the layer's outputs, the time steps' gradients,
    the gates' gradients) is allocated first and written slice by slice; a second stack of the
    same parts becomes a reshape of the first."""
    program = program_with("batch_weight_gradients", "write_parts_in_place")
    stacks = r"xp\.(stack|concatenate)\("
    assert count(plain_program, stacks) > 0
    assert count(program, r"xp\.empty\(") > 0
    remaining = [line for line in program.source.splitlines() if re.search(stacks, line)]
    # what is left joins arrays the program did not make (the initial state) or an input
    assert len(remaining) < count(plain_program, stacks) // 2, remaining
    assert re.search(r"\w+ = \w+\.reshape\(\(5, 3, 32, \)\)", program.source)  # dW_hh's factors, in place
    assert names_used_after_their_del(program.source) == []


def test_accumulate_in_place_adds_gradients_into_the_first_operand(plain_program):
    """Each ``s = a + b`` it rewrites adds ``b`` into ``a``'s array: as many in-place sums
    appear as new-array sums are gone."""
    program = program_with("accumulate_in_place")
    rewritten = count(plain_program, NEW_SUM) - count(program, NEW_SUM)
    assert rewritten > 0
    assert count(program, IN_PLACE_SUM) == count(plain_program, IN_PLACE_SUM) + rewritten


def test_reuse_dead_buffers_writes_results_into_existing_arrays(plain_program):
    """Results are written with ``out=`` into arrays made before, not into new ones."""
    assert count(plain_program, OUT) == 0
    assert count(program_with("reuse_dead_buffers"), OUT) > 0


def test_free_dead_buffers_deletes_each_buffer_after_its_last_use(plain_program):
    """``del`` lines appear, and no buffer is read after its ``del`` (with all passes too)."""
    assert count(plain_program, DEL) == 0
    for program in (program_with("free_dead_buffers"), program_with(*PASSES)):
        assert count(program, DEL) > 0
        assert names_used_after_their_del(program.source) == []


# ---- 8. the program can be read ------------------------------------------------------------------
def test_the_listing_shows_shapes_ops_phases_and_scopes(plain_program):
    """``str(program)``: each line's shape, op, phase (forward, backward, optimizer) and scope
    (layer, time step); the inputs by parameter name."""
    listing = str(plain_program)
    assert listing.startswith("# ") and "passes: none" in listing
    for expected in [f"({B}, {H}) float32", f"({B}, {4 * H}) float32", "matmul", "tanh", "sigmoid",
                     "forward", "backward", "optimizer", "Adam", "layer=0", "t=0", f"t={T - 1}",
                     "rnn.weight_hh_l0", "head.bias"]:
        assert expected in listing, expected


def test_the_source_is_a_python_function_named_replay(plain_program):
    source = plain_program.source
    assert source.startswith("def replay(")
    compile(source, "<replay>", "exec")  # Python's own compile: the source is valid Python


# ---- 9. the decorator form -----------------------------------------------------------------------
def test_compile_works_as_a_decorator_with_and_without_options():
    """``@compile`` and ``@compile(passes=())``; reading ``.program`` before a call is a clear error."""
    w = tg.tensor([1.0, 2.0], requires_grad=True)

    @tg.compile
    def plain(x):
        return (x * w).sum()

    @tg.compile(passes=())
    def unoptimised(x):
        return (x * w).sum()

    for step in (plain, unoptimised):
        with pytest.raises(RuntimeError, match="has not run yet"):
            step.program  # noqa: B018 (reading it is the test)
        assert step(tg.tensor([3.0, 4.0])).item() == 11.0
        assert step(tg.tensor([1.0, 1.0])).item() == 3.0
    assert plain.__name__ == "plain"
    assert plain.program.passes == [name for name, _ in DEFAULT_PASSES]
    assert unoptimised.program.passes == []


# ---- defects found and fixed: each test names its class of bug ------------------------------------
@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
def test_default_passes_keep_a_part_stacked_twice_in_different_orders_in_both(cell, device):
    """A bidirectional layer's backward joins the reverse direction's gate gradients twice, in
    opposite time orders. write_parts_in_place placed them in the first join and then, seeing
    them as not yet placed, sliced them into the second join too (whose slices nothing then
    wrote). A part is placed in at most one join now."""

    def model_and_step():
        tg.manual_seed(0)
        layer = getattr(nn, cell)(3, 4, num_layers=2, bidirectional=True, dtype="float64", device=device)
        opt = tg.optim.SGD(layer.parameters(), lr=0.1)
        x = tg.randn(5, 2, 3, dtype="float64", device=device)

        def step():
            out, _ = layer(x)
            loss = (out * out).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return layer, step

    (eager, eager_step), (compiled, compiled_step) = model_and_step(), model_and_step()
    step = tg.compile(compiled_step)
    for _ in range(4):  # the capture, then replays
        np.testing.assert_allclose(step().item(), eager_step().item(), rtol=1e-12)
    for a, b in zip(compiled.parameters(), eager.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss_of, loss, grad", [
    pytest.param(lambda y: y.mean(), 3.0, 0.75, id="one-mean"),
    pytest.param(lambda y: y.mean() + y.mean(), 6.0, 1.5, id="a-sum-of-two-means"),
])
def test_default_passes_never_write_into_a_broadcast_scalar(loss_of, loss, grad, device):
    """``mean()`` (a sum times 1/n) is the commonest loss reduction; its backward broadcasts a
    NumPy scalar into a read-only view of memory no buffer owns, which no pass may write into,
    also when two such gradients are summed."""
    w = tg.tensor(np.ones((2, 2), "float32"), requires_grad=True, device=device)

    def step(x):
        result = loss_of(x * w)
        result.backward()
        return result

    compiled, x = tg.compile(step), tg.full((2, 2), 3.0, device=device)
    for _ in range(3):  # the capture, then replays
        w.grad = None
        assert compiled(x).item() == loss
        np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 2), grad))


def test_one_tensor_passed_for_two_arguments_replays_with_new_values(device):
    """Aliased arguments: a tensor given twice is one input of the program, and the aliasing
    is part of the signature (f(x, x) and f(x, y) are different programs)."""
    w = tg.tensor([1.0, 1.0], requires_grad=True, device=device)

    def step(x, y):
        return (x * w * y).sum()

    compiled = tg.compile(step, passes=())
    x = tg.tensor([1.0, 2.0], device=device)
    assert compiled(x, x).item() == 5.0
    x = tg.tensor([3.0, 3.0], device=device)
    assert compiled(x, x).item() == 18.0
    assert compiled(x, tg.tensor([1.0, 1.0], device=device)).item() == 6.0
    assert compiled.captures == 2


def test_a_returned_dict_holds_this_calls_values(device):
    """Every container a step may return (dicts, named tuples, lists) is rebuilt at each call."""
    w = tg.tensor([1.0, 1.0], requires_grad=True, device=device)
    compiled = tg.compile(lambda x: {"total": (x * w).sum()}, passes=())
    assert compiled(tg.tensor([1.0, 2.0], device=device))["total"].item() == 3.0
    assert compiled(tg.tensor([5.0, 5.0], device=device))["total"].item() == 10.0


def test_a_call_refused_by_check_mode_leaves_the_model_as_it_was(device):
    """A refused call changes nothing, whichever way it is refused."""
    lm = CharLM(device=device)
    x, y = batches(device, steps=1)[0]
    before = call_until_check_refuses(tg.compile(branching_step(lm), check=True), lm, x, y)
    assert_same_state(snapshot(lm), before)


def test_named_tuples_and_keyword_arguments(device):
    """Keyword arguments are part of the signature; a named tuple comes back as one."""
    Result = collections.namedtuple("Result", "total scaled")
    w = tg.tensor([1.0, 2.0], requires_grad=True, device=device)

    @tg.compile
    def step(x, *, scale):
        total = (x * w).sum()
        return Result(total, total * scale)

    for k in range(3):
        result = step(tg.tensor([1.0, float(k)], device=device), scale=2.0)
        assert isinstance(result, Result) and result.total.item() == 1.0 + 2.0 * k
        assert result.scaled.item() == 2 * result.total.item()
    assert step.captures == 1
    step(tg.tensor([1.0, 1.0], device=device), scale=3.0)  # another value of a non-tensor: captured anew
    assert step.captures == 2


def test_state_reached_through_a_helper_function_is_found(device):
    """The model and optimizer may be named by a helper the step calls, not by the step itself."""
    lm = CharLM(device=device)
    x, y = batches(device, steps=1)[0]
    global _HELPER_LM
    _HELPER_LM = lm
    try:
        compiled = tg.compile(_step_through_a_helper)
        losses = [compiled(x, y).item() for _ in range(3)]
    finally:
        del _HELPER_LM
    assert losses[0] > losses[1] > losses[2]


def _train_helper_lm(x, y):
    return _HELPER_LM.step(x, y, None)[0]


def _step_through_a_helper(x, y):
    return _train_helper_lm(x, y)


def test_a_tensor_the_step_cannot_find_is_named_as_the_problem(device):
    """State is found through the step's closure, defaults, globals and ``self``, two levels
    into containers; a tensor hidden deeper meets the captured ones as if from another device,
    and the error says what happened and what to do."""
    w = tg.tensor([1.0, 2.0], requires_grad=True, device=device)
    hidden = {"a": {"b": {"c": w}}}
    step = tg.compile(lambda x: (x * hidden["a"]["b"]["c"]).sum())
    with pytest.raises(RuntimeError, match="did not find was used while the step was captured"):
        step(tg.tensor([1.0, 1.0], device=device))
    by_default = tg.compile(lambda x, w=w: (x * w).sum())  # a default argument is found
    assert by_default(tg.tensor([1.0, 1.0], device=device)).item() == 3.0


def test_a_tensor_kept_from_inside_a_capture_cannot_be_used_afterwards(device):
    """Its array is a recording's stand-in; using it later would record into a finished
    program, so it raises and says to return the tensor instead."""
    w = tg.tensor([1.0, 2.0], requires_grad=True, device=device)
    kept = []

    @tg.compile
    def step(x):
        y = x * w
        kept.append(y)
        return y.sum()

    step(tg.tensor([1.0, 1.0], device=device))
    with pytest.raises(tg.CaptureError, match="kept and used afterwards; return it from the step"):
        kept[0] + 1


def test_python_values_the_step_names_are_part_of_the_signature(device):
    """A flag or number in the step's closure or globals may steer Python control flow:
    changing it captures again instead of replaying the other branch; the warning about many
    captures says what kept changing."""
    w = tg.tensor([1.0, 2.0], requires_grad=True, device=device)
    double = False

    def step(x):
        y = (x * w).sum()
        return y * 2 if double else y

    compiled = tg.compile(step, max_programs=1)
    x = tg.tensor([1.0, 1.0], device=device)
    assert compiled(x).item() == 3.0
    double = True
    with pytest.warns(UserWarning, match="the Python values double changed"):
        assert compiled(x).item() == 6.0
    assert compiled(x).item() == 6.0 and compiled.captures == 2
