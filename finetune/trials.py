"""The bookkeeping of a fine-tuning run over several trials: what is kept, what is written.

Every file a run keeps about its trials has its home here:
  - each trial's model directory `<tasks>_model_<n>/` and its status file (TRIAL_STATUS_FILE:
    "interrupted" while the trial trains, "done" once it is scored), so that a killed trial is
    known for junk and a finished one is never overwritten (it is kept aside as .previous-<n>);
  - the results files `results/<tasks>_results.{txt,json}`: every trial so far and, for each
    task, split and metric, the best and the mean over the finished trials, "best" meaning what
    the task's `Metric` says (the lowest loss, the highest accuracy);
  - each trial's dev/test metrics as TensorBoard scalars under results/tensorboard/<tasks>/.

A run calls these from its chief worker only: the paths are shared by every worker.
Scores are formatted by `score_line` alone, so the console and the results files agree.
"""

import os

import numpy as np

from util import fileio
from util import utils

TRIAL_STATUS_FILE = "trial_status.json"
DONE, INTERRUPTED = "done", "interrupted"


# ----------------------------------------------------------------------------------------------
# Trial directories.

def trial_status(model_dir):
  """"done" or "interrupted" for an existing trial directory."""
  path = os.path.join(model_dir, TRIAL_STATUS_FILE)
  if fileio.exists(path):
    try:
      return utils.load_json(path).get("status")
    except ValueError:
      return INTERRUPTED
  # Trained before status files existed: finished if it holds a checkpoint.
  return DONE if fileio.exists(os.path.join(model_dir, "checkpoint")) else INTERRUPTED


def write_trial_status(model_dir, status):
  utils.write_json({"status": status}, os.path.join(model_dir, TRIAL_STATUS_FILE), atomic=True)


def clear_trial_dir(model_dir):
  """Makes room for a new trial: an interrupted trial's directory is junk and goes, a finished
  one is kept aside."""
  if not fileio.exists(model_dir):
    return
  if trial_status(model_dir) == DONE:
    keep_previous(model_dir)
  else:
    utils.log(f"Removing {model_dir}, left by an interrupted trial")
    fileio.rmtree(model_dir)


def delete_other_models(config, last_trial):
  """Only the newest trial's model is kept (keep_all_models false)."""
  for trial in range(1, last_trial):
    if fileio.exists(config.model_dir(trial)):
      fileio.rmtree(config.model_dir(trial))


def keep_previous(path):
  """Moves an earlier run's file (or directory) aside to <name>.previous-<n>: never silently
  overwritten, never lost. Returns the new path or None."""
  if not fileio.exists(path):
    return None
  stem, ext = (path, "") if fileio.isdir(path) else os.path.splitext(path)
  number = 1
  while fileio.exists(f"{stem}.previous-{number}{ext}"):
    number += 1
  target = f"{stem}.previous-{number}{ext}"
  fileio.rename_tree(path, target)  # A directory on gs:// moves file by file.
  utils.log(f"Kept the earlier run's {os.path.basename(path)} as {os.path.basename(target)}")
  return target


def keep_previous_results(config):
  """Before a run writes its results: the earlier run's results files and TensorBoard scalars
  are kept aside if they hold a finished trial; results of runs that never finished a trial
  are only overwritten (they hold nothing but "interrupted")."""
  paths = (config.results_txt, config.results_json, config.tensorboard_dir())
  if not any(fileio.exists(path) for path in paths):
    return
  if not _holds_a_finished_trial(config.results_json, config.results_txt):
    utils.log(f"Replacing {config.results_txt}: its run finished no trial")
    for path in paths:
      if fileio.isdir(path):
        fileio.rmtree(path)
      elif fileio.exists(path):
        fileio.remove(path)
    return
  for path in paths:
    keep_previous(path)


def _holds_a_finished_trial(results_json, results_txt):
  if not fileio.exists(results_json):
    return fileio.exists(results_txt)  # Unknown content: kept, to be safe.
  try:
    trials = utils.load_json(results_json).get("trials", [])
  except (ValueError, AttributeError):
    return True
  return any(trial.get("status", DONE) == DONE for trial in trials)


