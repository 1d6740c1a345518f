"""The character-level training loop behind ``tinygrad-rnn train`` and ``demo``.

One step: take the next truncated-BPTT batch, run the model from the carried state,
mean cross-entropy over all T*N targets, backward, clip, optimizer step, detach the
state. Checkpoints hold everything the next step depends on (parameters, optimizer
moments, data position, carried state, step number), and each step's randomness is
seeded from (seed, step), so a resumed run is bit-for-bit the run never interrupted.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from . import checkpoint, optim
from .backends import manual_seed
from .data import SequenceBatcher, Vocabulary, load_corpus
from .grad_mode import no_grad
from .models import CELLS, CharRNN, detach_state, generate
from .nn.functional import cross_entropy
from .nn.utils import clip_grad_norm_
from .tensor import Tensor

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}
ARCHITECTURE = ("cell", "hidden", "layers", "dropout")


class TrainingError(ValueError):
    """A problem with the run's inputs (data file, checkpoint, options), said in one line."""


@dataclass
class TrainConfig:
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.0
    seq_len: int = 64
    batch: int = 32
    steps: int = 500
    epochs: int | None = None         # when given: this many passes over the text instead of steps
    lr: float = 3e-3
    optim: str = "adam"
    clip: float = 1.0
    device: str = "cpu"
    data: str | None = None          # a text file; None means the bundled corpus
    checkpoint: str | None = None
    resume: bool = False
    seed: int = 0
    eval_every: int = 100
    checkpoint_every: int = 100
    sample_length: int = 200          # characters of sample text printed at each evaluation
    progress: bool = True

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise TrainingError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.optim not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optim!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.epochs is not None and self.epochs < 1:
            raise TrainingError(f"--epochs must be at least 1, got {self.epochs}")
        for name in ("hidden", "layers", "seq_len", "batch", "steps"):
            if getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:  # also rejects NaN
            raise TrainingError(f"--lr must be positive, got {self.lr}")
        if self.resume and not self.checkpoint:
            raise TrainingError("--resume needs --checkpoint PATH")
        if self.checkpoint and not os.path.isdir(os.path.dirname(os.path.abspath(self.checkpoint))):
            raise TrainingError(f"the folder of --checkpoint {self.checkpoint} does not exist")


@dataclass
class TrainResult:
    model: CharRNN
    vocab: Vocabulary
    train_losses: list = field(default_factory=list)
    val_losses: list = field(default_factory=list)   # (step, loss) pairs
    steps_done: int = 0


def read_text(path: str | None) -> str:
    if path is None:
        return load_corpus()
    if not os.path.isfile(path):
        raise TrainingError(f"data file not found: {path}")
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if len(text) < 2:
        raise TrainingError(f"data file {path} is empty; it needs at least two characters of text")
    return text


def load_checkpoint(path: str, device: str | None = None) -> dict:
    """A training checkpoint, with any problem turned into one clear TrainingError."""
    try:
        state = checkpoint.load(path, device=device)
    except (FileNotFoundError, checkpoint.CheckpointError) as error:
        raise TrainingError(str(error)) from None
    if not isinstance(state, dict) or state.get("kind") != "char-rnn":
        raise TrainingError(f"{path} is a checkpoint, but not of a tinygrad-rnn character model")
    return state


def build_model(config: dict, vocab_size: int, device: str) -> CharRNN:
    return CharRNN(vocab_size, config["hidden"], config["layers"], config["cell"], config["dropout"],
                   device=device)


def _loss(model: CharRNN, x: Tensor, y: Tensor, state: Any) -> tuple[Tensor, Any]:
    logits, state = model(x, state)
    return cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state


@no_grad()
def evaluate(model: CharRNN, batcher: SequenceBatcher, max_batches: int = 20) -> float:
    """Mean loss over the first ``max_batches`` validation batches, carrying the state."""
    was_training, position = model.training, batcher.position
    model.eval()
    batcher.position, state, losses = 0, None, []
    for _ in range(min(max_batches, len(batcher))):
        loss, state = _loss(model, *batcher.next_batch(), state)
        losses.append(loss.item())
    batcher.position = position
    model.train(was_training)
    return sum(losses) / len(losses)


def sample_text(model: CharRNN, vocab: Vocabulary, prime: str, length: int, temperature: float = 0.8) -> str:
    prime = "".join(ch for ch in prime if ch in vocab.index) or vocab.chars[0]
    return prime + vocab.decode(generate(model, vocab.encode(prime), length, temperature))


