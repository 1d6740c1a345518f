"""Random programs, checked without any other framework (see ``program_generator.py``).

Three oracles:
- forward: every register's final value equals the same program run on NumPy arrays;
- backward: every leaf's gradient equals central finite differences of the NumPy program
  (float64), element by element (elements at a kink, where finite differences with two
  step sizes disagree, are skipped);
- errors: a program that ends with an op PyTorch refuses raises that error, and a valid
  program raises nothing but, in backward, the modified-in-place error, and then only if
  it changed something in place;
- and every value and gradient is held as an array (NumPy turns 0-d results into scalars,
  which in-place updates cannot change).

CI runs 300 programs drawn by hypothesis and 1,200 seeded ones, deterministically;
``TINYGRAD_RNN_PROGRAMS=5000`` runs 5,000 and 20,000. ``test_random_programs_agree_with_pytorch`` compares with PyTorch where it is
installed (it never is in CI).
"""
from __future__ import annotations

import os
import random
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from program_generator import (Program, build, finite_difference_grads, is_moderate, leaf_values, run_numpy,
                               run_tensors)

PROGRAMS = int(os.environ.get("TINYGRAD_RNN_PROGRAMS", "300"))
RANDOM_PROGRAMS = settings(max_examples=PROGRAMS, derandomize=True, deadline=None, database=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                  HealthCheck.data_too_large])
# errors a valid program may meet when it changes tensors in place, as in PyTorch: a value saved
# for backward was overwritten, or one of several views was used after its base changed
IN_PLACE_ERRORS = ("modified in place", "changed in place after the views were made")


def _draw_program(data: st.DataObject) -> tuple[Program, list]:
    choose = lambda n: data.draw(st.integers(0, n - 1)) if n > 1 else 0  # noqa: E731
    program = build(choose)
    return program, leaf_values(program, choose)


def _changes_in_place(program: Program) -> bool:
    return any(ins.action in ("inplace", "no_grad_inplace") for ins in program.instructions)


def _tolerances(dtypes: list) -> tuple[float, float]:
    """(rtol, atol): float32 anywhere in the program costs precision."""
    if any(np.dtype(d) == np.float32 for d in dtypes):
        return 2e-3, 2e-3
    return 1e-5, 1e-6


def check_program(program: Program, leaves: list) -> str:
    """Run ``program`` through every oracle; returns what was checked (for statistics)."""
    if program.expected_error:
        with pytest.raises(RuntimeError) as raised:
            run_tensors(program, leaves)
        message = str(raised.value)  # the expected error, or an earlier in-place one
        assert re.search(program.expected_error, message) or any(words in message for words in IN_PLACE_ERRORS), \
            f"expected an error matching {program.expected_error!r}, got {message!r} for\n{program.describe()}"
        return "expected error"
    reference = run_numpy(program, leaves)
    if not is_moderate(reference):
        return "rejected: values too large"
    try:
        outcome = run_tensors(program, leaves)
    except RuntimeError as error:
        assert any(words in str(error) for words in IN_PLACE_ERRORS) and _changes_in_place(program), \
            f"unexpected error {error!r} for\n{program.describe()}"
        return "modified-in-place error"
    assert outcome.arrays_only, f"a value or gradient is a NumPy scalar, not an array, for\n{program.describe()}"
    rtol, atol = _tolerances(outcome.dtypes)
    for k, (got, want) in enumerate(zip(outcome.values, reference.values)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                   err_msg=f"value of r{k} differs for\n{program.describe()}")
    numeric = finite_difference_grads(program, leaves)
    for k, (got, want) in enumerate(zip(outcome.grads, numeric)):
        wrong = ~np.isclose(got, want, rtol=10 * rtol, atol=10 * atol)
        if wrong.any():  # at a kink (relu, abs, max ties ...) two step sizes disagree: skip those
            coarse = finite_difference_grads(program, leaves, eps=1e-4)[k]
            smooth = np.isclose(want, coarse, rtol=10 * rtol, atol=10 * atol)
            assert not (wrong & smooth).any(), (
                f"gradient of leaf {k} differs: analytic {got}, numeric {want}, for\n{program.describe()}")
            return "checked (kinks skipped)"
    return "checked"


@RANDOM_PROGRAMS
@given(data=st.data())
def test_random_programs_match_numpy_and_finite_differences(data):
    program, leaves = _draw_program(data)
    outcome = check_program(program, leaves)
    assume(not outcome.startswith("rejected"))
    event(outcome)


