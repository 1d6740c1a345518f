"""Data for training: a character vocabulary, the bundled corpus, a truncated-BPTT
batcher and a generic shuffling ``DataLoader``.

Everything here yields int64 token tensors on the requested device; the model turns
ids into vectors (an ``Embedding``), so the data pipeline stays tiny.
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterator, Sequence

from ..backends import NumpyBackend, get_backend
from ..core.tensor import Tensor

CORPUS_PATH = os.path.join(os.path.dirname(__file__), "corpus.txt")


def load_corpus() -> str:
    """The bundled public-domain text (Shakespeare, ~100 KB; see CORPUS_SOURCE.md)."""
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        return handle.read()


class Vocabulary:
    """The distinct characters of a text, each with an integer id (sorted, so deterministic)."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("Vocabulary: characters must be distinct")
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        if not text:
            raise ValueError("Vocabulary: the text is empty; there is nothing to learn from")
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Character ids of ``text``; unknown characters are an error naming them."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise ValueError(f"Vocabulary.encode: characters not in the vocabulary: {unknown!r}")
        return [self.index[ch] for ch in text]

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.chars[int(i)] for i in ids)


class SequenceBatcher:
    """Truncated-BPTT batches over one long token stream.

    The stream is cut into ``batch_size`` contiguous rows, so row b of batch k+1
    continues row b of batch k exactly: carrying the hidden state (detached) from one
    batch to the next is then correct. Batches are time-major ``(seq_len, batch_size)``
    inputs with targets shifted by one token. ``position`` (the next batch index) is
    all the state there is, so a run can be resumed exactly.
    """

    def __init__(self, ids: Sequence[int], batch_size: int, seq_len: int, device: str | None = None) -> None:
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"SequenceBatcher: batch_size and seq_len must be positive, got "
                             f"{batch_size} and {seq_len}")
        columns = (len(ids) - 1) // batch_size
        if columns < 1:  # each row needs one input token and the token after it as its target
            raise ValueError(f"SequenceBatcher: batch_size {batch_size} needs at least {batch_size + 1} "
                             f"tokens (an input and the next token for each row), got {len(ids)}")
        self.backend = get_backend(device)
        host = get_backend("cpu").asarray(list(ids[: batch_size * columns + 1]), dtype="int64")
        # row b holds tokens [b * columns, (b + 1) * columns); time-major: (columns, batch_size)
        self.inputs = self.backend.asarray(host[:-1].reshape(batch_size, columns).T.copy())
        self.targets = self.backend.asarray(host[1:].reshape(batch_size, columns).T.copy())
        self.seq_len, self.batch_size = seq_len, batch_size
        self.position = 0

    def __len__(self) -> int:
        """Batches per pass over the stream (the last may be shorter)."""
        return math.ceil(self.inputs.shape[0] / self.seq_len)

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """The next (inputs, targets) pair, wrapping around to the start after the last one."""
        if self.position >= len(self):
            self.position = 0
        start = self.position * self.seq_len
        stop = start + self.seq_len
        self.position += 1
        return (Tensor._wrap(self.inputs[start:stop], self.backend),
                Tensor._wrap(self.targets[start:stop], self.backend))

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """One pass from the current position to the end of the stream."""
        while self.position < len(self):
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])


class DataLoader:
    """Mini-batches of paired arrays ``(x, y)`` (first axis = samples), optionally shuffled.

    Shuffling uses the loader's own generator, seeded by ``seed``, so the order of
    batches is reproducible and independent of other random numbers.
    """

    def __init__(self, x: Any, y: Any, batch_size: int = 32, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False, device: str | None = None) -> None:
        host = get_backend("cpu")
        self.x = host.asarray(x.numpy() if isinstance(x, Tensor) else x)
        self.y = host.asarray(y.numpy() if isinstance(y, Tensor) else y)
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"DataLoader: x has {self.x.shape[0]} samples but y has {self.y.shape[0]}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be positive, got {batch_size}")
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.device = device
        self.generator = NumpyBackend()
        self.generator.seed(seed)

    def __len__(self) -> int:
        count = self.x.shape[0]
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        count = self.x.shape[0]
        order = self.generator.permutation(count) if self.shuffle else None
        for b in range(len(self)):
            rows = slice(b * self.batch_size, (b + 1) * self.batch_size)
            index = order[rows] if order is not None else rows
            yield (Tensor(self.x[index], device=self.device), Tensor(self.y[index], device=self.device))


__all__ = ["Vocabulary", "SequenceBatcher", "DataLoader", "load_corpus", "CORPUS_PATH"]
