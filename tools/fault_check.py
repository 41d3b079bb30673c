"""Fault injection on a tiny model: bad inputs, kills, damaged checkpoints, concurrent runs.

    python tools/fault_check.py --work-dir /tmp/fault          # full: every case, 20 + 5 kills
    python tools/fault_check.py --fast --work-dir /tmp/fault   # the bad inputs refused before
                                                               # TensorFlow loads (seconds)

Bad inputs (tools/bad_input_cases.py): every script run on wrong or lossy input must refuse in
one error line naming the file (line, key) at fault, without a traceback, and leave its
directory exactly as it was (listings compared), or warn once with counts. The fast mode runs
the cases that fail before TensorFlow loads; the full mode runs all of them (some use the tiny
models the kill checks leave behind) and the kill checks below.

Pre-training: runs run_pretraining.py (a checkpoint every step, so kills often land inside a
save) and SIGKILLs it at a random moment, `--kills` times; every few kills it also deletes the
newest index or truncates the newest data file. After each kill it checks that the state file
names a loadable checkpoint (when it names any) and that the newest loadable step never goes
back by more than the damage done. Then two runs are started on one model directory (one must
refuse), and a last run must finish with at most keep_checkpoint_max checkpoints and no
temporary files or lock left. Fine-tuning (the pre-trained model, sizes from its directory):
killed `--finetune-kills` times, then run to the end; the results file must be valid at every
point, and end with every trial done and no interrupted trial directory.

After the kills: no autograph temporaries in the runs' temporary directory, no `.previous-N`
results file without a finished trial, and the results summary keeps the lowest loss.

Prints a line per bad-input case, then one JSON line of counts ("checks": how many invariants
were checked); exits 1 if any invariant failed (each failure is listed).
"""

import argparse
import glob
import json
import os
import re
import random
import signal
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from pretrain.dataset_writer import build  # noqa: E402 pylint: disable=wrong-import-position
from tools import bad_input_cases  # noqa: E402 pylint: disable=wrong-import-position
from tools import bad_input_harness  # noqa: E402 pylint: disable=wrong-import-position

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(45)]
KEEP = 2
PRETRAIN = {"vocab_size": 50, "max_seq_length": 16, "embedding_size": 16,
            "model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 1},
            "generator_hidden_size": 0.5, "train_batch_size": 8, "eval_batch_size": 8,
            "num_warmup_steps": 0, "iterations_per_loop": 1, "log_every_steps": 1,
            "save_checkpoints_steps": 1, "keep_checkpoint_max": KEEP, "jit_compile": False}
FINETUNE = {"task_names": ["chnsenticorp"], "max_seq_length": 16, "train_batch_size": 8,
            "eval_batch_size": 8, "num_train_epochs": 4.0, "num_trials": 2, "do_test": False,
            "log_every_steps": 1, "iterations_per_loop": 1, "save_checkpoints_steps": 2,
            "jit_compile": False}


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--work-dir", required=True, help="a new or empty directory")
  parser.add_argument("--fast", action="store_true",
                      help="only the bad-input cases refused before TensorFlow loads (no "
                      "training, no kills; what CI runs)")
  parser.add_argument("--no-bad-inputs", action="store_true",
                      help="only the kill checks: no bad-input case, and no check of what the "
                      "runs leave outside the model directory (autograph temporaries, "
                      ".previous-N results, the results summary)")
  parser.add_argument("--kills", type=int, default=20, help="pre-training kills")
  parser.add_argument("--finetune-kills", type=int, default=5)
  parser.add_argument("--steps", type=int, default=1000,
                      help="pre-training steps (total); enough that no run ends before --kills")
  parser.add_argument("--max-delay", type=float, default=12.0,
                      help="kills land 1..max-delay seconds after a start")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--trials", type=int, default=2, help="fine-tuning trials per run")
  parser.add_argument("--no-two-runs", action="store_true",
                      help="skip the two-runs-on-one-directory check (saves two starts)")
  return parser.parse_args(argv)


