"""tinygrad_rnn.data: vocabulary, truncated-BPTT batches, the shuffling DataLoader, the corpus."""
from __future__ import annotations

import os

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.data import CORPUS_PATH, DataLoader, SequenceBatcher, Vocabulary, load_corpus

from fake_backend import FAKE_DEVICE


# ---- Vocabulary ------------------------------------------------------------------------------
def test_vocabulary_is_the_sorted_distinct_characters():
    vocab = Vocabulary.from_text("hello, world\n")
    assert vocab.chars == sorted(set("hello, world\n"))
    assert len(vocab) == len(set("hello, world\n"))
    assert [vocab.index[ch] for ch in vocab.chars] == list(range(len(vocab)))
    assert Vocabulary.from_text("cab").chars == ["a", "b", "c"]


def test_encode_decode_round_trip():
    text = "To be, or not to be: ünïcode ✓\n"
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert all(isinstance(i, int) for i in ids)
    assert vocab.decode(ids) == text
    assert vocab.decode(tg.tensor(ids)) == text  # a tensor of ids decodes too
    assert vocab.encode("") == [] and vocab.decode([]) == ""


def test_unknown_characters_are_named():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(ValueError) as info:
        vocab.encode("abxcz")
    assert "'x'" in str(info.value) and "'z'" in str(info.value)


def test_empty_text_raises():
    with pytest.raises(ValueError, match="empty"):
        Vocabulary.from_text("")


def test_duplicate_characters_raise():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b", "a"])


# ---- SequenceBatcher -------------------------------------------------------------------------
def _stream(n=103):
    return list(range(n))


def test_batches_are_time_major_int64_with_shifted_targets():
    batcher = SequenceBatcher(_stream(), batch_size=4, seq_len=7)
    x, y = batcher.next_batch()
    assert isinstance(x, tg.Tensor) and isinstance(y, tg.Tensor)
    assert x.shape == (7, 4) and y.shape == (7, 4)
    assert x.dtype == np.int64 and y.dtype == np.int64
    assert x.device == "cpu"
    np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)  # the stream is 0, 1, 2, ...


def test_rows_are_contiguous_streams_across_batches():
    ids = list(np.random.default_rng(0).integers(0, 50, 103))
    batch_size, seq_len = 4, 7
    batcher = SequenceBatcher(ids, batch_size, seq_len)
    columns = (len(ids) - 1) // batch_size  # 25 tokens per row
    assert len(batcher) == -(-columns // seq_len) == 4
    batches = [batcher.next_batch() for _ in range(len(batcher))]
    # every batch but the last is full; the last one is shorter
    assert [x.shape[0] for x, _ in batches] == [7, 7, 7, 4]
    inputs = np.concatenate([x.numpy() for x, _ in batches])
    targets = np.concatenate([y.numpy() for _, y in batches])
    for b in range(batch_size):
        np.testing.assert_array_equal(inputs[:, b], ids[b * columns:(b + 1) * columns])
        np.testing.assert_array_equal(targets[:, b], ids[b * columns + 1:(b + 1) * columns + 1])
    # row b of batch k+1 starts exactly where row b of batch k ended
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1.numpy()[0], y0.numpy()[-1])


def test_exact_division_gives_equal_batches():
    batcher = SequenceBatcher(_stream(101), batch_size=4, seq_len=5)  # 25 columns
    assert len(batcher) == 5
    assert all(x.shape == (5, 4) for x, _ in batcher)


def test_iteration_is_one_pass_and_next_batch_wraps_around():
    batcher = SequenceBatcher(_stream(), batch_size=4, seq_len=7)
    first = [x.numpy() for x, _ in batcher]
    assert len(first) == len(batcher) and batcher.position == len(batcher)
    assert list(batcher) == []  # the pass is over
    x, y = batcher.next_batch()  # wraps to the first batch
    np.testing.assert_array_equal(x.numpy(), first[0])
    assert batcher.position == 1
    again = [x.numpy() for x, _ in batcher]
    assert len(again) == len(first) - 1
    for a, b in zip(again, first[1:]):
        np.testing.assert_array_equal(a, b)


def test_state_dict_resumes_exactly():
    ids = list(np.random.default_rng(1).integers(0, 30, 500))
    original = SequenceBatcher(ids, batch_size=3, seq_len=6)
    for _ in range(5):
        original.next_batch()
    state = original.state_dict()
    assert state == {"position": 5}
    resumed = SequenceBatcher(ids, batch_size=3, seq_len=6)
    resumed.load_state_dict(state)
    for _ in range(2 * len(original)):  # including a wrap-around
        (xa, ya), (xb, yb) = original.next_batch(), resumed.next_batch()
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_state_dict_survives_a_checkpoint(tmp_path):
    from tinygrad_rnn.checkpoint import load, save

    batcher = SequenceBatcher(_stream(), batch_size=2, seq_len=5)
    batcher.next_batch(), batcher.next_batch()
    save({"batcher": batcher.state_dict()}, tmp_path / "ck.npz")
    fresh = SequenceBatcher(_stream(), batch_size=2, seq_len=5)
    fresh.load_state_dict(load(tmp_path / "ck.npz")["batcher"])
    np.testing.assert_array_equal(fresh.next_batch()[0].numpy(), batcher.next_batch()[0].numpy())


def test_batches_on_another_device():
    x, y = SequenceBatcher(_stream(), batch_size=4, seq_len=7, device=FAKE_DEVICE).next_batch()
    assert x.device == FAKE_DEVICE and y.device == FAKE_DEVICE
    assert x.dtype == np.int64


