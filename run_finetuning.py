"""Fine-tunes a pre-trained ELECTRA discriminator on the Chinese tasks, over several trials.

    python run_finetuning.py --data-dir DATA --model-name electra-small \\
        --hparams params/params_cmrc2018.json

Reads the checkpoint and vocab.txt from DATA/models/<model-name>/ and the task data from
DATA/finetuning_data/<task>/. Each trial (seed = seed + trial - 1) trains a fresh model in
DATA/models/<model-name>/finetuning_models/<tasks>_model_<trial>/, scores dev (and test), and
rewrites DATA/models/<model-name>/results/<tasks>_results.{txt,json} with every trial so far and
the best (mean) over trials. QA tasks also write <task>_<split>_preds.json under
results/<tasks>_qa/. With do_train=false, `init_checkpoint` may point at a fine-tuned model.

`run` is the steps of a run: every check first, then the trials; what is kept of them (status
files, .previous-<n>, the results table) is finetune/trials.py's. With several workers only the
chief writes, and the others wait for it where they read what it wrote.
"""

import itertools
import os

import configure_finetuning  # No TensorFlow: --help stays fast.
from util import cli

PROGRAM = "run_finetuning.py"
MODEL_CONFIG_FILE = "finetuning_config.json"


def parse_args(argv=None):
  parser = cli.hparams_parser(
      PROGRAM, "Fine-tune ELECTRA on CMRC 2018, DRCD, XNLI, ChnSentiCorp, LCQMC, BQ Corpus or "
      "People's Daily NER.", configure_finetuning.FinetuningConfig,
      config_file="configure_finetuning.py", params_example="params/params_cmrc2018.json",
      data_dir_help="Directory with models/ and finetuning_data/",
      model_name_help="Pre-trained model under DATA_DIR/models/",
      hparams_example="params_cmrc2018.json")
  return parser.parse_args(argv)


if __name__ == "__main__":
  parse_args()  # --help and flag errors answer before TensorFlow's slow, chatty import.

# pylint: disable=wrong-import-position
import tensorflow as tf

from finetune import preprocessing
from finetune import task as task_lib
from finetune import task_builder
from finetune import trials as trials_lib
from finetune.finetuning_model import FinetuningModel
from model import optimization
from util import checkpoint as checkpoint_lib
from util import run_lock
from util import step_runner
from util import training
from util import utils
# pylint: enable=wrong-import-position


def fail(message):
  cli.fail(PROGRAM, message)


# ----------------------------------------------------------------------------------------------
# One trial.

