"""Featurized fine-tuning data on disk (TFRecords) and the tf.data pipeline that reads it.

`Preprocessor.prepare(split, is_training)` writes `<preprocessed_data_dir>/<tasks>_<split>.tfrecord`
plus a `.metadata` JSON holding the record counts and a fingerprint of everything the records
depend on (input files' sizes and mtimes, vocabulary hash, max_seq_length, lower-casing, task
names, QA window settings, and the batch size / shuffle seed that shape the file). A later run
reuses the file only when the fingerprint is identical, so stale caches (the cause of crashes such
as Chinese-ELECTRA#50) are rebuilt instead of silently reused.

Every record has the shared features input_ids / input_mask / segment_ids [max_seq_length],
task_id and valid (scalars) plus every task's own features (zeros for the other tasks). Every
file is padded to a multiple of its batch size with records whose task_id is the number of tasks
and valid is 0, as the original: eval and predict batches keep a static shape without dropping
examples, and a training run counts its steps from the padded count (`n_train_steps`), so its
learning-rate schedule is the original's. A padding record adds nothing to the loss: the model
weighs each example's loss by whether its task_id is the task's own.

Examples are featurized task by task in `get_examples` order (QA tasks rely on that to rebuild
their eids from a cached file); training records are shuffled only after serialization.
"""

import dataclasses
import io
import json
import logging
import os
import random
import uuid

import numpy as np
import tensorflow as tf

from finetune import task as task_lib
from util import example_parsing
from util import fileio
from util import utils

_logger = logging.getLogger(__name__)

# Bump when the record layout or featurisation changes, to invalidate existing caches.
FORMAT_VERSION = 1
DEFAULT_SHUFFLE_BUFFER = 10000
# Trimmed batches (group_by_length) are a multiple of this long.
TRIM_MULTIPLE = 16


