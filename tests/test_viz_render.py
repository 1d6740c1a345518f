"""Specification of ``viz.render``/``render_source`` and the ``graph`` command: pictures from
the system ``dot`` and from graphviz-pure (forced by hiding ``dot``), PDF only with ``dot``,
a useful error (and the DOT saved) without any renderer, no half-written pictures."""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET

import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn.functional import mse_loss

# ``tinygrad_rnn.viz.render`` the attribute is the function; the module is looked up by name
render_module = importlib.import_module("tinygrad_rnn.viz.render")
SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_real_which = shutil.which


def _graphviz_pure_installed() -> bool:
    try:
        importlib.metadata.distribution("graphviz-pure")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _hide(monkeypatch, *commands: str) -> None:
    """Make ``shutil.which`` (as the render module sees it) not find ``commands``."""
    def which(name, *args, **kwargs):
        return None if name in commands else _real_which(name, *args, **kwargs)
    monkeypatch.setattr(render_module.shutil, "which", which)


@pytest.fixture(params=["dot", "graphviz-pure"])
def renderer(request, monkeypatch):
    """Each renderer in turn: the system dot, or graphviz-pure with dot hidden."""
    if request.param == "dot":
        if _real_which("dot") is None:
            pytest.skip("the system Graphviz `dot` is not installed (apt-get install graphviz)")
    else:
        if not _graphviz_pure_installed() or _real_which("graphviz-pure") is None:
            pytest.skip("graphviz-pure is not installed (or its command is not on PATH)")
        _hide(monkeypatch, "dot")
    command = viz.find_renderer("svg")
    assert command is not None and os.path.basename(command[0]) == request.param
    return request.param


@pytest.fixture
def no_renderer(monkeypatch):
    _hide(monkeypatch, "dot", "graphviz-pure")


@pytest.fixture
def lstm():
    """(model, loss) of a 3-step LSTM with a linear head, as a Module with named children."""
    tg.manual_seed(0)
    model = nn.Module()
    model.lstm, model.head = nn.LSTM(2, 4), nn.Linear(4, 1)
    out, _ = model.lstm(tg.randn(3, 1, 2))
    return model, mse_loss(model.head(out[-1]), tg.zeros(1, 1))


def _svg(path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    return root


def _titles(root: ET.Element) -> set[str]:
    return {t.text for t in root.iter(SVG + "title")}


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(SVG + "text")]


# ---- each renderer ------------------------------------------------------------------------------
def test_svg_has_a_titled_cluster_per_step_and_the_gate_names(renderer, lstm, tmp_path):
    model, loss = lstm
    path = tmp_path / "g.svg"
    assert viz.render(loss, path=str(path), params=model, group="timestep") == str(path)
    root = _svg(path)
    titles = _titles(root)
    assert {"cluster_0", "cluster_1", "cluster_2"} <= titles
    assert {"op0", "leaf0", "out0"} <= titles
    assert "forget gate" in _texts(root)
    assert "lstm.weight_hh_l0" in _texts(root)


