"""tinygrad_rnn.checkpoint: pickle-free .npz round trips, atomic saves, clear errors."""
from __future__ import annotations

import math
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import checkpoint, nn, optim
from tinygrad_rnn.checkpoint import CheckpointError, load, save
from tinygrad_rnn.app.models import CharRNN
from tinygrad_rnn.nn import functional as F

from fake_backend import FAKE_DEVICE


def _assert_same_tree(expected, actual, where="root"):
    """Structure, types and values equal; tensors compared by dtype and exact values."""
    if isinstance(expected, tg.Tensor):
        assert isinstance(actual, tg.Tensor), f"{where}: expected a Tensor, got {type(actual).__name__}"
        assert actual.dtype == expected.dtype, where
        assert actual.shape == expected.shape, where
        np.testing.assert_array_equal(actual.numpy(), expected.numpy(), err_msg=where)
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: expected an ndarray, got {type(actual).__name__}"
        assert actual.dtype == expected.dtype, where
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert [(type(k), k) for k in actual] == [(type(k), k) for k in expected], where
        for k in expected:
            _assert_same_tree(expected[k], actual[k], f"{where}/{k!r}")
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected), f"{where}: {type(actual).__name__} != {type(expected).__name__}"
        assert len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual)):
            _assert_same_tree(e, a, f"{where}/{i}")
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(actual, float) and math.isnan(actual), where
    else:
        assert type(actual) is type(expected), f"{where}: {type(actual).__name__} != {type(expected).__name__}"
        assert actual == expected, where


# ---- round trips ----------------------------------------------------------------------------
def test_round_trip_of_nested_values(tmp_path):
    state = {
        "f32": tg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 7),
        "f64": tg.tensor(np.linspace(-1, 1, 5, dtype=np.float64) / 3),
        "i64_tensor": tg.tensor(np.arange(4, dtype=np.int64)),
        "scalar_tensor": tg.tensor(np.float32(2.5)),
        "ints": np.array([[1, -2], [3, 4]], dtype=np.int32),
        "floats": np.array([0.1, 1e-30, -np.inf], dtype=np.float64),
        "bools_array": np.array([True, False]),
        "empty_array": np.zeros((0, 3), dtype=np.float32),
        "int": 7, "big_int": 2 ** 70, "negative": -3, "float": 0.1, "nan": float("nan"), "inf": -math.inf,
        "true": True, "false": False, "string": "héllo ✓\n", "empty_string": "", "none": None,
        "list": [1, "two", 3.0, None, [4, [5]]], "tuple": (1, (2, 3), [4]), "empty": ([], (), {}),
        "nested": {"a": {"b": {"c": tg.tensor([1.0, 2.0])}}},
        0: "int key zero", 1: {"step": 3}, -1: "negative key", "1": "string key one",
    }
    path = tmp_path / "state.npz"
    save(state, path)
    loaded = load(path)
    _assert_same_tree(state, loaded)
    # int and str keys stay distinct, and tensors come back as Tensors with their dtypes
    assert loaded[1] == {"step": 3} and loaded["1"] == "string key one"
    assert loaded["f32"].dtype == np.float32 and loaded["f64"].dtype == np.float64
    assert loaded["f64"].device == "cpu"


@pytest.mark.parametrize("value", [[1, 2, 3], (1.5, "x"), None, 3, "text"])
def test_round_trip_of_a_top_level_non_dict(tmp_path, value):
    save(value, tmp_path / "v.npz")
    _assert_same_tree(value, load(tmp_path / "v.npz"))


def test_round_trip_of_a_tensor_at_the_top_level(tmp_path):
    t = tg.tensor(np.arange(3, dtype=np.float64))
    save(t, str(tmp_path / "t.npz"))  # a str path works as well as a Path
    _assert_same_tree(t, load(str(tmp_path / "t.npz")))


