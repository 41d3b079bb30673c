"""Fine-tuning configuration: every hyper-parameter of the original ELECTRA with its default.

Where values come from, later ones winning: the defaults below; the hyper-parameters the kinds of
task declare (finetune/<kind>/defaults.py, through the registry finetune/task_builder.py), and
the values a run of one task alone starts from (QA: max_seq_length 512, 2 epochs); the model
size's defaults (model/sizes.py); what the user wrote (--hparams); then the sizes the pre-trained
model records (its discriminator_config.json / pretrain_config.json, else its checkpoint's
variable shapes: model/sizes.read_recorded_sizes), which a written size may not contradict.
Every value is then checked against its valid range (util/hparam_checks.RANGES).

Differences from the original, on purpose:
- vocab_size defaults to 21128 (the Chinese BERT vocabulary of every released Chinese model).
- do_test (from Chinese-ELECTRA) reads the "test" split: test.tsv / test.json, falling back to the
  Chinese code's eval.tsv / eval.json.
- A task's defaults come from its package (finetune/<kind>/defaults.py), not from its name: the
  original matched substrings of task names, which the Chinese QA tasks miss.
- The encoder's sizes come from the pre-trained model when it records them, so a params file
  written for one size fine-tunes a model of any size.
- Path helpers are methods (`raw_data_dir(task)`, `model_dir(trial)`, `qa_preds_file(name)`, ...)
  instead of bound `str.format` attributes, so the config stays serialisable.
- Additions: seed, jit_compile, mixed_precision, legacy_layerwise_lr, log_every_steps, strategy,
  group_by_length.
"""

import os

from finetune import task_builder
from model import sizes
from util import device_options
from util import hparams as hparams_lib


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

  def __init__(self, model_name, data_dir, hparams_source=hparams_lib.CODE_SOURCE, **kwargs):
    if "task_names" in kwargs:
      kwargs = dict(kwargs, task_names=normalize_task_names(kwargs["task_names"]))
    self.model_name = model_name
    self.data_dir = data_dir
    self._set_defaults()
    # Paths depend only on data_dir, model_name and the task names (as in the original), so
    # they are fixed before the other kwargs are applied; each can still be overridden.
    self._set_paths(kwargs.get("task_names", self.task_names), kwargs.get("debug", False))

    self.update(kwargs)
    task_builder.check_task_names(self.task_names)
    self._apply_task_defaults()
    self._apply_size_defaults()
    if self.debug:
      self._apply_debug_defaults()
    # Applied a second time so that explicit user values win over the defaults above.
    self.update(kwargs)
    if hparams_source.kind != "saved":  # a saved config holds the sizes it was trained with
      recorded = sizes.read_recorded_sizes(self.init_checkpoint)
      if recorded is not None:
        self._take_recorded_sizes(recorded, kwargs, hparams_source)
    self.check_ranges()
    self._check_group_by_length()

  def hparam_ranges(self):
    return dict(super().hparam_ranges(), **self._task_ranges)

  def _check_group_by_length(self):
    tpu = self.use_tpu or device_options.strategy_name(self.strategy) == "tpu"
    if self.group_by_length and tpu:
      raise ValueError("group_by_length makes batches of varying length, which a TPU cannot run "
                       "(it compiles one shape): set it to 0 on TPUs")

  def _size_defaults(self, name):
    return sizes.get(name).finetuning_defaults()

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
    self.task_names = []  # required to run: run_finetuning.py refuses an empty list
    self.model_hparam_overrides = {}  # BertConfig fields overriding the model_size defaults
    self.embedding_size = None  # None: same as the hidden size
    self.vocab_size = 21128
    self.do_lower_case = True
    # training
    self.learning_rate = 1e-4
    self.weight_decay_rate = 0.01
    self.layerwise_lr_decay = 0.8  # > 0: lr * decay^(depth from the top) per layer
    # True: top layer gets decay^2 as in google-research/electra#51
    self.legacy_layerwise_lr = False
    self.num_train_epochs = 3.0
    self.warmup_proportion = 0.1
    self.save_checkpoints_steps = 1000000
    self.iterations_per_loop = 1000
    self.log_every_steps = 100
    self.use_tfrecords_if_existing = True  # reuse preprocessed data whose fingerprint matches
    # > 0: training batches of similar lengths, each trimmed to its longest sequence, sorted
    # within windows of this many batches (finetune/preprocessing.length_grouped_batches);
    # 0: every batch max_seq_length long, as the original.
    self.group_by_length = 0
    # outputs
    self.write_test_outputs = False
    self.n_writes_test = 5  # write test predictions for the first n trials only
    # sizing
    self.max_seq_length = 128
    self.train_batch_size = 32
    self.eval_batch_size = 32
    self.predict_batch_size = 32
    # runtime (additions to the original)
    self.seed = 1  # trial t uses seed + t - 1
    self._set_runtime_defaults()
    self._set_task_hparams()

  def _set_task_hparams(self):
    """The hyper-parameters the kinds of task declare (finetune/<kind>/defaults.py), so that
    any of them may be given whatever the tasks of the run."""
    defaults, self._task_ranges, no_effect = task_builder.task_hparams()
    self._NO_EFFECT = dict(hparams_lib.Config._NO_EFFECT, **no_effect)
    for key, value in defaults.items():
      setattr(self, key, value)

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
    """A run of one task starts from the values its kind declares (as the original, which
    changed the defaults only for single-task runs)."""
    if len(self.task_names) != 1:
      return
    for key, value in task_builder.kind_defaults(self.task_names[0]).single_task.items():
      setattr(self, key, value)

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
        os.path.join(self.pretrained_model_dir, sizes.ENCODER_CONFIG_FILE)):
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

  def qa_preds_file(self, name):
    return os.path.join(self.qa_dir, f"{name}_preds.json")

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

