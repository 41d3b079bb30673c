"""build_pretraining_dataset.py and the pretrain/ modules it runs (example_builder,
tfrecord_encoding, dataset_shards, dataset_writer): the example algorithm, the file format, and
the run's guarantees.

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
from model.tokenization import FullTokenizer
from pretrain import dataset_writer
from pretrain.dataset_shards import SHARD_PREFIX, default_num_out_files, plan_shards
from pretrain.dataset_writer import UsageError, build, split_file
from pretrain.example_builder import ExampleBuilder, build_examples, make_features
from pretrain.tfrecord_encoding import ExampleEncoder, crc32c_batch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_LEN = 32
NUM_DOCS = 120
SENTENCES_PER_DOC = 12
FILLERS = [f"w{int(i)}" for i in range(10)]


def write_vocab(path, size_hint=0):
  """Specials, markers, fillers; `size_hint` pads the vocabulary (multi-byte varint ids)."""
  tokens = SPECIALS + [f"d{int(i)}" for i in range(NUM_DOCS)]
  tokens += [f"s{int(i)}" for i in range(SENTENCES_PER_DOC)] + FILLERS
  tokens += [f"pad{int(i)}" for i in range(max(0, size_hint - len(tokens)))]
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
      sentences.append([f"d{int(doc)}", f"s{int(index)}"] + [rng.choice(FILLERS) for _ in range(fillers)])
    docs.append(sentences)
  return docs


def write_corpus(directory, docs, num_files=2):
  """Documents dealt to `num_files` files: a sentence per line, a blank line between docs."""
  directory.mkdir()
  for file_index in range(num_files):
    text = "\n\n".join("\n".join(" ".join(s) for s in doc) for doc in docs[file_index::num_files])
    (directory / (f"part{int(file_index)}.txt")).write_text(text + "\n", encoding="utf-8")
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
  summary = build(corpus["vocab"],
                  output_dir,
                  corpus_dir=corpus["dir"],
                  max_seq_length=MAX_LEN,
                  num_processes=2,
                  seed=7,
                  unit_bytes=2000,
                  progress=False)
  return output_dir, summary


# ---------------------------------------------------------------------------------------------
# The segment rule, step by step, with scripted random numbers.


class ScriptedRng:
  """Returns the given random() values in order; randint returns its lower bound."""

  def __init__(self, values):
    self.values = list(values)

  def random(self):
    return self.values.pop(0)

  def randint(self, low, _high):
    return low


def run_builder(sentence_lengths, rng_values, legacy=False, max_len=20):
  """Feeds sentences of the given lengths (ids = sentence number); returns the examples."""
  rng = ScriptedRng(rng_values)
  builder = ExampleBuilder(max_len, rng, legacy_segment_bug=legacy)
  examples = []
  for number, length in enumerate(sentence_lengths, start=1):
    example = builder.add_sentence([number] * length)
    if example is not None:
      examples.append(example)
  example = builder.end_document()
  if example is not None:
    examples.append(example)
  assert rng.values == [], "every scripted random number must be used"
  return examples


def test_fixed_rule_fills_a_then_b_and_truncates_b():
  # 4+5+6+7 = 22 >= 20 flushes. First target (20-3)//2 = 8: sentence 2 does not fit, the coin
  # (0.7) sends it to B, and B then takes the rest; B is cut to 20 - 4 - 3 = 13 tokens.
  [(first, second)] = run_builder([4, 5, 6, 7], [0.5, 0.7, 0.9])
  assert first == [1] * 4
  assert second == [2] * 5 + [3] * 6 + [4] * 2


def test_fixed_rule_coin_can_put_the_border_sentence_into_a():
  # The coin (0.2) puts sentence 2 into A, which is then past its target: no second coin,
  # the rest goes to B, cut to 20 - 9 - 3 = 8 tokens.
  [(first, second)] = run_builder([4, 5, 6, 7], [0.5, 0.2, 0.9])
  assert first == [1] * 4 + [2] * 5
  assert second == [3] * 6 + [4] * 2


def test_legacy_rule_puts_everything_after_a_into_a():
  # Chinese-ELECTRA: once A is non-empty every sentence goes to A; A is cut to 20 - 2.
  [(first, second)] = run_builder([4, 5, 6, 7], [0.5, 0.9], legacy=True)
  assert first == [1] * 4 + [2] * 5 + [3] * 6 + [4] * 3
  assert second == []


def test_legacy_rule_sends_a_long_leading_sentence_to_b():
  # Sentence 1 (10 tokens) is too long for the empty A and B is empty: it lands in B, and the
  # later sentences in A. The fixed rule keeps the order.
  [(first, second)] = run_builder([10, 3, 9], [0.5, 0.9], legacy=True)
  assert first == [2] * 3 + [3] * 9 and second == [1] * 5
  [(first, second)] = run_builder([10, 3, 9], [0.5, 0.9])
  assert first == [1] * 10 and second == [2] * 3 + [3] * 4


def test_single_segment_draw_and_short_target():
  # random() < 0.1 makes A's target 100000 (one segment); < 0.05 after an example makes the
  # next target randint(5, 20), here 5, so the next example is flushed after 6 tokens.
  examples = run_builder([12, 10, 6, 4], [0.05, 0.01, 0.5, 0.9, 0.5, 0.9])
  assert examples == [([1] * 12 + [2] * 6, []), ([3] * 6, []), ([4] * 4, [])]


def test_document_end_flushes_and_blank_lines_count_only_when_asked(tmp_path):
  vocab = write_vocab(tmp_path / "vocab.txt")
  tokenizer = FullTokenizer(vocab)
  lines = ["d0 s0 w1 w2", "", "d1 s0 w3", "", "", "d2 s0 w4"]
  examples = list(build_examples(lines, tokenizer, max_seq_length=MAX_LEN))
  assert len(examples) == 3  # one per document, repeated blank lines change nothing
  merged = list(build_examples(lines, tokenizer, max_seq_length=MAX_LEN,
                               blanks_separate_docs=False))
  assert len(merged) == 1
  ids = merged[0]["input_ids"]
  assert ids[0] == tokenizer.vocab["[CLS]"] and sum(merged[0]["input_mask"]) == 12


def test_segment_statistics_fixed_versus_legacy(corpus):
  tokenizer = FullTokenizer(corpus["vocab"])
  # Long documents of short sentences: most examples hold several sentences.
  rng = random.Random(3)
  lines = []
  for doc in range(NUM_DOCS):
    lines += [
        f"d{int(doc)} s{int(index)} " + " ".join(rng.choices(FILLERS, k=rng.randint(1, 10)))
        for index in range(SENTENCES_PER_DOC)
    ] + [""]

  def two_segment_share(legacy):
    examples = list(
        build_examples(lines, tokenizer, max_seq_length=MAX_LEN, seed=5, legacy_segment_bug=legacy))
    return np.mean([max(e["segment_ids"]) == 1 for e in examples]), len(examples)

  fixed, count = two_segment_share(legacy=False)
  legacy, legacy_count = two_segment_share(legacy=True)
  assert count > 200 and legacy_count > 200
  assert fixed > 0.5, "the fixed rule fills B in most examples"
  assert legacy < 0.15, "the legacy rule leaves B almost always empty"


# ---------------------------------------------------------------------------------------------
# The wire format.


def test_encoder_matches_protobuf_serialization():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  encoder = ExampleEncoder(MAX_LEN, cls_id=101, sep_id=102, vocab_size=30000)
  cases = [([5, 127, 128], [16383, 16384, 29999]), ([1] * 29, []), ([7] * 10, [9] * 19), ([], [])]
  for first, second in cases:
    features = make_features(first, second, 101, 102, MAX_LEN)
    expected = tf.train.Example(features=tf.train.Features(
        feature={
            name: tf.train.Feature(int64_list=tf.train.Int64List(value=values))
            for name, values in features.items()
        }))
    assert encoder.encode(first, second) == expected.SerializeToString(deterministic=True)


def bitwise_crc32c(data):
  crc = 0xFFFFFFFF
  for byte in data:
    crc ^= byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
  return crc ^ 0xFFFFFFFF


def test_crc32c_batch_against_bitwise_definition():
  rng = random.Random(0)
  records = [b"123456789", b"", b"a"] + [
      bytes(rng.getrandbits(8) for _ in range(n)) for n in (1, 3, 4, 5, 63, 64, 65, 700)
  ]
  crcs = crc32c_batch(records)
  assert int(crcs[0]) == 0xE3069283  # the published check value
  assert [int(c) for c in crcs] == [bitwise_crc32c(r) for r in records]


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
  build(corpus["vocab"],
        output_dir,
        corpus_dir=corpus_dir,
        max_seq_length=MAX_LEN,
        num_processes=1,
        progress=False)
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
  build(corpus["vocab"],
        again,
        corpus_dir=corpus["dir"],
        max_seq_length=MAX_LEN,
        num_processes=2,
        seed=7,
        unit_bytes=2000,
        progress=False)
  assert shard_bytes(again) == shard_bytes(output_dir)
  # One process, one shard: the same example sequence (units are seeded, not processes).
  single = str(tmp_path / "single")
  build(corpus["vocab"],
        single,
        corpus_dir=corpus["dir"],
        max_seq_length=MAX_LEN,
        num_processes=1,
        seed=7,
        unit_bytes=2000,
        num_out_files=1,
        progress=False)
  original = shard_bytes(output_dir)
  assert shard_bytes(single) == {
      "pretrain_data.tfrecord-0-of-1":
          (original["pretrain_data.tfrecord-0-of-2"] + original["pretrain_data.tfrecord-1-of-2"])
  }
  other_seed = str(tmp_path / "other")
  build(corpus["vocab"],
        other_seed,
        corpus_dir=corpus["dir"],
        max_seq_length=MAX_LEN,
        num_processes=1,
        seed=8,
        unit_bytes=2000,
        num_out_files=1,
        progress=False)
  assert shard_bytes(other_seed) != shard_bytes(single)


def test_command_line_run_matches_library_build(corpus, tmp_path):
  # The tool in a fresh process (2 workers, forked) gives the bytes of a one-process build.
  cli_dir, library_dir = tmp_path / "cli", str(tmp_path / "library")
  run = subprocess.run([
      sys.executable,
      os.path.join(REPO, "build_pretraining_dataset.py"), "--corpus-files",
      os.path.join(corpus["dir"], "*.txt"), "--vocab-file", corpus["vocab"], "--output-dir",
      str(cli_dir), "--max-seq-length",
      str(MAX_LEN), "--num-processes", "2", "--seed", "4"
  ],
                       capture_output=True,
                       text=True,
                       check=False)
  assert run.returncode == 0, run.stderr
  assert "[build] 100.0%" in run.stderr
  assert run.stdout.startswith("wrote ") and "MB/s" in run.stdout
  build(corpus["vocab"],
        library_dir,
        corpus_files=[os.path.join(corpus["dir"], "*.txt")],
        max_seq_length=MAX_LEN,
        num_processes=1,
        num_out_files=2,
        seed=4,
        progress=False)
  assert shard_bytes(str(cli_dir)) == shard_bytes(library_dir)


def test_failure_leaves_no_output_and_keeps_previous(corpus, tmp_path, monkeypatch):
  output_dir = tmp_path / "out"

  def fail(*_args, **_kwargs):
    raise RuntimeError("disk full")

  monkeypatch.setattr(dataset_writer, "_write_shards", fail)
  with pytest.raises(RuntimeError):
    build(corpus["vocab"],
          str(output_dir),
          corpus_dir=corpus["dir"],
          max_seq_length=MAX_LEN,
          num_processes=1,
          progress=False)
  assert os.listdir(tmp_path) == []  # neither the output nor the temporary directory
  # A failed rebuild leaves the previous complete output untouched.
  monkeypatch.undo()
  build(corpus["vocab"],
        str(output_dir),
        corpus_dir=corpus["dir"],
        max_seq_length=MAX_LEN,
        num_processes=1,
        progress=False)
  before = shard_bytes(str(output_dir))
  monkeypatch.setattr(dataset_writer, "_write_shards", fail)
  with pytest.raises(RuntimeError):
    build(corpus["vocab"],
          str(output_dir),
          corpus_dir=corpus["dir"],
          max_seq_length=MAX_LEN,
          num_processes=1,
          seed=3,
          progress=False)
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
  missing_vocab = subprocess.run([
      sys.executable, script, "--corpus-dir", corpus["dir"], "--vocab-file",
      str(tmp_path / "nope.txt"), "--output-dir",
      str(tmp_path / "out")
  ],
                                 capture_output=True,
                                 text=True,
                                 check=False)
  assert missing_vocab.returncode == 2
  assert missing_vocab.stderr.strip().splitlines() == [
      f"build_pretraining_dataset.py: error: vocab file not found: {tmp_path / 'nope.txt'}"
  ]
  for corpus_args in (["--corpus-dir",
                       str(tmp_path / "none")], ["--corpus-files",
                                                 str(tmp_path / "*.missing")]):
    status = bpd.main(corpus_args +
                      ["--vocab-file", corpus["vocab"], "--output-dir",
                       str(tmp_path / "out")])
    assert status == 2
  assert not os.path.exists(tmp_path / "out")


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
