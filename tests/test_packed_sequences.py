"""Specification of ``nn.utils.rnn`` (padding and packing batches of sequences of different
lengths) and of RNN/LSTM/GRU run on packed batches, against PyTorch's values.

``tests/fixtures/packed.npz`` is written by ``tests/make_packed_fixtures.py`` (which needs
torch): the sequences, padded batches and lengths it used, PyTorch's results, and for the
recurrent layers the weights torch initialised (loaded here with ``load_state_dict``), the
packed outputs, final states and the gradients of

    loss = sum(out * w_out) + sum(h_n * w_h) [+ sum(c_n * w_c) for an LSTM]

where ``out`` is the packed output padded back with ``pad_packed_sequence``.
"""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                       pad_sequence, unpack_sequence, unpad_sequence)

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "packed.npz")
RTOL, ATOL = 1e-6, 1e-9

with np.load(FIXTURE, allow_pickle=False) as _npz:
    DATA = {key: _npz[key] for key in _npz.files}


def _cases(kind: str) -> list[str]:
    return sorted(key[: -len("/config")] for key in DATA if key.startswith(kind + "/") and key.endswith("/config"))


def _case(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    arrays = {key[len(name) + 1:]: value for key, value in DATA.items() if key.startswith(name + "/")}
    return json.loads(str(arrays.pop("config"))), arrays


def _close(actual: tg.Tensor, expected: np.ndarray, what: str) -> None:
    assert actual is not None, f"{what}: missing"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    np.testing.assert_allclose(actual.numpy(), expected, rtol=RTOL, atol=ATOL, err_msg=what)


def _sequences(lengths, features=2, seed=0, device=None, requires_grad=False) -> list[tg.Tensor]:
    rng = np.random.default_rng(seed)
    return [tg.tensor(rng.standard_normal((n, features)), device=device, requires_grad=requires_grad)
            for n in lengths]


# ---- pad_sequence --------------------------------------------------------------------------
@pytest.mark.parametrize("name", _cases("pad_sequence"))
def test_pad_sequence_matches_pytorch(name, device):
    cfg, arr = _case(name)
    sequences = [tg.tensor(arr[f"seq{i}"], device=device) for i in range(cfg["count"])]
    out = pad_sequence(sequences, batch_first=cfg["batch_first"], padding_value=cfg["padding_value"],
                       padding_side=cfg["padding_side"])
    assert out.device == device
    _close(out, arr["out"], name)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_gradient_passes_gradcheck(padding_side, device):
    sequences = _sequences([3, 1, 4], device=device, requires_grad=True)
    assert tg.gradcheck(lambda *s: pad_sequence(s, batch_first=True, padding_side=padding_side), sequences)


def test_pad_sequence_defaults_are_time_major_right_padded_with_zeros():
    a, b = tg.tensor([1.0, 2.0]), tg.tensor([3.0])
    np.testing.assert_array_equal(pad_sequence([a, b]).numpy(), [[1.0, 3.0], [2.0, 0.0]])


def test_unpad_sequence_returns_the_padded_sequences(device):
    sequences = _sequences([3, 1, 4], device=device)
    padded = pad_sequence(sequences, batch_first=True, padding_value=7.0)
    for got, want in zip(unpad_sequence(padded, [3, 1, 4], batch_first=True), sequences):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- pack_padded_sequence and pad_packed_sequence ------------------------------------------
@pytest.mark.parametrize("name", _cases("pack"))
def test_pack_padded_sequence_matches_pytorch(name, device):
    cfg, arr = _case(name)
    packed = pack_padded_sequence(tg.tensor(arr["x"], device=device), cfg["lengths"],
                                  batch_first=cfg["batch_first"], enforce_sorted=cfg["enforce_sorted"])
    _close(packed.data, arr["data"], f"{name}: data")
    _close(packed.batch_sizes, arr["batch_sizes"], f"{name}: batch_sizes")
    for field in ("sorted_indices", "unsorted_indices"):
        if cfg["enforce_sorted"]:
            assert getattr(packed, field) is None, f"{name}: {field} should be None for a sorted batch"
        else:
            _close(getattr(packed, field), arr[field], f"{name}: {field}")


@pytest.mark.parametrize("name", _cases("pack"))
def test_pad_packed_sequence_matches_pytorch(name, device):
    cfg, arr = _case(name)
    packed = pack_padded_sequence(tg.tensor(arr["x"], device=device), cfg["lengths"],
                                  batch_first=cfg["batch_first"], enforce_sorted=cfg["enforce_sorted"])
    padded, lengths = pad_packed_sequence(packed, batch_first=cfg["batch_first"], padding_value=-1.0,
                                          total_length=cfg["total_length"])
    _close(padded, arr["padded"], f"{name}: padded")
    _close(lengths, arr["lengths"], f"{name}: lengths")


def test_packed_indices_are_int64_batch_sizes_and_lengths_on_the_cpu(device):
    x = tg.tensor(np.ones((4, 3, 2)), device=device)
    packed = pack_padded_sequence(x, tg.tensor([2, 4, 1]), enforce_sorted=False)
    assert (packed.batch_sizes.device, packed.batch_sizes.dtype) == ("cpu", tg.int64)
    for indices in (packed.sorted_indices, packed.unsorted_indices):
        assert (indices.device, indices.dtype) == (device, tg.int64)
    _, lengths = pad_packed_sequence(packed)
    assert (lengths.device, lengths.dtype, lengths.tolist()) == ("cpu", tg.int64, [2, 4, 1])


def test_packed_sequence_is_a_named_tuple_with_pytorchs_fields():
    packed = pack_sequence(_sequences([2, 1]))
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert PackedSequence._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert (data is packed.data, batch_sizes.tolist(), sorted_indices, unsorted_indices) == (True, [2, 1], None, None)


def test_packed_sequence_works_out_unsorted_indices_from_sorted_indices():
    packed = PackedSequence(tg.zeros(6, 2), tg.tensor([3, 2, 1]), tg.tensor([2, 0, 1]))
    assert packed.unsorted_indices.tolist() == [1, 2, 0]


def test_packed_sequence_to_casts_the_data_and_keeps_the_indices():
    packed = pack_sequence(_sequences([1, 3]), enforce_sorted=False)
    single = packed.to(tg.float32)
    assert single.data.dtype == tg.float32
    assert single.sorted_indices.tolist() == [1, 0] and single.batch_sizes is packed.batch_sizes
    assert packed.to(tg.float64) is packed


def test_packed_sequence_to_moves_the_data_and_indices_but_not_the_batch_sizes(device):
    moved = pack_sequence(_sequences([1, 3]), enforce_sorted=False).to(device)
    assert (moved.data.device, moved.sorted_indices.device, moved.unsorted_indices.device) == (device,) * 3
    assert moved.batch_sizes.device == "cpu"
    padded, _ = pad_packed_sequence(moved, batch_first=True)
    assert padded.device == device


def test_pack_then_pad_restores_the_batch_with_padding_past_each_length(device):
    x = tg.tensor(np.random.default_rng(0).standard_normal((3, 5, 2)), device=device)  # (B, T, *)
    lengths = [2, 5, 3]
    padded, got_lengths = pad_packed_sequence(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False),
                                              batch_first=True)
    mask = np.arange(5)[None, :, None] < np.array(lengths)[:, None, None]
    np.testing.assert_array_equal(padded.numpy(), np.where(mask, x.numpy(), 0.0))
    assert got_lengths.tolist() == lengths