class TrialRunner:
  """Trains and scores one model (one seed) on every task of the config.

  Every worker trains and predicts (both are collective); only the chief writes files and
  scores, the others wait for it where they read what it wrote.
  """

  def __init__(self, config, tasks, strategy, compute_dtype, trial):
    self.config = config
    self.tasks = tasks
    self.strategy = strategy
    self.chief = training.is_chief(strategy)
    self.trial = trial
    self.model_dir = config.model_dir(trial)
    self.preprocessor = preprocessing.Preprocessor(config, tasks)
    with strategy.scope():
      self.model = FinetuningModel(config, tasks, compute_dtype)
    self.trainer = None

  def _make_trainer(self, train_input_fn, optimizer):
    config = self.config
    return training.Trainer(
        self.strategy, self.model, optimizer, train_input_fn, self.model_dir,
        steps_per_loop=config.iterations_per_loop,
        save_checkpoints_steps=config.save_checkpoints_steps, keep_checkpoint_max=1,
        log_every_steps=config.log_every_steps, init_checkpoint=config.init_checkpoint,
        jit_compile=config.jit_compile, mixed_precision=config.mixed_precision)

  def _optimizer(self, num_train_steps):
    config = self.config
    multipliers = None
    if config.layerwise_lr_decay > 0:
      multipliers = optimization.layerwise_lr_multipliers(
          self.model.trainable_variables, self.model.bert_config.num_hidden_layers,
          config.layerwise_lr_decay, legacy_top_layer=config.legacy_layerwise_lr)
    warmup = optimization.warmup_steps(num_train_steps, config.warmup_proportion)
    return optimization.AdamWeightDecay(
        lambda step: optimization.learning_rate(step, config.learning_rate, num_train_steps,
                                                warmup),
        weight_decay_rate=config.weight_decay_rate, lr_multipliers=multipliers)

  def _prepare(self, split, is_training):
    """The chief featurises the split (or reuses its cache); the others then read its records."""
    prepared = self.preprocessor.prepare(split, is_training) if self.chief else None
    training.barrier(self.strategy)
    return prepared or self.preprocessor.prepare(split, is_training)

  def write_model_files(self):
    """The config and vocabulary beside the checkpoints, so predict.py and export_model.py can
    rebuild the model from the directory alone."""
    utils.write_json(self.config.to_dict(), os.path.join(self.model_dir, MODEL_CONFIG_FILE))
    tf.io.gfile.copy(self.config.vocab_file, os.path.join(self.model_dir, "vocab.txt"),
                     overwrite=True)

  def train(self):
    if self.chief:
      self.write_model_files()
    prepared = self._prepare("train", is_training=True)
    steps = preprocessing.n_train_steps(prepared.n_records, self.config.train_batch_size,
                                        self.config.num_train_epochs)
    if steps < 1:
      fail(f"{prepared.n_examples} training examples ({prepared.n_records} records in batches "
           f"of {self.config.train_batch_size}) make no training step in "
           f"{self.config.num_train_epochs} epochs")
    utils.heading(f"Trial {self.trial}: training {steps} steps on {prepared.n_examples} "
                  f"examples ({self.config.tasks_str})")
    input_fn = self.preprocessor.dataset_fn(prepared, seed=self.config.trial_seed(self.trial))
    self.trainer = self._make_trainer(input_fn, self._optimizer(steps))
    self.trainer.train(steps)

  def evaluate(self, split):
    """{task name: metrics} on `split` (on the chief; {} on the others, which only take part
    in the prediction); the tasks' prediction files are written as a side effect."""
    if self.trainer is None:  # Evaluation only: weights from model_dir or init_checkpoint.
      self.trainer = self._make_trainer(None, self._optimizer(1))
    prepared = self._prepare(split, is_training=False)
    scorers = {task.name: task.get_scorer(split) for task in self.tasks} if self.chief else {}
    timer = utils.Timer()
    for batch in self.trainer.predict(self.preprocessor.dataset_fn(prepared)):
      for task in self.tasks:
        if self.chief:
          scorers[task.name].update(task_lib.own_rows(task.name, task.task_id, batch))
    utils.log(f"Predicted {prepared.n_examples} {split} records in "
              f"{timer.elapsed():.1f}s ({prepared.n_examples / max(timer.elapsed(), 1e-9):.1f}/s)")
    results = {}
    for task in self.tasks if self.chief else []:
      results[task.name] = scorers[task.name].get_results()
      task.write_outputs(scorers[task.name], split, self.trial)
    return results


def run_trial(config, tasks, strategy, compute_dtype, trial, splits, table):
  """Trains (if do_train) and scores one trial."""
  training.set_seed(config.trial_seed(trial))
  chief = training.is_chief(strategy)
  model_dir = config.model_dir(trial)
  if config.do_train and chief:
    trials_lib.clear_trial_dir(model_dir)
    # Until it is done: a kill leaves it so.
    trials_lib.write_trial_status(model_dir, trials_lib.INTERRUPTED)
  training.barrier(strategy)  # No worker looks into model_dir before the chief cleared it.
  runner = TrialRunner(config, tasks, strategy, compute_dtype, trial)
  if config.do_train:
    runner.train()
  results = {}
  for split in splits:
    for task, metrics in runner.evaluate(split).items():
      results.setdefault(task, {})[split] = metrics
    trials_lib.print_scores(table, split, {task: r[split] for task, r in results.items()})
  if chief:
    step = runner.trainer.global_step if runner.trainer else 0
    trials_lib.write_trial_summaries(config, trial, results, step)
    if config.do_train:
      trials_lib.write_trial_status(model_dir, trials_lib.DONE)
  return {"trial": trial, "seed": config.trial_seed(trial), "status": trials_lib.DONE,
          "results": results, "data": data_stats(tasks)}


def data_stats(tasks):
  """{task: {split: counts of rows/questions read, skipped, realigned}} for the results JSON."""
  return {task.name: dict(getattr(task, "data_stats", {})) for task in tasks}


# ----------------------------------------------------------------------------------------------
# Checks: everything is validated before the first file is written.

def load_config(argv=None):
  return cli.config_from_args(PROGRAM, configure_finetuning.FinetuningConfig, parse_args(argv))


def check_inputs(config):
  """The files every run needs, checked before anything is written."""
  if not tf.io.gfile.exists(config.vocab_file):
    fail(f"vocabulary not found: expected {config.vocab_file}")
  with tf.io.gfile.GFile(config.vocab_file) as f:
    vocab_lines = sum(1 for _ in f)
  if vocab_lines > config.vocab_size:
    fail(f"{config.vocab_file} has {vocab_lines} tokens but vocab_size is {config.vocab_size}")
  if config.do_train and not config.init_checkpoint:
    utils.log("init_checkpoint is null: training from randomly initialised weights")
  elif config.do_train or not tf.io.gfile.exists(config.model_dir(1)):
    try:
      checkpoint_lib.resolve_checkpoint(config.init_checkpoint)
    except FileNotFoundError as e:
      fail(f"no checkpoint to start from: {e}")


