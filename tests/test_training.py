"""The training loop in one process: learning, checkpoints, divergence, loss scaling, evaluation,
progress lines and TensorBoard points (several devices, workers and kills:
tests/test_training_strategies.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.training_fixtures import GLOBAL_BATCH, NUM_EXAMPLES, eval_input_fn, full_data_loss
from tests.training_fixtures import make_trainer, one_device, run_config, train_input_fn
from tests.training_fixtures import variables_as_numpy
from util import checkpoint as checkpoint_lib
from util import strategy as strategy_lib
from util import training


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
  _, first_line = progress.report(10)
  assert "ETA after the next line:" in first_line  # nothing but start-up to go by
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