def test_unpack_sequence_returns_the_packed_sequences_in_their_order(device):
    sequences = _sequences([2, 4, 1, 4], device=device)
    for got, want in zip(unpack_sequence(pack_sequence(sequences, enforce_sorted=False)), sequences):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_padded_sequence_gradient_passes_gradcheck(batch_first, device):
    shape = (3, 4, 2) if batch_first else (4, 3, 2)
    x = tg.tensor(np.random.default_rng(1).standard_normal(shape), device=device, requires_grad=True)
    assert tg.gradcheck(lambda x: pack_padded_sequence(x, [3, 4, 1], batch_first, enforce_sorted=False).data, [x])


def test_padding_gets_no_gradient_through_packing():
    x = tg.tensor(np.ones((3, 2, 1)), requires_grad=True)
    pack_padded_sequence(x, [3, 1]).data.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, :, 0], [[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])


def test_pad_packed_sequence_gradient_passes_gradcheck(device):
    sequences = _sequences([2, 4, 1], device=device)
    packed = pack_sequence(sequences, enforce_sorted=False)
    data = packed.data.detach().requires_grad_(True)

    def padded(data):
        return pad_packed_sequence(PackedSequence(data, *packed[1:]), padding_value=0.5, total_length=6)[0]

    assert tg.gradcheck(padded, [data])


