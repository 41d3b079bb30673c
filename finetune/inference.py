"""Inference with a fine-tuned model directory: shared by predict.py and export_model.py.

A fine-tuned model directory is what run_finetuning.py writes for each trial,
`DATA/models/<model>/finetuning_models/<tasks>_model_<trial>/`: `finetuning_config.json` (the
FinetuningConfig as a dict), `vocab.txt` and TF1 checkpoints `model.ckpt-N`.

    predictor = Predictor.from_model_dir(model_dir, task_name="chnsenticorp")
    predictor.predict_raw([("这家酒店很好", None)])  # [{"label", "probability", ...}]

Raw inputs go through the task's own code (`Task.predict_raw`): the task featurises them as it
does its data files, calls `Predictor.run` and turns the outputs into results.
"""

import json
import logging
import os

import numpy as np
import tensorflow as tf

import configure_finetuning
from finetune import preprocessing
from finetune import task as task_lib
from finetune import task_builder
from finetune.finetuning_model import FinetuningModel
from util import checkpoint as checkpoint_lib
from util import hparams as hparams_lib

logger = logging.getLogger(__name__)

MODEL_CONFIG_FILE = "finetuning_config.json"
# The saved config already holds the sizes the model was fine-tuned with: the pre-trained model
# it started from is not read again (it may have moved or changed since).
SAVED_SOURCE = hparams_lib.HParamsSource("saved", MODEL_CONFIG_FILE)
VOCAB_FILE = "vocab.txt"


class ModelDirError(ValueError):
  """A model directory that cannot be loaded; the message is one line meant for the user."""


# ----------------------------------------------------------------------------------------------
# Loading.

def latest_checkpoint(model_dir):
  """The prefix of the directory's newest checkpoint; ModelDirError if there is none."""
  try:
    return checkpoint_lib.resolve_checkpoint(model_dir)
  except FileNotFoundError as e:
    raise ModelDirError(str(e)) from None


def load_config(model_dir):
  """The FinetuningConfig saved in `model_dir`, its vocab_file pointing at the dir's vocab.txt.

  Keys this version does not know (a config written by another version) are ignored with a
  warning; values of the wrong type are a ModelDirError.
  """
  if not tf.io.gfile.isdir(model_dir):
    raise ModelDirError(f"model directory not found: {model_dir}")
  config_path = os.path.join(model_dir, MODEL_CONFIG_FILE)
  if not tf.io.gfile.exists(config_path):
    raise ModelDirError(f"{model_dir} has no {MODEL_CONFIG_FILE}: not a fine-tuned model "
                        f"directory written by run_finetuning.py")
  vocab_path = os.path.join(model_dir, VOCAB_FILE)
  if not tf.io.gfile.exists(vocab_path):
    raise ModelDirError(f"{model_dir} has no {VOCAB_FILE}")
  try:
    with tf.io.gfile.GFile(config_path, "r") as f:
      values = json.load(f)
  except json.JSONDecodeError as e:
    raise ModelDirError(f"{config_path} is not valid JSON (line {e.lineno}: {e.msg})") from None
  if not isinstance(values, dict):
    raise ModelDirError(f"{config_path} does not hold a JSON object")
  model_name = values.pop("model_name", None) or os.path.basename(os.path.normpath(model_dir))
  data_dir = values.pop("data_dir", None) or model_dir
  known = set(configure_finetuning.FinetuningConfig(
      model_name, data_dir, hparams_source=SAVED_SOURCE).hparam_names())
  unknown = sorted(set(values) - known)
  if unknown:
    logger.warning("Ignoring unknown entries of %s: %s", config_path, ", ".join(unknown))
  try:
    config = configure_finetuning.FinetuningConfig(
        model_name, data_dir, hparams_source=SAVED_SOURCE,
        **{key: value for key, value in values.items() if key in known})
  except ValueError as e:
    raise ModelDirError(f"bad {config_path}: {e}") from None
  config.vocab_file = vocab_path
  return config


def load_finetuned(model_dir, compute_dtype=tf.float32):
  """(config, tasks, model) rebuilt from `model_dir`, weights from its newest checkpoint.

  Only the model's variables are restored (optimizer slots and the step counter in the
  checkpoint are ignored). Every problem the user can fix is a one-line ModelDirError.
  """
  config = load_config(model_dir)
  prefix = latest_checkpoint(model_dir)
  try:
    tasks = task_builder.get_tasks(config)
  except (ValueError, KeyError) as e:
    raise ModelDirError(f"cannot build the tasks of {model_dir}: {e}") from None
  model = FinetuningModel(config, tasks, compute_dtype)
  try:
    checkpoint_lib.restore(prefix, model.all_variables())
  except (ValueError, tf.errors.OpError) as e:
    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ModelDirError(f"cannot restore {prefix}: {message}") from None
  return config, tasks, model


