"""Inference with a fine-tuned model directory: shared by predict.py and export_model.py.

A fine-tuned model directory is what run_finetuning.py writes for each trial,
`DATA/models/<model>/finetuning_models/<tasks>_model_<trial>/`: `finetuning_config.json` (the
FinetuningConfig as a dict), `vocab.txt` and TF1 checkpoints `model.ckpt-N`.

    config, tasks, model = load_finetuned(model_dir)
    predictor = Predictor(config, tasks, model, task_name="chnsenticorp")
    predictor.classify([("这家酒店很好", None)])   # [{"label", "probability", "probabilities"}]
    predictor.answer([{"question": ..., "context": ...}])  # [n-best list]

Raw inputs go through the task's own code: classification texts become `ClassificationExample`s
featurised by the task; QA (question, context) pairs become `QAExample`s through
`finetune.qa.reading.make_example` (the same context cutting as for the data files), featurised
into sliding windows by the task and turned back into answer spans by
`finetune.qa.postprocess.predict_answers`, exactly as dev-set evaluation does.
"""

import dataclasses
import json
import logging
import os

import numpy as np
import tensorflow as tf

import configure_finetuning
from finetune import preprocessing
from finetune import task_builder
from finetune.classification.tasks import ClassificationExample
from finetune.finetuning_model import FinetuningModel
from finetune.qa import postprocess
from finetune.qa import reading
from finetune.qa import tasks as qa_tasks
from finetune.qa.head import OUTSIDE_ANSWER_PENALTY
from util import checkpoint as checkpoint_lib

logger = logging.getLogger(__name__)

MODEL_CONFIG_FILE = "finetuning_config.json"
VOCAB_FILE = "vocab.txt"
# The split name under which QA prediction inputs are featurised (the task keeps per-split
# records of its windows; they are dropped before every new set of inputs).
PREDICT_SPLIT = "predict"


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
  known = set(configure_finetuning.FinetuningConfig(model_name, data_dir).hparam_names())
  unknown = sorted(set(values) - known)
  if unknown:
    logger.warning("Ignoring unknown entries of %s: %s", config_path, ", ".join(unknown))
  try:
    config = configure_finetuning.FinetuningConfig(
        model_name, data_dir, **{key: value for key, value in values.items() if key in known})
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

def is_qa(task):
  return isinstance(task, qa_tasks.QATask)


def is_pair_task(task):
  """True for classification tasks on sentence pairs (LCQMC, BQ Corpus, XNLI)."""
  layout = getattr(task, "layout", None)
  return layout is not None and layout("test").text_b is not None


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

def classification_features(task, texts):
  """One feature dict per (text_a, text_b or None), through the task's own featurize."""
  # The label only fills <task>_label_ids, which prediction ignores.
  dummy_label = task.label_list[0]
  features = []
  for index, (text_a, text_b) in enumerate(texts):
    example = ClassificationExample(task.name, index, text_a, text_b, dummy_label)
    features.extend(task.featurize(example, is_training=False))
  return features


@dataclasses.dataclass
class QAInput:
  """One question about one context; `id` is only carried along."""
  question: str
  context: str
  id: object = None


