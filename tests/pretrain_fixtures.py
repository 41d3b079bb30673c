"""Tiny pre-training data for the tests: a vocabulary, random [CLS] ... [SEP] records, TFRecord
files of tagged records (`write_tagged_records`, the `record_dir` fixture), and a one-layer config."""

import os

import numpy as np
import tensorflow as tf

import configure_pretraining


PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
VOCAB_SIZE = 50
SEQ_LENGTH = 16
TINY_HPARAMS = {
    "vocab_size": VOCAB_SIZE, "max_seq_length": SEQ_LENGTH, "embedding_size": 16,
    "model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 1},
    "generator_hidden_size": 0.5, "train_batch_size": 8, "eval_batch_size": 8,
}


def write_vocab(directory):
  tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  tokens += [f"tok{i}" for i in range(len(tokens), VOCAB_SIZE)]
  path = os.path.join(directory, "vocab.txt")
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")
  return path


def random_examples(rng, count, seq_length=SEQ_LENGTH, min_length=3):
  """[CLS] tokens [SEP] + zero padding, with random lengths; returns (ids, mask, segments)."""
  ids = np.zeros([count, seq_length], np.int64)
  input_mask = np.zeros_like(ids)
  for row in range(count):
    length = rng.integers(min_length, seq_length + 1)
    ids[row, :length] = rng.integers(MASK + 1, VOCAB_SIZE, length)
    ids[row, 0], ids[row, length - 1] = CLS, SEP
    input_mask[row, :length] = 1
  segments = np.zeros_like(ids)
  segments[:, SEQ_LENGTH // 2:] = input_mask[:, SEQ_LENGTH // 2:]
  return ids, input_mask, segments


def write_tfrecords(path, ids, input_mask, segments):
  with tf.io.TFRecordWriter(path) as writer:
    for row in range(len(ids)):
      feature = {name: tf.train.Feature(int64_list=tf.train.Int64List(value=values[row]))
                 for name, values in (("input_ids", ids), ("input_mask", input_mask),
                                      ("segment_ids", segments))}
      writer.write(tf.train.Example(
          features=tf.train.Features(feature=feature)).SerializeToString())


def tiny_config(data_dir, **kwargs):
  write_vocab(data_dir)
  return configure_pretraining.PretrainingConfig("tiny", str(data_dir),
                                                 **{**TINY_HPARAMS, **kwargs})


def features_of(ids, input_mask, segments):
  return {"input_ids": tf.constant(ids, tf.int32), "input_mask": tf.constant(input_mask, tf.int32),
          "segment_ids": tf.constant(segments, tf.int32)}



def tag(shard, index):
  return MASK + 1 + 10 * shard + index


ALL_TAGS = {tag(s, i) for s in range(3) for i in range(10)}


def write_tagged_records(tmp_path):
  """Three files of ten records under `tmp_path/pretrain_tfrecords`, each record tagged by
  `tag(shard, index)` at position 1 so tests can tell which records a pipeline read."""
  rng = np.random.default_rng(0)
  directory = tmp_path / "pretrain_tfrecords"
  directory.mkdir()
  for shard in range(3):
    ids, input_mask, segments = random_examples(rng, 10)
    ids[:, 1] = tag(shard, np.arange(10))  # a unique, valid token id per record
    write_tfrecords(str(directory / f"pretrain_data.tfrecord-{shard}-of-3"), ids, input_mask,
                    segments)
  return tmp_path