class Check:
  """Counts and failed invariants."""

  def __init__(self):
    self.counts = {"pretrain_kills": 0, "finetune_kills": 0, "damaged": 0, "resumes": 0,
                   "lock_refusals": 0, "bad_input_cases": 0, "autograph_temporaries": 0,
                   "checks": 0}
    self.failures = []

  def expect(self, ok, what):
    self.counts["checks"] += 1
    if not ok:
      self.failures.append(what)
      print(f"FAILED: {what}", file=sys.stderr, flush=True)


def make_data(work, documents=60):
  """vocab.txt, pretrain_tfrecords/ (from `documents` random documents) and
  finetuning_data/chnsenticorp in `work`: the tiny data of the checks in tools/."""
  with open(os.path.join(work, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(SPECIALS + WORDS) + "\n")
  rng = random.Random(0)
  corpus = os.path.join(work, "corpus.txt")
  with open(corpus, "w", encoding="utf-8") as f:
    for _ in range(documents):
      for _ in range(rng.randint(2, 5)):
        f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "\n")
      f.write("\n")
  build(os.path.join(work, "vocab.txt"), os.path.join(work, "pretrain_tfrecords"),
        corpus_files=[corpus], max_seq_length=16, num_processes=1, progress=False)
  task_dir = os.path.join(work, "finetuning_data", "chnsenticorp")
  os.makedirs(task_dir)
  for split in ("train", "dev"):
    rows = ["label\ttext_a"] + [f"{i % 2}\t{' '.join(rng.choice(WORDS) for _ in range(6))}"
                                for i in range(32)]
    with open(os.path.join(task_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
      f.write("\n".join(rows) + "\n")


def children_tmp(work):
  """The TMPDIR of every run started here: what TensorFlow leaves in it is counted."""
  path = os.path.join(work, "tmp")
  os.makedirs(path, exist_ok=True)
  return path


def start(script, work, hparams):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, TMPDIR=children_tmp(work))
  command = [sys.executable, os.path.join(REPO, script), "--data-dir", work, "--model-name",
             "tiny", "--hparams", json.dumps(hparams)]
  return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env)


def kill_at_random(process, rng, max_delay, lock=None):
  """SIGKILLs `process` a random delay after it took `lock` (after its start without one, so
  that slow start-ups on a loaded machine do not eat every kill); returns True if it was still
  running."""
  deadline = time.time() + 120
  while lock and lock_holder(lock) != process.pid and time.time() < deadline \
      and process.poll() is None:
    time.sleep(0.05)
  if lock and rng.random() < 0.7:  # Mostly once training runs: kills land in steps and saves.
    model_dir = os.path.dirname(lock)
    before = set(glob.glob(os.path.join(model_dir, "**", "*.index"), recursive=True))
    while time.time() < deadline and process.poll() is None and before >= set(
        glob.glob(os.path.join(model_dir, "**", "*.index"), recursive=True)):
      time.sleep(0.05)
    max_delay = min(max_delay, 1.5)
  deadline = time.time() + rng.uniform(0.0 if lock else 1.0, max_delay)
  while time.time() < deadline and process.poll() is None:
    time.sleep(0.05)
  running = process.poll() is None
  if running:
    process.send_signal(signal.SIGKILL)
  process.err = process.communicate()[1]
  return running


def newest_loadable_step(model_dir):
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  manager = checkpoint_lib.CheckpointManager(model_dir)
  for prefix, problem in manager.loadable_candidates():
    if problem is None:
      return checkpoint_lib.checkpoint_step(prefix)
  return -1


def check_state(check, model_dir, label):
  """The state file, if any, names a loadable checkpoint."""
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  named = checkpoint_lib.CheckpointManager(model_dir).all_checkpoints()
  if named:
    problem = checkpoint_lib.checkpoint_problem(named[-1])
    check.expect(problem is None, f"{label}: the state file names {named[-1]}: {problem}")


