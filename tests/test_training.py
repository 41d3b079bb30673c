"""The training loop: learning, resuming after a kill, divergence, and data parallelism.

Tests that need a fresh TensorFlow runtime (two logical CPU devices, multi-worker TF_CONFIG, a
process to kill) run this file as a script in a subprocess: `python -m tests.test_training
'<json args>'`, see `worker_main`.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import configure_pretraining
from model import optimization
from tools.multiworker_check import free_ports
from util import checkpoint as checkpoint_lib
from util import strategy as strategy_lib
from util import training

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_EXAMPLES = 64
GLOBAL_BATCH = 8


class TinyRegressor(tf.Module):
  """A one-hidden-layer MLP with TF1-style names, implementing the Trainer's model protocol."""

  def __init__(self, in_dim=4, hidden=8, seed=0, scope="tiny"):
    super().__init__(name=None)
    rng = np.random.RandomState(seed)  # The same seed gives the same weights in every process.
    self._trainable = {
        f"{scope}/dense/kernel": rng.normal(0, 0.5, [in_dim, hidden]),
        f"{scope}/dense/bias": np.zeros([hidden]),
        f"{scope}/output/kernel": rng.normal(0, 0.5, [hidden, 1]),
        f"{scope}/output/bias": np.zeros([1])}
    self._trainable = {name: tf.Variable(value.astype(np.float32), name=name)
                       for name, value in self._trainable.items()}
    # Non-trainable state, to check that checkpoints hold more than the trained variables.
    self.scale = tf.Variable(1.0, trainable=False, name=f"{scope}/output_scale")
    self.scope = scope

  @property
  def trainable_variables(self):
    return dict(self._trainable)

  def all_variables(self):
    return dict(self._trainable, **{f"{self.scope}/output_scale": self.scale})

  def __call__(self, x):
    v = self._trainable
    hidden = tf.nn.relu(x @ v[f"{self.scope}/dense/kernel"] + v[f"{self.scope}/dense/bias"])
    output = hidden @ v[f"{self.scope}/output/kernel"] + v[f"{self.scope}/output/bias"]
    return output[:, 0] * self.scale

  def loss(self, features, training):
    del training  # No dropout.
    predictions = self(features["x"])
    loss = tf.reduce_mean(tf.square(predictions - features["y"]))
    return loss, {"mean_prediction": tf.reduce_mean(predictions)}

  def predict(self, features):
    return {"prediction": self(features["x"]), "id": features["id"]}

  def eval_metrics(self, features):
    errors = tf.square(self(features["x"]) - features["y"])
    return {"squared_error": errors, "id": features["id"], "batch_size": tf.size(errors)}


def regression_data(nan_at=None):
  """y = x . w_true; example `nan_at` (if given) has a NaN target, so its loss is NaN."""
  rng = np.random.RandomState(1)
  x = rng.normal(size=[NUM_EXAMPLES, 4]).astype(np.float32)
  y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32)).astype(np.float32)
  if nan_at is not None:
    y[nan_at] = np.nan
  return {"x": x, "y": y, "id": np.arange(NUM_EXAMPLES, dtype=np.int64)}


def train_input_fn(nan_at=None, sleep_secs=0.0):
  def input_fn(input_context):
    dataset = tf.data.Dataset.from_tensor_slices(regression_data(nan_at))
    dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if sleep_secs:  # Slows training down so that a test can kill it midway.
      dataset = dataset.map(lambda f: _sleep_then(f, sleep_secs))
    batch = input_context.get_per_replica_batch_size(GLOBAL_BATCH)
    return dataset.repeat().batch(batch, drop_remainder=True)
  return input_fn


def _sleep_then(features, secs):
  done = tf.py_function(lambda: time.sleep(secs) or True, [], tf.bool)
  with tf.control_dependencies([done]):
    return {name: tf.identity(value) for name, value in features.items()}


def eval_input_fn(batch_size=4):
  def input_fn(input_context):
    del input_context
    return tf.data.Dataset.from_tensor_slices(regression_data()).batch(batch_size)
  return input_fn


def make_trainer(strategy, model_dir, input_fn=None, learning_rate=0.05, **kwargs):
  with strategy.scope():
    model = TinyRegressor()
    optimizer = optimization.AdamWeightDecay(lambda step: tf.constant(learning_rate))
  return training.Trainer(strategy, model, optimizer, input_fn or train_input_fn(), model_dir,
                          **kwargs)


def one_device():
  return tf.distribute.OneDeviceStrategy("/cpu:0")


def full_data_loss(model):
  data = regression_data()
  return float(tf.reduce_mean(tf.square(model(data["x"]) - data["y"])))


def variables_as_numpy(trainer):
  return {name: tf.convert_to_tensor(v).numpy()
          for name, v in trainer.checkpoint_variables().items()}


# ------------------------------------------------------------------------------------------------
# In-process tests.

