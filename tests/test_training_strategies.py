"""The training loop across processes: resuming after a kill, two logical CPUs against one device,
and two workers.

Each test needs a fresh TensorFlow runtime (two logical CPU devices, multi-worker TF_CONFIG, a
process to kill), so it runs this file as a script in a subprocess: `python -m
tests.test_training_strategies '<json args>'`, see `worker_main`.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tests.training_fixtures import NUM_EXAMPLES, eval_input_fn, make_trainer
from tests.training_fixtures import one_device, run_config, train_input_fn, variables_as_numpy
from tools.multiworker_check import free_ports
from util import checkpoint as checkpoint_lib
from util import training

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_worker(args, env=None, **popen_kwargs):
  full_env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
  full_env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO_ROOT, **(env or {}))
  module = "tests.test_training_strategies"
  return subprocess.Popen([sys.executable, "-m", module, json.dumps(args)],
                          cwd=REPO_ROOT, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **popen_kwargs)


def finish(process, timeout=120):
  output, _ = process.communicate(timeout=timeout)
  assert process.returncode == 0, output
  return output


def test_resume_after_kill_reaches_the_same_final_step(tmp_path):
  model_dir = str(tmp_path / "model")
  args = {"mode": "train", "model_dir": model_dir, "num_steps": 40, "save_every": 5,
          "sleep_secs": 0.01}
  process = run_worker(args)
  lines = []
  for line in process.stdout:  # Kill it right after it reports a checkpoint midway.
    lines.append(line)
    if "Saved checkpoint" in line and line.strip().endswith("model.ckpt-10"):
      process.send_signal(signal.SIGKILL)
      break
  process.wait(timeout=60)
  assert process.returncode == -signal.SIGKILL, "".join(lines)
  killed_at = checkpoint_lib.CheckpointManager(model_dir).latest()
  killed_step = int(killed_at.rsplit("-", 1)[1])
  assert 10 <= killed_step < 40

  output = finish(run_worker(dict(args, sleep_secs=0.0)))
  assert f"Resumed from {killed_at} at step {killed_step}" in output
  manager = checkpoint_lib.CheckpointManager(model_dir)
  assert manager.latest().endswith("model.ckpt-40")
  for prefix in manager.all_checkpoints():  # Every checkpoint the state file lists is complete.
    step = int(prefix.rsplit("-", 1)[1])
    assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == step


def test_mirrored_on_two_cpus_matches_one_device_on_the_full_batch(tmp_path):
  """Also with XLA per replica and with float16 loss scaling."""
  out = str(tmp_path / "result.npz")
  finish(run_worker({"mode": "mirrored_vs_one_device", "model_dir": str(tmp_path),
                     "num_steps": 3, "out": out}))
  result = np.load(out)
  assert result["num_replicas"] == 2
  names = [key[len("mirrored:"):] for key in result.files if key.startswith("mirrored:")]
  assert "tiny/dense/kernel" in names and "tiny/dense/kernel/adam_v" in names
  for name in names:
    for run in ("mirrored:", "mirrored_float16:"):
      np.testing.assert_allclose(result[run + name], result["one_device:" + name],
                                 rtol=1e-5, atol=1e-6, err_msg=run + name)
  assert result["mirrored:global_step"] == 3
  # Predictions come back from both replicas in input order, the last batch split unevenly.
  np.testing.assert_array_equal(result["predicted_ids"], np.arange(NUM_EXAMPLES))
  # Restoring a checkpoint into mirrored variables fills every replica's copy.
  assert result["restored_replicas_equal"]


def test_two_workers_train_identical_variables(tmp_path):
  workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
  model_dir = str(tmp_path / "model")
  processes = []
  for index in range(2):
    tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    args = {"mode": "train", "model_dir": model_dir, "num_steps": 4, "save_every": 2,
            "out": str(tmp_path / f"worker{index}.npz")}
    processes.append(run_worker(args, env={"TF_CONFIG": json.dumps(tf_config)}))
  outputs = [finish(p) for p in processes]
  assert "Distribution strategy: multi_worker (" in outputs[0] and "2 replica(s)" in outputs[0]
  assert "Saved checkpoint" in outputs[0] and "Saved checkpoint" not in outputs[1]
  results = [np.load(str(tmp_path / f"worker{i}.npz")) for i in range(2)]
  assert sorted(results[0].files) == sorted(results[1].files)
  for name in results[0].files:
    np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)
  # Each worker read its own half of every global batch: together, one device's full batch.
  reference = make_trainer(one_device(), str(tmp_path / "reference"))
  reference.train(4)
  for name, value in variables_as_numpy(reference).items():
    np.testing.assert_allclose(results[0][name], value, rtol=1e-5, atol=1e-6, err_msg=name)
  reader = tf.train.load_checkpoint(model_dir)
  np.testing.assert_array_equal(reader.get_tensor("tiny/dense/kernel"),
                                results[0]["tiny/dense/kernel"])


# ------------------------------------------------------------------------------------------------
# Subprocess entry point.

def worker_train(args):
  """Trains with the strategy that get_strategy picks (TF_CONFIG -> multi-worker)."""
  strategy = training.get_strategy(run_config("auto"))
  trainer = make_trainer(strategy, args["model_dir"],
                         input_fn=train_input_fn(sleep_secs=args.get("sleep_secs", 0.0)),
                         save_checkpoints_steps=args["save_every"], log_every_steps=1)
  trainer.train(args["num_steps"])
  if args.get("out"):
    np.savez(args["out"], **variables_as_numpy(trainer))


def worker_mirrored_vs_one_device(args):
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  results = {}
  mirrored = training.get_strategy(run_config("mirrored"))
  # float16 loss scaling by powers of two is exact, so it must not change the result either.
  runs = [("one_device", one_device(), {}), ("mirrored", mirrored, {"jit_compile": True}),
          ("mirrored_float16", mirrored, {"mixed_precision": "float16"})]
  for name, strategy, kwargs in runs:
    trainer = make_trainer(strategy, os.path.join(args["model_dir"], name), **kwargs)
    trainer.train(args["num_steps"])
    results.update({f"{name}:{key}": value for key, value in variables_as_numpy(trainer).items()})
  results["num_replicas"] = mirrored.num_replicas_in_sync
  strategy = mirrored
  # 64 examples in batches of 6: 11 batches, so the last step gives replica 1 nothing.
  ids = [batch["id"] for batch in trainer.predict(eval_input_fn(batch_size=6))]
  results["predicted_ids"] = np.concatenate(ids)
  restored = make_trainer(strategy, os.path.join(args["model_dir"], "mirrored"))
  restored.restore_or_initialize()
  kernel = restored.model.trainable_variables["tiny/dense/kernel"]
  copies = [v.numpy() for v in strategy.experimental_local_results(kernel)]
  results["restored_replicas_equal"] = (
      len(copies) == 2 and np.array_equal(copies[0], copies[1])
      and np.array_equal(copies[0], results["mirrored:tiny/dense/kernel"]))
  np.savez(args["out"], **results)


def worker_main(argv):
  args = json.loads(argv[1])
  {"train": worker_train, "mirrored_vs_one_device": worker_mirrored_vs_one_device}[args["mode"]](
      args)


if __name__ == "__main__":
  worker_main(sys.argv)
