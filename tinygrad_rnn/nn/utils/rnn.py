"""Batches of sequences of different lengths, as ``torch.nn.utils.rnn``: padding and packing.

A batch of B sequences of lengths L_0, ..., L_{B-1} (each step a tensor of shape ``*``,
usually a feature vector) can be laid out two ways:

* **padded**: one tensor (T, B, *), or (B, T, *) with ``batch_first``, T = max L_b:
  sequence b fills steps 0 .. L_b - 1 and ``padding_value`` the rest. Simple, but an RNN
  run over it steps through the padding too, so its final state is not each sequence's own.
* **packed**: a ``PackedSequence``. With the sequences sorted longest first, ``data`` holds
  step 0 of every sequence, then step 1 of every sequence that has one, and so on:
  L_0 + ... + L_{B-1} rows, no padding. ``batch_sizes[t]`` counts the sequences with a
  step t; being sorted, they are the first ``batch_sizes[t]`` of the batch. An RNN given a
  PackedSequence runs step t on those rows only, so each sequence's final state is taken
  at its own last step (see ``nn.recurrent``).

For sequences a (3 steps), b (1 step), c (2 steps)::

    padded (T=3, B=3)      packed (sorted: a, c, b)
      a0 b0 c0               data           = a0 c0 b0 a1 c1 a2
      a1 .  c1               batch_sizes    = 3, 2, 1
      a2 .  .                sorted_indices = 0, 2, 1

Every conversion is one gather: indexing with the integer positions that the lengths
determine (worked out on the host, from Python lists). So the gradient flows back through
packing and unpacking by the ordinary backward of indexing, and padding gets none.
"""
from __future__ import annotations

import numbers
from itertools import accumulate
from typing import Any, Callable, Iterable, NamedTuple

