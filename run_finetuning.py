"""Fine-tunes a pre-trained ELECTRA discriminator on the Chinese tasks, over several trials.

    python run_finetuning.py --data-dir DATA --model-name electra-small \\
        --hparams params/params_cmrc2018.json

Reads the checkpoint and vocab.txt from DATA/models/<model-name>/ and the task data from
DATA/finetuning_data/<task>/. Each trial (seed = seed + trial - 1) trains a fresh model in
DATA/models/<model-name>/finetuning_models/<tasks>_model_<trial>/, scores dev (and test), and
rewrites DATA/models/<model-name>/results/<tasks>_results.{txt,json} with every trial so far and
the max (mean) over trials. QA tasks also write <task>_<split>_preds.json under
results/<tasks>_qa/. With do_train=false, `init_checkpoint` may point at a fine-tuned model.
"""

import itertools
import os

import configure_finetuning  # No TensorFlow: --help stays fast.
from util import cli

PROGRAM = "run_finetuning.py"
MODEL_CONFIG_FILE = "finetuning_config.json"
# In each trial's model directory: {"status": "interrupted"} while it trains, "done" after.
TRIAL_STATUS_FILE = "trial_status.json"


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
import numpy as np
import tensorflow as tf

from finetune import preprocessing
from finetune import task as task_lib
from finetune import task_builder
from finetune.finetuning_model import FinetuningModel
from model import optimization
from util import checkpoint as checkpoint_lib
from util import fileio
from util import run_lock
from util import training
from util import utils
# pylint: enable=wrong-import-position


def fail(message):
  cli.fail(PROGRAM, message)


# ----------------------------------------------------------------------------------------------
# One trial.

class TrialRunner:
  """Trains and scores one model (one seed) on every task of the config."""

  def __init__(self, config, tasks, strategy, compute_dtype, trial):
    self.config = config
    self.tasks = tasks
    self.strategy = strategy
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

  def write_model_files(self):
    """The config and vocabulary beside the checkpoints, so predict.py and export_model.py can
    rebuild the model from the directory alone."""
    utils.write_json(self.config.to_dict(), os.path.join(self.model_dir, MODEL_CONFIG_FILE))
    tf.io.gfile.copy(self.config.vocab_file, os.path.join(self.model_dir, "vocab.txt"),
                     overwrite=True)

  def train(self):
    self.write_model_files()
    prepared = self.preprocessor.prepare("train", is_training=True)
    steps = preprocessing.n_train_steps(prepared.n_records, self.config.train_batch_size,
                                        self.config.num_train_epochs)
    if steps < 1:
      fail(f"{prepared.n_examples} training examples make no full batch of "
           f"{self.config.train_batch_size}")
    utils.heading(f"Trial {self.trial}: training {steps} steps on {prepared.n_examples} "
                  f"examples ({self.config.tasks_str})")
    input_fn = self.preprocessor.dataset_fn(prepared, seed=self.config.trial_seed(self.trial))
    self.trainer = self._make_trainer(input_fn, self._optimizer(steps))
    self.trainer.train(steps)

  def evaluate(self, split):
    """{task name: metrics} on `split`; QA predictions are written as a side effect."""
    if self.trainer is None:  # Evaluation only: weights from model_dir or init_checkpoint.
      self.trainer = self._make_trainer(None, self._optimizer(1))
    prepared = self.preprocessor.prepare(split, is_training=False)
    scorers = {task.name: task.get_scorer(split) for task in self.tasks}
    timer = utils.Timer()
    for batch in self.trainer.predict(self.preprocessor.dataset_fn(prepared)):
      for task in self.tasks:
        scorers[task.name].update(task_lib.own_rows(task.name, task.task_id, batch))
    utils.log(f"Predicted {prepared.n_examples} {split} records in "
              f"{timer.elapsed():.1f}s ({prepared.n_examples / max(timer.elapsed(), 1e-9):.1f}/s)")
    results = {}
    for task in self.tasks:
      results[task.name] = scorers[task.name].get_results()
      task.write_outputs(scorers[task.name], split, self.trial)
    return results


