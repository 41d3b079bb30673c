"""What pre-training buys: one pre-trained model against the same model from random weights.

    python bench/bench_pretraining_gains.py --model-dir sample_data/models/electra-mini \\
        --hparams '{"model_hparam_overrides": {"num_hidden_layers": 4}, "vocab_size": 5342}' \\
        [--tasks chnsenticorp,waimai,peoples_daily_ner,cmrc2018] [--trials 5] \\
        [--finetuning-data sample_data/finetuning_data]

For each task, run_finetuning.py runs `--trials` seeds twice with the same settings: once from
the pre-trained checkpoint in --model-dir and once from scratch (`"init_checkpoint": null`).
Classification tasks are also scored by the character-bigram naive-Bayes floor
(bench/bench_naive_bayes.py). Prints the mean [min, max] table over seeds on
stderr and ONE JSON line on stdout; every run's files go to --work-dir (default: a directory
beside --model-dir), so the fine-tuned models and results files can be inspected. A run stopped
early (e.g. to free the machine) is summarised over its finished trials by the same command
with --summarize-only; bench/merge_gains.py adds the missing seeds from a later run.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import bench_naive_bayes  # noqa: E402  pylint: disable=wrong-import-position
from model import sizes  # noqa: E402  pylint: disable=wrong-import-position

# Fine-tuning settings per task (both arms use them). CMRC 2018 runs at length 128 because the
# pre-training here is at 128: longer inputs would lean on position embeddings never trained.
TASK_HPARAMS = {
    "chnsenticorp": {"max_seq_length": 128, "num_train_epochs": 3, "learning_rate": 3e-4,
                     "train_batch_size": 32},
    "waimai": {"max_seq_length": 128, "num_train_epochs": 3, "learning_rate": 3e-4,
               "train_batch_size": 32},
    "peoples_daily_ner": {"max_seq_length": 128, "num_train_epochs": 3, "learning_rate": 3e-4,
                          "train_batch_size": 32},
    "cmrc2018": {"max_seq_length": 128, "max_query_length": 32, "doc_stride": 64,
                 "num_train_epochs": 2, "learning_rate": 3e-4, "train_batch_size": 32},
}
METRIC = {"chnsenticorp": "accuracy", "waimai": "accuracy", "peoples_daily_ner": "f1",
          "cmrc2018": "f1"}
CLASSIFICATION = ("chnsenticorp", "waimai")  # scored by the naive-Bayes floor too
DONE = "done"  # a finished trial's status in run_finetuning.py's results file


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model-dir", required=True,
                      help="pre-trained model directory (checkpoint and vocab.txt)")
  parser.add_argument("--hparams", default="{}",
                      help="JSON of the encoder sizes (as in the pre-training recipe) and any "
                           "other fine-tuning hparams shared by every run")
  parser.add_argument("--tasks", default="chnsenticorp,cmrc2018")
  parser.add_argument("--trials", type=int, default=5)
  parser.add_argument("--finetuning-data", default=os.path.join(REPO, "sample_data",
                                                                "finetuning_data"))
  parser.add_argument("--work-dir", default=None)
  parser.add_argument("--arms", default="pretrained,scratch",
                      help="which arms to run (comma-separated): pretrained, scratch")
  parser.add_argument("--test", action="store_true",
                      help="also score the test split and record its mean [min, max] per arm "
                           "(test_*): a setting picked on dev is then checked on data it was "
                           "not picked on")
  parser.add_argument("--summarize-only", action="store_true",
                      help="run nothing: summarise the trials already finished in --work-dir "
                           "by an earlier run with the same options (e.g. one stopped early; "
                           "an arm with fewer than --trials finished trials gets a note)")
  parser.add_argument("--previous", default=None,
                      help="JSON line an earlier run printed (e.g. of --arms scratch): its "
                           "arms are taken for the arms not run now")
  return parser.parse_args(argv)


def prepare(work_dir, arm, model_dir, finetuning_data):
  """work_dir/<arm>/ as a data directory: finetuning_data/ and models/<arm>/ with the vocab
  (and, for the pre-trained arm, the checkpoint files)."""
  data_dir = os.path.join(work_dir, arm)
  shutil.rmtree(data_dir, ignore_errors=True)
  target = os.path.join(data_dir, "models", arm)
  os.makedirs(target)
  os.symlink(os.path.abspath(finetuning_data), os.path.join(data_dir, "finetuning_data"))
  for name in os.listdir(model_dir):
    keep = arm == "pretrained" and (name == "checkpoint" or name.startswith("model.ckpt")
                                    or name.endswith("_config.json"))
    if keep:
      os.symlink(os.path.abspath(os.path.join(model_dir, name)), os.path.join(target, name))
  os.symlink(find_vocab(model_dir), os.path.join(target, "vocab.txt"))
  return data_dir


def find_vocab(model_dir):
  """vocab.txt beside the checkpoint, else in the data directory two levels up."""
  for path in (os.path.join(model_dir, "vocab.txt"),
               os.path.join(model_dir, os.pardir, os.pardir, "vocab.txt")):
    if os.path.isfile(path):
      return os.path.abspath(path)
  sys.exit(f"bench_pretraining_gains.py: no vocab.txt in {model_dir} or its data directory")


def scratch_sizes(model_dir):
  """The pre-trained model's recorded sizes (and training choices such as dropout) as hparams,
  so the from-scratch arm builds the same model; {} when the model records none."""
  recorded = sizes.read_recorded_sizes(model_dir)
  if recorded is None:
    return {}
  overrides = {key: value for key, value in recorded.encoder.items() if key != "vocab_size"}
  found = {"model_hparam_overrides": overrides, "vocab_size": recorded.encoder["vocab_size"]}
  if recorded.embedding_size is not None:
    found["embedding_size"] = recorded.embedding_size
  return found


def arm_hparams(arm, task, trials, shared_hparams, model_dir, test=False):
  """Both arms: the task's settings, then --hparams; scratch also starts from the model's
  sizes (--hparams' model_hparam_overrides still win) and from no checkpoint."""
  hparams = dict(TASK_HPARAMS[task])
  if arm == "scratch":
    found = scratch_sizes(model_dir)
    overrides = {**found.pop("model_hparam_overrides", {}),
                 **shared_hparams.get("model_hparam_overrides", {})}
    hparams.update(found, **shared_hparams)
    if overrides:
      hparams["model_hparam_overrides"] = overrides
    hparams["init_checkpoint"] = None
  else:
    hparams.update(shared_hparams)
  hparams.update(task_names=[task], num_trials=trials, do_test=test)
  return hparams


def split_stats(trials_out, task, split, prefix=""):
  """{prefix + scores, max, min, mean, std} of the task's metric on one split over the trials."""
  return score_stats([trial["results"][task][split][METRIC[task]] for trial in trials_out],
                     prefix)


def read_report(path):
  """The JSON report a run of this bench printed last (earlier lines: progress, the table)."""
  with open(path, encoding="utf-8") as f:
    lines = f.read().strip().splitlines()
  try:
    return json.loads(lines[-1])
  except (IndexError, ValueError) as error:
    raise ValueError(f"{path}: its last line is not the bench's JSON report ({error})") from None


def arm_command_hparams(arm):
  """The --hparams of an arm's run_finetuning.py command (of its first part in a table that
  merge_gains.py joined, whose parts share them); {} when none is recorded."""
  command = arm.get("command") or (arm.get("commands") or [[]])[0]
  return json.loads(command[command.index("--hparams") + 1]) if "--hparams" in command else {}


def score_stats(scores, prefix=""):
  """{prefix + scores, max, min, mean, std} of one split's scores (one per seed)."""
  stats = {"scores": scores, "max": max(scores), "min": min(scores),
           "mean": statistics.mean(scores),
           "std": statistics.stdev(scores) if len(scores) > 1 else 0.0}
  return {prefix + key: value for key, value in stats.items()}


def add_gains(row):
  """The pre-trained arm's mean minus the scratch arm's, on dev (and test where both have it)."""
  if "pretrained" in row and "scratch" in row:
    row["gain_mean"] = row["pretrained"]["mean"] - row["scratch"]["mean"]
    if all("test_mean" in row[arm] for arm in ("pretrained", "scratch")):
      row["test_gain_mean"] = row["pretrained"]["test_mean"] - row["scratch"]["test_mean"]


def run_arm(data_dir, arm, task, trials, shared_hparams, model_dir, test=False, run=True):
  """One arm's trials on one task (or, with run=False, those already in data_dir), summarised."""
  hparams = arm_hparams(arm, task, trials, shared_hparams, model_dir, test)
  command = [sys.executable, os.path.join(REPO, "run_finetuning.py"), "--data-dir", data_dir,
             "--model-name", arm, "--hparams", json.dumps(hparams)]
  if not run:
    return dict(summarize_arm(data_dir, arm, task, trials, test), command=command)
  log_path = os.path.join(data_dir, f"{task}.log")
  started = time.time()
  with open(log_path, "w", encoding="utf-8") as log:
    code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
  if code:
    sys.exit(f"bench_pretraining_gains.py: {arm} {task} failed (exit {code}); see {log_path}")
  return dict(summarize_arm(data_dir, arm, task, trials, test),
              seconds=round(time.time() - started, 1), command=command)


def summarize_arm(data_dir, arm, task, trials, test):
  """Statistics over the finished trials in the arm's results file; a note when fewer than
  `trials` finished (a run stopped early keeps what it measured)."""
  results = os.path.join(data_dir, "models", arm, "results", f"{task}_results.json")
  try:
    with open(results, encoding="utf-8") as f:
      finished = [trial for trial in json.load(f)["trials"] if trial.get("status") == DONE]
  except (OSError, ValueError, KeyError) as error:
    sys.exit(f"bench_pretraining_gains.py: no results of {arm} {task}: {error}")
  if not finished:
    sys.exit(f"bench_pretraining_gains.py: {results} has no finished trial")
  stats = split_stats(finished, task, "dev")
  if test:
    stats.update(split_stats(finished, task, "test", prefix="test_"))
  if len(finished) < trials:
    stats["note"] = (f"stopped after {len(finished)} of {trials} trials; statistics over the "
                     f"{len(finished)} finished trials")
  return stats


def main(argv=None):
  args = parse_args(argv)
  unknown = sorted(set(args.tasks.split(",")) - set(TASK_HPARAMS))
  if unknown:
    sys.exit(f"bench_pretraining_gains.py: no settings for task(s) {unknown}; "
             f"known: {', '.join(TASK_HPARAMS)}")
  shared = json.loads(args.hparams)
  work_dir = args.work_dir or os.path.join(os.path.dirname(os.path.abspath(args.model_dir)),
                                           "gains")
  report = {"bench": "pretraining_gains", "model_dir": os.path.abspath(args.model_dir),
            "trials": args.trials, "tasks": {}}
  arms = args.arms.split(",")
  if not arms or not set(arms) <= {"pretrained", "scratch"}:
    sys.exit(f"bench_pretraining_gains.py: --arms {args.arms!r}: use pretrained, scratch or both")
  data_dirs = {arm: os.path.join(work_dir, arm) if args.summarize_only
               else prepare(work_dir, arm, args.model_dir, args.finetuning_data) for arm in arms}
  previous = {}
  if args.previous:
    previous = read_report(args.previous)["tasks"]
  for task in args.tasks.split(","):
    row = {arm: previous[task][arm] for arm in ("pretrained", "scratch")
           if arm not in data_dirs and arm in previous.get(task, {})}
    for arm, data_dir in data_dirs.items():
      row[arm] = run_arm(data_dir, arm, task, args.trials, shared, args.model_dir, args.test,
                         run=not args.summarize_only)
      print(f"{task} {arm}: {row[arm]['max']:.2f} ({row[arm]['mean']:.2f} ± "
            f"{row[arm]['std']:.2f})" + (f" in {row[arm]['seconds']:.0f} s" if "seconds" in
                                         row[arm] else ""), file=sys.stderr)
    add_gains(row)
    if task in CLASSIFICATION:
      floor = bench_naive_bayes.evaluate_task(args.finetuning_data, task)
      row["naive_bayes_dev"] = floor["dev_accuracy"]
    report["tasks"][task] = row
  print_table(report)
  print(json.dumps(report))


def print_table(report):
  print("| task (dev) | pre-trained mean [min, max] | from scratch mean [min, max] | gain "
        "(mean) | naive-Bayes floor |", file=sys.stderr)
  print("| --- | --- | --- | --- | --- |", file=sys.stderr)
  for task, row in report["tasks"].items():
    cells = [f"{row[arm]['mean']:.2f} [{row[arm]['min']:.2f}, {row[arm]['max']:.2f}]"
             if arm in row else "-" for arm in ("pretrained", "scratch")]
    floor = f"{row['naive_bayes_dev']:.2f}" if "naive_bayes_dev" in row else "-"
    gain = f"{row['gain_mean']:+.2f}" if "gain_mean" in row else "-"
    print(f"| {task} {METRIC[task]} | {cells[0]} | {cells[1]} | {gain} | {floor} |",
          file=sys.stderr)
    if "test_gain_mean" in row:
      cells = [f"{row[arm]['test_mean']:.2f} [{row[arm]['test_min']:.2f}, "
               f"{row[arm]['test_max']:.2f}]" for arm in ("pretrained", "scratch")]
      print(f"| {task} {METRIC[task]}, test | {cells[0]} | {cells[1]} | "
            f"{row['test_gain_mean']:+.2f} | - |", file=sys.stderr)


if __name__ == "__main__":
  main()