def _seeded_programs(count: int, seed: int = 0):
    for k in range(count):
        rng = random.Random(seed * 1_000_003 + k)
        choose = lambda n, rng=rng: rng.randrange(n) if n > 1 else 0  # noqa: E731
        program = build(choose)
        yield program, leaf_values(program, choose)


def test_seeded_random_programs_match_numpy_and_finite_differences_and_cover_every_kind():
    """Longer programs than hypothesis tends to draw (it prefers small ones, then shrinks a
    failure): 4 x TINYGRAD_RNN_PROGRAMS of them, each through every oracle, and the
    generator's coverage asserted, so the test cannot pass by checking nothing."""
    count = 4 * PROGRAMS
    outcomes, actions, names, leaf_shapes = Counter(), Counter(), Counter(), Counter()
    for program, leaves in _seeded_programs(count):
        outcomes[check_program(program, leaves).split(" (")[0]] += 1
        leaf_shapes.update(program.leaf_shapes)
        for ins in program.instructions:
            actions[ins.action] += 1
            names[f"{ins.action}:{ins.name}"] += 1
            if "constant" in ins.params:
                names[f"constant:{ins.params['constant'].kind}"] += 1
    assert outcomes["checked"] >= 0.6 * count, outcomes
    assert outcomes["expected error"] >= 0.05 * count and outcomes["modified-in-place error"] <= 0.25 * count, \
        outcomes
    assert set(actions) == {"unary", "binary", "constant", "reduce", "view", "inplace", "no_grad_inplace",
                            "matmul"}, actions
    for kind in ("python_float", "python_int", "numpy_float64", "numpy_float32", "numpy_array",
                 "float32_tensor", "int_tensor", "bool_tensor"):
        assert names[f"constant:{kind}"] > 0, kind
    for name in ("view:index", "view:unbind", "view:split", "view:fancy", "view:transpose", "view:expand",
                 "reduce:sum_all", "reduce:max_dim", "inplace:copy_", "inplace:fill_", "no_grad_inplace:mul_",
                 "unary:pow0"):
        assert names[name] > 0, name
    assert leaf_shapes[()] > 0 and leaf_shapes[(1,)] > 0


def test_random_programs_agree_with_pytorch():
    """Differential testing: the same programs in PyTorch give the same dtypes, values and
    gradients, and raise where we raise. Where only PyTorch raises, our result must pass the
    NumPy and finite-difference oracles: the library is more permissive in two corners, never
    wrong (an in-place op whose operand overlaps the written memory, computed here from a copy
    of the old values; a 0-d tensor of another dtype saved by an op as its converted copy, so
    changing the original later is no error; see docs/robustness.md).
    Run with TINYGRAD_RNN_PROGRAMS=N for more."""
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    try:
        disagreements, only_pytorch_raises = [], 0
        for program, leaves in _seeded_programs(PROGRAMS, seed=1):
            ours, theirs = _outcome_or_error(program, leaves, None), _outcome_or_error(program, leaves, torch)
            if isinstance(theirs, str) and not isinstance(ours, str):
                check_program(program, leaves)  # a right answer where PyTorch refuses
                only_pytorch_raises += 1
                continue
            if isinstance(ours, str) or isinstance(theirs, str):
                if isinstance(ours, str) != isinstance(theirs, str):
                    disagreements.append((program.describe(), ours, "no error"))
                continue
            dtypes = [str(d) for d in ours.dtypes], [str(d).replace("torch.", "") for d in theirs.dtypes]
            if dtypes[0] != dtypes[1]:
                disagreements.append((program.describe(), dtypes[0], dtypes[1]))
            elif not np.isclose(ours.loss, theirs.loss, rtol=1e-6) or not all(
                    np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(ours.grads, theirs.grads)):
                disagreements.append((program.describe(), ours.grads, theirs.grads))
        assert not disagreements, f"{len(disagreements)} of {PROGRAMS} programs disagree:\n" + \
            "\n\n".join(f"{d[0]}\nours: {d[1]}\nPyTorch: {d[2]}" for d in disagreements[:5])
        assert only_pytorch_raises <= PROGRAMS // 1000 + 2, only_pytorch_raises
    finally:
        torch.set_default_dtype(torch.float32)


def _outcome_or_error(program: Program, leaves: list, torch):
    import tinygrad_rnn as tg

    try:
        with np.errstate(all="ignore"):
            return run_tensors(program, leaves, tg if torch is None else torch)
    except (RuntimeError, TypeError, ValueError) as error:
        return re.sub(r"\s+", " ", f"{type(error).__name__}: {error}")[:160]
