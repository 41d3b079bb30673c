"""What every fine-tuning task provides, and the one place where task features are namespaced.

A task owns everything about its kind of problem: reading the raw files into `Example`s,
featurising them into fixed-length integer features, the TensorFlow head on top of the shared
encoder, the scorer, the files it writes after evaluation, and the raw-input prediction and
serving outputs used by predict.py and export_model.py. Code outside `finetune/` only calls
these methods; a new kind of task is one package under `finetune/` plus a registry entry in
`finetune/task_builder.py`. The package's TensorFlow-free `defaults.py` declares the
hyper-parameters the kind reads (`HPARAMS`, their `RANGES`, `NO_EFFECT` keys kept for the
original's files) and the values a run of one such task alone starts from
(`SINGLE_TASK_DEFAULTS`); configure_finetuning.py reads them through the registry.

Names. A task declares and reads its features and outputs under plain names ("label_ids",
"logits"). Several tasks share one record and one batch, so on disk and in the model's outputs
each task's names carry the prefix "<task>_" -- added and removed only by the functions below.
The shared inputs (input_ids, input_mask, segment_ids, task_id, valid) carry no prefix.
"""

import abc
import dataclasses

import numpy as np

SHARED_FEATURES = ("input_ids", "input_mask", "segment_ids", "task_id", "valid")


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
  """One fixed-shape int feature written to TFRecords (shape () for scalars)."""
  name: str
  shape: tuple

  @property
  def length(self):
    size = 1
    for dim in self.shape:
      size *= dim
    return size


# ----------------------------------------------------------------------------------------------
# Namespacing: the only code that knows about the "<task>_" prefix.

def namespaced_name(task_name, name):
  return name if name in SHARED_FEATURES else f"{task_name}_{name}"


def namespaced(task_name, values):
  """{plain name: v} -> {"<task>_<name>": v} (shared input names unchanged)."""
  return {namespaced_name(task_name, name): value for name, value in values.items()}


def namespaced_specs(task_name, specs):
  return [FeatureSpec(namespaced_name(task_name, spec.name), spec.shape) for spec in specs]


def own(task_name, values):
  """The shared inputs plus `task_name`'s own entries of a namespaced dict, under plain names."""
  prefix = f"{task_name}_"
  mine = {name: value for name, value in values.items() if name in SHARED_FEATURES}
  mine.update({name[len(prefix):]: value for name, value in values.items()
               if name.startswith(prefix)})
  return mine


def real_rows(batch, task_id=None):
  """Boolean [B]: the rows of a numpy batch that are real examples (valid != 0: not padding)
  of task `task_id` (any task when None or when the batch has no task_id)."""
  size = len(next(iter(batch.values()))) if batch else 0
  rows = np.ones(size, bool)
  if batch.get("valid") is not None:
    rows &= np.asarray(batch["valid"]).reshape(-1) != 0
  if task_id is not None and batch.get("task_id") is not None:
    rows &= np.asarray(batch["task_id"]).reshape(-1) == task_id
  return rows


def own_rows(task_name, task_id, batch):
  """One task's rows of a predicted numpy batch, its own outputs under plain names: only the
  rows of this task that are real examples. Plain names in `batch` are taken as this task's."""
  values = dict(batch)
  values.update(own(task_name, batch))
  rows = real_rows(values, task_id)
  return {name: np.asarray(value)[rows] for name, value in values.items()}


@dataclasses.dataclass(frozen=True)
class Metric:
  """One number a task's scorer reports: its key in `get_results()`, the label the console and
  the results files show, and which way is better: "higher", "lower", or None for a count
  (reported in the results JSON, neither summarised over trials nor shown as a score)."""
  name: str
  label: str
  better: str = "higher"


# ----------------------------------------------------------------------------------------------
# Tasks.

class Example:
  """Base class of one raw example; `eid` is its integer id within the split."""

  def __init__(self, task_name, eid):
    self.task_name = task_name
    self.eid = eid


