"""build_pretraining_dataset.py and the pretrain/ modules it runs: whole builds (what the
shards hold, their names and count, determinism, failures, the command line) and the cut of the
corpus into units. The example algorithm and the record bytes are tested in
test_pretrain_examples.py, corner cases of the inputs and the output in test_build_safety.py.

Corpora are generated: every sentence starts with a marker pair "d<doc> s<index>" followed by
filler words, so the tokens of any example can be traced back to the sentences they came from.
"""

import glob
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import build_pretraining_dataset as bpd
from pretrain import dataset_writer
from pretrain.build_inputs import UsageError
from pretrain.corpus_units import split_file
from pretrain.dataset_shards import SHARD_PREFIX, default_num_out_files, plan_shards
from pretrain.dataset_writer import build

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_LEN = 32
NUM_DOCS = 120
SENTENCES_PER_DOC = 12
FILLERS = [f"w{i}" for i in range(10)]


def write_vocab(path, size_hint=0):
  """Specials, markers, fillers; `size_hint` pads the vocabulary (multi-byte varint ids)."""
  tokens = SPECIALS + [f"d{i}" for i in range(NUM_DOCS)]
  tokens += [f"s{i}" for i in range(SENTENCES_PER_DOC)] + FILLERS
  tokens += [f"pad{i}" for i in range(max(0, size_hint - len(tokens)))]
  path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
  return str(path)


def make_docs(seed, sentence_length=None):
  """docs[d][s] = token list; lengths vary (some longer than MAX_LEN) unless fixed."""
  rng = random.Random(seed)
  docs = []
  for doc in range(NUM_DOCS):
    sentences = []
    for index in range(rng.randint(1, SENTENCES_PER_DOC)):
      if sentence_length:
        fillers = sentence_length - 2
      else:
        fillers = rng.choice([rng.randint(1, 14), rng.randint(1, 14), MAX_LEN + 5])
      sentences.append([f"d{doc}", f"s{index}"] + [rng.choice(FILLERS) for _ in range(fillers)])
    docs.append(sentences)
  return docs


def write_corpus(directory, docs, num_files=2):
  """Documents dealt to `num_files` files: a sentence per line, a blank line between docs."""
  directory.mkdir()
  for file_index in range(num_files):
    text = "\n\n".join("\n".join(" ".join(s) for s in doc) for doc in docs[file_index::num_files])
    (directory / f"part{file_index}.txt").write_text(text + "\n", encoding="utf-8")
  return str(directory)