# ----------------------------------------------------------------------------------------------
# Tasks.

def select_task(tasks, name=None):
  """The task called `name`, or the only task; ModelDirError when that is ambiguous."""
  names = [task.name for task in tasks]
  if name is None:
    if len(tasks) != 1:
      raise ModelDirError(f"the model has several tasks ({', '.join(names)}): choose one with "
                          f"--task")
    return tasks[0]
  if name not in names:
    raise ModelDirError(f"the model has no task '{name}' (its tasks: {', '.join(names)})")
  return tasks[names.index(name)]


# ----------------------------------------------------------------------------------------------
# Featurisation and batching.

def batches(features, feature_specs, batch_size, trim=False):
  """Dicts of int32 arrays of at most `batch_size` rows; features a dict lacks (other tasks')
  are zeros, `valid` is 1. With `trim`, sequence features are cut to the batch's longest
  input_mask (padding changes nothing the model computes for the real tokens)."""
  for start in range(0, len(features), batch_size):
    rows = features[start:start + batch_size]
    batch = {}
    for spec in feature_specs:
      if spec.name == "valid":
        batch[spec.name] = np.ones(len(rows), np.int32)
        continue
      shape = (len(rows),) + tuple(spec.shape)
      values = [row.get(spec.name) for row in rows]
      if all(value is None for value in values):
        batch[spec.name] = np.zeros(shape, np.int32)
      else:
        batch[spec.name] = np.asarray(
            [value if value is not None else np.zeros(spec.shape, np.int32) for value in values],
            np.int32).reshape(shape)
    if trim:
      length = max(1, int(batch["input_mask"].sum(axis=1).max()))
      for spec in feature_specs:
        if len(spec.shape) == 1:
          batch[spec.name] = batch[spec.name][:, :length]
    yield batch


# ----------------------------------------------------------------------------------------------
# Prediction.

def predict_signature(feature_specs):
  """The tf.function input signature of model.predict: any batch size, any sequence length."""
  return {spec.name: tf.TensorSpec([None] + [None] * len(spec.shape), tf.int32, name=spec.name)
          for spec in feature_specs}


class Predictor:
  """Predictions of one task of a fine-tuned model on raw inputs.

  `predict_fn` is a tf.function over `model.predict` with a shape-agnostic signature, traced
  once for all batches.
  """

  def __init__(self, config, tasks, model, task_name=None, batch_size=None):
    self.config = config
    self.tasks = list(tasks)
    self.model = model
    self.task = select_task(self.tasks, task_name)
    self.batch_size = int(batch_size or config.predict_batch_size)
    if self.batch_size < 1:
      raise ValueError(f"batch size must be positive, got {self.batch_size}")
    self.feature_specs = preprocessing.all_feature_specs(config.max_seq_length, self.tasks)
    self.predict_fn = tf.function(model.predict, autograph=False,
                                  input_signature=[predict_signature(self.feature_specs)])

  @classmethod
  def from_model_dir(cls, model_dir, task_name=None, batch_size=None):
    config, tasks, model = load_finetuned(model_dir)
    return cls(config, tasks, model, task_name, batch_size)

  def run(self, features, keys, trim=False):
    """{key: np.ndarray} of the task's outputs `keys` (plain names) over all `features` (the
    task's records, as `task.featurize` returns them), in order."""
    names = [task_lib.namespaced_name(self.task.name, key) for key in keys]
    collected = {key: [] for key in keys}
    for batch in batches(features, self.feature_specs, self.batch_size, trim=trim):
      outputs = self.predict_fn({name: tf.constant(value) for name, value in batch.items()})
      for key, name in zip(keys, names):
        collected[key].append(outputs[name].numpy())
    return {key: np.concatenate(values) if values else np.zeros((0,))
            for key, values in collected.items()}

  def predict_raw(self, raw_inputs):
    """The task's results for raw inputs (see the task's `predict_raw`)."""
    return self.task.predict_raw(self, raw_inputs)


def serving_outputs(model, task, input_ids, input_mask, segment_ids):
  """The outputs of `task`'s head on int32 [B, L] inputs, without any task-specific feature
  (see each head's `serving_outputs`)."""
  return model.serving_outputs(task, input_ids, input_mask, segment_ids)