# ----------------------------------------------------------------------------------------------
# Results over trials.

def format_metrics(metrics):
  return " - ".join(f"{name}: {value:.2f}" for name, value in metrics.items()
                    if isinstance(value, (int, float)) and name not in ("total", "skip"))


def summarize(trials):
  """{task: {split: {metric: {"max", "mean"}}}} over the trials' results."""
  summary = {}
  for trial in trials:
    for task, splits in trial["results"].items():
      for split, metrics in splits.items():
        for metric, value in metrics.items():
          if isinstance(value, (int, float)):
            summary.setdefault(task, {}).setdefault(split, {}).setdefault(metric, []).append(
                value)
  return {task: {split: {metric: {"max": max(values), "mean": float(np.mean(values))}
                         for metric, values in metrics.items()}
                 for split, metrics in splits.items()}
          for task, splits in summary.items()}


def write_results(config, trials):
  lines = []
  for trial in trials:
    if trial.get("status", "done") != "done":
      lines.append(f"trial {trial['trial']} (seed {trial['seed']}): {trial['status']}")
    for task, splits in trial["results"].items():
      for split, metrics in splits.items():
        lines.append(f"trial {trial['trial']} (seed {trial['seed']}) {task} {split}: "
                     f"{format_metrics(metrics)}")
  done = [trial for trial in trials if trial.get("status", "done") == "done"]
  summary = summarize(done)
  lines.append(f"max (mean) over {len(done)} trial(s):")
  for task, splits in summary.items():
    for split, metrics in splits.items():
      cells = " - ".join(f"{metric}: {v['max']:.2f} ({v['mean']:.2f})"
                         for metric, v in metrics.items() if metric not in ("total", "skip"))
      lines.append(f"{task} {split}: {cells}")
  # Written aside and renamed, so a kill or a full disk never leaves half a results file.
  utils.write_text(config.results_txt, "\n".join(lines) + "\n", atomic=True)
  utils.write_json({"trials": trials, "summary": summary, "config": config.to_dict()},
                   config.results_json, atomic=True)


def keep_previous(path):
  """Moves an earlier run's file (or directory) aside to <name>.previous-<n>: never silently
  overwritten, never lost. Returns the new path or None."""
  if not tf.io.gfile.exists(path):
    return None
  stem, ext = (os.path.splitext(path) if not tf.io.gfile.isdir(path) else (path, ""))
  number = 1
  while tf.io.gfile.exists(f"{stem}.previous-{number}{ext}"):
    number += 1
  target = f"{stem}.previous-{number}{ext}"
  fileio.rename_tree(path, target)  # A directory on gs:// moves file by file.
  utils.log(f"Kept the earlier run's {os.path.basename(path)} as {os.path.basename(target)}")
  return target


def print_scores(split, results):
  for task, metrics in results.items():
    if "em" in metrics:
      utils.log(f"{task} {split}: EM: {metrics['em']:.3f} - F1: {metrics['f1']:.3f}")
    else:
      utils.log(f"{task} {split}: {format_metrics(metrics)}")


# ----------------------------------------------------------------------------------------------
# Main.

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


def run_trial(config, tasks, strategy, compute_dtype, trial, splits, record=None):
  """Trains (if do_train) and scores one trial; `record(status)` writes the results so far."""
  training.set_seed(config.trial_seed(trial))
  model_dir = config.model_dir(trial)
  if config.do_train:
    clear_trial_dir(model_dir)
    write_trial_status(model_dir, "interrupted")  # Until it is done: a kill leaves it so.
  runner = TrialRunner(config, tasks, strategy, compute_dtype, trial)
  if config.do_train:
    runner.train()
  results = {}
  for split in splits:
    for task, metrics in runner.evaluate(split).items():
      results.setdefault(task, {})[split] = metrics
    print_scores(split, {task: r[split] for task, r in results.items()})
  if training.is_chief(strategy):
    write_trial_summaries(config, trial, results, runner.trainer.global_step if runner.trainer
                          else 0)
  if config.do_train:
    write_trial_status(model_dir, "done")
  return {"trial": trial, "seed": config.trial_seed(trial), "status": "done",
          "results": results, "data": data_stats(tasks)}