def test_training_lowers_the_loss_and_logs(tmp_path, capsys):
  trainer = make_trainer(one_device(), str(tmp_path), steps_per_loop=4, save_checkpoints_steps=10,
                         log_every_steps=10, jit_compile=True)
  before = full_data_loss(trainer.model)
  metrics = trainer.train(20)
  assert metrics["global_step"] == 20 and trainer.global_step == 20
  assert full_data_loss(trainer.model) < 0.5 * before
  assert set(metrics) == {"loss", "mean_prediction", "global_step"}
  out = capsys.readouterr().out
  assert "step 20/20 (100.0%)" in out and "steps/s" in out and "examples/s" in out
  assert "ETA" in out and "elapsed" in out
  assert checkpoint_lib.CheckpointManager(str(tmp_path)).latest().endswith("model.ckpt-20")
  assert tf.io.gfile.glob(os.path.join(str(tmp_path), "events.out.tfevents.*"))


def test_train_saves_every_n_steps_and_continues_in_the_same_process(tmp_path):
  trainer = make_trainer(one_device(), str(tmp_path), steps_per_loop=3, save_checkpoints_steps=4,
                         keep_checkpoint_max=10)
  trainer.train(6)
  trainer.train(9)  # A second call continues from step 6 and from the same data iterator.
  saved = checkpoint_lib.CheckpointManager(str(tmp_path)).all_checkpoints()
  assert [os.path.basename(p) for p in saved] == ["model.ckpt-4", "model.ckpt-6",
                                                  "model.ckpt-8", "model.ckpt-9"]
  reader = tf.train.load_checkpoint(saved[-1])
  assert reader.get_tensor("global_step") == 9
  assert "tiny/dense/kernel/adam_m" in reader.get_variable_to_shape_map()


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tmp_path):
  # Batch 6 (0-based) holds the NaN example, so step 7 diverges; step 4 is the last checkpoint.
  trainer = make_trainer(one_device(), str(tmp_path),
                         input_fn=train_input_fn(nan_at=6 * GLOBAL_BATCH + 3),
                         steps_per_loop=3, save_checkpoints_steps=4)
  with pytest.raises(training.NonFiniteLossError, match=r"diverged at step 7: the loss is nan"):
    trainer.train(12)
  manager = checkpoint_lib.CheckpointManager(str(tmp_path))
  assert manager.latest().endswith("model.ckpt-4")
  assert [os.path.basename(p) for p in manager.all_checkpoints()] == ["model.ckpt-4"]
  reader = tf.train.load_checkpoint(manager.latest())
  assert all(np.all(np.isfinite(reader.get_tensor(name)))
             for name in reader.get_variable_to_shape_map())
  # The diverged update itself was not applied either.
  assert trainer.global_step == 6
  assert all(np.all(np.isfinite(v)) for v in variables_as_numpy(trainer).values())


def test_float16_loss_scaling_skips_overflowing_steps(tmp_path, capsys):
  trainer = make_trainer(one_device(), str(tmp_path), mixed_precision="float16",
                         initial_loss_scale=1e38, log_every_steps=100)
  before = full_data_loss(trainer.model)
  trainer.train(30)
  assert trainer.global_step == 30
  assert "steps skipped (float16 overflow)" in capsys.readouterr().out
  assert float(trainer._loss_scale.scale.numpy()) < 1e38
  assert full_data_loss(trainer.model) < before
  reader = tf.train.load_checkpoint(str(tmp_path))
  assert "loss_scale/current_loss_scale" in reader.get_variable_to_shape_map()


def test_dynamic_loss_scale_grows_after_finite_steps_and_halves_on_overflow():
  scale = training.DynamicLossScale(initial_scale=8.0, growth_steps=2)
  for finite, expected in [(True, 8.0), (True, 16.0), (False, 8.0), (True, 8.0), (True, 16.0)]:
    scale.update(tf.constant(finite))
    assert float(scale.scale.numpy()) == expected
  low = training.DynamicLossScale(initial_scale=1.0)
  low.update(tf.constant(False))
  assert float(low.scale.numpy()) == 1.0 and not bool(low.can_decrease())


def test_evaluate_and_predict_return_every_example_in_order(tmp_path):
  trainer = make_trainer(one_device(), str(tmp_path))
  outputs = trainer.evaluate(eval_input_fn(batch_size=5))
  np.testing.assert_array_equal(outputs["id"], np.arange(NUM_EXAMPLES))
  assert outputs["squared_error"].shape == (NUM_EXAMPLES,)
  assert outputs["batch_size"].tolist() == [5] * 12 + [4]
  batches = list(trainer.predict(eval_input_fn(batch_size=16)))
  assert [b["id"][0] for b in batches] == [0, 16, 32, 48]
  assert len(trainer.evaluate(eval_input_fn(), num_steps=2)["id"]) == 8


def test_evaluate_restores_the_latest_checkpoint(tmp_path):
  trained = make_trainer(one_device(), str(tmp_path), save_checkpoints_steps=5)
  trained.train(5)
  expected = trained.evaluate(eval_input_fn())["squared_error"]
  fresh = make_trainer(one_device(), str(tmp_path))
  np.testing.assert_allclose(fresh.evaluate(eval_input_fn())["squared_error"], expected)
  assert fresh.global_step == 5


