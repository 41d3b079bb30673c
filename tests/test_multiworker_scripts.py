"""run_pretraining.py and run_finetuning.py as two workers of one MultiWorkerMirroredStrategy
cluster on localhost (TF_CONFIG, ports on 127.0.0.1), sharing one model directory, each run twice
so that the second one resumes (pre-training) or keeps the first one's results (fine-tuning).

What the non-chief worker writes is recorded at the system-call level with strace (every open
for writing, rename, unlink, mkdir and rmdir of the whole process tree) where strace is
installed, else by an audit hook and wrappers of TensorFlow's file and writer functions
(tests/write_recorder.py); either way the record must hold no path in the shared directory.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest
import tensorflow as tf

from tests.test_pretraining import TINY_HPARAMS, write_vocab
from tests.test_pretraining import fixture_record_dir  # noqa: F401 (the record_dir fixture)
from tests.test_run_finetuning import write_chnsenticorp

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN = {**TINY_HPARAMS, "num_warmup_steps": 0, "iterations_per_loop": 2,
            "log_every_steps": 1, "save_checkpoints_steps": 2, "keep_checkpoint_max": 5,
            "jit_compile": False}
FINETUNE = {"task_names": ["chnsenticorp"], "max_seq_length": 16, "train_batch_size": 8,
            "eval_batch_size": 8, "num_train_epochs": 1.0, "num_trials": 2, "do_test": False,
            "log_every_steps": 1, "iterations_per_loop": 2, "jit_compile": False,
            "keep_all_models": False}
WRITE_SYSCALLS = "open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat," \
                 "rmdir,link,linkat,symlink,symlinkat,truncate"
STRACE = shutil.which("strace")


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def start_worker(script, data_dir, hparams, index, workers, record):
  tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
  env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
  env.update(TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO_ROOT,
             TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="2")
  command = [sys.executable, os.path.join(REPO_ROOT, script), "--data-dir", str(data_dir),
             "--model-name", "tiny", "--hparams", json.dumps(hparams)]
  if record and STRACE:
    command = [STRACE, "-f", "-qq", "--seccomp-bpf", "-e", f"trace={WRITE_SYSCALLS}",
               "-o", record] + command
  elif record:
    env["WRITE_RECORD"] = record
    command = [sys.executable, "-m", "tests.write_recorder"] + command[1:]
  return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def run_two_workers(script, data_dir, hparams, record):
  """Runs `script` as worker 0 (the chief) and worker 1 (its writes recorded to `record`);
  returns both outputs after checking that both exited 0."""
  workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
  processes = [start_worker(script, data_dir, hparams, index, workers,
                            record if index == 1 else None) for index in range(2)]
  outputs = []
  try:
    for process in processes:
      outputs.append(process.communicate(timeout=240)[0])
  finally:
    for process in processes:
      process.kill()
  for process, output in zip(processes, outputs):
    assert process.returncode == 0, output
  assert "Distribution strategy: multi_worker" in outputs[0] and "2 replica(s)" in outputs[0]
  return outputs


def written_paths(record):
  """The paths the recorded process created, opened for writing, renamed, removed."""
  with open(record, encoding="utf-8") as f:
    lines = f.read().splitlines()
  if STRACE:
    paths = []
    for line in lines:
      if "= -1" in line:  # failed calls changed nothing
        continue
      call = re.search(r"(\w+)\((.*)\)\s+=", line)
      if not call:
        continue
      name, args = call.groups()
      if name in ("open", "openat") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", args):
        continue
      paths += re.findall(r'"([^"]*)"', args)
    return paths
  return [json.loads(line)["path"] for line in lines]


def shared_writes(record, shared_dir):
  shared = os.path.realpath(shared_dir)
  return sorted({path for path in written_paths(record)
                 if os.path.realpath(path).startswith(shared + os.sep)})


def test_both_scripts_on_two_workers_write_everything_once_from_the_chief(record_dir, tmp_path):  # noqa: F811,E501
  write_vocab(record_dir)
  model_dir = record_dir / "models" / "tiny"
  record = str(tmp_path.parent / f"{tmp_path.name}-worker1-writes.txt")  # outside the shared dir

  # Pre-training: 2 steps, then resumed to 4 with an evaluation.
  run_two_workers("run_pretraining.py", record_dir, {**PRETRAIN, "num_train_steps": 2}, record)
  assert shared_writes(record, record_dir) == []
  second = run_two_workers("run_pretraining.py", record_dir,
                           {**PRETRAIN, "num_train_steps": 4, "do_eval": True,
                            "num_eval_steps": 1}, record)
  assert shared_writes(record, record_dir) == []
  assert f"Resumed from {model_dir / 'model.ckpt-2'} at step 2" in second[0]
  assert "at step 2" in second[1]  # the non-chief resumed from the same checkpoint
  assert tf.train.load_checkpoint(str(model_dir / "model.ckpt-4")).get_tensor("global_step") == 4
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("model.ckpt-4")
  names = sorted(path.name for path in model_dir.iterdir())
  assert [name for name in names if name.startswith("model.ckpt-")] == [
      f"model.ckpt-{step}.{ext}" for step in (2, 4)
      for ext in ("data-00000-of-00001", "index")]
  assert not [name for name in names if ".tmp" in name or name.endswith(".lock")]
  results = json.loads((model_dir / "results" / "unsup_results.json").read_text())
  assert results["global_step"] == 4 and 0.0 <= results["disc_auc"] <= 1.0
  history = (model_dir / "results" / "unsup_results_history.jsonl").read_text().splitlines()
  assert [json.loads(line)["global_step"] for line in history] == [4]

  # Fine-tuning the model just pre-trained, twice: the second run keeps the first's results.
  write_chnsenticorp(record_dir / "finetuning_data" / "chnsenticorp", n=32)
  for run in (1, 2):
    run_two_workers("run_finetuning.py", record_dir, FINETUNE, record)
    assert shared_writes(record, record_dir) == []
    results_dir = model_dir / "results"
    results = json.loads((results_dir / "chnsenticorp_results.json").read_text())
    assert [trial["status"] for trial in results["trials"]] == ["done", "done"]
    assert set(results["trials"][1]["results"]["chnsenticorp"]["dev"]) >= {"accuracy", "loss"}
    models = sorted(path.name for path in (model_dir / "finetuning_models").iterdir())
    kept = [f"chnsenticorp_model_2.previous-{n}" for n in range(1, run)]
    assert models == sorted(["chnsenticorp_model_2"] + kept)  # keep_all_models false
    trial_dir = model_dir / "finetuning_models" / "chnsenticorp_model_2"
    assert json.loads((trial_dir / "trial_status.json").read_text()) == {"status": "done"}
    assert tf.train.latest_checkpoint(str(trial_dir))
  assert (results_dir / "chnsenticorp_results.previous-1.json").exists()
  assert not (results_dir / "chnsenticorp_results.previous-2.json").exists()
