"""Pre-training input pipeline: TFRecords of token ids -> batched int32 feature dicts.

The records hold only `input_ids`, `input_mask` and `segment_ids` (int64, length
max_seq_length); masking is dynamic and happens inside the model (pretrain_helpers.mask), so
every epoch sees a different masking of the same text, as in the original.
"""

import typing

import tensorflow as tf

from pretrain import tfrecord_encoding
from util import example_parsing
from util import fileio

FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids")
MAX_CYCLE_LENGTH = 4


class Inputs(typing.NamedTuple):
  """Model inputs; the masked_lm_* fields are None until `pretrain_helpers.mask` fills them."""
  input_ids: tf.Tensor
  input_mask: tf.Tensor
  segment_ids: tf.Tensor
  masked_lm_positions: typing.Optional[tf.Tensor] = None
  masked_lm_ids: typing.Optional[tf.Tensor] = None
  masked_lm_weights: typing.Optional[tf.Tensor] = None


def features_to_inputs(features):
  """A feature dict (as the dataset yields) -> Inputs; absent masked_lm_* fields become None."""
  return Inputs(**{name: features.get(name) for name in Inputs._fields})


def get_updated_inputs(inputs, **kwargs):
  return inputs._replace(**kwargs)


def list_input_files(patterns):
  """Expands comma-separated glob patterns; raises naming the patterns when nothing matches."""
  files = []
  for pattern in patterns.split(","):
    pattern = pattern.strip()
    if pattern:
      files.extend(sorted(tf.io.gfile.glob(pattern)))
  if not files:
    raise FileNotFoundError(f"No pre-training TFRecord files match '{patterns}' "
                            "(set pretrain_tfrecords or run build_pretraining_dataset.py)")
  return files


# Bytes of records whose checksums `check_input_files` verifies, spread over the files: the
# whole of a small data set (the sample data is a few MB), the start of every shard of a big one.
CHECK_BUDGET_BYTES = 256 << 20
MIN_CHECK_BYTES_PER_FILE = 1 << 20


class CorruptDataError(ValueError):
  """A damaged TFRecord file; the message is one line naming the file, record and offset."""


def check_input_files(files, budget_bytes=CHECK_BUDGET_BYTES):
  """Raises CorruptDataError for the first damaged record found in `files`, before training.

  Reads each file from its start and verifies the TFRecord framing and both checksums of every
  record, up to an even share of `budget_bytes` per file (at least MIN_CHECK_BYTES_PER_FILE):
  small data sets are checked whole, and a shard truncated or damaged near its start (a copy
  that failed, a file that is not a TFRecord) is always found. Without this check such a file
  fails training with a DataLossError that names no file.
  """
  per_file = max(MIN_CHECK_BYTES_PER_FILE, budget_bytes // max(len(files), 1))
  for path in files:
    with fileio.open_file(path, "rb") as reader:
      problem = tfrecord_encoding.first_framing_problem(reader, per_file)
    if problem:
      index, offset, what = problem
      raise CorruptDataError(
          f"{path}: record {index + 1} (byte {offset}) is damaged: {what}; rebuild the data "
          "with build_pretraining_dataset.py (or copy the shard again)")


def _pipeline_position(input_context):
  if input_context is None:
    return 1, 0
  return input_context.num_input_pipelines, input_context.input_pipeline_id


def _read_records(files, is_training, num_pipelines, pipeline_id, repeat=True, keep_order=True):
  """The serialized examples this input pipeline owns, repeated forever (or read once).

  Training (`is_training`) shuffles the files; unless `keep_order`, it also reads them in
  parallel without keeping the records' order across files.

  With at least one file per pipeline whole files are dealt out (cheap, no reading of records
  that are thrown away); otherwise every pipeline reads all files in a fixed order and keeps
  every num_pipelines-th record, which is a true partition only because the order is fixed.
  """
  shard_files = len(files) >= num_pipelines
  file_names = tf.data.Dataset.from_tensor_slices(files)
  if shard_files and num_pipelines > 1:
    file_names = file_names.shard(num_pipelines, pipeline_id)
  num_files = len(files) // num_pipelines if shard_files else len(files)
  if shard_files:
    if repeat:
      file_names = file_names.repeat()
    if is_training:
      file_names = file_names.shuffle(num_files)
  cycle_length = min(MAX_CYCLE_LENGTH, num_files)
  records = file_names.interleave(
      tf.data.TFRecordDataset,
      cycle_length=cycle_length,
      num_parallel_calls=tf.data.AUTOTUNE,
      # Training leaves the order across files free (faster when one read stalls) unless
      # `deterministic_data_order`; evaluation keeps it, to be reproducible. With one file at a
      # time, leaving the order free gains nothing and lets a later pass over the file overtake
      # the current one on a busy machine (records out of the file's order even with
      # shuffle_buffer_size 1).
      deterministic=keep_order or cycle_length == 1)
  if not shard_files:
    records = records.shard(num_pipelines, pipeline_id)
    if repeat:
      records = records.repeat()
  return records


def has_held_out_data(config):
  """Whether the data directory has held-out shards (build_pretraining_dataset --eval-fraction)."""
  return bool(config.pretrain_eval_tfrecords
              and tf.io.gfile.glob(config.pretrain_eval_tfrecords))


def get_input_fn(config, is_training):
  """Returns `input_fn(input_context=None) -> tf.data.Dataset` of per-replica batches.

  Training reads `config.pretrain_tfrecords` shuffled and repeated forever. Evaluation reads the
  held-out shards (`config.pretrain_eval_tfrecords`) once, in order, when they exist; otherwise,
  as the original, the training shards repeated forever (evaluation then runs a fixed
  num_eval_steps).
  """
  held_out = not is_training and has_held_out_data(config)
  files = list_input_files(config.pretrain_eval_tfrecords if held_out
                           else config.pretrain_tfrecords)
  global_batch_size = config.train_batch_size if is_training else config.eval_batch_size
  shapes = {name: [config.max_seq_length] for name in FEATURE_NAMES}

  def input_fn(input_context=None):
    num_pipelines, pipeline_id = _pipeline_position(input_context)
    batch_size = (input_context.get_per_replica_batch_size(global_batch_size)
                  if input_context is not None else global_batch_size)
    keep_order = not is_training or config.deterministic_data_order
    records = _read_records(files, is_training, num_pipelines, pipeline_id,
                            repeat=not held_out, keep_order=keep_order)
    if is_training:
      records = records.shuffle(config.shuffle_buffer_size)
    # Static batch shapes: XLA and the train step's input signature need them.
    batches = records.batch(batch_size, drop_remainder=True)
    batches = batches.map(lambda s: example_parsing.parse_int_features(s, shapes),
                          num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=keep_order)
    return batches.prefetch(tf.data.AUTOTUNE)

  return input_fn
