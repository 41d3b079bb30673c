"""The pre-training input pipeline: batches, sharding per pipeline, shuffling, file lists, and
the check that names a damaged file and record."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

import configure_pretraining
from pretrain import pretrain_data
from tests.pretrain_fixtures import ALL_TAGS, CLS, SEQ_LENGTH, tag, tiny_config


def test_input_fn_yields_static_int32_batches(record_dir):
  config = tiny_config(record_dir)
  dataset = pretrain_data.get_input_fn(config, is_training=True)(None)
  # drop_remainder=True gives a static batch dimension, which the jit-compiled step needs.
  for name in pretrain_data.FEATURE_NAMES:
    assert dataset.element_spec[name].shape.as_list() == [8, SEQ_LENGTH]
    assert dataset.element_spec[name].dtype == tf.int32
  batches = list(dataset.take(30))  # 240 records from 30: the training stream repeats
  tags = np.concatenate([b["input_ids"].numpy()[:, 1] for b in batches])
  assert set(tags) == ALL_TAGS
  assert all(b["input_ids"].numpy()[:, 0].tolist() == [CLS] * 8 for b in batches)


def _tags(config, is_training, context, num_batches):
  dataset = pretrain_data.get_input_fn(config, is_training)(context)
  return [t for b in dataset.take(num_batches) for t in b["input_ids"].numpy()[:, 1]]


def test_input_fn_shards_files_or_records_per_pipeline(record_dir):
  config = tiny_config(record_dir, eval_batch_size=2)
  contexts = [tf.distribute.InputContext(2, i, 1) for i in range(2)]
  by_files = [set(_tags(config, False, c, 10)) for c in contexts]
  assert by_files[0].isdisjoint(by_files[1])
  assert by_files[0] | by_files[1] == ALL_TAGS
  # One file for two pipelines: each reads every other record.
  config.pretrain_tfrecords = str(record_dir / "pretrain_tfrecords" / "*-1-of-3")
  by_records = [_tags(config, False, c, 5) for c in contexts]
  assert by_records[0] == [tag(1, i) for i in (0, 2, 4, 6, 8)] * 2
  assert by_records[1] == [tag(1, i) for i in (1, 3, 5, 7, 9)] * 2


def test_training_order_follows_the_shuffle_buffer_size(record_dir):
  config = tiny_config(record_dir, shuffle_buffer_size=1)
  config.pretrain_tfrecords = str(record_dir / "pretrain_tfrecords" / "*-1-of-3")
  # A buffer of one record keeps the file's order within each batch (the file repeats, so a
  # batch may run on into the next pass); a larger one draws each batch from across the whole
  # 10-record file. Which batch comes first is free: training parses batches in parallel
  # without keeping their order.
  def is_run_of_the_file(tags):
    start = tags[0] - tag(1, 0)
    return tags == [tag(1, (start + i) % 10) for i in range(8)]

  assert is_run_of_the_file(_tags(config, True, None, 1))
  assert configure_pretraining.PretrainingConfig(
      "tiny", str(record_dir)).shuffle_buffer_size == 10000
  config.shuffle_buffer_size = 10
  assert not all(is_run_of_the_file(_tags(config, True, None, 1)) for _ in range(3))
  with pytest.raises(ValueError, match="shuffle_buffer_size"):
    tiny_config(record_dir, shuffle_buffer_size=0)


def _parallel_order_settings(dataset):
  """{op: its `deterministic` attribute} for the parallel stages of a tf.data pipeline."""
  variant = dataset._variant_tensor  # pylint: disable=protected-access
  serialized = tf.raw_ops.DatasetToGraphV2(input_dataset=variant)
  graph = graph_pb2.GraphDef.FromString(serialized.numpy())
  return {node.op: node.attr["deterministic"].s.decode() for node in graph.node
          if "deterministic" in node.attr}


def test_deterministic_data_order_keeps_the_parallel_reads_in_order(record_dir):
  # Three files, read together: the interleave is parallel, and so is the parsing.
  config = tiny_config(record_dir)
  free = _parallel_order_settings(pretrain_data.get_input_fn(config, is_training=True)(None))
  assert free == {"ParallelInterleaveDatasetV4": "false", "ParallelMapDatasetV2": "false"}
  held_out = _parallel_order_settings(pretrain_data.get_input_fn(config, is_training=False)(None))
  assert set(held_out.values()) == {"true"}
  config.deterministic_data_order = True
  kept = _parallel_order_settings(pretrain_data.get_input_fn(config, is_training=True)(None))
  assert kept == {"ParallelInterleaveDatasetV4": "true", "ParallelMapDatasetV2": "true"}
  default = configure_pretraining.PretrainingConfig("tiny", str(record_dir))
  assert default.deterministic_data_order is False


def test_input_files_comma_separated_and_missing(record_dir):
  base = record_dir / "pretrain_tfrecords"
  files = pretrain_data.list_input_files(f"{base}/*-0-of-3, {base}/*-2-of-3")
  assert [os.path.basename(f) for f in files] == ["pretrain_data.tfrecord-0-of-3",
                                                  "pretrain_data.tfrecord-2-of-3"]
  with pytest.raises(FileNotFoundError, match="nothing_here"):
    pretrain_data.list_input_files(f"{base}/nothing_here*")


def test_check_input_files_accepts_files_written_by_tensorflow(record_dir):
  files = pretrain_data.list_input_files(str(record_dir / "pretrain_tfrecords" / "*"))
  pretrain_data.check_input_files(files)
  pretrain_data.check_input_files(files, budget_bytes=0)  # the first MiB of each: all here


def damaged_copy(record_dir, damage):
  source = record_dir / "pretrain_tfrecords" / "pretrain_data.tfrecord-1-of-3"
  data = bytearray(source.read_bytes())
  damage(data)
  target = record_dir / "damaged.tfrecord"
  target.write_bytes(bytes(data))
  return str(target), len(source.read_bytes()) // 10  # every record has the same length


@pytest.mark.parametrize("damage, record, what", [
    (lambda data: data.__setitem__(slice(-30, -29), b"\xff"), 10, "data checksum"),
    (lambda data: data.__delitem__(slice(-7, None)), 10, "ends inside the record"),
    (lambda data: data.__setitem__(slice(0, 4), b"\xff\xff\xff\x7f"), 1, "header"),
])
def test_check_input_files_names_the_damaged_file_and_record(record_dir, damage, record, what):
  path, record_bytes = damaged_copy(record_dir, damage)
  with pytest.raises(pretrain_data.CorruptDataError) as error:
    pretrain_data.check_input_files([path])
  message = str(error.value)
  assert message.startswith(f"{path}: record {record} (byte {(record - 1) * record_bytes}) is "
                            "damaged") and what in message and "\n" not in message


def test_a_file_that_is_not_a_tfrecord_is_refused(tmp_path):
  path = tmp_path / "notes.txt"
  path.write_text("这不是 TFRecord 文件，只是一段文字。\n" * 20, encoding="utf-8")
  with pytest.raises(pretrain_data.CorruptDataError, match="record 1 .byte 0. is damaged"):
    pretrain_data.check_input_files([str(path)])