@pytest.mark.parametrize("n, batch_size, seq_len", [(4, 4, 2), (1, 1, 1), (0, 2, 2), (10, 0, 2), (10, 2, 0)])
def test_too_few_tokens_or_bad_sizes_raise(n, batch_size, seq_len):
    with pytest.raises(ValueError):
        SequenceBatcher(_stream(n), batch_size, seq_len)


def test_too_few_tokens_says_how_many_are_needed():
    with pytest.raises(ValueError, match=r"batch_size 32 needs at least 33 tokens \(an input and the next "
                                         r"token for each row\), got 1$"):
        SequenceBatcher(_stream(1), batch_size=32, seq_len=64)
    assert len(SequenceBatcher(_stream(33), batch_size=32, seq_len=64)) == 1  # 33 is enough


def test_minimal_stream():
    batcher = SequenceBatcher([3, 1, 4, 1, 5], batch_size=4, seq_len=3)  # one column
    x, y = batcher.next_batch()
    assert x.shape == (1, 4) and len(batcher) == 1
    np.testing.assert_array_equal(x.numpy()[0], [3, 1, 4, 1])
    np.testing.assert_array_equal(y.numpy()[0], [1, 4, 1, 5])


# ---- DataLoader ------------------------------------------------------------------------------
def _xy(n=23):
    x = np.arange(n, dtype=np.float32).reshape(n, 1) * np.ones((1, 3), dtype=np.float32)
    y = np.arange(n, dtype=np.int64) * 10
    return x, y


def _epoch(loader):
    xs, ys = [], []
    for xb, yb in loader:
        assert isinstance(xb, tg.Tensor) and isinstance(yb, tg.Tensor)
        assert xb.shape[0] == yb.shape[0]
        xs.append(xb.numpy()[:, 0])
        ys.append(yb.numpy())
    return np.concatenate(xs).astype(np.int64), np.concatenate(ys)


def test_every_sample_once_per_epoch_and_pairs_stay_together():
    loader = DataLoader(*_xy(), batch_size=5, shuffle=True, seed=0)
    assert len(loader) == 5
    for _ in range(3):
        xs, ys = _epoch(loader)
        assert sorted(xs.tolist()) == list(range(23))
        np.testing.assert_array_equal(ys, xs * 10)
    sizes = [xb.shape[0] for xb, _ in loader]
    assert sizes == [5, 5, 5, 5, 3]


def test_same_seed_same_order_and_different_seeds_differ():
    a = [_epoch(DataLoader(*_xy(), batch_size=4, shuffle=True, seed=7))[0] for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    b = _epoch(DataLoader(*_xy(), batch_size=4, shuffle=True, seed=8))[0]
    assert not np.array_equal(a[0], b)
    assert not np.array_equal(a[0], np.arange(23))  # it did shuffle
    # successive epochs of one loader follow the same seeded sequence
    one, two = DataLoader(*_xy(), batch_size=4, shuffle=True, seed=7), DataLoader(*_xy(), batch_size=4, shuffle=True, seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(_epoch(one)[0], _epoch(two)[0])


def test_shuffle_does_not_disturb_the_global_generator():
    tg.manual_seed(0)
    expected = tg.randn(3).numpy()
    tg.manual_seed(0)
    _epoch(DataLoader(*_xy(), batch_size=4, shuffle=True, seed=1))
    np.testing.assert_array_equal(tg.randn(3).numpy(), expected)


def test_no_shuffle_keeps_order():
    xs, ys = _epoch(DataLoader(*_xy(), batch_size=4))
    np.testing.assert_array_equal(xs, np.arange(23))
    np.testing.assert_array_equal(ys, np.arange(23) * 10)


def test_drop_last():
    loader = DataLoader(*_xy(), batch_size=5, drop_last=True)
    assert len(loader) == 4
    batches = list(loader)
    assert len(batches) == 4 and all(xb.shape[0] == 5 for xb, _ in batches)
    shuffled = DataLoader(*_xy(), batch_size=5, shuffle=True, seed=3, drop_last=True)
    xs, _ = _epoch(shuffled)
    assert len(xs) == 20 and len(set(xs.tolist())) == 20


def test_tensors_in_and_devices_out():
    x, y = _xy(6)
    loader = DataLoader(tg.tensor(x), tg.tensor(y), batch_size=4, device=FAKE_DEVICE)
    xb, yb = next(iter(loader))
    assert xb.device == FAKE_DEVICE and yb.device == FAKE_DEVICE
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_array_equal(xb.numpy(), x[:4])


def test_mismatched_lengths_raise():
    x, y = _xy()
    with pytest.raises(ValueError, match="23"):
        DataLoader(x, y[:-1], batch_size=4)


def test_bad_batch_size_raises():
    with pytest.raises(ValueError):
        DataLoader(*_xy(), batch_size=0)


# ---- the bundled corpus ----------------------------------------------------------------------
def test_load_corpus_is_the_bundled_text():
    text = load_corpus()
    assert isinstance(text, str)
    assert len(text) > 50_000
    assert os.path.getsize(CORPUS_PATH) < 200_000
    with open(CORPUS_PATH, encoding="utf-8") as handle:
        assert handle.read() == text
    vocab = Vocabulary.from_text(text)
    assert vocab.decode(vocab.encode(text[:1000])) == text[:1000]
