"""The pre-training example algorithm and the bytes of its records: the segment rule step by
step (scripted random numbers), documents, the two-segment share of the fixed and the legacy
rule (pretrain/example_builder.py), the tf.train.Example encoding and the CRC32C of the TFRecord
framing (pretrain/tfrecord_encoding.py). Whole builds are tested in
test_build_pretraining_dataset.py.
"""

import random

import numpy as np

from model.tokenization import FullTokenizer
from pretrain.example_builder import ExampleBuilder, build_examples, make_features
from pretrain.tfrecord_encoding import ExampleEncoder, crc32c_batch
from tests.test_build_pretraining_dataset import (FILLERS, MAX_LEN, NUM_DOCS, SENTENCES_PER_DOC,
                                                  write_vocab)

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


def test_segment_statistics_fixed_versus_legacy(tmp_path):
  tokenizer = FullTokenizer(write_vocab(tmp_path / "vocab.txt", size_hint=300))
  # Long documents of short sentences: most examples hold several sentences.
  rng = random.Random(3)
  lines = []
  for doc in range(NUM_DOCS):
    lines += [
        f"d{doc} s{index} " + " ".join(rng.choices(FILLERS, k=rng.randint(1, 10)))
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