def test_file_is_a_single_plain_npz(tmp_path):
    path = tmp_path / "ck.npz"
    save({"w": tg.tensor([1.0, 2.0]), "n": 3, "s": "abc"}, path)
    assert os.listdir(tmp_path) == ["ck.npz"]
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as archive:  # no pickle needed to open it
        arrays = {name: archive[name] for name in archive.files}
    assert all(a.dtype != object for a in arrays.values())
    assert any(np.array_equal(a, [1.0, 2.0]) for a in arrays.values())


def _model_and_adam(seed):
    tg.manual_seed(seed)
    model = CharRNN(11, hidden_size=8, num_layers=2, cell="lstm")
    return model, optim.Adam(model.parameters(), lr=1e-2)


def _adam_step(model, optimizer, ids, targets):
    logits, _ = model(ids)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_model_and_optimizer_state_round_trip_into_fresh_objects(tmp_path):
    rng = np.random.default_rng(0)
    ids = tg.tensor(rng.integers(0, 11, size=(5, 3)))
    targets = tg.tensor(rng.integers(0, 11, size=(5, 3)))
    model, adam = _model_and_adam(seed=0)
    _adam_step(model, adam, ids, targets)
    opt_state = adam.state_dict()
    assert isinstance(opt_state["state"], dict) and all(type(k) is int for k in opt_state["state"])

    path = tmp_path / "ck.npz"
    save({"model": model.state_dict(), "optimizer": opt_state, "step": 1}, path)
    loaded = load(path)
    assert loaded["step"] == 1
    assert isinstance(loaded["model"], dict) and list(loaded["model"]) == list(model.state_dict())
    assert all(isinstance(v, tg.Tensor) for v in loaded["model"].values())
    assert sorted(loaded["optimizer"]["state"]) == sorted(opt_state["state"])
    for index, values in opt_state["state"].items():
        restored = loaded["optimizer"]["state"][index]
        # Adam's step counter is a 0-d array (as PyTorch's is a tensor); it round-trips as one
        np.testing.assert_array_equal(restored["step"], values["step"])
        assert float(restored["step"]) == 1.0 and np.shape(restored["step"]) == ()
        np.testing.assert_array_equal(restored["exp_avg"], values["exp_avg"])
        np.testing.assert_array_equal(restored["exp_avg_sq"], values["exp_avg_sq"])
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)

    fresh, fresh_adam = _model_and_adam(seed=123)  # different initial weights
    fresh.load_state_dict(loaded["model"])
    fresh_adam.load_state_dict(loaded["optimizer"])
    np.testing.assert_array_equal(fresh(ids)[0].numpy(), model(ids)[0].numpy())
    # the restored moments make the next step identical too
    assert _adam_step(fresh, fresh_adam, ids, targets) == _adam_step(model, adam, ids, targets)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name].numpy(), value.numpy(), err_msg=name)


def test_ordered_dict_state_dict_loads_as_a_dict(tmp_path):
    state = OrderedDict([("b", 1), ("a", 2)])
    save(state, tmp_path / "o.npz")
    assert list(load(tmp_path / "o.npz").items()) == [("b", 1), ("a", 2)]


# ---- devices ---------------------------------------------------------------------------------
def test_load_onto_the_fake_device(tmp_path):
    layer = nn.Linear(3, 2)
    save({"model": layer.state_dict(), "array": np.arange(3)}, tmp_path / "ck.npz")
    loaded = load(tmp_path / "ck.npz", device=FAKE_DEVICE)
    for name, value in layer.state_dict().items():
        assert loaded["model"][name].device == FAKE_DEVICE
        np.testing.assert_array_equal(loaded["model"][name].numpy(), value.numpy())
    assert isinstance(loaded["array"], np.ndarray)
    moved = nn.Linear(3, 2, device=FAKE_DEVICE)
    moved.load_state_dict(loaded["model"])
    np.testing.assert_array_equal(moved.weight.numpy(), layer.weight.numpy())