from ...core.autograd import ShapeError
from ...core.factories import full, tensor
from ...core.tensor import Tensor
from ...ops import cat


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """A batch of sequences of different lengths without padding (see the module docstring).

    Fields, as PyTorch's: ``data`` (L_0 + ... + L_{B-1}, *), time-major, longest sequences
    first; ``batch_sizes`` (T,) int64 on the CPU, how many sequences have a step t;
    ``sorted_indices`` (B,) int64, which sequence of the original batch is the i-th longest
    (None when the batch came sorted); ``unsorted_indices``, its inverse (where sequence b
    went), to put results back in the original order. Made by ``pack_padded_sequence`` or
    ``pack_sequence``; given only ``sorted_indices``, the inverse is worked out.

    Besides the tensors, one made by packing keeps the batch sizes and the order as Python
    ints (see ``packed_layout``), so that unrolling over it and unpacking it read nothing back
    from a tensor: a compiled step can replay them, and a GPU is not waited for.
    """

    def __new__(cls, data: Tensor, batch_sizes: Tensor, sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        packed = super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        packed._layout = None  # (batch sizes, unsorted indices or None) as Python ints, once known
        return packed

    def to(self, device: Any = None, dtype: Any = None) -> PackedSequence:
        """``data.to(device, dtype)``, with the indices moved along to its device;
        ``batch_sizes`` stays on the CPU, as in PyTorch."""
        data = self.data.to(device, dtype)
        return self if data is self.data else packed_like(self, data)


def packed_layout(sequence: PackedSequence) -> tuple[list[int], list[int] | None]:
    """The batch sizes and the unsorted indices (None for a batch that came sorted) as Python
    ints: kept from packing, or read once from the tensors of a PackedSequence made by hand."""
    if getattr(sequence, "_layout", None) is None:  # None too after namedtuple's _replace
        unsorted = sequence.unsorted_indices
        sequence._layout = (sequence.batch_sizes.tolist(), None if unsorted is None else unsorted.tolist())
    return sequence._layout


def packed_like(sequence: PackedSequence, data: Tensor) -> PackedSequence:
    """``data`` (one row per row of ``sequence.data``) packed as ``sequence`` is, the indices
    moved to its device: what a recurrent layer returns for a packed input."""
    def moved(indices: Tensor | None) -> Tensor | None:
        return None if indices is None else indices.to(data.device)

    result = PackedSequence(data, sequence.batch_sizes, moved(sequence.sorted_indices),
                            moved(sequence.unsorted_indices))
    result._layout = getattr(sequence, "_layout", None)
    return result


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse permutation: ``inverse[permutation[i]] = i`` (None stays None)."""
    return None if permutation is None else _indices(_inverse(permutation.tolist()), permutation)


def pad_sequence(sequences: Iterable[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_b, *) into one padded tensor (T, B, *), T = max L_b,
    or (B, T, *) with ``batch_first``; ``padding_value`` fills the steps past each length
    (before them with ``padding_side='left'``). Differentiable with respect to each sequence."""
    op = "pad_sequence"
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError(f"{op}: received an empty list of sequences; expected tensors of shape (L, *)")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    shapes = [s.shape for s in sequences]
    if any(len(shape) == 0 for shape in shapes) or len({shape[1:] for shape in shapes}) > 1:
        raise ShapeError(f"{op}: expected sequences of shape (L, *) with the same * (only their lengths "
                         f"L may differ), got shapes {shapes}")
    lengths = [shape[0] for shape in shapes]
    steps = max(lengths)
    starts = [0, *accumulate(lengths)]  # where each sequence begins once they are joined

    def position(b: int, t: int) -> int | None:
        step = t - (steps - lengths[b]) if padding_side == "left" else t
        return starts[b] + step if 0 <= step < lengths[b] else None

    return _padded(sequences, position, len(sequences), steps, batch_first, padding_value)


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,  # noqa: A002 (PyTorch's name)
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *), or (B, T, *) with ``batch_first``, whose sequence b has
    its first ``lengths[b]`` steps (a list, or a 1-D tensor of integers).

    With ``enforce_sorted=True`` (PyTorch's default) the lengths must come in decreasing
    order; with False the batch is sorted here, stably (equal lengths keep their order),
    and the order kept in ``sorted_indices``. Differentiable with respect to ``input``:
    the padding gets zero gradient.
    """
    op = "pack_padded_sequence"
    layout = "(B, T, *)" if batch_first else "(T, B, *)"
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected a padded input {layout} of at least 2 dimensions, got shape {input.shape}")
    batch, steps = input.shape[:2] if batch_first else input.shape[1::-1]
    lengths = _lengths(lengths, op)
    if len(lengths) != batch or batch == 0:
        raise RuntimeError(f"{op}: expected one length per sequence, {batch} for input {layout} of shape "
                           f"{input.shape}, got {len(lengths)} lengths {lengths}")
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError(f"{op}: lengths {lengths} are not in decreasing order, which "
                               "enforce_sorted=True requires; sort the batch longest first, or pass "
                               "enforce_sorted=False to have it sorted here")
        order = list(range(batch))
    else:
        order = sorted(range(batch), key=lambda b: -lengths[b])  # stable, as PyTorch's sort
    if min(lengths) <= 0 or max(lengths) > steps:
        raise RuntimeError(f"{op}: every length must be between 1 and T = {steps} (the steps of input "
                           f"{layout} of shape {input.shape}), got lengths {lengths}")
    batch_sizes = _batch_sizes([lengths[b] for b in order])
    times = [t for t, size in enumerate(batch_sizes) for _ in range(size)]
    rows = [order[i] for size in batch_sizes for i in range(size)]
    index = (rows, times) if batch_first else (times, rows)
    data = input[tuple(_positions(input, positions, (len(positions),)) for positions in index)]
    unsorted = None if enforce_sorted else _inverse(order)
    packed = PackedSequence(data, tensor(batch_sizes, dtype="int64", device="cpu"),
                            _indices(None if enforce_sorted else order, input), _indices(unsorted, input))
    packed._layout = (batch_sizes, unsorted)
    return packed


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo packing: (padded (T, B, *) or (B, T, *) with ``batch_first``, lengths (B,) int64 on
    the CPU), both in the original batch order. T is the longest length, or ``total_length``
    when given (to pad to a fixed size). Differentiable with respect to ``sequence.data``."""
    data, (batch_sizes, unsorted) = sequence.data, packed_layout(sequence)
    steps, batch = len(batch_sizes), batch_sizes[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than the longest "
                             f"sequence, {steps} steps; pass total_length >= {steps} or None")
        steps = total_length
    unsorted = unsorted or list(range(batch))
    starts = [0, *accumulate(batch_sizes)]  # where each step's rows begin in data

    def position(b: int, t: int) -> int | None:
        row = unsorted[b]  # sequence b is row `row` of the sorted batch
        return starts[t] + row if t < len(batch_sizes) and row < batch_sizes[t] else None

    padded = _padded([data], position, batch, steps, batch_first, padding_value)
    lengths = [sum(size > unsorted[b] for size in batch_sizes) for b in range(batch)]
    return padded, tensor(lengths, dtype="int64", device="cpu")


def pack_sequence(sequences: Iterable[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack sequences of shapes (L_b, *): ``pack_padded_sequence(pad_sequence(sequences), lengths)``.
    With ``enforce_sorted=True`` they must come longest first."""
    sequences = list(sequences)
    lengths = [len(s) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """Undo ``pad_sequence``: the list of sequences (L_b, *), cut from the padded batch at ``lengths``."""
    batch_major = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [batch_major[b, :length] for b, length in enumerate(_lengths(lengths, "unpad_sequence"))]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """Undo ``pack_sequence``: the list of sequences (L_b, *) in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


# ---- the host-side bookkeeping -------------------------------------------------------------
def _lengths(lengths: Any, op: str) -> list[int]:
    """``lengths`` (a list, or a 1-D tensor or array of integers) as a list of Python ints."""
    values = lengths.tolist() if hasattr(lengths, "tolist") else list(lengths)
    if not isinstance(values, list) or any(isinstance(v, (list, tuple)) for v in values):
        raise RuntimeError(f"{op}: lengths must be 1-D, one length per sequence, got {lengths!r}")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(v) for v in values):
        raise TypeError(f"{op}: lengths must be integers, got {values}")
    return [int(v) for v in values]


def _batch_sizes(sorted_lengths: list[int]) -> list[int]:
    """batch_sizes[t] = how many of the lengths (longest first) exceed t, for t < the longest."""
    ending = [0] * (sorted_lengths[0] + 1)  # ending[n]: how many sequences have exactly n steps
    for length in sorted_lengths:
        ending[length] += 1
    return list(accumulate(ending[:0:-1]))[::-1]


def _padded(parts: list[Tensor], position: Callable[[int, int], int | None], batch: int, steps: int,
            batch_first: bool, padding_value: float) -> Tensor:
    """The padded layout (T, B, *), or (B, T, *) with ``batch_first``, whose step t of sequence b
    is row ``position(b, t)`` of the ``parts`` joined, or ``padding_value`` where that is None:
    one gather from the joined rows followed by one row of padding."""
    if batch_first:
        cells, shape = [(b, t) for b in range(batch) for t in range(steps)], (batch, steps)
    else:
        cells, shape = [(b, t) for t in range(steps) for b in range(batch)], (steps, batch)
    padding_row = sum(len(part) for part in parts)
    index = [padding_row if p is None else p for p in (position(b, t) for b, t in cells)]
    first = parts[0]
    padding = full((1,) + first.shape[1:], fill_value=padding_value, dtype=first.dtype, device=first.device)
    return cat([*parts, padding])[_positions(first, index, shape)]


def _inverse(order: list[int]) -> list[int]:
    """The inverse permutation: ``inverse[order[i]] = i``."""
    inverse = [0] * len(order)
    for position, index in enumerate(order):
        inverse[index] = position
    return inverse


def _indices(values: list[int] | None, like: Tensor) -> Tensor | None:
    """``values`` as an int64 tensor on ``like``'s device (None stays None)."""
    return None if values is None else tensor(values, dtype="int64", device=like.device)


def _positions(like: Tensor, flat: list[int], shape: tuple[int, ...]) -> Any:
    """``flat`` as an int64 index array of ``shape`` on ``like``'s device."""
    backend = like.backend
    return backend.asarray(flat, dtype=backend.xp.int64).reshape(shape)