def damage(model_dir, rng):
  """Deletes the newest index or truncates the newest data file; returns what it did."""
  # Complete checkpoints only: a kill during a save leaves model.ckpt-N.tmp-<id>.index behind.
  steps = {}
  for path in glob.glob(os.path.join(model_dir, "model.ckpt-*.index")):
    match = re.fullmatch(r"model\.ckpt-(\d+)\.index", os.path.basename(path))
    if match:
      steps[int(match.group(1))] = path
  indexes = [steps[step] for step in sorted(steps)]
  if len(indexes) < 2:
    return None
  prefix = indexes[-1][:-len(".index")]
  if rng.random() < 0.5:
    os.remove(prefix + ".index")
    return f"deleted {os.path.basename(prefix)}.index"
  data = glob.glob(prefix + ".data-*")[0]
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  return f"truncated {os.path.basename(data)}"


def pretrain_faults(check, work, args, rng):
  model_dir = os.path.join(work, "models", "tiny")
  hparams = dict(PRETRAIN, num_train_steps=args.steps)
  best = -1
  for kill in range(args.kills):
    process = start("run_pretraining.py", work, hparams)
    if not kill_at_random(process, rng, args.max_delay, os.path.join(model_dir, "run.lock")):
      check.expect(process.returncode == 0, f"kill {kill}: the run failed: {process.err[-300:]}")
      break
    check.counts["pretrain_kills"] += 1
    check_state(check, model_dir, f"after kill {kill}")
    step = newest_loadable_step(model_dir)
    check.expect(step >= best, f"after kill {kill}: newest loadable step {step} < {best}")
    best = max(best, step)
    if kill % 4 == 3 and damage(model_dir, rng):
      check.counts["damaged"] += 1
      best = newest_loadable_step(model_dir)
  if not args.no_two_runs:
    two_runs(check, work, hparams)
  final = start("run_pretraining.py", work, hparams)
  out, err = final.communicate()
  check.expect(final.returncode == 0, f"the final pre-training run failed: {err[-300:]}")
  check.counts["resumes"] += out.count("Resumed from")
  leftovers(check, model_dir, "pre-training")
  if not args.no_bad_inputs:
    autograph_leftovers(check, work)
  return model_dir


def autograph_leftovers(check, work):
  """A killed TensorFlow run must not leave autograph's generated files in the temp directory."""
  found = glob.glob(os.path.join(children_tmp(work), "**", "__autograph_generated_file*"),
                    recursive=True)
  check.counts["autograph_temporaries"] = len(found)
  check.expect(not found, f"{len(found)} autograph temporaries left in {children_tmp(work)}")


def two_runs(check, work, hparams):
  """Two runs on one model directory: while one holds it, the other refuses in one line."""
  first = start("run_pretraining.py", work, hparams)
  deadline = time.time() + 60
  while (lock_holder(os.path.join(work, "models", "tiny", "run.lock")) != first.pid
         and time.time() < deadline and first.poll() is None):
    time.sleep(0.05)
  second = start("run_pretraining.py", work, hparams)
  _, err = second.communicate()
  refused = second.returncode != 0 and "is in use by run_pretraining.py" in err
  check.expect(refused, f"a second run did not refuse: {err[-300:]}")
  check.counts["lock_refusals"] += refused
  kill_at_random(first, random.Random(1), 0.5)


def lock_holder(path):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f).get("pid")
  except (OSError, ValueError):
    return None


def leftovers(check, model_dir, label):
  names = os.listdir(model_dir)
  temporary = [n for n in names if ".tmp-" in n or "tempstate" in n or n.endswith(".lock")]
  check.expect(not temporary, f"{label}: temporary files or locks left: {temporary}")
  indexes = [n for n in names if n.endswith(".index")]
  check.expect(len(indexes) <= KEEP, f"{label}: {len(indexes)} checkpoints kept (max {KEEP})")
  check_state(check, model_dir, label)