# ---- RNN, LSTM and GRU on packed batches ---------------------------------------------------
def _run_packed(name: str, device: str) -> SimpleNamespace:
    """Run the case on ``device``: its cfg, arrays, model, inputs (x, h0, c0), packed input,
    output, results (out_data, out, h_n, c_n) and loss."""
    cfg, arr = _case(name)
    model = getattr(nn, cfg["module"])(**cfg["args"]).double()
    model.load_state_dict({key[len("param/"):]: value for key, value in arr.items() if key.startswith("param/")})
    model.to(device)
    inputs = {key: tg.tensor(arr[key], device=device, requires_grad=True) for key in ("x", "h0", "c0") if key in arr}
    state = None
    if "h0" in inputs:
        state = (inputs["h0"], inputs["c0"]) if cfg["module"] == "LSTM" else inputs["h0"]
    packed = pack_padded_sequence(inputs["x"], cfg["lengths"], batch_first=cfg["args"]["batch_first"],
                                  enforce_sorted=cfg["enforce_sorted"])
    output, final = model(packed, state)
    assert isinstance(output, PackedSequence)
    out, _ = pad_packed_sequence(output, batch_first=cfg["args"]["batch_first"])
    h_n, c_n = final if cfg["module"] == "LSTM" else (final, None)
    results = {"out_data": output.data, "out": out, "h_n": h_n}
    if c_n is not None:
        results["c_n"] = c_n
    weights = {"out": "w_out", "h_n": "w_h", "c_n": "w_c"}
    loss = sum((results[key] * tg.tensor(arr[weight], device=device)).sum()
               for key, weight in weights.items() if key in results)
    return SimpleNamespace(cfg=cfg, arrays=arr, model=model, inputs=inputs, packed=packed, output=output,
                           results=results, loss=loss)


def test_fixture_covers_every_layer_kind_and_option():
    configs = [_case(name)[0] for name in _cases("rnn")]
    assert {cfg["module"] for cfg in configs} == {"RNN", "LSTM", "GRU"}
    for option in ("batch_first", "bidirectional"):
        assert {cfg["args"][option] for cfg in configs} == {False, True}
    assert {cfg["args"]["num_layers"] for cfg in configs} == {1, 2}
    assert {cfg["enforce_sorted"] for cfg in configs} == {False, True}
    assert {cfg["state"] for cfg in configs} == {False, True}


@pytest.mark.parametrize("name", _cases("rnn"))
def test_packed_forward_matches_pytorch(name, device):
    run = _run_packed(name, device)
    for key, value in run.results.items():
        assert value.device == device
        _close(value, run.arrays[key], f"{name}: {key}")


@pytest.mark.parametrize("name", _cases("rnn"))
def test_packed_backward_matches_pytorch(name, device):
    run = _run_packed(name, device)
    run.loss.backward()
    for key, tensor in run.inputs.items():
        _close(tensor.grad, run.arrays[f"grad/{key}"], f"{name}: grad/{key}")
    for pname, param in run.model.named_parameters():
        _close(param.grad, run.arrays[f"grad/param/{pname}"], f"{name}: grad/param/{pname}")


def test_packed_output_keeps_the_input_batch_sizes_and_order():
    run = _run_packed("rnn/gru_1layer_bf0_sorted0", "cpu")
    assert run.output.batch_sizes is run.packed.batch_sizes
    assert run.output.sorted_indices is run.packed.sorted_indices
    assert run.output.unsorted_indices is run.packed.unsorted_indices


@pytest.mark.parametrize("module", ["RNN", "LSTM", "GRU"])
def test_final_state_of_each_sequence_is_its_state_after_its_own_last_step(module):
    tg.manual_seed(0)
    model = getattr(nn, module)(2, 3, num_layers=2, bidirectional=True).double()
    sequences = _sequences([2, 4, 1], seed=3)
    _, packed_final = model(pack_sequence(sequences, enforce_sorted=False))
    for b, sequence in enumerate(sequences):
        _, alone = model(sequence.unsqueeze(1))  # the sequence alone, (L_b, 1, 2): no padding
        for got, want in zip(packed_final if module == "LSTM" else (packed_final,),
                             alone if module == "LSTM" else (alone,)):
            np.testing.assert_allclose(got.numpy()[:, b], want.numpy()[:, 0], rtol=1e-12, atol=1e-12)


def test_packed_outputs_past_each_length_are_padding():
    tg.manual_seed(0)
    lstm = nn.LSTM(2, 3, batch_first=True).double()
    output, _ = lstm(pack_sequence(_sequences([2, 4, 1]), enforce_sorted=False))
    padded, _ = pad_packed_sequence(output, batch_first=True, padding_value=9.0)
    np.testing.assert_array_equal(padded.numpy()[0, 2:], 9.0)
    np.testing.assert_array_equal(padded.numpy()[2, 1:], 9.0)
    assert not np.any(padded.numpy()[1] == 9.0)  # the longest one has outputs at every step


