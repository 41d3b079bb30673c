"""Fine-tuning configuration: every hyper-parameter of the original ELECTRA with its default.

Differences from the original, on purpose:
- vocab_size defaults to 21128 (the Chinese BERT vocabulary of every released Chinese model).
- do_test (from Chinese-ELECTRA) reads the "test" split: test.tsv / test.json, falling back to the
  Chinese code's eval.tsv / eval.json.
- cmrc2018 and drcd get the QA single-task defaults (max_seq_length 512, 2 epochs). The original
  only matched names containing "squad" or "qa", so they silently fell back to 128 tokens and 3
  epochs unless the user passed the README's settings.
- Path helpers are methods (`raw_data_dir(task)`, `model_dir(trial)`, `qa_preds_file(name)`, ...)
  instead of bound `str.format` attributes, so the config stays serialisable.
- Additions: seed, jit_compile, mixed_precision, legacy_layerwise_lr, log_every_steps, strategy.
"""

import json
import os

from model import sizes
from util import device_options
from util import hparams as hparams_lib

# Written by run_pretraining.py beside the checkpoints: the encoder's sizes, so fine-tuning a
# model pre-trained here needs no sizes repeated by hand.
MODEL_DIR_ENCODER_CONFIG = "discriminator_config.json"
MODEL_DIR_PRETRAIN_CONFIG = "pretrain_config.json"

# QA tasks whose names the original's "squad"/"qa" substring test misses.
CHINESE_QA_TASKS = ("cmrc2018", "drcd")


def is_qa_task(task_name):
  return "squad" in task_name or "qa" in task_name or task_name in CHINESE_QA_TASKS


def normalize_task_names(task_names):
  """Accepts a list/tuple of names or a comma-separated string; returns a non-empty list."""
  if isinstance(task_names, str):
    task_names = task_names.split(",")
  if not isinstance(task_names, (list, tuple)):
    raise ValueError(f"task_names must be a list or a comma-separated string, got {task_names!r}")
  names = [str(name).strip() for name in task_names if str(name).strip()]
  if not names:
    raise ValueError("task_names is empty")
  return names