def write_trial_summaries(config, trial, results, step):
  """Each trial's dev/test metrics as TensorBoard scalars <task>/<split>/<metric> at its last
  training step, under results/ so they outlive the trial's model directory."""
  if not results:
    return
  writer = tf.summary.create_file_writer(config.tensorboard_dir(trial))
  with writer.as_default(step=step):
    for task, splits in results.items():
      for split, metrics in splits.items():
        for metric, value in metrics.items():
          if isinstance(value, (int, float)) and not isinstance(value, bool):
            tf.summary.scalar(f"{task}/{split}/{metric}", float(value))
  writer.close()


def data_stats(tasks):
  """{task: {split: counts of rows/questions read, skipped, realigned}} for the results JSON."""
  return {task.name: dict(getattr(task, "data_stats", {})) for task in tasks}


def trial_status(model_dir):
  path = os.path.join(model_dir, TRIAL_STATUS_FILE)
  if tf.io.gfile.exists(path):
    try:
      return utils.load_json(path).get("status")
    except ValueError:
      return "interrupted"
  # Trained before status files existed: finished if it holds a checkpoint.
  return "done" if tf.train.latest_checkpoint(model_dir) else "interrupted"


def write_trial_status(model_dir, status):
  utils.mkdir(model_dir)
  utils.write_json({"status": status}, os.path.join(model_dir, TRIAL_STATUS_FILE), atomic=True)


def clear_trial_dir(model_dir):
  """An interrupted trial's directory is junk and goes; a finished one is kept aside."""
  if not tf.io.gfile.exists(model_dir):
    return
  if trial_status(model_dir) == "done":
    keep_previous(model_dir)
  else:
    utils.log(f"Removing {model_dir}, left by an interrupted trial")
    tf.io.gfile.rmtree(model_dir)


def delete_other_models(config, last_trial):
  for trial in range(1, last_trial):
    if tf.io.gfile.exists(config.model_dir(trial)):
      tf.io.gfile.rmtree(config.model_dir(trial))


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


def main(argv=None):
  utils.setup_logging()
  config = load_config(argv)
  try:
    return run(config)
  except run_lock.LockError as e:
    fail(str(e))
  except (OSError, tf.errors.OpError) as e:  # Disk full, read-only directory, corrupt data.
    fail(utils.describe_error(e))
  return None


def run(config):
  check_inputs(config)
  try:
    tasks = task_builder.get_tasks(config)
  except (ValueError, FileNotFoundError) as e:
    fail(str(e))
  splits = splits_to_score(config, tasks)
  check_data(config, tasks, splits)
  strategy = training.get_strategy(config)
  compute_dtype = training.set_precision(config.mixed_precision)
  # Two runs of the same tasks on one model would overwrite each other's trials and results.
  with run_lock.hold(config.finetuning_models_dir, PROGRAM, enabled=training.is_chief(strategy),
                     name=f"{config.tasks_str}.lock"):
    return run_trials(config, tasks, strategy, compute_dtype, splits)


def run_trials(config, tasks, strategy, compute_dtype, splits):
  for path in (config.results_txt, config.results_json, config.tensorboard_dir()):
    keep_previous(path)
  trials = []
  n_trials = itertools.count(1) if config.num_trials < 0 else range(1, config.num_trials + 1)
  for trial in n_trials:
    if config.do_train:  # Recorded first, so a killed trial shows as interrupted.
      write_results(config, trials + [{"trial": trial, "seed": config.trial_seed(trial),
                                       "status": "interrupted", "results": {}}])
    try:
      trials.append(run_trial(config, tasks, strategy, compute_dtype, trial, splits))
    except (FileNotFoundError, ValueError, training.NonFiniteLossError) as e:
      fail(str(e))  # A wrong-size checkpoint, a broken one, divergence.
    if trials[-1]["results"] or config.do_train:
      write_results(config, trials)
      utils.log(f"Results written to {config.results_txt}")
    if not config.keep_all_models:
      delete_other_models(config, trial)
  return trials


if __name__ == "__main__":
  main()
