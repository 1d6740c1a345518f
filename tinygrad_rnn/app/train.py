"""The character-level training loop behind ``tinygrad-rnn train`` and ``demo``.

One step: take the next truncated-BPTT batch, run the model from the carried state,
mean cross-entropy over all T*N targets, backward, clip, optimizer step, detach the
state. The step is a compiled one (``tinygrad_rnn.compile``: captured once, then
replayed) unless ``eager`` is set. Checkpoints hold everything the next step depends on (parameters, optimizer
moments, data position, carried state, step number) and the settings that define the
run; each step's randomness is seeded from (seed, step), so a resumed run is bit-for-bit
the run never interrupted.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from .. import checkpoint, optim
from ..compiler import compile  # noqa: A004 (tinygrad_rnn.compile)
from ..backends import manual_seed
from ..data import SequenceBatcher, Vocabulary, load_corpus
from ..files import require_folder
from ..core.grad_mode import no_grad
from .models import CELLS, CharRNN, detach_state, generate
from ..nn.functional import cross_entropy
from ..nn.utils import clip_grad_norm_
from ..core.tensor import Tensor

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}
# The settings that define a run. Every checkpoint records them (with the data file and the
# step target); a resumed run takes them from there, and asking for other values is an error.
# The rest of TrainConfig (steps/epochs, device, how often to evaluate, save and report) may
# change when a run is resumed.
RUN_SETTINGS = ("cell", "hidden", "layers", "dropout", "seq_len", "batch", "lr", "optim", "clip", "seed")
VALIDATION_SHARE = 0.1         # the last 10% of the text (at most MAX_VALIDATION characters) is held out
MAX_VALIDATION = 20_000


class TrainingError(ValueError):
    """A problem with the run's inputs (data file, checkpoint, options), said in one line."""