# ----------------------------------------------------------------------------------------------
# Scores.

def metric_table(tasks):
  """{task name: {metric name: task.Metric}} of what each task's scorer reports."""
  return {task.name: {metric.name: metric for metric in task.metrics()} for task in tasks}


def _declared(table, task, name):
  try:
    return table[task][name]
  except KeyError:
    raise ValueError(f"the {task} scorer reports '{name}', which the task's metrics() does not "
                     f"declare") from None


def _scores(table, task, metrics):
  """(Metric, value) of the numeric scores in `metrics`, in the task's order (counts left out)."""
  for name, value in metrics.items():
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      _declared(table, task, name)
  return [(metric, metrics[metric.name]) for metric in table[task].values()
          if metric.better is not None and metric.name in metrics]


def score_line(table, task, metrics):
  """`EM: 81.234 - F1: 89.012` or `accuracy: 94.333 - loss: 0.213`, console and files alike."""
  return " - ".join(f"{metric.label}: {value:.3f}" for metric, value in
                    _scores(table, task, metrics))


def print_scores(table, split, results):
  for task, metrics in results.items():
    utils.log(f"{task} {split}: {score_line(table, task, metrics)}")


def summarize(table, trials):
  """{task: {split: {metric: {"best", "mean"}}}} over the finished trials' scores."""
  values = {}
  for trial in trials:
    for task, splits in trial["results"].items():
      for split, metrics in splits.items():
        for metric, value in _scores(table, task, metrics):
          values.setdefault(task, {}).setdefault(split, {}).setdefault(metric, []).append(value)
  return {task: {split: {metric.name: {"best": _best(metric, scores),
                                       "mean": float(np.mean(scores))}
                         for metric, scores in metrics.items()}
                 for split, metrics in splits.items()}
          for task, splits in values.items()}


def _best(metric, values):
  return min(values) if metric.better == "lower" else max(values)


def results_lines(table, trials):
  """The results file's text: a line per trial, task and split, then the summary."""
  lines = []
  for trial in trials:
    name = f"trial {trial['trial']} (seed {trial['seed']})"
    if trial.get("status", DONE) != DONE:
      lines.append(f"{name}: {trial['status']}")
    for task, splits in trial["results"].items():
      for split, metrics in splits.items():
        lines.append(f"{name} {task} {split}: {score_line(table, task, metrics)}")
  done = [trial for trial in trials if trial.get("status", DONE) == DONE]
  summary = summarize(table, done)
  lines.append(f"best (mean) over {len(done)} trial(s):")
  for task, splits in summary.items():
    for split, cells in splits.items():
      text = " - ".join(f"{table[task][name].label}: {cell['best']:.3f} ({cell['mean']:.3f})"
                        for name, cell in cells.items())
      lines.append(f"{task} {split}: {text}")
  return lines, summary


def write_results(config, table, trials):
  """Rewrites results/<tasks>_results.{txt,json} with `trials` (each: trial, seed, status,
  results {task: {split: metrics}} and data counts)."""
  lines, summary = results_lines(table, trials)
  # Written aside and renamed, so a kill or a full disk never leaves half a results file.
  utils.write_text(config.results_txt, "\n".join(lines) + "\n", atomic=True)
  utils.write_json({"trials": trials, "summary": summary, "config": config.to_dict()},
                   config.results_json, atomic=True)


def write_trial_summaries(config, trial, results, step):
  """Each trial's dev/test metrics as TensorBoard scalars <task>/<split>/<metric> at its last
  training step, under results/ so they outlive the trial's model directory."""
  if not results:
    return
  import tensorflow as tf  # pylint: disable=import-outside-toplevel (the rest needs none)
  writer = tf.summary.create_file_writer(config.tensorboard_dir(trial))
  with writer.as_default(step=step):
    for task, splits in results.items():
      for split, metrics in splits.items():
        for metric, value in metrics.items():
          if isinstance(value, (int, float)) and not isinstance(value, bool):
            tf.summary.scalar(f"{task}/{split}/{metric}", float(value))
  writer.close()
