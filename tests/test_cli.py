"""The ``tinygrad-rnn`` command line, run as a user would: in a subprocess."""
from __future__ import annotations

import importlib.util
import os
import random
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_rnn import checkpoint
from tinygrad_rnn.app.train import RUN_SETTINGS, TrainConfig

TINY = ["--hidden", "16", "--seq-len", "8", "--batch", "4"]
CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "tinygrad-rnn")
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_RNN_DEVICE"}
    env["MPLBACKEND"] = "Agg"
    return env


def cli(*args, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=_env())


def assert_one_line_error(proc, *words):
    """Failed, with exactly one non-empty line on stderr and no traceback."""
    assert proc.returncode != 0, f"exit status 0; stdout: {proc.stdout[-500:]!r}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def text_file(workdir):
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to"]
    text = " ".join(rng.choice(words) for _ in range(700))
    path = workdir / "data.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(workdir, text_file):
    """A checkpoint written by ``train`` (the process result, the checkpoint path)."""
    path = workdir / "ck.npz"
    proc = cli("train", "--steps", 5, *TINY, "--data", text_file, "--checkpoint", path, "--no-progress",
               cwd=workdir)
    return proc, path


# ---- help --------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["sample"]], ids=["top", "demo", "train", "sample"])
def test_help(command):
    proc = cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and "tinygrad-rnn" in proc.stdout
    assert proc.stderr == ""
    if not command:
        for sub in ("demo", "train", "sample"):
            assert sub in proc.stdout


def test_train_help_says_what_resume_takes_from_the_checkpoint_and_what_may_change():
    text = " ".join(cli("train", "--help").stdout.split())
    assert "With --resume, the run continues with the settings saved in the checkpoint" in text
    for flag in ("--steps", "--epochs", "--device", "--eval-every", "--checkpoint-every", "--no-progress"):
        assert flag in text.split("give only what changes:")[1], flag
    defaults = TrainConfig()
    for option, field in [("--hidden", "hidden"), ("--seq-len", "seq_len"), ("--batch", "batch"),
                          ("--steps", "steps"), ("--lr", "lr"), ("--cell", "cell")]:
        assert re.search(rf"{option} \S+ .*?\(default {getattr(defaults, field)}\b", text), option