@dataclass
class TrainConfig:
    """Everything a training run needs; the defaults here are the command line's defaults too."""
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.0
    seq_len: int = 64
    batch: int = 32
    steps: int = 1000                 # the total, counted from the start of the run even when resumed
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
    eager: bool = False               # run each step eagerly instead of as a compiled (replayed) step

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise TrainingError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.optim not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optim!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.epochs is not None and self.epochs < 1:
            raise TrainingError(f"--epochs must be at least 1, got {self.epochs}")
        for name in ("hidden", "layers", "seq_len", "batch", "steps"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{flag(name)} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:  # also rejects NaN
            raise TrainingError(f"--lr must be positive, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise TrainingError(f"--dropout must be at least 0 and below 1, got {self.dropout}")
        if self.checkpoint:
            require_folder(self.checkpoint, "--checkpoint")


@dataclass
class TrainResult:
    model: CharRNN
    vocab: Vocabulary
    train_losses: list = field(default_factory=list)
    val_losses: list = field(default_factory=list)   # (step, loss) pairs
    steps_done: int = 0


def flag(setting: str) -> str:
    """The command-line flag of a TrainConfig field: ``seq_len`` -> ``--seq-len``."""
    return "--" + setting.replace("_", "-")


def read_text(path: str | None) -> str:
    """The training text: the file at ``path``, or the bundled corpus when ``path`` is None."""
    if path is None:
        return load_corpus()
    if os.path.isdir(path):
        raise TrainingError(f"--data {path} is a directory; give a UTF-8 text file")
    if not os.path.isfile(path):
        raise TrainingError(f"--data {path}: file not found")
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def training_length(length: int) -> int:
    """How many of a text's ``length`` characters are trained on; the rest is for validation."""
    return max(int(length * (1 - VALIDATION_SHARE)), length - MAX_VALIDATION)


def minimum_text_length(batch: int) -> int:
    """The shortest text ``train`` can use with ``batch`` rows per batch.

    The training part is cut into ``batch`` rows, and each row needs at least one character
    and the character after it (its target), so it must hold ``batch + 1`` characters. The
    sequence length does not matter: rows shorter than it give shorter batches.
    """
    length = batch + 1
    while training_length(length) < batch + 1:
        length += 1
    return length


def _check_long_enough(text: str, config: TrainConfig) -> None:
    shortest = minimum_text_length(config.batch)
    if len(text) < shortest:
        source = f"the data file {config.data}" if config.data else "the bundled corpus"
        size = "is empty" if not text else f"has only {len(text)} character{'s' * (len(text) != 1)}"
        raise TrainingError(f"{source} {size}, too few for --batch {config.batch}: with {VALIDATION_SHARE:.0%} "
                            "held out for validation, each batch row needs a character and the next one, so "
                            f"the text needs at least {shortest} characters; lower --batch or use a longer file")


def text_fingerprint(text: str) -> str:
    """A SHA-256 of the training text: a resumed run checks it is continuing on the same text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_checkpoint(path: str, device: str | None = None) -> dict:
    """A training checkpoint, with any problem turned into one clear TrainingError."""
    try:
        state = checkpoint.load(path, device=device)
    except (FileNotFoundError, checkpoint.CheckpointError) as error:
        raise TrainingError(str(error)) from None
    if not isinstance(state, dict) or state.get("kind") != "char-rnn":
        raise TrainingError(f"{path} is a checkpoint, but not of a tinygrad-rnn character model")
    return state


def _load_for_resume(path: str | None, device: str | None = None) -> dict:
    """The checkpoint ``--resume`` continues from; resuming from nothing is an error, not a new run."""
    if not path:
        raise TrainingError("--resume needs --checkpoint PATH")
    if not os.path.exists(path):
        raise TrainingError(f"--resume: there is no checkpoint {path}; leave out --resume to start a new run")
    return load_checkpoint(path, device)


def check_same_run(settings: dict[str, Any], saved: dict[str, Any], path: str) -> None:
    """Raise a TrainingError naming each flag in ``settings`` that contradicts the run saved at ``path``.

    Only the RUN_SETTINGS count: the others may change when a run is resumed.
    """
    different = [name for name in RUN_SETTINGS if name in settings and name in saved
                 and settings[name] != saved[name]]
    if different:
        asked = ", ".join(f"{flag(name)} {settings[name]}" for name in different)
        recorded = ", ".join(f"{flag(name)} {saved[name]}" for name in different)
        verb, pronoun = ("contradicts", "it") if len(different) == 1 else ("contradict", "them")
        raise TrainingError(f"{asked} {verb} the checkpoint {path}, which was trained with {recorded}; "
                            f"leave {pronoun} out to continue that run, or start a new run without --resume")


def resumed_config(path: str | None, given: dict[str, Any]) -> TrainConfig:
    """The configuration that continues the run saved at ``path`` (what ``--resume`` trains).

    The checkpoint supplies every setting that defines the run, the data file and the step
    target; ``given`` (the settings asked for explicitly) go on top. A run setting in ``given``
    that differs from the checkpoint's is an error naming its flag, so a resumed run is never
    silently a different one.
    """
    saved = _load_for_resume(path, device="cpu")["config"]
    check_same_run(given, saved, path)
    return TrainConfig(**{**saved, **given, "checkpoint": path, "resume": True})


def build_model(config: TrainConfig, vocab_size: int) -> CharRNN:
    """The model a run trains: a CharRNN with the run's cell, size, layers and dropout, on its device."""
    return CharRNN(vocab_size, config.hidden, config.layers, config.cell, config.dropout, device=config.device)


def _loss(model: CharRNN, x: Tensor, y: Tensor, state: Any) -> tuple[Tensor, Any]:
    logits, state = model(x, state)
    return cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state


def training_step(model: CharRNN, optimizer: optim.Optimizer, clip: float) -> Callable:
    """One truncated-BPTT step as a function of (inputs, targets, carried state): forward, mean
    cross-entropy, backward, clip, optimizer step; returns the loss and the detached state."""
    def step(x: Tensor, y: Tensor, state: Any) -> tuple[Tensor, Any]:
        loss, state = _loss(model, x, y, state)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return loss, detach_state(state)  # truncated BPTT: cut the graph here

    return step


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
    _check_long_enough(text, config)
    resumed = _checkpoint_to_resume(config, text) if config.resume else None
    vocab = Vocabulary(resumed["vocab"]) if resumed is not None else Vocabulary.from_text(text)
    ids = vocab.encode(text)
    split = training_length(len(ids))
    train_data = SequenceBatcher(ids[:split], config.batch, config.seq_len, config.device)
    val_data = SequenceBatcher(ids[split - 1:], min(config.batch, 8), config.seq_len, config.device) \
        if len(ids) - split > 8 * 2 else None

    if config.epochs is not None:  # one epoch = one pass over the training text
        config.steps = config.epochs * len(train_data)
    start = int(resumed["step"]) if resumed is not None else 0
    _check_steps_left(config, start)
    manual_seed(config.seed)
    model = build_model(config, len(vocab))
    optimizer = OPTIMIZERS[config.optim](model.parameters(), lr=config.lr)
    result = TrainResult(model, vocab)
    state = None
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        train_data.load_state_dict(resumed["batcher"])
        state = _state_from_list(resumed["state"])
        result.train_losses = list(resumed["history"]["train"])
        result.val_losses = [tuple(p) for p in resumed["history"]["val"]]
        log(f"resumed from {config.checkpoint} at step {start}")
    run = {**{name: getattr(config, name) for name in RUN_SETTINGS}, "steps": config.steps,
           "data": os.path.abspath(config.data) if config.data else None}  # what --resume takes
    fingerprint = text_fingerprint(text)

    def save() -> None:
        if config.checkpoint:
            checkpoint.save({"kind": "char-rnn", "config": run, "text_sha256": fingerprint,
                             "vocab": vocab.chars, "model": model.state_dict(),
                             "optimizer": optimizer.state_dict(), "step": result.steps_done,
                             "batcher": train_data.state_dict(), "state": _state_to_list(state),
                             "history": {"train": result.train_losses,
                                         "val": [list(p) for p in result.val_losses]}},
                            config.checkpoint)

    step_once = training_step(model, optimizer, config.clip)
    if not config.eager:  # captured at its first call (and for each new shape), replayed after
        step_once = compile(step_once)
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
                loss, state = step_once(*train_data.next_batch(), state)
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
                        sample = sample_text(model, vocab, "\n", config.sample_length)
                        bar.write("  sample: " + sample.strip().replace("\n", " / ")[:config.sample_length])
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


def _checkpoint_to_resume(config: TrainConfig, text: str) -> dict:
    """The checkpoint of the run ``config`` continues, checked to be that run on that ``text``."""
    resumed = _load_for_resume(config.checkpoint, config.device)
    check_same_run(asdict(config), resumed["config"], config.checkpoint)
    # the saved data position means nothing on another text (older checkpoints record no fingerprint)
    if resumed.get("text_sha256", text_fingerprint(text)) != text_fingerprint(text):
        asked = f"--data {config.data}" if config.data else "the bundled corpus"
        trained_on = resumed["config"].get("data") or "the bundled corpus"
        raise TrainingError(f"{asked} is not the text the checkpoint {config.checkpoint} was trained on "
                            f"({trained_on}); resume with that text, or start a new run without --resume")
    return resumed


def _check_steps_left(config: TrainConfig, start: int) -> None:
    """A resumed run must have steps left to train: ``--steps`` is a total, not a number more."""
    if start >= config.steps:
        end = f"--epochs {config.epochs} ends it" if config.epochs is not None else "the run ends"
        raise TrainingError(f"the checkpoint {config.checkpoint} is already at step {start}, and {end} at step "
                            f"{config.steps}; give --steps above {start} to train further (--steps counts "
                            "from the start of the run, not from the checkpoint)")


def _state_to_list(state: Any) -> list | None:
    if state is None:
        return None
    return list(state) if isinstance(state, tuple) else [state]


def _state_from_list(saved: list | None) -> Any:
    if saved is None:
        return None
    return tuple(saved) if len(saved) == 2 else saved[0]