def test_a_compiled_training_step_over_packed_batches_matches_the_eager_one():
    def training_step():
        tg.manual_seed(0)
        lstm = nn.LSTM(3, 4, num_layers=2)
        opt = tg.optim.SGD(list(lstm.parameters()), lr=0.1)

        def step(x, lengths):
            output, (h_n, _) = lstm(pack_padded_sequence(x, lengths, enforce_sorted=False))
            loss = (pad_packed_sequence(output)[0] ** 2).mean() + (h_n ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = training_step(), tg.compile(training_step())
    x = tg.tensor(np.random.default_rng(0).standard_normal((5, 3, 3)), dtype=tg.float32)
    for lengths in ([2, 5, 3], [2, 5, 3], [2, 5, 3], [4, 1, 4]):  # replays, then new lengths: a new capture
        np.testing.assert_allclose(compiled(x, lengths).item(), eager(x, lengths).item(), rtol=1e-6)


def test_a_packed_sequence_rebuilt_with_replace_still_unpacks():
    packed = pack_sequence(_sequences([1, 3]), enforce_sorted=False)
    doubled = packed._replace(data=packed.data * 2)
    padded, lengths = pad_packed_sequence(doubled, batch_first=True)
    np.testing.assert_array_equal(padded.numpy(), 2 * pad_packed_sequence(packed, batch_first=True)[0].numpy())
    assert lengths.tolist() == [1, 3]


# ---- errors --------------------------------------------------------------------------------
def test_pack_padded_sequence_rejects_unsorted_lengths_when_enforce_sorted():
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: lengths \[2, 3\] are not in decreasing "
                                           r"order.*enforce_sorted=False"):
        pack_padded_sequence(tg.zeros(3, 2, 1), [2, 3])


@pytest.mark.parametrize("lengths", [[3, 0], [4, 2], [-1, 1]])
def test_pack_padded_sequence_rejects_lengths_outside_one_to_t(lengths):
    with pytest.raises(RuntimeError, match=r"every length must be between 1 and T = 3 .*\(3, 2, 1\)"):
        pack_padded_sequence(tg.zeros(3, 2, 1), lengths, enforce_sorted=False)


def test_pack_padded_sequence_needs_one_length_per_sequence():
    with pytest.raises(RuntimeError, match=r"expected one length per sequence, 2 for input \(T, B, \*\) of shape "
                                           r"\(3, 2, 1\), got 3 lengths"):
        pack_padded_sequence(tg.zeros(3, 2, 1), [3, 2, 1])


def test_pack_padded_sequence_rejects_fractional_and_nested_lengths():
    with pytest.raises(TypeError, match="lengths must be integers, got \\[2.5, 1\\]"):
        pack_padded_sequence(tg.zeros(3, 2, 1), [2.5, 1])
    with pytest.raises(RuntimeError, match="lengths must be 1-D"):
        pack_padded_sequence(tg.zeros(3, 2, 1), [[3, 2]])


def test_pad_packed_sequence_rejects_a_total_length_shorter_than_the_longest_sequence():
    with pytest.raises(ValueError, match="total_length=2 is shorter than the longest sequence, 3 steps"):
        pad_packed_sequence(pack_sequence(_sequences([3, 1])), total_length=2)


def test_pad_sequence_rejects_no_sequences_sequences_of_other_shapes_and_bad_sides():
    with pytest.raises(RuntimeError, match="pad_sequence: received an empty list"):
        pad_sequence([])
    with pytest.raises(tg.ShapeError, match=r"same \*.*\(2, 3\), \(2, 4\)"):
        pad_sequence([tg.zeros(2, 3), tg.zeros(2, 4)])
    with pytest.raises(RuntimeError, match="padding_side must be 'left' or 'right', got 'middle'"):
        pad_sequence([tg.zeros(2, 3)], padding_side="middle")


def test_recurrent_layer_rejects_packed_data_of_the_wrong_width():
    packed = pack_sequence([tg.zeros(2, 5)])
    with pytest.raises(ValueError, match=r"LSTM: expected a PackedSequence whose data is \(sum of lengths, 3\).*"
                                         r"\(2, 5\)"):
        nn.LSTM(3, 4)(packed)


def test_recurrent_layer_wants_the_initial_state_for_every_sequence_of_a_packed_batch():
    packed = pack_sequence(_sequences([3, 1], features=3), enforce_sorted=False)
    with pytest.raises(ValueError, match=r"GRU: expected h0 of shape \(1, 2, 4\)"):
        nn.GRU(3, 4).double()(packed, tg.zeros(1, 1, 4, dtype=tg.float64))
