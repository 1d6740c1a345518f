"""Regenerate ``tests/fixtures/packed.npz``: PyTorch reference values for ``nn.utils.rnn`` (padding
and packing) and for RNN/LSTM/GRU run on packed batches of sequences of different lengths.

Usage (torch is NOT a dependency of the project or its tests)::

    python tests/make_packed_fixtures.py      # in an environment with torch==2.13 and numpy

Every case seeds torch from its name (``torch.manual_seed(crc32(name))``), so adding or
reordering cases leaves the others unchanged. Modules are built by torch with its own
initialisation, in float64, and their weights stored; the tests load them with
``load_state_dict``. All arrays go into ONE compressed npz, keys prefixed by the case name:

``pad_sequence/<case>/``: ``config`` (JSON: batch_first, padding_value, padding_side,
    count), ``seq<i>`` (the sequences), ``out`` (``pad_sequence``'s result).
``pack/<case>/``: ``config`` (JSON: lengths, batch_first, enforce_sorted, total_length),
    ``x`` (the padded batch), ``data``, ``batch_sizes``, ``sorted_indices``,
    ``unsorted_indices`` (the last two only when enforce_sorted is False) of
    ``pack_padded_sequence``, ``padded`` and ``lengths`` of ``pad_packed_sequence`` (with
    ``padding_value=-1`` and the case's ``total_length``).
``rnn/<case>/``: ``config`` (JSON: module, constructor args, lengths, enforce_sorted,
    state), ``param/<name>`` (the weights), ``x`` (padded input, batch-first when the module
    is), ``h0``/``c0`` (when the case passes a state), ``out_data`` (the packed output's data),
    ``out`` (it padded back with ``pad_packed_sequence``), ``h_n``/``c_n``, the loss weights
    ``w_out``/``w_h``/``w_c`` and the gradients ``grad/x``, ``grad/h0``, ``grad/c0``,
    ``grad/param/<name>`` of

        loss = sum(out * w_out) + sum(h_n * w_h) [+ sum(c_n * w_c) for an LSTM]
"""
from __future__ import annotations

import json
import os
import zlib

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

IN, HID, T = 3, 4, 5  # input size, hidden size, longest sequence
SORTED_LENGTHS = [5, 3, 3, 1]  # longest first, a tie in the middle
UNSORTED_LENGTHS = [3, 5, 1, 3]  # a tie, to pin down the order of equal lengths
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "packed.npz")


def seeded(name: str) -> None:
    torch.manual_seed(zlib.crc32(name.encode()))


def numpy_of(t: torch.Tensor) -> np.ndarray:
    array = t.detach().numpy().copy()
    return array.astype(np.int64) if array.dtype.kind in "iu" else array.astype(np.float64)


def config(**values) -> np.ndarray:
    """A 0-d unicode array holding the case's JSON config (loads without pickle)."""
    return np.array(json.dumps(dict(values, torch_version=torch.__version__), sort_keys=True))


def pad_sequence_cases() -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for batch_first in (False, True):
        for padding_side in ("right", "left"):
            for padding_value in (0.0, -2.5):
                name = f"pad_sequence/bf{int(batch_first)}_{padding_side}_pad{padding_value}"
                seeded(name)
                sequences = [torch.randn(n, 2, dtype=torch.float64) for n in (3, 1, 4, 4)]
                out = pad_sequence(sequences, batch_first=batch_first, padding_value=padding_value,
                                   padding_side=padding_side)
                arrays[f"{name}/config"] = config(batch_first=batch_first, padding_value=padding_value,
                                                  padding_side=padding_side, count=len(sequences))
                arrays.update({f"{name}/seq{i}": numpy_of(s) for i, s in enumerate(sequences)})
                arrays[f"{name}/out"] = numpy_of(out)
    return arrays


def pack_cases() -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for enforce_sorted in (True, False):
        for batch_first in (False, True):
            for total_length in (None, T + 2):
                name = f"pack/sorted{int(enforce_sorted)}_bf{int(batch_first)}_total{total_length}"
                seeded(name)
                lengths = SORTED_LENGTHS if enforce_sorted else UNSORTED_LENGTHS
                shape = (len(lengths), T, 2) if batch_first else (T, len(lengths), 2)
                x = torch.randn(*shape, dtype=torch.float64)
                packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
                padded, out_lengths = pad_packed_sequence(packed, batch_first=batch_first, padding_value=-1.0,
                                                          total_length=total_length)
                arrays[f"{name}/config"] = config(lengths=lengths, batch_first=batch_first,
                                                  enforce_sorted=enforce_sorted, total_length=total_length)
                arrays[f"{name}/x"] = numpy_of(x)
                for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
                    if getattr(packed, field) is not None:
                        arrays[f"{name}/{field}"] = numpy_of(getattr(packed, field))
                arrays[f"{name}/padded"] = numpy_of(padded)
                arrays[f"{name}/lengths"] = numpy_of(out_lengths)
    return arrays


