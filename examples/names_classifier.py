"""Which language is a surname from? A character-level GRU classifier, written the way
PyTorch's own RNN tutorials write it.

This file is PyTorch code. Only the two import lines below differ: change them to
``import torch`` and ``from torch import nn`` and it runs on PyTorch unchanged
(tests/test_pytorch_style_examples.py does exactly that when torch is installed).

How it works:
- Each name becomes a (length, 57) tensor of one-hot letters.
- A batch of names of different lengths is padded into (batch, longest, 57). It is then
  *packed* with ``pack_padded_sequence``, so the GRU stops at each name's last letter.
- The GRU's final hidden state h_n is each name's summary.
- A Linear layer (the chapter's V) turns h_n into one score per language, trained with
  cross-entropy.

Run:
    python examples/names_classifier.py            # 30 epochs, a few seconds on a CPU
    python examples/names_classifier.py --quick    # 4 epochs (for the tests)
"""
import argparse
import os
import random
import string

import tinygrad_rnn as torch  # on PyTorch: import torch
from tinygrad_rnn import nn  # on PyTorch: from torch import nn

ALL_LETTERS = string.ascii_letters + " .,;'"
N_LETTERS = len(ALL_LETTERS)
NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "names.txt")


def read_names(path: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, language) pairs from a file of ``language<TAB>name`` lines, and the languages."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                language, name = line.rstrip("\n").split("\t")
                pairs.append((name, language))
    return pairs, sorted({language for _, language in pairs})


def name_to_tensor(name: str) -> "torch.Tensor":
    """(len(name), N_LETTERS): row i is the one-hot vector of the name's i-th letter."""
    tensor = torch.zeros(len(name), N_LETTERS)
    for i, letter in enumerate(name):
        tensor[i][ALL_LETTERS.find(letter)] = 1
    return tensor


def make_batch(pairs: list[tuple[str, str]], languages: list[str]):
    """A packed batch of names and the index of each one's language."""
    lengths = torch.tensor([len(name) for name, _ in pairs])
    padded = nn.utils.rnn.pad_sequence([name_to_tensor(name) for name, _ in pairs], batch_first=True)
    packed = nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    labels = torch.tensor([languages.index(language) for _, language in pairs])
    return packed, labels


class NameClassifier(nn.Module):
    """GRU over the letters, then a Linear layer from the last hidden state to the languages."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)
        self.h2o = nn.Linear(hidden_size, output_size)

    def forward(self, names):
        _, hidden = self.rnn(names)  # hidden: (1, batch, hidden_size), at each name's last letter
        return self.h2o(hidden[0])  # (batch, languages): unnormalised scores


def accuracy(model: nn.Module, pairs: list[tuple[str, str]], languages: list[str]) -> float:
    model.eval()
    with torch.no_grad():
        names, labels = make_batch(pairs, languages)
        predicted = model(names).argmax(dim=1)
        return (predicted == labels).float().mean().item()


def train(epochs: int, hidden_size: int, seed: int) -> tuple[nn.Module, list[str], float]:
    """Train on 80% of the names; returns the model, the languages and the held-out accuracy."""
    torch.manual_seed(seed)
    random.seed(seed)
    pairs, languages = read_names(NAMES_FILE)
    random.shuffle(pairs)
    split = int(0.8 * len(pairs))
    train_pairs, test_pairs = pairs[:split], pairs[split:]

    model = NameClassifier(N_LETTERS, hidden_size, len(languages))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
    for epoch in range(epochs):
        model.train()
        random.shuffle(train_pairs)
        total = 0.0
        for start in range(0, len(train_pairs), 32):
            names, labels = make_batch(train_pairs[start:start + 32], languages)
            loss = criterion(model(names), labels)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item()
        scheduler.step()
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}  loss {total / (len(train_pairs) / 32):.3f}  "
                  f"lr {scheduler.get_last_lr()[0]:.4f}")
    return model, languages, accuracy(model, test_pairs, languages)


def predict(model: nn.Module, name: str, languages: list[str]) -> tuple[str, float]:
    """The most likely language of ``name`` and its probability."""
    model.eval()
    with torch.no_grad():
        names, _ = make_batch([(name, languages[0])], languages)
        probabilities = model(names).softmax(dim=1)
        probability, index = probabilities.max(dim=1)
    return languages[index.item()], probability.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 epochs (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, languages, test_accuracy = train(epochs=4 if args.quick else 30, hidden_size=64, seed=args.seed)
    print(f"held-out accuracy {test_accuracy:.2f} (chance {1 / len(languages):.2f})")
    for name in ("Dubois", "Yamamoto", "Schneider", "Rossi", "Hernandez", "Robinson"):
        language, probability = predict(model, name, languages)
        print(f"{name:>10} -> {language} ({probability:.2f})")


if __name__ == "__main__":
    main()