def n_train_steps(n_records, batch_size, epochs):
  """Training steps as the original counts them: whole batches of the PADDED record count
  (`PreparedData.n_records`) per epoch, times the epochs, rounded down."""
  return int(n_records // batch_size * epochs)


def shared_feature_specs(max_seq_length):
  return [
      task_lib.FeatureSpec("input_ids", (max_seq_length,)),
      task_lib.FeatureSpec("input_mask", (max_seq_length,)),
      task_lib.FeatureSpec("segment_ids", (max_seq_length,)),
      task_lib.FeatureSpec("task_id", ()),
      task_lib.FeatureSpec("valid", ()),  # 0 for the padding records
  ]


def all_feature_specs(max_seq_length, tasks):
  """Shared specs plus every task's own; a name used twice must keep its shape."""
  specs = {}
  for spec in shared_feature_specs(max_seq_length) + [
      spec for task in tasks for spec in task.feature_specs()]:
    if spec.name in specs and specs[spec.name].shape != spec.shape:
      raise ValueError(f"Feature '{spec.name}' declared with shapes {specs[spec.name].shape} "
                       f"and {spec.shape}")
    specs[spec.name] = spec
  return list(specs.values())


@dataclasses.dataclass(frozen=True)
class PreparedData:
  """One serialized split: where it is and how many records it holds."""
  tfrecord_path: str
  n_examples: int  # real records (features, e.g. several per long QA example)
  n_records: int  # n_examples plus the padding records
  batch_size: int
  is_training: bool
  feature_specs: tuple

  @property
  def n_batches(self):
    return self.n_records // self.batch_size


class Preprocessor:
  """Builds (or reuses) the TFRecords of `tasks` for the splits a run needs."""

  def __init__(self, config, tasks):
    self.config = config
    self.tasks = list(tasks)
    self.feature_specs = tuple(all_feature_specs(config.max_seq_length, self.tasks))
    self._shared_names = {spec.name for spec in shared_feature_specs(config.max_seq_length)}

  def prefix(self, split):
    name = "_".join(sorted(task.name for task in self.tasks)) + "_" + split
    return os.path.join(self.config.preprocessed_data_dir, name)

  def prepare(self, split, is_training, batch_size=None):
    """Returns the PreparedData of `split`, serializing it unless a matching cache exists."""
    if batch_size is None:
      batch_size = self.config.train_batch_size if is_training else self.config.eval_batch_size
    tfrecord_path = self.prefix(split) + ".tfrecord"
    metadata_path = self.prefix(split) + ".metadata"
    fingerprint = self.fingerprint(split, is_training, batch_size)
    metadata = self._reusable_metadata(split, tfrecord_path, metadata_path, fingerprint)
    if metadata is None:
      metadata = self._build(split, is_training, batch_size, tfrecord_path, metadata_path,
                             fingerprint)
    return PreparedData(tfrecord_path, metadata["n_examples"], metadata["n_records"],
                        batch_size, is_training, self.feature_specs)

  def dataset_fn(self, prepared, seed=None, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER):
    """A function of an InputContext, for strategy.distribute_datasets_from_function."""
    group_by_length = self.config.group_by_length if prepared.is_training else 0
    def make_dataset(input_context=None):
      return input_fn(prepared.tfrecord_path, prepared.feature_specs, prepared.batch_size,
                      prepared.is_training, input_context, seed, shuffle_buffer,
                      group_by_length=group_by_length)
    return make_dataset

  # ---- cache validity ----

  def fingerprint(self, split, is_training, batch_size):
    """Everything the records depend on, as JSON-compatible values."""
    config = self.config
    fingerprint = {
        "format_version": FORMAT_VERSION,
        "split": split,
        "is_training": is_training,
        "task_names": list(config.task_names),  # their order defines task_id
        "max_seq_length": config.max_seq_length,
        "do_lower_case": config.do_lower_case,
        "vocab_sha256": fileio.sha256(config.vocab_file),
        "inputs": self._input_stats(split),
    }
    fingerprint["pad_to_multiple_of"] = batch_size
    if is_training:
      fingerprint["shuffle_seed"] = config.seed
    for task in self.tasks:
      fingerprint.update(task.cache_settings())
    return json.loads(json.dumps(fingerprint))  # normalised like a round trip through disk

  def _input_stats(self, split):
    stats = {}
    for task in self.tasks:
      for path in _task_input_files(task, split):
        info = tf.io.gfile.stat(path)
        stats[path] = [info.length, info.mtime_nsec]
    return stats

  def _reusable_metadata(self, split, tfrecord_path, metadata_path, fingerprint):
    if not self.config.use_tfrecords_if_existing:
      return None
    if not (tf.io.gfile.exists(metadata_path) and tf.io.gfile.exists(tfrecord_path)):
      return None
    try:
      with tf.io.gfile.GFile(metadata_path, "r") as f:
        metadata = json.load(f)
    except (json.JSONDecodeError, tf.errors.OpError) as e:
      _logger.warning("Ignoring unreadable %s: %s", metadata_path, e)
      return None
    if metadata.get("fingerprint") != fingerprint:
      _logger.info("Rebuilding %s: inputs or settings changed", tfrecord_path)
      return None
    if not self._load_sidecars(split, tfrecord_path, metadata):
      return None
    _logger.info("Reusing %s (%d examples)", tfrecord_path, metadata["n_examples"])
    return metadata

  # ---- what tasks keep beside the records ----

  def _save_sidecars(self, split, tfrecord_path):
    """Each task's `sidecar_arrays(split)` as <records>.<task>.npz; {task: file name}."""
    names = {}
    for task in self.tasks:
      arrays = task.sidecar_arrays(split)
      if arrays is None:
        continue
      path = f"{tfrecord_path}.{task.name}.npz"
      buffer = io.BytesIO()
      np.savez(buffer, **arrays)
      tmp_path = _temporary_path(path)
      with fileio.open_file(tmp_path, "wb") as f:
        f.write(buffer.getvalue())
      fileio.replace(tmp_path, path)
      names[task.name] = os.path.basename(path)
    return names

  def _load_sidecars(self, split, tfrecord_path, metadata):
    """Hands each task what it kept beside the records; False if a file is missing or bad."""
    directory = os.path.dirname(tfrecord_path)
    for task in self.tasks:
      name = metadata.get("sidecars", {}).get(task.name)
      if name is None:
        continue
      path = os.path.join(directory, name)
      try:
        with np.load(io.BytesIO(fileio.read_bytes(path))) as arrays:
          task.load_sidecar_arrays(split, {key: arrays[key] for key in arrays.files})
      except (OSError, ValueError, tf.errors.OpError) as e:
        _logger.warning("Rebuilding %s: cannot read %s (%s)", tfrecord_path, path, e)
        return False
    return True

  # ---- serialization ----

  def _build(self, split, is_training, batch_size, tfrecord_path, metadata_path, fingerprint):
    tf.io.gfile.makedirs(os.path.dirname(tfrecord_path))
    if tf.io.gfile.exists(metadata_path):
      # Removed first so a crash below can never leave old metadata next to new records.
      tf.io.gfile.remove(metadata_path)
    records = self._serialized_records(split, is_training)
    if is_training:
      records = list(records)
      random.Random(self.config.seed).shuffle(records)
    # Padding goes after the shuffled records, as the original writes it; the training
    # pipeline's own shuffle spreads it over the epoch.
    n_examples, n_records = _write_atomically(tfrecord_path, records, batch_size,
                                              self._padding_record())
    metadata = {"n_examples": n_examples, "n_records": n_records, "fingerprint": fingerprint,
                # Scoring needs them; training never does.
                "sidecars": {} if is_training else self._save_sidecars(split, tfrecord_path)}
    utils.write_json(metadata, metadata_path, atomic=True)
    _logger.info("Wrote %s: %d examples, %d records", tfrecord_path, n_examples, n_records)
    return metadata

  def _serialized_records(self, split, is_training):
    for task in self.tasks:
      own_names = {spec.name for spec in task.feature_specs()}
      logged = 0
      task.truncated = 0
      examples = task.get_examples(split)
      for example in examples:
        for feature in task.featurize(example, is_training):
          if self.config.log_examples and logged < LOGGED_EXAMPLES:
            _log_feature(task, split, feature)
            logged += 1
          feature = dict(feature, valid=1)
          yield self._to_tf_example(feature, own_names).SerializeToString()
      _report_truncated(task, split, len(examples))

  def _to_tf_example(self, feature, own_names):
    """Checks `feature` against the specs; other tasks' features are filled with zeros."""
    values = {}
    for spec in self.feature_specs:
      if spec.name in feature:
        values[spec.name] = _flat_ints(feature[spec.name], spec)
      elif spec.name in own_names or spec.name in self._shared_names:
        raise ValueError(f"featurize() returned no '{spec.name}'")
      else:
        values[spec.name] = [0] * spec.length
    return make_tf_example(values)

  def _padding_record(self):
    values = {spec.name: [0] * spec.length for spec in self.feature_specs}
    values["task_id"] = [len(self.config.task_names)]
    return make_tf_example(values).SerializeToString()


def _report_truncated(task, split, n_examples):
  """One warning line with the count of cut texts, also kept for the results JSON."""
  if not task.truncated:
    return
  what, limit = task.truncation_description()
  utils.warning(f"{task.name} {split}: {task.truncated} of {n_examples} {what} cut to {limit}")
  stats = getattr(task, "data_stats", None)
  if stats is not None:
    stats.setdefault(split, {})["truncated"] = task.truncated


LOGGED_EXAMPLES = 3  # with log_examples, the first features of each task and split are shown


def _log_feature(task, split, feature):
  """One featurized example as the original's log_examples shows it: tokens, then the ids."""
  ids = [int(i) for i in feature["input_ids"] if i]
  tokens = " ".join(task.tokenizer.convert_ids_to_tokens(ids))
  extras = {name: value for name, value in feature.items()
            if name not in ("input_ids", "input_mask", "segment_ids")}
  utils.log(f"{task.name} {split} example: {tokens}")
  utils.log(f"  input_ids: {ids}; " + "; ".join(f"{name}: {value}"
                                                for name, value in sorted(extras.items())))


def _task_input_files(task, split):
  """The files a task reads for `split`: its own list if it has one, else its whole raw dir."""
  if hasattr(task, "input_files"):
    return list(task.input_files(split))
  raw_dir = task.config.raw_data_dir(task.name)
  if not tf.io.gfile.isdir(raw_dir):
    return []
  return sorted(os.path.join(root, name)
                for root, _, names in tf.io.gfile.walk(raw_dir) for name in names)



def _flat_ints(value, spec):
  values = [int(v) for v in tf.nest.flatten(value)]
  if len(values) != spec.length:
    raise ValueError(f"Feature '{spec.name}' has {len(values)} values, its spec {spec.shape} "
                     f"needs {spec.length}")
  return values


def make_tf_example(values):
  features = {name: tf.train.Feature(int64_list=tf.train.Int64List(value=ints))
              for name, ints in values.items()}
  return tf.train.Example(features=tf.train.Features(feature=features))


def _temporary_path(path):
  return f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _write_atomically(path, records, pad_to, padding_record):
  """Writes records (+ padding up to a multiple of pad_to); returns (n_real, n_total)."""
  tmp_path = _temporary_path(path)
  n_examples = 0
  try:
    with tf.io.TFRecordWriter(tmp_path) as writer:
      for record in records:
        writer.write(record)
        n_examples += 1
      n_padding = -n_examples % pad_to
      for _ in range(n_padding):
        writer.write(padding_record)
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
  except BaseException:
    # E.g. a featurize error half way: leave no partial file behind.
    if tf.io.gfile.exists(tmp_path):
      tf.io.gfile.remove(tmp_path)
    raise
  return n_examples, n_examples + n_padding


def _parse_fn(feature_specs):
  shapes = {spec.name: list(spec.shape) for spec in feature_specs}
  return lambda records: example_parsing.parse_int_features(records, shapes)


def input_fn(tfrecord_path, feature_specs, batch_size, is_training, input_context=None,
             seed=None, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER, group_by_length=0):
  """A tf.data.Dataset of feature dicts in batches of the per-replica batch size.

  `batch_size` is the global batch size; with an `input_context` (tf.distribute.InputContext)
  each input pipeline reads its own shard and batches for one replica. Training data repeats
  forever and is shuffled; every batch is full (the eval files are padded for that).
  `group_by_length` > 0 (training only) makes batches of similar lengths, trimmed to their
  longest sequence: see `length_grouped_batches`.
  """
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(batch_size)
  dataset = tf.data.TFRecordDataset(tfrecord_path)
  if input_context is not None and input_context.num_input_pipelines > 1:
    dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  if is_training:
    dataset = dataset.repeat().shuffle(shuffle_buffer, seed=seed)
  if is_training and group_by_length:
    dataset = length_grouped_batches(dataset, _parse_fn(feature_specs), batch_size,
                                     group_by_length, seed)
  else:
    # Batch the serialized records, then parse each batch at once (in parallel with training,
    # in input order).
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(_parse_fn(feature_specs), num_parallel_calls=tf.data.AUTOTUNE)
  # Prefetching keeps a parsed batch ready before the step asks for it.
  return dataset.prefetch(tf.data.AUTOTUNE)


def length_grouped_batches(records, parse_fn, batch_size, window, seed=None):
  """Batches of similar lengths from shuffled serialized `records`, each trimmed to its longest.

  Records are taken `window` batches at a time, sorted by length (the sum of input_mask) and cut
  into batches; the batches are shuffled again within about a window, so that lengths do not
  come in rising order. Each batch then keeps only the columns its longest sequence needs
  (`trim_padding`). With short texts most of a fixed-length batch is padding, so this saves
  most of the compute; window 1 trims without sorting. A batch's examples are then no longer
  drawn at random from the whole shuffle, which is why it is off by default.
  """
  def sorted_batches(features):
    order = tf.argsort(sequence_lengths(features), stable=True)
    in_order = {name: tf.gather(value, order) for name, value in features.items()}
    return tf.data.Dataset.from_tensor_slices(in_order).batch(batch_size)

  windows = records.batch(batch_size * window, drop_remainder=True)
  windows = windows.map(parse_fn, num_parallel_calls=tf.data.AUTOTUNE)
  if window == 1:
    batches = windows  # as they come, rows in their order
  else:
    batches = windows.flat_map(sorted_batches).shuffle(window, seed=seed)
  return batches.map(trim_padding, num_parallel_calls=tf.data.AUTOTUNE)


def sequence_lengths(features):
  return tf.reduce_sum(features["input_mask"], axis=1)


def trim_padding(features):
  """`features` without the trailing columns that no row of the batch uses.

  Every feature as long as input_mask (input_ids, segment_ids, a tagging task's labels) is cut
  to the batch's longest sequence, rounded up to a multiple of TRIM_MULTIPLE so that a run
  sees a handful of shapes (each one an XLA compilation where steps are compiled). The model's
  outputs on the real tokens do not change: attention gives padded positions a weight of
  exactly 0 (the exponential of the -10000 mask adder underflows), and the heads ignore them.
  """
  full = features["input_mask"].shape[1]
  longest = tf.reduce_max(sequence_lengths(features))
  length = (longest + TRIM_MULTIPLE - 1) // TRIM_MULTIPLE * TRIM_MULTIPLE
  # At least one multiple: a batch of padding records alone has no real token.
  length = tf.clip_by_value(length, min(TRIM_MULTIPLE, full), full)
  return {name: value[:, :length] if value.shape.rank == 2 and value.shape[1] == full
          else value for name, value in features.items()}