def train(config: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Train a character model as configured; returns the model, vocabulary and loss history."""
    from tqdm import tqdm

    config.validate()
    text = read_text(config.data)
    resumed = None
    if config.resume and os.path.exists(config.checkpoint):
        resumed = load_checkpoint(config.checkpoint, config.device)
        saved = resumed["config"]
        changed = [f"{k}: checkpoint {saved[k]!r}, asked {getattr(config, k)!r}"
                   for k in ARCHITECTURE if saved[k] != getattr(config, k)]
        if changed:
            raise TrainingError(f"checkpoint {config.checkpoint} has another architecture ("
                                + "; ".join(changed) + ")")
        vocab = Vocabulary(resumed["vocab"])
    else:
        vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text) if resumed is None else _encode_known(vocab, text, config.data)
    split = max(int(len(ids) * 0.9), len(ids) - 20_000)
    train_data = SequenceBatcher(ids[:split], config.batch, config.seq_len, config.device)
    val_data = SequenceBatcher(ids[split - 1:], min(config.batch, 8), config.seq_len, config.device) \
        if len(ids) - split > 8 * 2 else None

    if config.epochs is not None:  # one epoch = one pass over the training text
        config.steps = config.epochs * len(train_data)
    manual_seed(config.seed)
    model = build_model(asdict(config), len(vocab), config.device)
    optimizer = OPTIMIZERS[config.optim](model.parameters(), lr=config.lr)
    result = TrainResult(model, vocab)
    state, start = None, 0
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        train_data.load_state_dict(resumed["batcher"])
        state = _state_from_list(resumed["state"])
        start = int(resumed["step"])
        result.train_losses = list(resumed["history"]["train"])
        result.val_losses = [tuple(p) for p in resumed["history"]["val"]]
        log(f"resumed from {config.checkpoint} at step {start}")

    def save() -> None:
        if config.checkpoint:
            checkpoint.save({"kind": "char-rnn", "config": {k: getattr(config, k) for k in ARCHITECTURE},
                             "vocab": vocab.chars, "model": model.state_dict(),
                             "optimizer": optimizer.state_dict(), "step": result.steps_done,
                             "batcher": train_data.state_dict(), "state": _state_to_list(state),
                             "history": {"train": result.train_losses,
                                         "val": [list(p) for p in result.val_losses]}},
                            config.checkpoint)

    result.steps_done = start
    bar = tqdm(total=config.steps, initial=start, disable=not config.progress, unit="step",
               dynamic_ncols=True, leave=True)
    tokens_per_step, started = config.batch * config.seq_len, time.perf_counter()
    before_step = (train_data.position, state, result.steps_done)
    try:
        with _interrupts_between_steps() as interrupted:
            for step in range(start, config.steps):
                before_step = (train_data.position, state, result.steps_done)  # saved if cut short
                manual_seed(config.seed * 1_000_003 + step)   # dropout noise depends on (seed, step) only
                if train_data.position >= len(train_data):
                    state = None                              # a new pass over the text: fresh state
                loss, state = _loss(model, *train_data.next_batch(), state)
                optimizer.zero_grad()
                loss.backward()
                if config.clip:
                    clip_grad_norm_(model.parameters(), config.clip)
                optimizer.step()
                state = detach_state(state)                   # truncated BPTT: cut the graph here
                result.train_losses.append(loss.item())
                result.steps_done = step + 1
                elapsed = time.perf_counter() - started
                bar.set_postfix(loss=f"{result.train_losses[-1]:.3f}",
                                tok_s=f"{tokens_per_step * (step + 1 - start) / max(elapsed, 1e-9):.0f}")
                bar.update(1)
                if val_data is not None and config.eval_every and result.steps_done % config.eval_every == 0:
                    result.val_losses.append((result.steps_done, evaluate(model, val_data)))
                    bar.write(f"step {result.steps_done}: train loss {result.train_losses[-1]:.3f}, "
                              f"validation loss {result.val_losses[-1][1]:.3f}")
                    if config.sample_length:  # draws random numbers, but each step reseeds first
                        text = sample_text(model, vocab, "\n", config.sample_length)
                        bar.write("  sample: " + text.strip().replace("\n", " / ")[:config.sample_length])
                if config.checkpoint_every and result.steps_done % config.checkpoint_every == 0:
                    save()
                if interrupted():
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        if result.steps_done == before_step[2]:  # the step was cut short: it never happened
            train_data.position, state = before_step[:2]
        save()
        log(f"interrupted at step {result.steps_done}" +
            (f"; checkpoint saved to {config.checkpoint}" if config.checkpoint else ""))
        raise
    bar.close()
    save()
    return result


@contextlib.contextmanager
def _interrupts_between_steps() -> Iterator[Callable[[], bool]]:
    """Let Ctrl-C finish the current step first, so the checkpoint saved on interrupt is a
    consistent state (parameters, optimizer, data position and carried state all after the
    same step). Yields a function telling whether Ctrl-C was pressed. Only the main thread
    can handle signals; elsewhere Ctrl-C interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def _encode_known(vocab: Vocabulary, text: str, path: str | None) -> list[int]:
    try:
        return vocab.encode(text)
    except ValueError as error:
        raise TrainingError(f"the data {path or '(bundled corpus)'} does not match the checkpoint's "
                            f"vocabulary: {error}") from None


def _state_to_list(state: Any) -> list | None:
    if state is None:
        return None
    return list(state) if isinstance(state, tuple) else [state]


def _state_from_list(saved: list | None) -> Any:
    if saved is None:
        return None
    return tuple(saved) if len(saved) == 2 else saved[0]