def test_console_script_exists_and_helps():
    assert os.path.isfile(CONSOLE_SCRIPT) and os.access(CONSOLE_SCRIPT, os.X_OK), CONSOLE_SCRIPT
    proc = subprocess.run([CONSOLE_SCRIPT, "--help"], capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "usage: tinygrad-rnn" in proc.stdout


# ---- working runs ------------------------------------------------------------------------
def test_train_writes_a_checkpoint(trained, text_file):
    proc, path = trained
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "trained to step 5" in proc.stdout
    assert f"wrote the checkpoint {path} (step 5)" in proc.stdout
    state = checkpoint.load(path)
    assert state["kind"] == "char-rnn" and state["step"] == 5
    assert state["config"]["hidden"] == 16 and state["config"]["cell"] == "lstm"
    assert len(state["history"]["train"]) == 5
    assert set(state["vocab"]) == set(text_file.read_text())


def test_train_resume_continues_to_the_total_steps(workdir, trained, text_file):
    _, path = trained
    copy = workdir / "resume.npz"
    copy.write_bytes(path.read_bytes())
    proc = cli("train", "--steps", 7, *TINY, "--data", text_file, "--checkpoint", copy, "--resume",
               "--no-progress", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "trained to step 7" in proc.stdout
    state = checkpoint.load(copy)
    assert state["step"] == 7 and len(state["history"]["train"]) == 7


def test_train_eager_flag_gives_the_same_run_to_float_rounding(workdir, trained, text_file):
    """``--eager`` runs each step eagerly instead of compiled: the same training, up to rounding."""
    _, path = trained
    eager_path = workdir / "eager.npz"
    proc = cli("train", "--steps", 5, *TINY, "--data", text_file, "--checkpoint", eager_path, "--no-progress",
               "--eager", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    compiled, eager = checkpoint.load(path), checkpoint.load(eager_path)
    assert "eager" not in eager["config"]  # how steps run is not a setting of the run
    np.testing.assert_allclose(compiled["history"]["train"], eager["history"]["train"], rtol=1e-5)
    for name, value in eager["model"].items():
        np.testing.assert_allclose(compiled["model"][name].numpy(), value.numpy(), rtol=1e-4, atol=1e-6)


def test_readme_command_line_sequence(tmp_path):
    """The README's train, resume and sample commands, exactly as written but for smaller sizes."""
    block = open(README, encoding="utf-8").read().split("## Command line")[1].split("```bash")[1].split("```")[0]
    commands = [shlex.split(line, comments=True) for line in block.splitlines()
                if line.startswith(("tinygrad-rnn train", "tinygrad-rnn sample"))]
    smaller = {"256": "16", "2000": "3", "4000": "5"}  # hidden and steps
    commands = [[smaller.get(word, word) for word in command] for command in commands]
    assert [command[:2] for command in commands] == [["tinygrad-rnn", "train"]] * 2 + [["tinygrad-rnn", "sample"]]
    assert "--resume" in commands[1] and "--hidden" not in commands[1] and "--cell" not in commands[1]

    first = cli(*commands[0][1:], cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "trained to step 3" in first.stdout and "wrote the checkpoint run.npz (step 3)" in first.stdout
    resumed = cli(*commands[1][1:], cwd=tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from run.npz at step 3" in resumed.stdout and "trained to step 5" in resumed.stdout
    state = checkpoint.load(tmp_path / "run.npz")
    assert state["step"] == 5 and state["config"]["cell"] == "gru" and state["config"]["hidden"] == 16
    sample = cli(*commands[2][1:], cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("ROMEO:")


def test_resume_takes_the_whole_run_from_the_checkpoint(workdir, text_file):
    """Resuming with only --checkpoint, --resume and --steps continues bit-for-bit the run started with
    non-default settings: it is the run that trains straight to the end."""
    settings = ["--cell", "rnn", "--hidden", "12", "--layers", "2", "--dropout", "0.2", "--seq-len", "6",
                "--batch", "3", "--lr", "0.02", "--optim", "rmsprop", "--clip", "0.5", "--seed", "3",
                "--data", text_file, "--no-progress"]
    straight, cut = workdir / "straight.npz", workdir / "cut.npz"
    assert cli("train", *settings, "--steps", 6, "--checkpoint", straight, cwd=workdir).returncode == 0
    assert cli("train", *settings, "--steps", 3, "--checkpoint", cut, cwd=workdir).returncode == 0
    proc = cli("train", "--checkpoint", cut, "--resume", "--steps", 6, "--device", "cpu", "--eval-every", 2,
               "--checkpoint-every", 2, "--no-progress", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    a, b = checkpoint.load(straight), checkpoint.load(cut)
    assert a["config"] == b["config"] and b["step"] == 6
    assert a["history"]["train"] == b["history"]["train"]
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name].numpy(), b["model"][name].numpy(), err_msg=name)


def test_train_defaults_are_train_config_defaults(workdir, text_file):
    path = workdir / "defaults.npz"
    proc = cli("train", "--steps", 1, "--data", text_file, "--checkpoint", path, "--no-progress", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    saved, defaults = checkpoint.load(path)["config"], TrainConfig()
    assert {name: saved[name] for name in RUN_SETTINGS} == {name: getattr(defaults, name) for name in RUN_SETTINGS}


def test_sample_prints_text(trained, text_file):
    _, path = trained
    proc = cli("sample", "--checkpoint", path, "--length", 20)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout.rstrip("\n")
    assert len(out) >= 20
    assert set(out) <= set(text_file.read_text()) | {"\n"}
    again = cli("sample", "--checkpoint", path, "--length", 20)
    assert again.stdout == proc.stdout  # seeded: the same text twice


def test_demo_writes_a_plot_and_a_checkpoint(tmp_path):
    out = tmp_path / "demo"
    proc = cli("demo", "--steps", 3, "--out", out, "--no-progress", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    png = out / "loss_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = checkpoint.load(out / "checkpoint.npz")
    assert state["kind"] == "char-rnn" and state["step"] == 3


# ---- one-line errors ---------------------------------------------------------------------
def test_missing_data_file(workdir):
    proc = cli("train", "--steps", 2, *TINY, "--data", workdir / "missing.txt", "--no-progress", cwd=workdir)
    assert_one_line_error(proc, "missing.txt")


def test_empty_data_file(workdir):
    empty = workdir / "empty.txt"
    empty.write_text("")
    proc = cli("train", "--steps", 2, *TINY, "--data", empty, "--no-progress", cwd=workdir)
    assert_one_line_error(proc, "empty.txt is empty", "--batch 4", "at least 6 characters")


def test_tiny_data_file_says_the_minimum_and_the_fix(workdir):
    tiny = workdir / "tiny.txt"
    tiny.write_text("hello")
    proc = cli("train", "--steps", 2, "--data", tiny, "--no-progress", cwd=workdir)
    line = assert_one_line_error(proc, "tiny.txt has only 5 characters, too few for --batch 32",
                                 "at least 37 characters", "lower --batch or use a longer file")
    assert "SequenceBatcher" not in line and "tokens" not in line


def test_data_directory_is_not_a_file(workdir):
    proc = cli("train", "--steps", 2, *TINY, "--data", workdir, "--no-progress", cwd=workdir)
    assert_one_line_error(proc, f"--data {workdir} is a directory", "text file")


def test_unknown_cell(workdir, text_file):
    proc = cli("train", "--cell", "foo", *TINY, "--data", text_file, cwd=workdir)
    assert_one_line_error(proc, "foo")


def test_resume_with_another_architecture(workdir, trained, text_file):
    _, path = trained
    before = path.read_bytes()
    proc = cli("train", "--steps", 6, "--hidden", 32, "--seq-len", 8, "--batch", 4, "--data", text_file,
               "--checkpoint", path, "--resume", "--no-progress", cwd=workdir)
    assert_one_line_error(proc, f"--hidden 32 contradicts the checkpoint {path}", "trained with --hidden 16",
                          "leave it out")
    assert path.read_bytes() == before


@pytest.mark.parametrize("flag, value", [("--cell", "gru"), ("--lr", "0.1"), ("--seed", "1"), ("--batch", "2"),
                                         ("--optim", "sgd")])
def test_resume_with_a_contradicting_flag_names_it(workdir, trained, flag, value):
    _, path = trained
    proc = cli("train", "--checkpoint", path, "--resume", "--steps", 6, flag, value, cwd=workdir)
    assert_one_line_error(proc, f"{flag} {value} contradicts the checkpoint")


def test_resume_with_a_missing_checkpoint(workdir):
    proc = cli("train", "--checkpoint", workdir / "never-written.npz", "--resume", "--steps", 3, cwd=workdir)
    assert_one_line_error(proc, "no checkpoint", "never-written.npz", "leave out --resume")
    assert not (workdir / "never-written.npz").exists()


@pytest.mark.parametrize("steps", [[], ["--steps", "5"], ["--steps", "2"]], ids=["none", "equal", "below"])
def test_resume_needs_steps_above_the_checkpoint(workdir, trained, steps):
    _, path = trained
    proc = cli("train", "--checkpoint", path, "--resume", *steps, "--no-progress", cwd=workdir)
    assert_one_line_error(proc, "already at step 5", "give --steps above 5")


def test_sample_with_a_text_file(workdir, text_file):
    line = assert_one_line_error(cli("sample", "--checkpoint", text_file, cwd=workdir),
                                 "data.txt' is not a tinygrad_rnn checkpoint")
    assert "pickle" not in line


def test_sample_with_a_npy_file(workdir):
    path = workdir / "array.npy"
    np.save(path, np.arange(3.0))
    assert_one_line_error(cli("sample", "--checkpoint", path, cwd=workdir))


def test_sample_with_a_foreign_npz(workdir):
    path = workdir / "foreign.npz"
    np.savez(path, w=np.arange(3.0))
    assert_one_line_error(cli("sample", "--checkpoint", path, cwd=workdir))


def test_sample_with_a_missing_checkpoint(workdir):
    assert_one_line_error(cli("sample", "--checkpoint", workdir / "nope.npz", cwd=workdir), "nope.npz")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy(workdir, trained, text_file):
    proc = cli("train", "--steps", 2, *TINY, "--data", text_file, "--device", "cuda", "--no-progress",
               cwd=workdir)
    assert_one_line_error(proc, "CuPy")
    _, path = trained
    assert_one_line_error(cli("sample", "--checkpoint", path, "--device", "cuda", cwd=workdir), "CuPy")


def test_unknown_device(workdir, text_file):
    proc = cli("train", "--steps", 2, *TINY, "--data", text_file, "--device", "tpu", "--no-progress",
               cwd=workdir)
    assert_one_line_error(proc, "tpu")


def test_zero_steps(workdir, text_file):
    assert_one_line_error(cli("train", "--steps", 0, "--data", text_file, cwd=workdir), "steps")


def test_zero_temperature(workdir, trained):
    _, path = trained
    assert_one_line_error(cli("sample", "--checkpoint", path, "--temperature", 0, cwd=workdir), "temperature")


@pytest.mark.parametrize("args", [[], ["bogus"], ["train", "--resume"], ["train", "--lr", "0"],
                                  ["sample"], ["sample", "--length", "0", "--checkpoint", "x.npz"]],
                         ids=["no-command", "unknown-command", "resume-without-checkpoint", "zero-lr",
                              "sample-without-checkpoint", "zero-length"])
def test_other_usage_errors(workdir, args):
    assert_one_line_error(cli(*args, cwd=workdir))


def test_train_by_epochs(workdir, text_file):
    proc = cli("train", "--epochs", 1, *TINY, "--data", text_file, "--no-progress", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "trained to step" in proc.stdout
    assert "no --checkpoint given, so the trained model was not saved" in proc.stdout


def test_steps_and_epochs_together_are_refused(workdir, text_file):
    proc = cli("train", "--steps", 3, "--epochs", 1, *TINY, "--data", text_file, cwd=workdir)
    assert_one_line_error(proc, "--epochs")


def test_graph_into_a_missing_folder(tmp_path):
    proc = cli("graph", "--out", tmp_path / "missing_dir" / "g.svg", cwd=tmp_path)
    line = assert_one_line_error(proc, "the folder of --out", "missing_dir", "does not exist")
    assert ".tmp-" not in line


def test_demo_draws_the_unrolled_graph(tmp_path):
    out = tmp_path / "demo"
    proc = cli("demo", "--steps", 2, "--out", out, "--no-progress", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    svg = (out / "unrolled_graph.svg").read_text()
    assert "<svg" in svg and "forget gate" in svg and "embedding.weight" in svg
    page = (out / "graph.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'id="tg-data"' in page and "forget gate" in page
    assert "graph.html" in proc.stdout


def test_graph_html_writes_the_explorer_page(tmp_path):
    proc = cli("graph", "--cell", "gru", "--steps", 2, "--out", tmp_path / "g.svg", "--html", tmp_path / "g.html",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "g.html").read_text()
    assert (tmp_path / "g.svg").exists() and "<svg" in page and '"detailed": true' in page
    assert proc.stdout.splitlines()[-1] == f"wrote {tmp_path / 'g.html'}"


def test_graph_html_takes_the_picture_options(tmp_path):
    proc = cli("graph", "--steps", 3, "--collapse", "--grad-flow", "--out", tmp_path / "g.svg",
               "--html", tmp_path / "g.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "g.html").read_text()
    assert '"defaultView": "collapsed"' in page and "grad norm (log colour scale)" in page


def test_graph_html_into_a_missing_folder(tmp_path):
    proc = cli("graph", "--out", tmp_path / "g.svg", "--html", tmp_path / "missing_dir" / "g.html", cwd=tmp_path)
    assert_one_line_error(proc, "the folder of --html", "missing_dir", "does not exist")
