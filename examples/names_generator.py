"""Make up surnames in the style of a language: a conditional character-level LSTM, written
the way PyTorch's own RNN tutorials write it.

This file is PyTorch code. Only the two import lines below differ: change them to
``import torch`` and ``from torch import nn`` and it runs on PyTorch unchanged
(tests/test_pytorch_style_examples.py does exactly that when torch is installed).

How it works:
- At every step the LSTM reads the language (one-hot) and the current letter (one-hot).
- It is trained to predict the next letter, or the end of the name (teacher forcing).
- Names of different lengths are padded with ``pad_sequence``. The padded targets are -100,
  which ``CrossEntropyLoss`` ignores (its default ``ignore_index``).
- To make up a name, give a language and a first letter. The model then picks the most
  likely next letter until it predicts the end.

Run:
    python examples/names_generator.py            # 40 epochs, about 20 s on a CPU
    python examples/names_generator.py --quick    # 3 epochs (for the tests)
"""
import argparse
import random

from names_classifier import ALL_LETTERS, N_LETTERS, NAMES_FILE, name_to_tensor, read_names

import tinygrad_rnn as torch  # on PyTorch: import torch
from tinygrad_rnn import nn  # on PyTorch: from torch import nn

END = N_LETTERS  # the class "end of name", after the letters
IGNORED = -100  # CrossEntropyLoss's default ignore_index


def category_tensor(language: str, languages: list[str], length: int) -> "torch.Tensor":
    """(length, number of languages): the language's one-hot vector at every step."""
    tensor = torch.zeros(length, len(languages))
    tensor[:, languages.index(language)] = 1
    return tensor


def training_pair(name: str, language: str, languages: list[str]):
    """Inputs (len, languages + letters): language and letter i. Targets (len,): letter i + 1,
    then END after the last letter."""
    inputs = torch.cat([category_tensor(language, languages, len(name)), name_to_tensor(name)], dim=1)
    targets = torch.tensor([ALL_LETTERS.find(letter) for letter in name[1:]] + [END])
    return inputs, targets


class NameGenerator(nn.Module):
    """An LSTM over (language, letter) steps, and a Linear layer to the next letter's scores."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(0.1)
        self.h2o = nn.Linear(hidden_size, output_size)

    def forward(self, inputs, state=None):
        outputs, state = self.lstm(inputs, state)  # outputs: (batch, steps, hidden_size)
        return self.h2o(self.dropout(outputs)), state


def train(epochs: int, hidden_size: int, seed: int) -> tuple[nn.Module, list[str], float]:
    """Train on every name; returns the model, the languages and the last epoch's mean loss."""
    torch.manual_seed(seed)
    random.seed(seed)
    pairs, languages = read_names(NAMES_FILE)
    model = NameGenerator(len(languages) + N_LETTERS, hidden_size, N_LETTERS + 1)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_per_epoch = 0.0
    for epoch in range(epochs):
        model.train()
        random.shuffle(pairs)
        losses = []
        for start in range(0, len(pairs), 16):
            batch = [training_pair(name, language, languages) for name, language in pairs[start:start + 16]]
            inputs = nn.utils.rnn.pad_sequence([x for x, _ in batch], batch_first=True)
            targets = nn.utils.rnn.pad_sequence([y for _, y in batch], batch_first=True, padding_value=IGNORED)
            scores, _ = model(inputs)
            loss = criterion(scores.reshape(-1, N_LETTERS + 1), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        loss_per_epoch = sum(losses) / len(losses)
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}  loss {loss_per_epoch:.3f}")
    return model, languages, loss_per_epoch


def sample(model: nn.Module, language: str, first_letter: str, languages: list[str], max_length: int = 12) -> str:
    """A name that starts with ``first_letter``: the most likely letter at every step."""
    model.eval()
    name, state = first_letter, None
    with torch.no_grad():
        letter = first_letter
        while len(name) < max_length:
            step = torch.cat([category_tensor(language, languages, 1), name_to_tensor(letter)], dim=1)
            scores, state = model(step.unsqueeze(0), state)  # one step, batch of one
            index = scores[0, -1].argmax().item()
            if index == END:
                break
            letter = ALL_LETTERS[index]
            name += letter
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs (for the tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, languages, loss = train(epochs=3 if args.quick else 40, hidden_size=96, seed=args.seed)
    for language in languages:
        print(f"{language:>9}: " + ", ".join(sample(model, language, letter, languages) for letter in "BKMS"))


if __name__ == "__main__":
    main()