def finetune_faults(check, work, args, rng):
  hparams = dict(FINETUNE, num_trials=args.trials)
  results = os.path.join(work, "models", "tiny", "results", "chnsenticorp_results.json")
  for kill in range(args.finetune_kills):
    process = start("run_finetuning.py", work, hparams)
    lock = os.path.join(work, "models", "tiny", "finetuning_models", "chnsenticorp.lock")
    if kill_at_random(process, rng, args.max_delay, lock):
      check.counts["finetune_kills"] += 1
    valid_results(check, results, f"fine-tuning kill {kill}")
  final = start("run_finetuning.py", work, hparams)
  _, err = final.communicate()
  check.expect(final.returncode == 0, f"the final fine-tuning run failed: {err[-300:]}")
  trials = valid_results(check, results, "final fine-tuning")
  check.expect([t.get("status") for t in trials] == ["done"] * args.trials,
               f"final fine-tuning: trial statuses {[t.get('status') for t in trials]}")
  models = os.path.join(work, "models", "tiny", "finetuning_models")
  for name in os.listdir(models):
    path = os.path.join(models, name)
    if os.path.isdir(path):
      with open(os.path.join(path, "trial_status.json"), encoding="utf-8") as f:
        status = json.load(f)["status"]
      check.expect(status == "done", f"{name} is {status}")
      leftovers(check, path, name)
  check.expect(not glob.glob(os.path.join(models, "*.lock")), "a fine-tuning lock was left")
  if not args.no_bad_inputs:
    previous_results(check, os.path.dirname(results))
    best_loss_in_summary(check, results)


def previous_results(check, results_dir):
  """`.previous-N` copies are kept only of results that hold a finished trial."""
  for path in glob.glob(os.path.join(results_dir, "*.previous-*.json")):
    with open(path, encoding="utf-8") as f:
      trials = json.load(f).get("trials", [])
    check.expect(any(t.get("status") == "done" for t in trials),
                 f"{os.path.basename(path)} keeps results without a finished trial")


def best_loss_in_summary(check, path):
  """The summary of a loss over trials reports the lowest one, never only the highest."""
  with open(path, encoding="utf-8") as f:
    results = json.load(f)
  losses = [t["results"]["chnsenticorp"]["dev"]["loss"] for t in results["trials"]
            if t.get("status") == "done" and "loss" in t["results"].get("chnsenticorp", {}).get(
                "dev", {})]
  entry = results.get("summary", {}).get("chnsenticorp", {}).get("dev", {}).get("loss", {})
  if len(set(losses)) < 2:
    return  # Equal losses cannot tell the best from the worst.
  values = list(entry.values()) if isinstance(entry, dict) else [entry]
  check.expect(min(losses) in values and entry.get("max") != max(losses),
               f"the results summary of the dev loss {entry} is not the lowest of {losses}")


def valid_results(check, path, label):
  if not os.path.exists(path):
    return []
  try:
    with open(path, encoding="utf-8") as f:
      trials = json.load(f)["trials"]
  except (ValueError, KeyError) as e:
    check.expect(False, f"{label}: {path} is not a valid results file ({e})")
    return []
  check.expect(all(t.get("status") in ("done", "interrupted") for t in trials),
               f"{label}: a trial without a status in {path}")
  return trials


def main(argv=None):
  args = parse_args(argv)
  work = os.path.abspath(args.work_dir)
  os.makedirs(work, exist_ok=True)
  if os.listdir(work):
    sys.exit(f"fault_check.py: error: {work} is not empty")
  rng = random.Random(args.seed)
  check = Check()
  started = time.time()
  try:
    if not args.no_bad_inputs:
      bad_input_harness.run_cases(check, work, bad_input_cases.FAST_CASES)
    if not args.fast:
      make_data(work)
      if not args.no_bad_inputs:
        bad_input_harness.run_cases(check, work, [
            case for case in bad_input_cases.TENSORFLOW_CASES if not case.needs_models], PRETRAIN)
      pretrain_faults(check, work, args, rng)
      if args.finetune_kills >= 0:
        finetune_faults(check, work, args, rng)
      if not args.no_bad_inputs:
        bad_input_harness.run_cases(check, work, [
            case for case in bad_input_cases.TENSORFLOW_CASES if case.needs_models], PRETRAIN)
  except Exception as e:  # pylint: disable=broad-except  # Still print the counts.
    traceback.print_exc()
    check.expect(False, f"fault_check.py itself failed: {e!r}")
  print(json.dumps({**check.counts, "failures": len(check.failures),
                    "seconds": round(time.time() - started, 1)}), flush=True)
  return 1 if check.failures else 0


if __name__ == "__main__":
  sys.exit(main())
