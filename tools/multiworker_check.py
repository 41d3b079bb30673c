"""Both training scripts as two workers of one cluster on localhost, on one shared directory.

    python tools/multiworker_check.py --work-dir /tmp/multiworker [--quick]

Runs run_pretraining.py and run_finetuning.py as worker 0 (the chief) and worker 1 of a
MultiWorkerMirroredStrategy cluster (TF_CONFIG, free ports on 127.0.0.1), with a tiny model on
generated data, all in one data directory:
  1. pre-training to step 2; 2. resumed to step 4, then evaluated;
  3. and 4. fine-tuning the model just pre-trained (2 trials, keep_all_models false), twice, so
     that the second run keeps the first one's results and finished trial aside.
After each run it checks that both workers exited 0, that checkpoints, results and trial files
exist once and are complete, the step the second pre-training run resumed from, and that the
non-chief wrote nothing in the shared directory. --quick runs steps 2 and 4 with one trial
(steps 1 and 3 are then made by the chief alone, as one-worker runs).

The non-chief's writes are recorded at the system-call level with strace (every open for
writing, rename, unlink, mkdir and rmdir of its whole process tree) where strace is installed,
else by tools/write_recorder.py (an audit hook plus wrappers of TensorFlow's file and writer
functions). Prints one JSON line of counts; exits 1 if any check failed (each one is listed).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tools import fault_check  # noqa: E402 pylint: disable=wrong-import-position

PRETRAIN = {"vocab_size": 50, "max_seq_length": 16, "embedding_size": 16,
            "model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 1},
            "generator_hidden_size": 0.5, "train_batch_size": 8, "eval_batch_size": 8,
            "num_warmup_steps": 0, "iterations_per_loop": 2, "log_every_steps": 1,
            "save_checkpoints_steps": 2, "keep_checkpoint_max": 5, "jit_compile": False}
FINETUNE = {"task_names": ["chnsenticorp"], "max_seq_length": 16, "train_batch_size": 8,
            "eval_batch_size": 8, "num_train_epochs": 1.0, "num_trials": 2, "do_test": False,
            "log_every_steps": 1, "iterations_per_loop": 2, "jit_compile": False,
            "keep_all_models": False}
WRITE_SYSCALLS = ("open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,"
                  "rmdir,link,linkat,symlink,symlinkat,truncate")
STRACE = shutil.which("strace")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--work-dir", required=True, help="a new or empty directory")
  parser.add_argument("--quick", action="store_true",
                      help="two-worker runs only for the resumed pre-training and the second "
                           "fine-tuning (one trial)")
  parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
  return parser.parse_args(argv)


class Check(fault_check.Check):
  """fault_check's counts and failed invariants, with this check's counts."""

  def __init__(self):
    super().__init__()
    self.counts = {"two_worker_runs": 0, "one_worker_runs": 0, "checks": 0,
                   "non_chief_writes_recorded": 0,
                   "recorder": "strace" if STRACE else "write_recorder"}


# ----------------------------------------------------------------------------------------------
# Data and runs.

def make_data(work):
  """vocab.txt, pretrain_tfrecords/ and finetuning_data/chnsenticorp in `work`."""
  fault_check.make_data(work, documents=40)


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def start(script, work, hparams, tf_config=None, record=None):
  env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
  env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, TF_NUM_INTRAOP_THREADS="1")
  if tf_config:
    env["TF_CONFIG"] = json.dumps(tf_config)
  command = [sys.executable, os.path.join(REPO, script), "--data-dir", work, "--model-name",
             "tiny", "--hparams", json.dumps(hparams)]
  if record:
    command, record_env = recorded_command(command, record)
    env.update(record_env)
  return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def recorded_command(command, record):
  """(command, environment variables) running `command` (python SCRIPT ARGS...) with the
  paths it writes recorded to `record`."""
  if STRACE:
    return [STRACE, "-f", "-qq", "--seccomp-bpf", "-e", f"trace={WRITE_SYSCALLS}",
            "-o", record] + command, {}
  recorder = os.path.join(REPO, "tools", "write_recorder.py")
  return [command[0], recorder] + command[1:], {"WRITE_RECORD": record}


def finish(processes, timeout):
  outputs = []
  try:
    for process in processes:
      outputs.append(process.communicate(timeout=timeout)[0])
  finally:
    for process in processes:
      process.kill()
  return outputs


def run_alone(check, script, work, hparams, timeout):
  output = finish([start(script, work, hparams)], timeout)[0]
  check.counts["one_worker_runs"] += 1
  check.expect(output is not None and "Traceback" not in output,
               f"{script} alone failed: {output[-2000:]}")


def run_two_workers(check, script, work, hparams, record, timeout):
  """Worker 0 (the chief) and worker 1 (its writes recorded); returns both outputs."""
  workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
  if os.path.exists(record):
    os.remove(record)
  processes = [start(script, work, hparams,
                     {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}},
                     record if index == 1 else None)
               for index in range(2)]
  outputs = finish(processes, timeout)
  check.counts["two_worker_runs"] += 1
  for index, (process, output) in enumerate(zip(processes, outputs)):
    check.expect(process.returncode == 0,
                 f"{script} worker {index} exited {process.returncode}: {output[-3000:]}")
  check.expect("Distribution strategy: multi_worker" in outputs[0]
               and "2 replica(s)" in outputs[0], f"{script} did not run on two workers")
  writes = shared_writes(record, work)
  check.counts["non_chief_writes_recorded"] += len(written_paths(record))
  check.expect(not writes, f"{script}: the non-chief wrote {writes[:10]}")
  return outputs


def written_paths(record):
  """The paths the recorded process created, opened for writing, renamed or removed."""
  if not os.path.exists(record):
    return []
  with open(record, encoding="utf-8") as f:
    lines = f.read().splitlines()
  if not STRACE:
    return [json.loads(line)["path"] for line in lines]
  paths = []
  for line in lines:
    call = re.search(r"(\w+)\((.*)\)\s+=\s+(-?\d+)", line)
    if not call or call.group(3).startswith("-"):  # failed calls change nothing
      continue
    name, args = call.group(1), call.group(2)
    if name in ("open", "openat") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", args):
      continue
    paths += re.findall(r'"([^"]*)"', args)
  return paths


def shared_writes(record, shared_dir):
  shared = os.path.realpath(shared_dir)
  return sorted({path for path in written_paths(record)
                 if os.path.realpath(path).startswith(shared + os.sep)})


# ----------------------------------------------------------------------------------------------
# The checks.

def checkpoint_step(prefix):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return int(tf.train.load_checkpoint(prefix).get_tensor("global_step"))


def latest_checkpoint(directory):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf.train.latest_checkpoint(directory)


def check_pretraining(check, work, record, quick, timeout):
  model_dir = os.path.join(work, "models", "tiny")
  first = {**PRETRAIN, "num_train_steps": 2}
  if quick:
    run_alone(check, "run_pretraining.py", work, first, timeout)
  else:
    run_two_workers(check, "run_pretraining.py", work, first, record, timeout)
  outputs = run_two_workers(check, "run_pretraining.py", work,
                            {**PRETRAIN, "num_train_steps": 4, "do_eval": True,
                             "num_eval_steps": 1}, record, timeout)
  resumed = f"Resumed from {os.path.join(model_dir, 'model.ckpt-2')} at step 2"
  check.expect(all(resumed in output for output in outputs),
               "the second pre-training run did not resume from step 2 on both workers")
  latest = latest_checkpoint(model_dir)
  check.expect(latest and latest.endswith("model.ckpt-4") and checkpoint_step(latest) == 4,
               f"the newest checkpoint is {latest}, not a complete model.ckpt-4")
  names = sorted(os.listdir(model_dir))
  expected = [f"model.ckpt-{step}.{ext}" for step in (2, 4)
              for ext in ("data-00000-of-00001", "index")]
  check.expect([name for name in names if name.startswith("model.ckpt-")] == expected,
               f"checkpoint files: {names}")
  check.expect(not [name for name in names if ".tmp" in name or name.endswith(".lock")],
               f"temporary or lock files left: {names}")
  results_dir = os.path.join(model_dir, "results")
  with open(os.path.join(results_dir, "unsup_results.json"), encoding="utf-8") as f:
    results = json.load(f)
  check.expect(results.get("global_step") == 4 and 0.0 <= results.get("disc_auc", -1) <= 1.0,
               f"unsup_results.json: {results}")
  with open(os.path.join(results_dir, "unsup_results_history.jsonl"), encoding="utf-8") as f:
    steps = [json.loads(line)["global_step"] for line in f if line.strip()]
  check.expect(steps == [4], f"evaluation history steps {steps}, expected [4]")


def check_finetuning(check, work, record, quick, timeout):
  model_dir = os.path.join(work, "models", "tiny")
  hparams = dict(FINETUNE, num_trials=1) if quick else FINETUNE
  last = hparams["num_trials"]
  for run in (1, 2):
    if quick and run == 1:
      run_alone(check, "run_finetuning.py", work, hparams, timeout)
    else:
      run_two_workers(check, "run_finetuning.py", work, hparams, record, timeout)
    results_path = os.path.join(model_dir, "results", "chnsenticorp_results.json")
    with open(results_path, encoding="utf-8") as f:
      trials = json.load(f)["trials"]
    check.expect([trial["status"] for trial in trials] == ["done"] * last,
                 f"run {run}: trial statuses {[t['status'] for t in trials]}")
    check.expect(all({"accuracy", "loss"} <= set(t["results"]["chnsenticorp"]["dev"])
                     for t in trials), f"run {run}: dev scores missing")
    models = sorted(os.listdir(os.path.join(model_dir, "finetuning_models")))
    kept = [f"chnsenticorp_model_{last}.previous-{n}" for n in range(1, run)]
    check.expect(models == sorted([f"chnsenticorp_model_{last}"] + kept),
                 f"run {run}: fine-tuned models {models}")
    trial_dir = os.path.join(model_dir, "finetuning_models", f"chnsenticorp_model_{last}")
    with open(os.path.join(trial_dir, "trial_status.json"), encoding="utf-8") as f:
      check.expect(json.load(f) == {"status": "done"}, f"run {run}: trial status not done")
    check.expect(bool(latest_checkpoint(trial_dir)), f"run {run}: no checkpoint in {trial_dir}")
  results = sorted(os.listdir(os.path.join(model_dir, "results")))
  check.expect("chnsenticorp_results.previous-1.json" in results
               and "chnsenticorp_results.previous-2.json" not in results,
               f"results kept aside: {results}")


def run_checks(work, quick=False, timeout=600.0):
  """Runs every check in `work` (new or empty); returns the Check."""
  os.makedirs(work, exist_ok=True)
  if os.listdir(work):
    raise ValueError(f"{work} is not empty")
  check = Check()
  data = os.path.join(work, "data")
  os.makedirs(data)
  make_data(data)
  record = os.path.join(work, "worker1-writes.txt")  # outside the shared data directory
  timer = time.time()
  check_pretraining(check, data, record, quick, timeout)
  check_finetuning(check, data, record, quick, timeout)
  check.counts["seconds"] = round(time.time() - timer, 1)
  return check


def main(argv=None):
  args = parse_args(argv)
  check = run_checks(args.work_dir, args.quick, args.timeout)
  print(json.dumps(dict(check.counts, failures=len(check.failures))), flush=True)
  for failure in check.failures:
    print(f"  {failure}", file=sys.stderr)
  sys.exit(1 if check.failures else 0)


if __name__ == "__main__":
  main()
