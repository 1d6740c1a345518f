"""The device model: transfers, mismatch errors, defaults and seeding, on the fake device."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F

from fake_backend import FAKE_DEVICE


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_tensor_is_created_on_the_requested_device():
    t = tg.tensor([1.0, 2.0], device="fake")
    assert t.device == FAKE_DEVICE
    assert tg.zeros(2, 3, device="fake").device == FAKE_DEVICE
    assert tg.randn(2, device="fake").device == FAKE_DEVICE


def test_to_moves_values_and_back():
    x = tg.tensor([1.0, 2.0, 3.0])
    moved = x.to("fake")
    assert moved.device == FAKE_DEVICE and moved.cpu().device == "cpu"
    np.testing.assert_array_equal(moved.to("cpu").numpy(), x.numpy())
    assert x.to("cpu") is x


def test_transfer_is_differentiable():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.to("fake") * 2).sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_mixing_devices_names_the_op_and_both_devices():
    a, b = tg.ones(2), tg.ones(2, device="fake")
    with pytest.raises(RuntimeError) as error:
        a + b
    message = str(error.value)
    assert "add" in message and "cpu" in message and FAKE_DEVICE in message and ".to(" in message


def test_matmul_across_devices_is_refused():
    with pytest.raises(RuntimeError, match="matmul"):
        tg.ones(2, 2) @ tg.ones(2, 2, device="fake")


def test_module_to_moves_every_parameter_keeping_identity():
    model = nn.LSTM(3, 4)
    params = list(model.parameters())
    assert model.to("fake") is model
    assert [p is q for p, q in zip(params, model.parameters())] == [True] * len(params)
    assert all(p.device == FAKE_DEVICE for p in model.parameters())
    out, (h, c) = model(tg.randn(5, 2, 3, device="fake"))
    assert out.device == h.device == c.device == FAKE_DEVICE
    F.mse_loss(out, tg.zeros(5, 2, 4, device="fake")).backward()
    assert all(p.grad.device == FAKE_DEVICE for p in model.parameters())


def test_model_on_one_device_rejects_input_on_another():
    model = nn.Linear(3, 2).to("fake")
    with pytest.raises(RuntimeError, match="device"):
        model(tg.randn(4, 3))


def test_default_device_applies_to_factories_and_explicit_device_wins():
    try:
        tg.set_default_device("fake")
        assert tg.default_device() == FAKE_DEVICE
        assert tg.zeros(2).device == FAKE_DEVICE
        assert tg.tensor([1.0]).device == FAKE_DEVICE
        assert nn.Linear(2, 2).weight.device == FAKE_DEVICE
        assert tg.zeros(2, device="cpu").device == "cpu"
    finally:
        tg.set_default_device("cpu")


def test_manual_seed_reproduces_numbers_on_each_device():
    tg.manual_seed(7)
    first = (tg.randn(4).numpy(), tg.randn(4, device="fake").numpy())
    tg.manual_seed(7)
    second = (tg.randn(4).numpy(), tg.randn(4, device="fake").numpy())
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tg.zeros(2, device="tpu")


def test_importing_the_package_does_not_import_cupy():
    result = run_python("import sys, tinygrad_rnn; print('cupy' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_environment_variable_sets_the_default_and_set_default_device_overrides_it():
    result = run_python("""
        import tinygrad_rnn as tg
        print(tg.default_device())
        print(tg.zeros(2, device="cpu").device)
        tg.set_default_device("cpu")
        print(tg.zeros(2).device)
    """, TINYGRAD_RNN_DEVICE="cuda")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cuda:0", "cpu", "cpu"]


@pytest.mark.skipif("cupy" in sys.modules or __import__("importlib").util.find_spec("cupy"),
                    reason="CuPy is installed here: the missing-CuPy message cannot be shown")
def test_cuda_without_cupy_says_how_to_install_it():
    with pytest.raises(RuntimeError) as error:
        tg.zeros(2, device="cuda")
    message = str(error.value)
    assert "CuPy" in message and 'pip install "tinygrad-rnn[cuda]"' in message
    assert "cupy-cuda12x" in message and "cupy-cuda13x" in message


def test_cupy_without_a_gpu_says_no_cuda_device_was_found(tmp_path):
    # a stand-in "cupy" whose CUDA runtime finds no device, as on a machine without a driver
    package = tmp_path / "cupy"
    (package / "cuda").mkdir(parents=True)
    (package / "__init__.py").write_text("__version__ = '0.0-test'\nfrom . import cuda\n")
    (package / "cuda" / "__init__.py").write_text("from . import runtime\n")
    (package / "cuda" / "runtime.py").write_text(
        "def getDeviceCount():\n    raise RuntimeError('cudaErrorNoDevice: no CUDA-capable device is detected')\n")
    result = run_python("""
        import tinygrad_rnn as tg
        try:
            tg.zeros(2, device="cuda")
        except RuntimeError as error:
            print(error)
    """, PYTHONPATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "no CUDA device was found" in result.stdout


def test_numpy_from_another_device_is_a_host_array():
    t = tg.tensor([1.0, 2.0], device="fake")
    assert isinstance(t.numpy(), np.ndarray)