def build_tasks(config):
  """The tasks and their tokenizer (which checks the vocabulary)."""
  try:
    return task_builder.get_tasks(config)
  except (ValueError, FileNotFoundError) as e:
    fail(str(e))


def splits_to_score(config, tasks):
  splits = (["dev"] if config.do_eval else []) + (["test"] if config.do_test else [])
  for split in list(splits):
    for task in tasks:
      try:
        task.input_files(split)
      except FileNotFoundError as e:
        if split == "test":  # Test sets are often unreleased: skip rather than stop.
          utils.log(f"Skipping the test split: {e}")
          splits.remove(split)
          break
        fail(str(e))
  return splits


def check_data(config, tasks, splits):
  """Reads and validates every split the run will read, before the first training step."""
  for split in (["train"] if config.do_train else []) + splits:
    for task in tasks:
      try:
        task.get_examples(split)
      except (ValueError, FileNotFoundError) as e:
        fail(str(e))
      except OSError as e:
        fail(utils.describe_error(e))


def check_model(config, tasks, compute_dtype):
  """The model fits its inputs and the checkpoint it starts from: a wrong size fails here, not
  after the first trial's directory and results were made."""
  model = FinetuningModel(config, tasks, compute_dtype)  # Outside the strategy: no collectives.
  positions = model.bert_config.max_position_embeddings
  if config.max_seq_length > positions:
    fail(f"max_seq_length {config.max_seq_length} is longer than the model's "
         f"max_position_embeddings ({positions}); set \"max_seq_length\" to at most {positions}")
  start = config.init_checkpoint
  if not start or (not config.do_train and tf.io.gfile.exists(config.model_dir(1))):
    return
  try:
    checkpoint_lib.check_compatible(start, step_runner.as_named(model.all_variables()))
  except (FileNotFoundError, ValueError) as e:
    fail(str(e))


# ----------------------------------------------------------------------------------------------
# Main.

def main(argv=None):
  utils.setup_logging()
  config = load_config(argv)
  try:
    with run_lock.private_tempdir():  # autograph's generated modules go with the run
      return run(config)
  except run_lock.LockError as e:
    fail(str(e))
  except (OSError, tf.errors.OpError) as e:  # Disk full, read-only directory, corrupt data.
    fail(utils.describe_error(e))
  return None


def run(config):
  check_inputs(config)
  tasks = build_tasks(config)
  splits = splits_to_score(config, tasks)
  check_data(config, tasks, splits)
  strategy = training.get_strategy(config)
  compute_dtype = training.set_precision(config.mixed_precision)
  check_model(config, tasks, compute_dtype)
  chief = training.is_chief(strategy)
  if not chief:  # The others read the records the chief has just written, never build them.
    config.use_tfrecords_if_existing = True
  # Two runs of the same tasks on one model would overwrite each other's trials and results.
  with run_lock.hold(config.finetuning_models_dir, PROGRAM, enabled=chief,
                     name=f"{config.tasks_str}.lock"):
    return run_trials(config, tasks, strategy, compute_dtype, splits)


def run_trials(config, tasks, strategy, compute_dtype, splits):
  chief = training.is_chief(strategy)
  table = trials_lib.metric_table(tasks)
  if chief:
    trials_lib.keep_previous_results(config)
  trials = []
  n_trials = itertools.count(1) if config.num_trials < 0 else range(1, config.num_trials + 1)
  for trial in n_trials:
    if config.do_train and chief:  # Recorded first, so a killed trial shows as interrupted.
      trials_lib.write_results(config, table, trials + [
          {"trial": trial, "seed": config.trial_seed(trial), "status": trials_lib.INTERRUPTED,
           "results": {}}])
    try:
      trials.append(run_trial(config, tasks, strategy, compute_dtype, trial, splits, table))
    except (FileNotFoundError, ValueError, training.NonFiniteLossError) as e:
      fail(str(e))  # A broken checkpoint, divergence.
    if chief and (trials[-1]["results"] or config.do_train):
      trials_lib.write_results(config, table, trials)
      utils.log(f"Results written to {config.results_txt}")
    if chief and not config.keep_all_models:
      trials_lib.delete_other_models(config, trial)
  return trials


if __name__ == "__main__":
  main()