def test_tensors_remember_their_device(tmp_path):
    save({"t": tg.tensor([1.0, 2.0], device=FAKE_DEVICE)}, tmp_path / "ck.npz")
    assert load(tmp_path / "ck.npz")["t"].device == FAKE_DEVICE
    assert load(tmp_path / "ck.npz", device="cpu")["t"].device == "cpu"


def test_an_unknown_device_is_not_blamed_on_the_file(tmp_path):
    """A valid checkpoint loaded with a bad ``device=`` is a device error, not a 'malformed' file."""
    save({"t": tg.tensor([1.0])}, tmp_path / "ck.npz")
    with pytest.raises(ValueError, match="nosuch") as info:
        load(tmp_path / "ck.npz", device="nosuch")
    assert not isinstance(info.value, CheckpointError), str(info.value)
    assert "malformed" not in str(info.value)


# ---- atomic saves ----------------------------------------------------------------------------
def _previous_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    previous = {"w": tg.tensor([1.0, 2.0, 3.0]), "step": 5}
    save(previous, path)
    return path, previous


def test_a_crash_in_the_middle_of_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path, previous = _previous_checkpoint(tmp_path)

    def crash(stream, arrays):
        stream.write(b"PK\x03\x04 only part of the archive")
        stream.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(checkpoint, "write_npz", crash)
    with pytest.raises(OSError, match="simulated"):
        save({"w": tg.tensor([9.0]), "step": 6}, path)
    monkeypatch.undo()
    _assert_same_tree(previous, load(path))
    assert os.listdir(tmp_path) == ["ck.npz"], "temporary files were left behind"


def test_an_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path, previous = _previous_checkpoint(tmp_path)
    real_write = checkpoint.write_npz

    def interrupted(stream, arrays):
        real_write(stream, {k: v for k, v in list(arrays.items())[:1]})  # some real data, then ^C
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "write_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save({"w": tg.tensor([9.0]), "step": 6, "more": np.ones(1000)}, path)
    monkeypatch.undo()
    _assert_same_tree(previous, load(path))
    assert os.listdir(tmp_path) == ["ck.npz"], "temporary files were left behind"


def test_a_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def crash(stream, arrays):
        raise RuntimeError("boom")

    monkeypatch.setattr(checkpoint, "write_npz", crash)
    with pytest.raises(RuntimeError, match="boom"):
        save({"a": 1}, tmp_path / "ck.npz")
    assert os.listdir(tmp_path) == []


def test_save_overwrites_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "ck.npz"
    for step in range(3):
        save({"step": step, "w": tg.tensor([float(step)])}, path)
    assert load(path)["step"] == 2
    assert os.listdir(tmp_path) == ["ck.npz"]


# ---- unreadable files ------------------------------------------------------------------------
class _PickleBomb:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _assert_clear_checkpoint_error(path):
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert str(os.fspath(path)) in message or os.path.basename(path) in message
    assert len(message.splitlines()) == 1
    return message


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    save({"w": tg.tensor(np.arange(100, dtype=np.float32)), "step": 1}, path)
    data = path.read_bytes()
    for size in (200, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:size])
        assert "is a damaged or foreign .npz file" in _assert_clear_checkpoint_error(tmp_path / "cut.npz")
    (tmp_path / "cut.npz").write_bytes(b"")
    _assert_not_a_checkpoint(tmp_path / "cut.npz", "it is empty")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_clear_checkpoint_error(path)


def _assert_not_a_checkpoint(path, why):
    """The message says plainly that the file is not a checkpoint, and why, in no NumPy internals."""
    message = _assert_clear_checkpoint_error(path)
    assert "is not a tinygrad_rnn checkpoint: " + why in message, message
    assert "pickle" not in message.replace(os.fspath(path), "").lower(), message
    return message


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a checkpoint\n")
    _assert_not_a_checkpoint(path, "it is not an .npz file")