def run_config(strategy):
  """A real run config choosing `strategy` (set directly: "bogus" must reach get_strategy)."""
  config = configure_pretraining.PretrainingConfig("MODEL_NAME", "DATA_DIR")
  config.strategy = strategy
  return config


def test_get_strategy_and_precision(monkeypatch):
  assert isinstance(training.get_strategy(run_config("auto")), tf.distribute.OneDeviceStrategy)
  with pytest.raises(ValueError, match="bogus"):
    training.get_strategy(run_config("bogus"))
  monkeypatch.setenv("TF_CONFIG", json.dumps(
      {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "chief"}}))
  assert strategy_lib.num_workers_in_tf_config() == 3
  assert training.set_precision(None) == tf.float32
  assert training.set_precision("bfloat16") == tf.bfloat16
  with pytest.raises(ValueError, match="float8"):
    training.set_precision("float8")


# ------------------------------------------------------------------------------------------------
# Subprocess tests.

def run_worker(args, env=None, **popen_kwargs):
  full_env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
  full_env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO_ROOT, **(env or {}))
  return subprocess.Popen([sys.executable, "-m", "tests.test_training", json.dumps(args)],
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


def test_a_progress_line_every_log_every_steps_whatever_steps_per_loop(tmp_path, capsys):
  # With the release's iterations_per_loop (1000) a run used to log once per loop call.
  trainer = make_trainer(one_device(), str(tmp_path), steps_per_loop=100,
                         save_checkpoints_steps=100, log_every_steps=3, jit_compile=False)
  trainer.train(12)
  out = capsys.readouterr().out
  assert [f"step {n}/12 " in out for n in (3, 6, 9, 12)] == [True] * 4


def test_eta_comes_from_the_speed_after_the_first_loop_call():
  progress = training._Progress(0, 100)  # pylint: disable=protected-access
  progress.run_timer.start -= 50.0  # a slow first call (tracing, compiling): 50 s for 10 steps
  one_step = {"loss": 1.0, "metrics": {}, "steps": 10, "examples": 10, "skipped": 0}
  progress.add(one_step)
  progress.steady_timer.start -= 10.0  # then 10 steps in 10 s
  progress.add(one_step)
  _, line = progress.report(20)
  assert "ETA 1:20" in line  # 80 steps at 1 step/s, not at the overall 20 / 60 s


def event_steps(directory, tag="loss"):
  """{events file name: [steps of `tag`]} of the TensorBoard files directly in `directory`."""
  steps = {}
  for name in sorted(os.listdir(directory)):
    if name.startswith("events.out.tfevents"):
      steps[name] = [event.step for event in tf.compat.v1.train.summary_iterator(
          os.path.join(directory, name)) for value in event.summary.value if value.tag == tag]
  return steps


def test_the_first_progress_line_and_point_come_after_one_step(tmp_path, capsys):
  # The release's loop length and log interval: a short run used to print nothing until its end.
  trainer = make_trainer(one_device(), str(tmp_path), steps_per_loop=1000,
                         save_checkpoints_steps=1000, log_every_steps=100, jit_compile=False)
  trainer.train(12)
  out = capsys.readouterr().out
  assert "step 1/12 " in out and "step 12/12 " in out
  assert list(event_steps(str(tmp_path)).values()) == [[1, 12]]


def test_a_progress_line_at_least_every_progress_secs(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(training, "PROGRESS_SECS", 0.0)  # every line is due at once
  trainer = make_trainer(one_device(), str(tmp_path), steps_per_loop=1000,
                         save_checkpoints_steps=1000, log_every_steps=100, jit_compile=False)
  trainer.train(5)
  out = capsys.readouterr().out
  assert [f"step {n}/5 " in out for n in range(1, 6)] == [True] * 5


def test_a_resumed_run_adds_no_events_file_for_steps_already_written(tmp_path):
  model_dir = str(tmp_path)
  make_trainer(one_device(), model_dir, save_checkpoints_steps=4, log_every_steps=2).train(4)
  first = event_steps(model_dir)
  assert list(first.values()) == [[1, 2, 4]]
  make_trainer(one_device(), model_dir, log_every_steps=2).train(4)  # nothing left to train
  assert event_steps(model_dir) == first
  make_trainer(one_device(), model_dir, log_every_steps=2).train(6)
  assert sorted(event_steps(model_dir).values()) == [[1, 2, 4], [5, 6]]


def test_temporary_files_go_to_a_directory_of_the_run_removed_after_it(tmp_path, monkeypatch):
  import tempfile  # pylint: disable=import-outside-toplevel
  from util import run_lock  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True).stdout.strip()
  stale = tmp_path / f"{run_lock.TEMPDIR_PREFIX}{dead}-123"  # left by a killed run
  stale.mkdir()
  (stale / "__autograph_generated_file1.py").write_text("")
  with run_lock.private_tempdir() as private:
    assert not stale.exists()
    with tempfile.NamedTemporaryFile(delete=False) as f:  # how autograph writes its modules
      assert os.path.dirname(f.name) == private
  assert os.listdir(tmp_path) == [] and tempfile.tempdir == str(tmp_path)