def rnn_configs() -> dict[str, dict]:
    """name -> config of each packed run of an RNN/LSTM/GRU."""
    cases: dict[str, dict] = {}

    def add(module: str, num_layers: int, batch_first: bool, enforce_sorted: bool, state: bool,
            bidirectional: bool = False, **extra) -> None:
        args = dict(input_size=IN, hidden_size=HID, num_layers=num_layers, batch_first=batch_first,
                    bidirectional=bidirectional, **extra)
        name = (f"rnn/{module.lower()}_{num_layers}layer{'_bidir' * bidirectional}_bf{int(batch_first)}"
                f"_sorted{int(enforce_sorted)}{'_state' * state}{''.join(f'_{v}' for v in extra.values())}")
        cases[name] = dict(module=module, args=args, enforce_sorted=enforce_sorted, state=state,
                           lengths=SORTED_LENGTHS if enforce_sorted else UNSORTED_LENGTHS)

    for module in ("RNN", "LSTM", "GRU"):
        for num_layers in (1, 2):
            for batch_first in (False, True):
                for enforce_sorted in (True, False):
                    add(module, num_layers, batch_first, enforce_sorted, state=num_layers == 2)
        add(module, 1, False, False, state=True, bidirectional=True)
        add(module, 2, True, False, state=False, bidirectional=True)
        add(module, 2, False, True, state=True, bidirectional=True)
    add("RNN", 2, False, False, state=True, nonlinearity="relu")
    return cases


def rnn_case(name: str, cfg: dict) -> dict[str, np.ndarray]:
    seeded(name)
    args, lengths = cfg["args"], cfg["lengths"]
    module = getattr(torch.nn, cfg["module"])(**args).double()
    is_lstm = cfg["module"] == "LSTM"
    batch = len(lengths)
    x = torch.randn(*((batch, T, IN) if args["batch_first"] else (T, batch, IN)), dtype=torch.float64,
                    requires_grad=True)
    arrays = {"x": x}
    state = None
    if cfg["state"]:
        layers = args["num_layers"] * (2 if args["bidirectional"] else 1)
        h0 = (0.5 * torch.randn(layers, batch, HID, dtype=torch.float64)).requires_grad_(True)
        arrays["h0"] = h0
        state = h0
        if is_lstm:
            c0 = (0.5 * torch.randn(layers, batch, HID, dtype=torch.float64)).requires_grad_(True)
            arrays["c0"] = c0
            state = (h0, c0)
    packed = pack_padded_sequence(x, lengths, batch_first=args["batch_first"], enforce_sorted=cfg["enforce_sorted"])
    output, final = module(packed, state)
    out, _ = pad_packed_sequence(output, batch_first=args["batch_first"])
    h_n, c_n = final if is_lstm else (final, None)
    results = {"out": out, "h_n": h_n, "c_n": c_n}
    weights = {"out": "w_out", "h_n": "w_h", "c_n": "w_c"}
    loss = torch.zeros((), dtype=torch.float64)
    for key, value in results.items():
        if value is not None:
            weight = torch.randn(*value.shape, dtype=torch.float64)
            loss = loss + (value * weight).sum()
            arrays[key], arrays[weights[key]] = value, weight
    loss.backward()
    arrays["out_data"] = output.data
    for key in ("x", "h0", "c0"):
        if key in arrays:
            arrays[f"grad/{key}"] = arrays[key].grad
    for pname, p in module.named_parameters():
        arrays[f"param/{pname}"] = p
        arrays[f"grad/param/{pname}"] = p.grad
    stored = {f"{name}/{key}": numpy_of(value) for key, value in arrays.items()}
    stored[f"{name}/config"] = config(**cfg)
    return stored


def main() -> None:
    data = {**pad_sequence_cases(), **pack_cases()}
    for name, cfg in rnn_configs().items():
        data.update(rnn_case(name, cfg))
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    np.savez_compressed(OUT_PATH, **data)
    cases = sum(key.endswith("/config") for key in data)
    print(f"wrote {cases} cases, {len(data)} arrays, {os.path.getsize(OUT_PATH)} bytes to {OUT_PATH}")


if __name__ == "__main__":
    main()