def test_text_file_via_the_top_level_load(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("some notes about my run\n")
    with pytest.raises(tg.CheckpointError, match=r"notes.txt' is not a tinygrad_rnn checkpoint: it is not an "
                                                 r"\.npz file; checkpoints are \.npz files written by"):
        tg.load(path)


def test_empty_file_and_directory(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    _assert_not_a_checkpoint(tmp_path / "empty.npz", "it is empty")
    (tmp_path / "folder.npz").mkdir()
    assert "is a directory" in _assert_clear_checkpoint_error(tmp_path / "folder.npz")


def test_foreign_npz_without_a_structure_record(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.arange(3.0))
    message = _assert_clear_checkpoint_error(path)
    assert "structure" in message


def test_plain_npy_file(tmp_path):
    """A single-array ``numpy.save`` file is not a checkpoint either (not a TypeError)."""
    path = tmp_path / "array.npy"
    np.save(path, np.arange(3.0))
    _assert_not_a_checkpoint(path, "it holds one array, as numpy.save writes")


def test_npz_with_a_pickled_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled.marker"
    path = tmp_path / "evil.npz"
    np.savez(path, __structure__=np.array('{"format": "tinygrad_rnn.checkpoint/1", '
                                          '"root": {"kind": "array", "key": "a0"}}'),
             a0=np.array([_PickleBomb(marker)], dtype=object))
    assert not marker.exists()
    _assert_clear_checkpoint_error(path)
    assert not marker.exists(), "load unpickled an object"


def test_raw_pickle_file_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled.marker"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_PickleBomb(marker)))
    _assert_not_a_checkpoint(path, "it is not an .npz file")
    assert not marker.exists(), "load unpickled an object"


@pytest.mark.parametrize("structure", [
    "not json {",
    "[1, 2]",
    '{"format": "someone-else/3", "root": {"kind": "value", "value": 1}}',
    '{"format": "tinygrad_rnn.checkpoint/1"}',
    '{"format": "tinygrad_rnn.checkpoint/1", "root": {"kind": "tensor", "key": "missing", "device": "cpu"}}',
    '{"format": "tinygrad_rnn.checkpoint/1", "root": {"kind": "dict", "items": 5}}',
    '{"format": "tinygrad_rnn.checkpoint/1", "root": 5}',
])
def test_malformed_structure_records(tmp_path, structure):
    path = tmp_path / "bad.npz"
    np.savez(path, __structure__=np.array(structure), a0=np.arange(3))
    _assert_clear_checkpoint_error(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        load(tmp_path / "nothing-here.npz")


# ---- unsupported values ----------------------------------------------------------------------
@pytest.mark.parametrize("state, where", [
    ({"optimizer": {"extra": {1, 2}}}, "/optimizer/extra"),
    ({"a": [1, object()]}, "/a/1"),
    ({"c": 1 + 2j}, "/c"),
    ({"o": np.array([None, 1], dtype=object)}, "/o"),
    ({"k": {1.5: 2}}, "/k"),
    ({"layers": [{"fn": print}]}, "/layers/0/fn"),
])
def test_unsupported_values_raise_type_error_naming_the_path(tmp_path, state, where):
    with pytest.raises(TypeError) as info:
        save(state, tmp_path / "ck.npz")
    assert where in str(info.value)
    assert os.listdir(tmp_path) == []


def test_unsupported_top_level_value(tmp_path):
    with pytest.raises(TypeError, match="set"):
        save({1, 2}, tmp_path / "ck.npz")


def test_save_and_load_are_top_level_functions(tmp_path):
    import tinygrad_rnn as tg

    model = tg.nn.Linear(2, 3)
    tg.save({"model": model.state_dict(), "step": 7}, tmp_path / "ck.npz")
    state = tg.load(tmp_path / "ck.npz")
    assert state["step"] == 7 and set(state["model"]) == {"weight", "bias"}