def test_png_output_is_a_png(renderer, lstm, tmp_path):
    model, loss = lstm
    path = tmp_path / "g.png"
    viz.render(loss, path=str(path), params=model, group="timestep")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_format_argument_overrides_the_extension(renderer, lstm, tmp_path):
    path = tmp_path / "picture.out"
    viz.render(lstm[1], path=str(path), format="png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_invalid_dot_fails_naming_the_renderer_and_writes_nothing(renderer, tmp_path):
    path = tmp_path / "g.svg"
    with pytest.raises(RuntimeError, match=f"{renderer} failed"):
        viz.render_source("digraph { a -> ", str(path))
    assert os.listdir(tmp_path) == []


# ---- PDF --------------------------------------------------------------------------------------------
def test_pdf_with_the_system_dot(lstm, tmp_path):
    if _real_which("dot") is None:
        pytest.skip("the system Graphviz `dot` is not installed (apt-get install graphviz)")
    path = tmp_path / "g.pdf"
    viz.render(lstm[1], path=str(path), group="timestep")
    assert path.read_bytes()[:5] == b"%PDF-"


def test_pdf_with_only_graphviz_pure_says_it_cannot_write_pdf(lstm, tmp_path, monkeypatch):
    if _real_which("graphviz-pure") is None:
        pytest.skip("graphviz-pure is not installed (or its command is not on PATH)")
    _hide(monkeypatch, "dot")
    path = tmp_path / "g.pdf"
    with pytest.raises(RuntimeError, match="cannot write PDF"):
        viz.render(lstm[1], path=str(path))
    assert not path.exists()


# ---- no renderer at all -------------------------------------------------------------------------------
def test_without_a_renderer_the_error_says_how_to_install_and_where_the_dot_went(no_renderer, lstm,
                                                                                 tmp_path):
    model, loss = lstm
    path = tmp_path / "g.svg"
    with pytest.raises(RuntimeError) as raised:
        viz.render(loss, path=str(path), params=model, group="timestep")
    message = str(raised.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "pip install graphviz-pure"):
        assert hint in message
    dot_path = tmp_path / "g.dot"
    assert str(dot_path) in message
    assert dot_path.read_text(encoding="utf-8") == viz.to_dot(loss, params=model, group="timestep").source
    assert not path.exists()


def test_find_renderer_returns_none_without_a_renderer(no_renderer):
    assert viz.find_renderer("svg") is None
    assert viz.find_renderer("pdf") is None


# ---- bad requests and failures --------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["extension", "format"])
def test_an_unknown_format_is_a_value_error_and_writes_nothing(lstm, tmp_path, how):
    options = dict(path=str(tmp_path / "g.gif")) if how == "extension" else \
        dict(path=str(tmp_path / "g.svg"), format="jpeg")
    with pytest.raises(ValueError, match="svg, png, pdf"):
        viz.render(lstm[1], **options)
    assert os.listdir(tmp_path) == []


FAILING_RENDERER = [sys.executable, "-c",
                    "import sys; sys.stdout.write('<svg><g>half a picture'); sys.stdout.flush(); "
                    "sys.stderr.write('renderer crashed'); sys.exit(3)"]


def test_a_failed_render_leaves_no_file_at_the_target_path(lstm, tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "find_renderer", lambda format="svg": list(FAILING_RENDERER))
    path = tmp_path / "g.svg"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        viz.render(lstm[1], path=str(path))
    assert os.listdir(tmp_path) == []


def test_a_failed_render_keeps_the_previous_picture(lstm, tmp_path, monkeypatch):
    path = tmp_path / "g.svg"
    path.write_text("<svg>the old picture</svg>")
    monkeypatch.setattr(render_module, "find_renderer", lambda format="svg": list(FAILING_RENDERER))
    with pytest.raises(RuntimeError):
        viz.render(lstm[1], path=str(path))
    assert path.read_text() == "<svg>the old picture</svg>"
    assert os.listdir(tmp_path) == ["g.svg"]


def test_graphviz_pure_installed_with_the_package_is_found_without_activating_the_environment(
        lstm, tmp_path, monkeypatch):
    """A virtual environment used as ``.venv/bin/python`` (IDEs, Jupyter kernels, cron) has
    its scripts folder off PATH; the renderer installed with the package must still be found."""
    scripts = sysconfig.get_path("scripts")
    if not _graphviz_pure_installed() or not os.path.exists(os.path.join(scripts, "graphviz-pure")):
        pytest.skip("graphviz-pure is not installed in this environment's scripts folder")
    path_dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep)
                 if d and os.path.abspath(d) != os.path.abspath(scripts)]
    monkeypatch.setenv("PATH", os.pathsep.join(path_dirs))
    _hide(monkeypatch, "dot")
    assert viz.find_renderer("svg") is not None
    picture = tmp_path / "g.svg"
    viz.render(lstm[1], path=str(picture))
    _svg(picture)


# ---- the graph command ----------------------------------------------------------------------------------
def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_rnn", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("options", [(), ("--collapse", "--grad-flow", "--backward"), ("--group", "none")],
                         ids=["clusters", "collapsed-gradient-flow-backward", "no-group"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_graph_command_writes_an_svg(cell, options, tmp_path):
    if viz.find_renderer("svg") is None:
        pytest.skip("no Graphviz renderer (system dot or graphviz-pure) is installed")
    out = tmp_path / "g.svg"
    done = _cli("graph", "--cell", cell, "--steps", 3, "--hidden", 4, "--out", out, *options)
    assert done.returncode == 0, done.stderr
    root = _svg(out)
    titles = _titles(root)
    if "--collapse" in options:
        assert {"step0", "step1", "step2", "cluster_legend"} <= titles
    elif "--group" in options:
        assert not any(t.startswith("cluster_") for t in titles)
    else:
        assert {"cluster_0", "cluster_1", "cluster_2"} <= titles
    assert f"{cell}.weight_hh_l0" in _texts(root)


def test_graph_command_pdf_without_the_system_dot_fails_in_one_line(tmp_path):
    """PATH holds only graphviz-pure's folder (if it is installed), so ``dot`` cannot be found."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pure = _real_which("graphviz-pure")
    if pure:
        os.symlink(pure, bin_dir / "graphviz-pure")
    env = {**os.environ, "PATH": str(bin_dir)}
    out = tmp_path / "x.pdf"
    done = _cli("graph", "--out", out, env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "pdf" in lines[0].lower() and "install" in lines[0]
    assert not out.exists()