def qa_examples(task, inputs, split=PREDICT_SPLIT):
  """QAExamples (eids 0..n-1, qas_id = str(position)) of `inputs`, after dropping what the task
  held for `split`. Questions about the same context share its doc tokens."""
  task.forget_split(split)
  docs = {}
  examples = []
  for index, item in enumerate(inputs):
    doc = docs.get(item.context)
    if doc is None:
      doc = docs[item.context] = reading.split_context(item.context)
    examples.append(reading.make_example(task.name, index, split, str(index), item.question, doc))
  return examples


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
    self.predict_fn = tf.function(model.predict,
                                  input_signature=[predict_signature(self.feature_specs)])

  @classmethod
  def from_model_dir(cls, model_dir, task_name=None, batch_size=None):
    config, tasks, model = load_finetuned(model_dir)
    return cls(config, tasks, model, task_name, batch_size)

  @property
  def is_qa(self):
    return is_qa(self.task)

  def run(self, features, keys, trim=False):
    """{key: np.ndarray} of `model.predict` outputs `keys` over all `features`, in order."""
    collected = {key: [] for key in keys}
    for batch in batches(features, self.feature_specs, self.batch_size, trim=trim):
      outputs = self.predict_fn({name: tf.constant(value) for name, value in batch.items()})
      for key in keys:
        collected[key].append(outputs[key].numpy())
    return {key: np.concatenate(values) if values else np.zeros((0,))
            for key, values in collected.items()}

  def classify(self, texts):
    """For each (text_a, text_b or None): {"label", "probability", "probabilities" (label ->
    probability, in label order), "logits"}."""
    task = self.task
    if self.is_qa:
      raise ValueError(f"{task.name} is a QA task: use answer()")
    name = task.name
    outputs = self.run(classification_features(task, texts),
                       [f"{name}_probabilities", f"{name}_logits"], trim=True)
    results = []
    for probabilities, logits in zip(outputs[f"{name}_probabilities"],
                                     outputs[f"{name}_logits"]):
      best = int(np.argmax(probabilities))
      results.append({
          "label": task.label_list[best],
          "probability": float(probabilities[best]),
          "probabilities": {label: float(p) for label, p in zip(task.label_list, probabilities)},
          "logits": [float(x) for x in logits],
      })
    return results

  def answer(self, inputs):
    """The n-best answers (config.n_best_size) of each QAInput (or dict with "question" and
    "context"), best first: [{"text", "score", "probability", "char_start", "char_end"}], the
    char offsets into that input's context. An empty list when no span is allowed."""
    task = self.task
    if not self.is_qa:
      raise ValueError(f"{task.name} is not a QA task: use classify()")
    inputs = [item if isinstance(item, QAInput) else QAInput(item["question"], item["context"])
              for item in inputs]
    if not inputs:
      return []
    examples = qa_examples(task, inputs)
    features = [feature for example in examples
                for feature in task.featurize(example, is_training=False)]
    head = self.model.heads[self.tasks.index(task)]
    keys = postprocess.JOINT_KEYS if head.joint_prediction else postprocess.PLAIN_KEYS
    outputs = self.run(features, [f"{task.name}_eid"] + [f"{task.name}_{k}" for k in keys])
    eids = outputs.pop(f"{task.name}_eid")
    outputs = {key[len(task.name) + 1:]: value for key, value in outputs.items()}
    _, nbest = postprocess.predict_answers(
        examples, task.get_features(PREDICT_SPLIT), eids, outputs, self.config.n_best_size,
        self.config.max_answer_length)
    task.forget_split(PREDICT_SPLIT)
    return [nbest[example.qas_id] for example in examples]


# ----------------------------------------------------------------------------------------------
# Serving outputs (export_model.py).

def serving_outputs(model, task, input_ids, input_mask, segment_ids):
  """The outputs of `task`'s head on int32 [B, L] inputs, without any task-specific feature.

  Classification: `logits`, `probabilities` [B, n_labels]. QA: `start_logits` [B, L] (masked
  to the context and [CLS], as the head does) and `end_logits` [B, L] -- for the joint head,
  the end logits given the best start -- plus the head's own outputs: with joint prediction the
  beams `start_top_log_probs` / `start_top_index` [B, K] and `end_top_log_probs` /
  `end_top_index` [B, K, K]; `answerable_logit` [B] with the answerable classifier.
  """
  head = model.heads[model.tasks.index(task)]
  hidden = model.encoder(input_ids, input_mask, segment_ids, training=False)
  if not is_qa(task):
    logits = head.logits(hidden, training=False)
    return {"logits": logits, "probabilities": tf.nn.softmax(logits)}
  name = task.name
  features = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
              f"{name}_eid": tf.zeros(tf.shape(input_ids)[:1], tf.int32)}
  predicted = head.predict(hidden, features)
  outputs = {key[len(name) + 1:]: value for key, value in predicted.items()
             if key != f"{name}_eid"}
  if head.joint_prediction:
    # The head's own pieces, so that these logits are exactly the ones its beams come from.
    # pylint: disable=protected-access
    answer_mask = head._answer_mask(features)
    start_logits = head._start_logits(hidden, answer_mask)
    best_start = tf.argmax(start_logits, axis=-1, output_type=tf.int32)[:, tf.newaxis]
    start_vector = tf.gather(hidden, best_start, batch_dims=1)
    end_logits = head._joint_end_logits(hidden, start_vector)[:, 0]
    # pylint: enable=protected-access
    outputs["start_logits"] = start_logits
    outputs["end_logits"] = end_logits - OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)
  return outputs