def read_output(output_dir):
  """All examples of all shards (in shard order) as int64 arrays, read by TensorFlow."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  names = ("input_ids", "input_mask", "segment_ids")
  spec = {name: tf.io.FixedLenFeature([MAX_LEN], tf.int64) for name in names}
  files = sorted(glob.glob(os.path.join(output_dir, SHARD_PREFIX + "*")),
                 key=lambda path: int(path.rsplit("-", 3)[1]))
  dataset = tf.data.TFRecordDataset(files).map(
      lambda record: tf.io.parse_single_example(record, spec)).batch(100000)
  batches = list(dataset.as_numpy_iterator())
  return {name: np.concatenate([b[name] for b in batches]) for name in names}


def shard_bytes(output_dir):
  return {
      os.path.basename(p): open(p, "rb").read()
      for p in glob.glob(os.path.join(output_dir, SHARD_PREFIX + "*"))
  }


def split_segments(ids, mask, segments, inv_vocab):
  """Checks the [CLS] A [SEP] (B [SEP]) layout and returns the token lists A and B."""
  length = int(mask.sum())
  assert list(mask) == [1] * length + [0] * (MAX_LEN - length)
  assert not ids[length:].any() and not segments[length:].any()
  first_length = int((segments[:length] == 0).sum())
  assert list(segments[:length]) == [0] * first_length + [1] * (length - first_length)
  tokens = [inv_vocab[i] for i in ids[:length]]
  assert tokens[0] == "[CLS]" and tokens[first_length - 1] == "[SEP]"
  second = tokens[first_length:]
  assert second == [] or second[-1] == "[SEP]"
  assert "[CLS]" not in tokens[1:] and tokens.count("[SEP]") == (2 if second else 1)
  return tokens[1:first_length - 1], second[:-1]


def sentence_chunks(segment):
  """Splits a segment at the "d<doc>" markers into (doc, index, tokens) chunks.

  The index is None for a final chunk that truncation cut right after "d<doc>".
  """
  starts = [i for i, token in enumerate(segment) if token.startswith("d")]
  assert not segment or starts[0] == 0, "a segment must start at a sentence start"
  starts.append(len(segment))
  chunks = []
  for begin, end in zip(starts, starts[1:]):
    doc = int(segment[begin][1:])
    index = int(segment[begin + 1][1:]) if end - begin > 1 else None
    chunks.append((doc, index, segment[begin:end]))
  return chunks


def build_test_corpus(corpus, output_dir, **settings):
  """`build` of the `corpus` fixture's text (unless `settings` name other text) into
  `output_dir`, with MAX_LEN tokens per example and no progress lines."""
  settings = {"corpus_dir": corpus["dir"], "max_seq_length": MAX_LEN, "progress": False,
              **settings}
  return build(corpus["vocab"], str(output_dir), **settings)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  root = tmp_path_factory.mktemp("corpus")
  docs = make_docs(seed=1)
  return {
      "docs": docs,
      "dir": write_corpus(root / "text", docs),
      "vocab": write_vocab(root / "vocab.txt", size_hint=300)
  }


@pytest.fixture(scope="module")
def two_process_build(corpus, tmp_path_factory):
  """One build with 2 processes and many small units, shared by several tests."""
  output_dir = str(tmp_path_factory.mktemp("build") / "out")
  summary = build_test_corpus(corpus, output_dir, num_processes=2, seed=7, unit_bytes=2000)
  return output_dir, summary


# ---------------------------------------------------------------------------------------------
# Whole builds.


def test_output_decodes_to_whole_sentences_of_one_document(corpus, two_process_build):
  output_dir, summary = two_process_build
  features = read_output(output_dir)
  count = len(features["input_ids"])
  assert count == summary["examples"] > 100
  assert features["input_ids"].shape == (count, MAX_LEN)
  inv_vocab = {i: t.strip() for i, t in enumerate(open(corpus["vocab"], encoding="utf-8"))}
  seen, two_segment = set(), 0
  for ids, mask, segments in zip(features["input_ids"], features["input_mask"],
                                 features["segment_ids"]):
    first, second = split_segments(ids, mask, segments, inv_vocab)
    two_segment += bool(second)
    docs = set()
    for segment in (first, second):
      chunks = sentence_chunks(segment)
      for position, (doc, index, tokens) in enumerate(chunks):
        docs.add(doc)
        if index is None:
          continue
        original = corpus["docs"][doc][index]
        # Whole sentences; only the last one of a segment may be cut short.
        if position < len(chunks) - 1:
          assert tokens == original
        else:
          assert tokens == original[:len(tokens)]
        assert (doc, index) not in seen, "a sentence is used once"
        seen.add((doc, index))
      indices = [index for _, index, _ in chunks if index is not None]
      assert indices == sorted(indices)
    assert len(docs) == 1, "an example never crosses a document boundary"
  assert summary["two_segment_examples"] == two_segment
  assert summary["two_segment_fraction"] > 0.25  # short documents here, so not a majority
  total_sentences = sum(len(doc) for doc in corpus["docs"])
  assert len(seen) > 0.9 * total_sentences  # only sentences cut off by truncation are lost


def test_equal_length_sentences_give_contiguous_runs(tmp_path, corpus):
  # With equal sentence lengths A takes a prefix of the sentences and B the rest, so every
  # example (without [CLS]/[SEP]/padding) is one contiguous run of a document's tokens.
  docs = make_docs(seed=2, sentence_length=7)
  corpus_dir = write_corpus(tmp_path / "text", docs, num_files=1)
  output_dir = str(tmp_path / "out")
  build_test_corpus(corpus, output_dir, corpus_dir=corpus_dir, num_processes=1)
  features = read_output(output_dir)
  inv_vocab = {i: t.strip() for i, t in enumerate(open(corpus["vocab"], encoding="utf-8"))}
  streams = [[token for sentence in doc for token in sentence] for doc in docs]
  used = [np.zeros(len(stream), dtype=bool) for stream in streams]
  for ids, mask, segments in zip(features["input_ids"], features["input_mask"],
                                 features["segment_ids"]):
    first, second = split_segments(ids, mask, segments, inv_vocab)
    run = first + second
    doc, index = int(run[0][1:]), int(run[1][1:])
    start = 7 * index
    assert streams[doc][start:start + len(run)] == run
    assert not used[doc][start:start + len(run)].any(), "runs do not overlap"
    used[doc][start:start + len(run)] = True
  # Only the tails that truncation cuts off are missing.
  assert np.concatenate(used).mean() > 0.8


def test_shard_names_summary_and_default_count(two_process_build):
  output_dir, summary = two_process_build
  assert sorted(os.listdir(output_dir)) == [
      "pretrain_data.tfrecord-0-of-2", "pretrain_data.tfrecord-1-of-2", "summary.json"
  ]
  assert summary["num_out_files"] == 2  # few examples: one shard per process
  assert sum(summary["length_histogram"].values()) == summary["examples"]
  assert summary["settings"]["legacy_segment_bug"] is False
  assert summary["mb_per_s"] > 0 and summary["tokens"] <= summary["corpus_tokens"]
  assert default_num_out_files(5, 8) == 5
  assert default_num_out_files(0, 2) == 1
  assert default_num_out_files(15000, 2) == 2
  assert default_num_out_files(250000, 2) == 25
  assert default_num_out_files(10**9, 2) == 1000


def test_plan_shards_covers_every_example_once_evenly():
  counts = [0, 7, 3, 0, 12, 1]
  for num_shards in (1, 2, 5, 23, 30):
    plans = plan_shards(counts, num_shards)
    sizes = [sum(end - first for _, first, end in plan) for plan in plans]
    assert max(sizes) - min(sizes) <= 1
    covered = [
        (position, i) for plan in plans for position, first, end in plan for i in range(first, end)
    ]
    assert covered == [(p, i) for p, count in enumerate(counts) for i in range(count)]


def test_same_seed_same_bytes_and_independent_of_process_count(corpus, two_process_build, tmp_path):
  output_dir, _ = two_process_build
  again = str(tmp_path / "again")
  build_test_corpus(corpus, again, num_processes=2, seed=7, unit_bytes=2000)
  assert shard_bytes(again) == shard_bytes(output_dir)
  # One process, one shard: the same example sequence (units are seeded, not processes).
  single = str(tmp_path / "single")
  build_test_corpus(corpus, single, num_processes=1, seed=7, unit_bytes=2000, num_out_files=1)
  original = shard_bytes(output_dir)
  assert shard_bytes(single) == {
      "pretrain_data.tfrecord-0-of-1":
          (original["pretrain_data.tfrecord-0-of-2"] + original["pretrain_data.tfrecord-1-of-2"])
  }
  other_seed = str(tmp_path / "other")
  build_test_corpus(corpus, other_seed, num_processes=1, seed=8, unit_bytes=2000, num_out_files=1)
  assert shard_bytes(other_seed) != shard_bytes(single)


def test_command_line_run_matches_library_build(corpus, tmp_path):
  # The tool in a fresh process (2 workers, forked) gives the bytes of a one-process build.
  cli_dir, library_dir = tmp_path / "cli", str(tmp_path / "library")
  run = subprocess.run(
      [sys.executable, os.path.join(REPO, "build_pretraining_dataset.py"), "--corpus-files",
       os.path.join(corpus["dir"], "*.txt"), "--vocab-file", corpus["vocab"], "--output-dir",
       str(cli_dir), "--max-seq-length", str(MAX_LEN), "--num-processes", "2", "--seed", "4"],
      capture_output=True, text=True, check=False)
  assert run.returncode == 0, run.stderr
  assert "[build] 100.0%" in run.stderr
  assert run.stdout.startswith("wrote ") and "MB/s" in run.stdout
  build_test_corpus(corpus,
                    library_dir,
                    corpus_dir=None,
                    corpus_files=[os.path.join(corpus["dir"], "*.txt")],
                    num_processes=1,
                    num_out_files=2,
                    seed=4)
  assert shard_bytes(str(cli_dir)) == shard_bytes(library_dir)


def test_failure_leaves_no_output_and_keeps_previous(corpus, tmp_path, monkeypatch):
  output_dir = tmp_path / "out"

  def fail(*_args, **_kwargs):
    raise RuntimeError("disk full")

  monkeypatch.setattr(dataset_writer, "_write_shards", fail)
  with pytest.raises(RuntimeError):
    build_test_corpus(corpus, output_dir, num_processes=1)
  assert os.listdir(tmp_path) == []  # neither the output nor the temporary directory
  # A failed rebuild leaves the previous complete output untouched.
  monkeypatch.undo()
  build_test_corpus(corpus, output_dir, num_processes=1)
  before = shard_bytes(str(output_dir))
  monkeypatch.setattr(dataset_writer, "_write_shards", fail)
  with pytest.raises(RuntimeError):
    build_test_corpus(corpus, output_dir, num_processes=1, seed=3)
  assert os.listdir(tmp_path) == ["out"] and shard_bytes(str(output_dir)) == before


def test_refuses_to_replace_a_directory_it_did_not_write(corpus, tmp_path):
  output_dir = tmp_path / "mine"
  output_dir.mkdir()
  (output_dir / "notes.txt").write_text("keep me")
  with pytest.raises(UsageError, match="refusing to replace"):
    build(corpus["vocab"], str(output_dir), corpus_dir=corpus["dir"], progress=False)
  assert (output_dir / "notes.txt").read_text() == "keep me"


def test_missing_vocab_or_corpus_is_a_one_line_error(corpus, tmp_path):
  script = os.path.join(REPO, "build_pretraining_dataset.py")
  missing_vocab = subprocess.run(
      [sys.executable, script, "--corpus-dir", corpus["dir"], "--vocab-file",
       str(tmp_path / "nope.txt"), "--output-dir", str(tmp_path / "out")],
      capture_output=True, text=True, check=False)
  assert missing_vocab.returncode == 2
  assert missing_vocab.stderr.strip().splitlines() == [
      f"build_pretraining_dataset.py: error: vocab file not found: {tmp_path / 'nope.txt'}"
  ]
  for corpus_args in (["--corpus-dir", str(tmp_path / "none")],
                      ["--corpus-files", str(tmp_path / "*.missing")]):
    status = bpd.main(corpus_args + ["--vocab-file", corpus["vocab"],
                                     "--output-dir", str(tmp_path / "out")])
    assert status == 2
  assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("vocab_text, message", [
    ("", "the vocabulary is empty"),
    ("[PAD]\n[UNK]\n[SEP]\n[MASK]\n中\n", "the vocabulary lacks [CLS], which pre-training data"),
    ("[UNK]\n[CLS]\n[SEP]\n中\n文\n中\n", "line 6: the token '中' is already on line 4"),
])
def test_an_unusable_vocabulary_is_a_one_line_error_before_writing(corpus, tmp_path,
                                                                    vocab_text, message, capsys):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text(vocab_text, encoding="utf-8")
  status = bpd.main(["--corpus-dir", corpus["dir"], "--vocab-file", str(vocab),
                     "--output-dir", str(tmp_path / "out")])
  lines = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(lines) == 1
  assert lines[0].startswith(f"{os.path.basename(sys.argv[0])}: error: {vocab}: ")
  assert message in lines[0]
  assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]


def test_split_file_cuts_after_blank_lines(tmp_path):
  path = tmp_path / "text.txt"
  path.write_bytes(b"".join(f"line {i} of doc {d}\n".encode() + (b"\n" if i == 4 else b"")
                            for d in range(30)
                            for i in range(5)))
  data = path.read_bytes()
  for blanks in (True, False):
    ranges = split_file(str(path), 100, blanks_separate_docs=blanks)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data) and len(ranges) > 5
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
      assert end == start
      assert data[:end].endswith(b"\n\n" if blanks else b"\n")
