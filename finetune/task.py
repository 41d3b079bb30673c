"""What every fine-tuning task provides.

A task turns raw files into `Example`s, examples into fixed-length integer features, and model
outputs into scores. The TensorFlow head that sits on top of the shared encoder lives beside each
kind of task (`classification/head.py`, `qa/head.py`); everything in this module is plain Python.
"""

import abc
import dataclasses


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


class Example:
  """Base class of one raw example; `eid` is its integer id within the split."""

  def __init__(self, task_name, eid):
    self.task_name = task_name
    self.eid = eid


class Task(abc.ABC):
  """A fine-tuning task: data reading, featurisation and scoring."""

  def __init__(self, config, name, tokenizer):
    self.config = config
    self.name = name
    self.tokenizer = tokenizer
    # Examples whose text featurize() had to cut (too long for max_seq_length, or a QA question
    # longer than max_query_length); preprocessing reports and resets it after each split.
    self.truncated = 0

  @abc.abstractmethod
  def get_examples(self, split):
    """Reads `split` ("train", "dev" or "test") from config.raw_data_dir(self.name)."""

  @abc.abstractmethod
  def feature_specs(self):
    """The task-specific `FeatureSpec`s (the shared input_ids/input_mask/segment_ids are added
    by the preprocessor)."""

  @abc.abstractmethod
  def featurize(self, example, is_training):
    """Returns a list of feature dicts (name -> int or list of ints) for one example."""

  @abc.abstractmethod
  def get_scorer(self, split):
    """Returns a scorer with `update(batch_outputs)` and `get_results() -> dict`."""
