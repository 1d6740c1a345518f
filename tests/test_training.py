"""tinygrad_rnn.app.train: bit-for-bit resume on CPU, run-setting checks, text checks, learning at all."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest

import tinygrad_rnn as tg
import tinygrad_rnn.app.train as train_module
from tinygrad_rnn import checkpoint
from tinygrad_rnn.app.train import (RUN_SETTINGS, TrainConfig, TrainingError, flag, minimum_text_length,
                                 resumed_config, train)


@pytest.fixture
def text_file(tmp_path):
    """~3,000 characters with some structure (words from a small alphabet)."""
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to"]
    text = ""
    while len(text) < 3000:
        text += rng.choice(words) + rng.choice([" ", " ", " ", ", ", ".\n"])
    path = tmp_path / "data.txt"
    path.write_text(text[:3000], encoding="utf-8")
    return str(path)


def _config(data, checkpoint_path, **overrides):
    settings = dict(cell="lstm", hidden=16, layers=1, seq_len=8, batch=4, steps=6, lr=1e-2, optim="adam",
                    data=data, checkpoint=str(checkpoint_path), seed=0, eval_every=0, checkpoint_every=0,
                    progress=False)
    settings.update(overrides)
    return TrainConfig(**settings)


def _quiet(message):
    pass


def _run(data, checkpoint_path, **overrides):
    return train(_config(data, checkpoint_path, **overrides), log=_quiet)


def _assert_same_run(straight, resumed):
    assert resumed.steps_done == straight.steps_done
    assert resumed.train_losses == straight.train_losses
    assert resumed.val_losses == straight.val_losses
    expected, actual = straight.model.state_dict(), resumed.model.state_dict()
    assert list(actual) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(actual[name].numpy(), expected[name].numpy(), err_msg=name)


RESUME_CASES = [
    pytest.param(dict(cell="lstm", optim="adam"), id="lstm-adam"),
    pytest.param(dict(cell="gru", optim="sgd", lr=0.5), id="gru-sgd"),
    pytest.param(dict(cell="rnn", optim="rmsprop"), id="rnn-rmsprop"),
    pytest.param(dict(cell="lstm", optim="adam", layers=2, dropout=0.3), id="lstm-adam-2layer-dropout"),
    pytest.param(dict(cell="gru", optim="adamw", layers=2, dropout=0.3), id="gru-adamw-2layer-dropout"),
]


@pytest.mark.parametrize("settings", RESUME_CASES)
def test_resume_is_bit_for_bit(tmp_path, text_file, settings):
    straight = _run(text_file, tmp_path / "straight.npz", steps=6, **settings)
    assert len(straight.train_losses) == 6 and straight.steps_done == 6

    first = _run(text_file, tmp_path / "resumed.npz", steps=3, **settings)
    assert first.steps_done == 3 and os.path.exists(tmp_path / "resumed.npz")
    assert first.train_losses == straight.train_losses[:3]
    resumed = _run(text_file, tmp_path / "resumed.npz", steps=6, resume=True, **settings)
    _assert_same_run(straight, resumed)

    # the final checkpoints agree too
    a, b = checkpoint.load(tmp_path / "straight.npz"), checkpoint.load(tmp_path / "resumed.npz")
    assert a["step"] == b["step"] == 6 and a["batcher"] == b["batcher"]
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name].numpy(), b["model"][name].numpy())


@pytest.mark.parametrize("settings", RESUME_CASES[:3] + RESUME_CASES[4:])
def test_compiled_steps_train_as_eager_steps_do(tmp_path, text_file, settings, monkeypatch):
    """Training runs compiled steps by default (replayed after their capture); the curve and the
    weights agree with eager steps to float rounding (the passes sum some gradients in another order)."""
    compiled_steps = []
    monkeypatch.setattr(train_module, "compile", lambda step: compiled_steps.append(tg.compile(step)) or
                        compiled_steps[-1])
    compiled = _run(text_file, tmp_path / "compiled.npz", steps=6, **settings)
    (step,) = compiled_steps
    assert step.captures == 2  # the first step (no gradients yet), then the others: replayed
    eager = _run(text_file, tmp_path / "eager.npz", steps=6, eager=True, **settings)
    assert len(compiled_steps) == 1  # eager=True compiles nothing
    np.testing.assert_allclose(compiled.train_losses, eager.train_losses, rtol=1e-5)
    for name, value in eager.model.state_dict().items():
        np.testing.assert_allclose(compiled.model.state_dict()[name].numpy(), value.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_dropout_is_in_effect(tmp_path, text_file):
    """The dropout resume cases are not vacuous: dropout changes the run, and the seed matters."""
    plain = _run(text_file, tmp_path / "a.npz", layers=2, dropout=0.0, steps=3)
    dropped = _run(text_file, tmp_path / "b.npz", layers=2, dropout=0.3, steps=3)
    assert plain.train_losses != dropped.train_losses


def test_resume_across_passes_and_with_validation(tmp_path):
    """Short text: the run wraps around the data (state reset) and evaluates on the way."""
    path = tmp_path / "short.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 6)
    settings = dict(eval_every=2, steps=14)
    straight = _run(str(path), tmp_path / "a.npz", **settings)
    assert straight.val_losses and [s for s, _ in straight.val_losses] == list(range(2, 15, 2))
    for cut in (5, 6, 7):  # the train batcher has 6 batches per pass here
        _run(str(path), tmp_path / f"b{cut}.npz", **{**settings, "steps": cut})
        resumed = _run(str(path), tmp_path / f"b{cut}.npz", resume=True, **settings)
        _assert_same_run(straight, resumed)


def test_periodic_checkpoints_resume_exactly(tmp_path, text_file, monkeypatch):
    """Resuming from the step-4 checkpoint of a run that saves every 2 steps."""
    real_save, saved_steps = checkpoint.save, []

    def save_and_keep_a_copy(state, path):
        real_save(state, path)
        saved_steps.append(state["step"])
        real_save(state, tmp_path / f"step{state['step']}.npz")

    monkeypatch.setattr(checkpoint, "save", save_and_keep_a_copy)
    straight = _run(text_file, tmp_path / "a.npz", steps=6, checkpoint_every=2)
    monkeypatch.undo()
    assert saved_steps == [2, 4, 6, 6]  # periodic, then the final save
    resumed = _run(text_file, tmp_path / "step4.npz", steps=6, resume=True)
    _assert_same_run(straight, resumed)


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
def test_keyboard_interrupt_mid_step_saves_a_checkpoint_that_resumes_exactly(tmp_path, text_file, monkeypatch, eager):
    """Ctrl-C during a step saves a checkpoint; resuming from it must give the uninterrupted run.

    Eager: the interrupt comes after forward and backward of step 4 (inside clipping).
    Compiled: clipping runs only while a step is captured, so the interrupt comes as the
    compiled step is called for step 4 (a replay)."""
    straight = _run(text_file, tmp_path / "a.npz", steps=8, eager=eager)
    calls = [0]

    def interrupt_on_fourth_call(function):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 4:
                raise KeyboardInterrupt
            return function(*args, **kwargs)
        return wrapper

    if eager:
        monkeypatch.setattr(train_module, "clip_grad_norm_", interrupt_on_fourth_call(train_module.clip_grad_norm_))
    else:
        monkeypatch.setattr(train_module, "compile", lambda step: interrupt_on_fourth_call(tg.compile(step)))
    with pytest.raises(KeyboardInterrupt):
        _run(text_file, tmp_path / "b.npz", steps=8, eager=eager)
    monkeypatch.undo()
    saved = checkpoint.load(tmp_path / "b.npz")
    assert saved["step"] == 3
    resumed = _run(text_file, tmp_path / "b.npz", steps=8, resume=True, eager=eager)
    _assert_same_run(straight, resumed)


OTHER_RUN_SETTINGS = {"hidden": 32, "cell": "gru", "layers": 2, "dropout": 0.5, "seq_len": 4, "batch": 2,
                      "lr": 1e-3, "optim": "sgd", "clip": 0.5, "seed": 1}


def test_every_run_setting_has_a_contradicting_case():
    assert set(OTHER_RUN_SETTINGS) == set(RUN_SETTINGS)


@pytest.mark.parametrize("field, value", OTHER_RUN_SETTINGS.items(), ids=list(OTHER_RUN_SETTINGS))
def test_resuming_with_another_run_setting_names_the_flag(tmp_path, text_file, field, value):
    _run(text_file, tmp_path / "ck.npz", steps=2)
    with pytest.raises(TrainingError) as info:
        _run(text_file, tmp_path / "ck.npz", steps=4, resume=True, **{field: value})
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert f"{flag(field)} {value} contradicts the checkpoint" in message, message
    saved = _config(text_file, tmp_path / "ck.npz")
    assert f"{flag(field)} {getattr(saved, field)}" in message.split("trained with")[1], message
    assert len(message.splitlines()) == 1
    assert checkpoint.load(tmp_path / "ck.npz")["step"] == 2  # the checkpoint is untouched


def test_resume_without_a_checkpoint_file_is_an_error(tmp_path, text_file):
    with pytest.raises(TrainingError, match="no checkpoint .*b.npz; leave out --resume"):
        _run(text_file, tmp_path / "b.npz", steps=3, resume=True)
    assert not (tmp_path / "b.npz").exists()


def test_resumed_config_takes_the_run_from_the_checkpoint(tmp_path, text_file):
    """What ``--resume`` does: every setting that defines the run comes from the checkpoint, and the
    run it continues is bit-for-bit the straight one."""
    settings = dict(cell="gru", hidden=12, layers=2, dropout=0.25, seq_len=6, batch=3, lr=2e-2,
                    optim="rmsprop", clip=0.5, seed=7)
    straight = _run(text_file, tmp_path / "straight.npz", steps=6, **settings)
    _run(text_file, tmp_path / "ck.npz", steps=3, **settings)
    config = resumed_config(str(tmp_path / "ck.npz"), {"steps": 6, "progress": False, "eval_every": 0})
    assert {name: getattr(config, name) for name in settings} == settings
    assert config.data == os.path.abspath(text_file) and config.resume
    _assert_same_run(straight, train(config, log=_quiet))


def test_resumed_config_keeps_the_step_target_of_an_interrupted_run(tmp_path, text_file):
    _run(text_file, tmp_path / "ck.npz", steps=8, checkpoint_every=3)
    saved = checkpoint.load(tmp_path / "ck.npz")
    saved["step"] = 3  # as if cut short after the periodic checkpoint at step 3
    checkpoint.save(saved, tmp_path / "ck.npz")
    assert resumed_config(str(tmp_path / "ck.npz"), {}).steps == 8


def test_resumed_config_refuses_a_contradicting_setting(tmp_path, text_file):
    _run(text_file, tmp_path / "ck.npz", steps=2)
    with pytest.raises(TrainingError, match=r"^--hidden 64, --optim sgd contradict the checkpoint .*ck.npz, "
                                            r"which was trained with --hidden 16, --optim adam; leave them out"):
        resumed_config(str(tmp_path / "ck.npz"), {"hidden": 64, "optim": "sgd", "steps": 4})
    with pytest.raises(TrainingError, match="no checkpoint"):
        resumed_config(str(tmp_path / "missing.npz"), {})
    with pytest.raises(TrainingError, match="--resume needs --checkpoint"):
        resumed_config(None, {})


@pytest.mark.parametrize("target", [dict(steps=3), dict(steps=2), dict(epochs=1, steps=1000)],
                         ids=["steps-equal", "steps-below", "epochs"])
def test_resume_needs_steps_above_the_checkpoint(tmp_path, text_file, target):
    _run(text_file, tmp_path / "ck.npz", steps=100)  # one epoch of this text is 85 steps
    with pytest.raises(TrainingError, match=r"already at step 100, and .* at step \d+; "
                                            r"give --steps above 100 to train further"):
        _run(text_file, tmp_path / "ck.npz", resume=True, **target)


def test_resume_on_another_text_is_refused_but_a_moved_file_is_fine(tmp_path, text_file):
    _run(text_file, tmp_path / "ck.npz", steps=2)
    other = tmp_path / "other.txt"
    other.write_text(open(text_file).read()[::-1])  # same characters, another text
    with pytest.raises(TrainingError, match="other.txt is not the text the checkpoint .* was trained on"):
        _run(str(other), tmp_path / "ck.npz", steps=4, resume=True)
    moved = tmp_path / "moved" / "data.txt"
    moved.parent.mkdir()
    os.replace(text_file, moved)
    assert _run(str(moved), tmp_path / "ck.npz", steps=4, resume=True).steps_done == 4


def test_resume_from_a_non_checkpoint_is_a_training_error(tmp_path, text_file):
    bogus = tmp_path / "bogus.npz"
    bogus.write_text("not a checkpoint")
    with pytest.raises(TrainingError):
        _run(text_file, bogus, steps=3, resume=True)
    checkpoint.save({"kind": "something else"}, tmp_path / "other.npz")
    with pytest.raises(TrainingError, match="not of a tinygrad-rnn character model"):
        _run(text_file, tmp_path / "other.npz", steps=3, resume=True)


@pytest.mark.parametrize("overrides, word", [
    (dict(cell="foo"), "cell"), (dict(optim="nope"), "optimizer"), (dict(steps=0), "steps"),
    (dict(hidden=0), "hidden"), (dict(lr=0.0), "lr"), (dict(resume=True, checkpoint=None), "checkpoint"),
])
def test_invalid_configs_raise_training_error(tmp_path, text_file, overrides, word):
    with pytest.raises(TrainingError, match=word):
        _run(text_file, tmp_path / "ck.npz", **overrides)


def test_missing_empty_and_directory_data_files(tmp_path):
    with pytest.raises(TrainingError, match="not found"):
        _run(str(tmp_path / "missing.txt"), tmp_path / "ck.npz")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TrainingError, match="empty.txt is empty, too few for --batch 4: .* at least 6 characters"):
        _run(str(tmp_path / "empty.txt"), tmp_path / "ck.npz")
    with pytest.raises(TrainingError, match="--data .* is a directory"):
        _run(str(tmp_path), tmp_path / "ck.npz")


@pytest.mark.parametrize("batch", [1, 4, 32, 100])
def test_the_minimum_text_length_is_the_real_minimum(tmp_path, batch):
    """One character fewer than the minimum is refused with a sentence saying what to do; the
    minimum itself trains."""
    shortest = minimum_text_length(batch)
    path = tmp_path / "tiny.txt"
    path.write_text(("ab" * shortest)[:shortest - 1])
    with pytest.raises(TrainingError) as info:
        _run(str(path), tmp_path / "ck.npz", batch=batch, steps=1)
    message = str(info.value)
    assert f"has only {shortest - 1} character" in message and f"--batch {batch}" in message
    assert f"at least {shortest} characters; lower --batch or use a longer file" in message
    path.write_text(("ab" * shortest)[:shortest])
    assert _run(str(path), tmp_path / "ck.npz", batch=batch, steps=1).steps_done == 1


def test_training_loss_decreases_on_repetitive_text(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_text("abc" * 1000)
    result = _run(str(path), tmp_path / "ck.npz", steps=40, lr=1e-2)
    losses = result.train_losses
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_epochs_train_whole_passes_over_the_text(tmp_path, text_file):
    # 3,000 characters, 90% for training: 2,699 tokens in 4 rows of 674, so 85 batches of 8
    result = _run(text_file, tmp_path / "ck.npz", epochs=2)
    assert result.steps_done == 2 * 85


def test_each_evaluation_prints_a_validation_loss_and_a_sample(tmp_path, text_file, capsys):
    _run(text_file, tmp_path / "ck.npz", steps=4, eval_every=2, sample_length=30)
    lines = capsys.readouterr().out.splitlines()
    assert sum("validation loss" in line for line in lines) == 2
    assert sum(line.startswith("  sample: ") for line in lines) == 2


def test_sampling_during_training_does_not_change_the_run(tmp_path, text_file):
    quiet = _run(text_file, tmp_path / "a.npz", steps=6, eval_every=2, sample_length=0)
    sampled = _run(text_file, tmp_path / "b.npz", steps=6, eval_every=2, sample_length=40)
    _assert_same_run(quiet, sampled)
