"""Does bfloat16 fine-tune as well as float32? Dev accuracy of a short fine-tune in each precision.

    python bench/bench_precision_accuracy.py [--task chnsenticorp] [--trials 5] [--epochs 3]

Prints ONE JSON line. For every precision, run_finetuning.py fine-tunes ELECTRA-small (built
from scratch: no released checkpoint is needed) on the bundled sample_data task for --epochs
epochs, --trials times with seeds --seed, --seed + 1, ...; the same seeds in every precision,
so trial i starts from the same initial weights and sees the same batches. The JSON holds each
trial's dev accuracy, the mean and standard deviation per precision, and the paired
differences (bfloat16 - float32, trial by trial).

The vocabulary is built from the sample data with build_vocab.py. Work files go to --work-dir
(default: a new temporary directory). About 3 (bfloat16) and 4 (float32) minutes per trial of
the default settings on 2 cores.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "sample_data")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--task", default="chnsenticorp")
  parser.add_argument("--precisions", default="float32,bfloat16")
  parser.add_argument("--trials", type=int, default=5)
  parser.add_argument("--seed", type=int, default=11)
  parser.add_argument("--epochs", type=float, default=3)
  parser.add_argument("--learning-rate", type=float, default=3e-4)
  parser.add_argument("--work-dir", help="where data links, vocabulary and models go")
  return parser.parse_args(argv)


def prepare(work_dir):
  """work_dir/finetuning_data -> the sample data; work_dir/models/scratch/vocab.txt built."""
  data_link = os.path.join(work_dir, "finetuning_data")
  if not os.path.exists(data_link):
    os.symlink(os.path.join(SAMPLE, "finetuning_data"), data_link)
  model_dir = os.path.join(work_dir, "models", "scratch")
  os.makedirs(model_dir, exist_ok=True)
  vocab = os.path.join(model_dir, "vocab.txt")
  if not os.path.exists(vocab):
    inputs = [os.path.join(SAMPLE, "pretrain_corpus", "corpus.txt"),
              os.path.join(SAMPLE, "finetuning_data", "*", "*")]
    subprocess.run([sys.executable, os.path.join(REPO, "build_vocab.py"), "--input", *inputs,
                    "--output", vocab], check=True, stdout=subprocess.DEVNULL)
  return model_dir


def fine_tune(work_dir, model_dir, precision, args):
  """Dev accuracy of every trial, and the wall time, of one run_finetuning.py call."""
  hparams = {"task_names": [args.task], "init_checkpoint": None, "mixed_precision": precision,
             "num_train_epochs": args.epochs, "learning_rate": args.learning_rate,
             "do_test": False, "num_trials": args.trials, "seed": args.seed,
             "log_every_steps": 50, "iterations_per_loop": 50}
  for name in ("finetuning_models", "results"):
    subprocess.run(["rm", "-rf", os.path.join(model_dir, name)], check=True)
  log_path = os.path.join(work_dir, f"{precision}.log")
  started = time.time()
  with open(log_path, "w", encoding="utf-8") as log:
    subprocess.run([sys.executable, os.path.join(REPO, "run_finetuning.py"), "--data-dir",
                    work_dir, "--model-name", "scratch", "--hparams", json.dumps(hparams)],
                   check=True, stdout=log, stderr=subprocess.STDOUT)
  with open(os.path.join(model_dir, "results", f"{args.task}_results.json"),
            encoding="utf-8") as f:
    results = json.load(f)
  accuracies = [trial["results"][args.task]["dev"]["accuracy"] for trial in results["trials"]]
  return accuracies, time.time() - started


def describe(values):
  return {"mean": round(statistics.mean(values), 2),
          "stdev": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
          "min": round(min(values), 2), "max": round(max(values), 2)}


def main(argv=None):
  args = parse_args(argv)
  work_dir = args.work_dir or tempfile.mkdtemp(prefix="bench-precision-")
  os.makedirs(work_dir, exist_ok=True)
  model_dir = prepare(work_dir)
  runs = {}
  for precision in args.precisions.split(","):
    accuracies, seconds = fine_tune(work_dir, model_dir, precision, args)
    runs[precision] = {"dev_accuracy": [round(a, 2) for a in accuracies],
                       **describe(accuracies), "wall_s": round(seconds, 1)}
  record = {"bench": "precision_accuracy", "task": args.task, "results": runs,
            "settings": {"model": "electra-small from scratch", "trials": args.trials,
                         "seeds": list(range(args.seed, args.seed + args.trials)),
                         "epochs": args.epochs, "learning_rate": args.learning_rate,
                         "date": time.strftime("%Y-%m-%d %H:%M")}}
  if "float32" in runs and "bfloat16" in runs:
    diffs = [b - f for b, f in zip(runs["bfloat16"]["dev_accuracy"],
                                   runs["float32"]["dev_accuracy"])]
    record["paired_difference_bfloat16_minus_float32"] = {
        "per_trial": [round(d, 2) for d in diffs], **describe(diffs)}
  print(json.dumps(record), flush=True)


if __name__ == "__main__":
  main()