class FinetuningConfig(hparams_lib.Config):
  """Hyper-parameters and paths of one fine-tuning run (one or more tasks, several trials)."""

  _CHOICES = {
      "model_size": sizes.NAMES,
      "mixed_precision": device_options.PRECISIONS,
      "strategy": device_options.STRATEGIES,
  }
  _NO_EFFECT = dict(
      hparams_lib.Config._NO_EFFECT,
      qa_na_threshold="it decides unanswerable questions of SQuAD 2.0-style data; CMRC 2018 "
                      "and DRCD have none")

  def __init__(self, model_name, data_dir, **kwargs):
    if "task_names" in kwargs:
      kwargs = dict(kwargs, task_names=normalize_task_names(kwargs["task_names"]))
    self.model_name = model_name
    self.data_dir = data_dir
    self._set_defaults()
    # Paths depend only on data_dir, model_name and the task names (as in the original), so
    # they are fixed before the other kwargs are applied; each can still be overridden.
    self._set_paths(kwargs.get("task_names", self.task_names), kwargs.get("debug", False))

    self.update(kwargs)
    self._apply_task_defaults()
    self._apply_size_defaults()
    if self.debug:
      self._apply_debug_defaults()
    # Applied a second time so that explicit user values win over the defaults above.
    self.update(kwargs)
    self._apply_model_dir_config(kwargs)

  def _apply_model_dir_config(self, explicit):
    """The pre-trained model directory's own config supplies the encoder sizes the JSON does
    not set; an explicit value that contradicts it is a ValueError (a wrong-size model)."""
    path = os.path.join(self.pretrained_model_dir, MODEL_DIR_ENCODER_CONFIG)
    if not hparams_lib.path_exists(path):
      return
    saved = _load_json_file(path)
    given = dict(explicit.get("model_hparam_overrides") or {})
    if "vocab_size" in explicit:
      given["vocab_size"] = explicit["vocab_size"]
    if "model_size" in explicit:
      implied = self.encoder_hparams()
      given.update({k: implied[k] for k in ("hidden_size", "num_hidden_layers")
                    if k not in given})
    for key, value in sorted(given.items()):
      if key in saved and saved[key] != value:
        raise ValueError(f"{key} {value} contradicts {path}, which has {key} {saved[key]} "
                         f"(the pre-trained model's size); remove it from the hyper-parameters")
    self.vocab_size = saved.get("vocab_size", self.vocab_size)
    self.model_hparam_overrides = {k: v for k, v in saved.items() if k != "vocab_size"}
    self._apply_model_dir_embedding_size(explicit)

  def _apply_model_dir_embedding_size(self, explicit):
    path = os.path.join(self.pretrained_model_dir, MODEL_DIR_PRETRAIN_CONFIG)
    if not hparams_lib.path_exists(path):
      return
    saved = _load_json_file(path)
    if "embedding_size" not in saved:
      return
    if "embedding_size" in explicit and explicit["embedding_size"] != saved["embedding_size"]:
      raise ValueError(f"embedding_size {explicit['embedding_size']} contradicts {path}, which "
                       f"has embedding_size {saved['embedding_size']}")
    self.embedding_size = saved["embedding_size"]

  def _set_defaults(self):
    # general
    self.debug = False
    self.log_examples = False
    self.num_trials = 1  # < 0: keep running trials
    self.do_train = True
    self.do_eval = True
    self.do_test = True
    self.keep_all_models = True  # False: delete all but the last trial's checkpoint
    # model
    self.model_size = sizes.DEFAULT_MODEL_SIZE  # the sizes and their defaults: model/sizes.py
    self.task_names = ["chunk"]
    self.model_hparam_overrides = {}  # BertConfig fields overriding the model_size defaults
    self.embedding_size = None  # None: same as the hidden size
    self.vocab_size = 21128
    self.do_lower_case = True
    # training
    self.learning_rate = 1e-4
    self.weight_decay_rate = 0.01
    self.layerwise_lr_decay = 0.8  # > 0: lr * decay^(depth from the top) per layer
    self.legacy_layerwise_lr = False  # True: top layer gets decay^2 as in google-research/electra#51
    self.num_train_epochs = 3.0
    self.warmup_proportion = 0.1
    self.save_checkpoints_steps = 1000000
    self.iterations_per_loop = 1000
    self.log_every_steps = 100
    self.use_tfrecords_if_existing = True  # reuse preprocessed data whose fingerprint matches
    # outputs
    self.write_test_outputs = False
    self.n_writes_test = 5  # write test predictions for the first n trials only
    # sizing
    self.max_seq_length = 128
    self.train_batch_size = 32
    self.eval_batch_size = 32
    self.predict_batch_size = 32
    # Paraphrase tasks (LCQMC, BQ Corpus): train on both sentence orders. The Chinese release
    # did not (it applied this only to English MRPC/STS), so params/params_{lcqmc,bqcorpus}*.json
    # turn it off to reproduce its numbers.
    self.double_unordered = True
    # QA
    self.max_query_length = 64
    self.doc_stride = 128
    self.n_best_size = 20
    self.max_answer_length = 30
    self.answerable_classifier = True
    self.answerable_uses_start_logits = True
    self.answerable_weight = 0.5
    self.joint_prediction = True  # predict the end conditioned on the start
    self.beam_size = 20
    self.qa_na_threshold = -2.75  # SQuAD 2.0 only: refused here (_NO_EFFECT)
    # runtime (additions to the original)
    self.seed = 1  # trial t uses seed + t - 1
    self._set_runtime_defaults()

  def _set_paths(self, task_names, debug):
    tasks = ",".join(task_names)
    self.pretrained_model_dir = os.path.join(self.data_dir, "models", self.model_name)
    self.finetuning_data_dir = os.path.join(self.data_dir, "finetuning_data")
    self.vocab_file = os.path.join(self.pretrained_model_dir, "vocab.txt")
    if not hparams_lib.path_exists(self.vocab_file):
      self.vocab_file = os.path.join(self.data_dir, "vocab.txt")
    # A directory: TF resolves the newest checkpoint through its `checkpoint` index file.
    self.init_checkpoint = self.pretrained_model_dir
    self.finetuning_models_dir = os.path.join(self.pretrained_model_dir, "finetuning_models")
    results_dir = os.path.join(self.pretrained_model_dir, "results")
    self.results_txt = os.path.join(results_dir, tasks + "_results.txt")
    self.results_json = os.path.join(results_dir, tasks + "_results.json")
    self.qa_dir = os.path.join(results_dir, tasks + "_qa")
    # TensorBoard scalars of every trial's dev/test metrics (trial_<n> below it).
    self.tensorboard_results_dir = os.path.join(results_dir, "tensorboard", tasks)
    self.preprocessed_data_dir = os.path.join(
        self.pretrained_model_dir, "finetuning_tfrecords",
        tasks + "_tfrecords" + ("-debug" if debug else ""))
    self.test_predictions_dir = os.path.join(self.pretrained_model_dir, "test_predictions")

  def _apply_task_defaults(self):
    if len(self.task_names) != 1:
      return
    task_name = self.task_names[0]
    if task_name in ("rte", "sts"):
      self.num_train_epochs = 10.0
    elif is_qa_task(task_name):
      self.max_seq_length = 512
      self.num_train_epochs = 2.0
      self.write_test_outputs = False
    elif task_name == "chunk":
      self.max_seq_length = 256
    else:
      self.num_train_epochs = 3.0

  def _apply_size_defaults(self):
    for key, value in sizes.get(self.model_size).finetuning_defaults().items():
      setattr(self, key, value)

  def _apply_debug_defaults(self):
    self.save_checkpoints_steps = 1000000
    self.use_tfrecords_if_existing = False
    self.num_trials = 1
    self.iterations_per_loop = 1
    self.train_batch_size = 32
    self.num_train_epochs = 3.0
    self.log_examples = True
    # The original's tiny debug model (3 layers, 144 wide, 4 heads), as pre-training's debug
    # builds it. A released checkpoint does not fit it, so its encoder starts from random
    # weights. A model pre-trained here keeps its own sizes (from its directory's config, applied
    # after this) and its weights.
    if not hparams_lib.path_exists(
        os.path.join(self.pretrained_model_dir, MODEL_DIR_ENCODER_CONFIG)):
      self.model_hparam_overrides = dict(sizes.DEBUG_ENCODER, **self.model_hparam_overrides)
      self.init_checkpoint = None

  def update(self, kwargs):
    if "task_names" in kwargs:
      kwargs = dict(kwargs, task_names=normalize_task_names(kwargs["task_names"]))
    super().update(kwargs)

  # ---- derived paths and values ----

  @property
  def tasks_str(self):
    return ",".join(self.task_names)

  def raw_data_dir(self, task_name):
    return os.path.join(self.finetuning_data_dir, task_name)

  def model_dir(self, trial):
    return os.path.join(self.finetuning_models_dir, f"{self.tasks_str}_model_{trial}")

  def tensorboard_dir(self, trial=None):
    """results/tensorboard/<tasks>, or its trial_<trial> run."""
    if trial is None:
      return self.tensorboard_results_dir
    return os.path.join(self.tensorboard_results_dir, f"trial_{trial}")

  def qa_eval_file(self, name):
    return os.path.join(self.qa_dir, f"{name}_eval.json")

  def qa_preds_file(self, name):
    return os.path.join(self.qa_dir, f"{name}_preds.json")

  def qa_na_file(self, name):
    return os.path.join(self.qa_dir, f"{name}_null_odds.json")

  def test_predictions(self, task_name, split, trial):
    return os.path.join(self.test_predictions_dir,
                        f"{task_name}_{split}_{trial}_predictions.pkl")

  def trial_seed(self, trial):
    """Seed of 1-based trial `trial`, so trials differ but each one is reproducible."""
    return self.seed + trial - 1

  def encoder_hparams(self):
    """BertConfig fields (model_size defaults + model_hparam_overrides)."""
    return hparams_lib.encoder_hparams(
        self.model_size, self.vocab_size, self.model_hparam_overrides)


def _load_json_file(path):
  try:
    return json.loads(hparams_lib._read_text(path))  # pylint: disable=protected-access
  except (ValueError, UnicodeDecodeError) as e:
    raise ValueError(f"{path} is not valid JSON ({e})") from None