class Task(abc.ABC):
  """A fine-tuning task: data, features, head, scoring, outputs and raw-input prediction."""

  def __init__(self, config, name, tokenizer):
    self.config = config
    self.name = name
    self.tokenizer = tokenizer
    # Examples whose text featurize() had to cut (too long for max_seq_length, or a QA question
    # longer than max_query_length); preprocessing reports and resets it after each split.
    self.truncated = 0
    self.truncated_tokens = 0  # the tokens those cuts dropped (predict.py reports them)

  @property
  def task_id(self):
    """The task's index in config.task_names: its id in records and batches."""
    return list(self.config.task_names).index(self.name)

  # -- data --------------------------------------------------------------------------------------

  @abc.abstractmethod
  def input_files(self, split):
    """The raw files `split` reads; FileNotFoundError (one line) when they are missing."""

  @abc.abstractmethod
  def get_examples(self, split):
    """Reads `split` ("train", "dev" or "test") from config.raw_data_dir(self.name)."""

  @abc.abstractmethod
  def plain_feature_specs(self):
    """The task's own `FeatureSpec`s under plain names (the shared inputs are not included)."""

  @abc.abstractmethod
  def plain_features(self, example, is_training):
    """A list of feature dicts for one example: input_ids, input_mask, segment_ids and the
    task's own features under plain names (name -> int or list of ints)."""

  def feature_specs(self):
    """The task's own `FeatureSpec`s as stored in records (namespaced)."""
    return namespaced_specs(self.name, self.plain_feature_specs())

  def featurize(self, example, is_training):
    """The records of one example: `plain_features`, namespaced, with this task's task_id."""
    return [dict(namespaced(self.name, features), task_id=self.task_id)
            for features in self.plain_features(example, is_training)]

  def sidecar_arrays(self, split):
    """{name: numpy array} that the task wants kept beside `split`'s cached records (written
    after featurising the split), or None."""
    del split
    return None

  def load_sidecar_arrays(self, split, arrays):
    """Takes back what `sidecar_arrays` returned, when the cached records are reused."""

  def cache_settings(self):
    """Config values the task's records depend on beyond the shared ones (max_seq_length,
    lower-casing, vocabulary), for the cache fingerprint: {name: value}."""
    return {}

  def truncation_description(self):
    """(what was cut, the limit), for the warning that counts `self.truncated`."""
    return "examples", f"max_seq_length {self.config.max_seq_length}"

  # -- model -------------------------------------------------------------------------------------

  @abc.abstractmethod
  def make_head(self, hidden_size):
    """The head (a tf.Module, variables under `task_specific/<task>/`) with
    `loss(hidden, features, training) -> [B]` per-example losses,
    `predict(hidden, features) -> {name: [B, ...]}` and
    `serving_outputs(hidden, features) -> {name: [B, ...]}` (features: the shared inputs only);
    `features` and the outputs use plain names. Optional attributes: `min_sequence_length`
    (serving pads shorter inputs) and `per_position_outputs` (the [B, L, ...] outputs cut back
    to the input length after such padding)."""

  # -- scoring and outputs -----------------------------------------------------------------------

  @abc.abstractmethod
  def get_scorer(self, split):
    """A scorer with `update(rows)` (this task's predicted rows, plain names, numpy) and
    `get_results() -> dict`."""

  @abc.abstractmethod
  def metrics(self):
    """The `Metric`s of what the scorer's `get_results()` reports, in display order."""

  def write_outputs(self, scorer, split, trial):
    """Writes the task's prediction files after scoring `split` (nothing by default)."""

  # -- raw inputs (predict.py) and serving (export_model.py) ------------------------------------

  def serving_info(self):
    """What a SavedModel export records about the task besides its outputs (e.g. labels)."""
    return {}

  # predict.py's default --format ("tsv" or "json").
  default_output_format = "tsv"

  def read_raw_inputs(self, text):
    """Parses predict.py's input (the whole text) into a list of (id, raw input); ValueError
    with a one-line message naming the line for malformed input."""
    raise NotImplementedError(f"{self.name} has no raw-input prediction")

  def predict_raw(self, predictor, raw_inputs):
    """One result per raw input, computed with `predictor.run(features, keys)` (which returns
    this task's outputs under plain names)."""
    raise NotImplementedError(f"{self.name} has no raw-input prediction")

  def output_header(self, output_format):
    """predict.py's first output line (e.g. the TSV header), or None."""
    return None

  def output_lines(self, ids, results, output_format, top_k=None):
    """predict.py's output lines for `results`, in input order."""
    raise NotImplementedError(f"{self.name} has no raw-input prediction")
