"""TF1 name-based checkpoints: round trips, released-checkpoint initialisation, rotation."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from model import modeling
from model import optimization
from tests.training_fixtures import TinyRegressor, make_trainer, one_device, regression_data
from util import checkpoint as checkpoint_lib


def test_round_trip_gives_identical_outputs_and_tf1_names(tmp_path):
  source, target = TinyRegressor(seed=0), TinyRegressor(seed=1)
  source.scale.assign(0.5)
  prefix = checkpoint_lib.save_checkpoint(str(tmp_path / "model.ckpt-1"), source.all_variables())
  assert dict(tf.train.list_variables(prefix)) == {
      "tiny/dense/kernel": [4, 8], "tiny/dense/bias": [8], "tiny/output/kernel": [8, 1],
      "tiny/output/bias": [1], "tiny/output_scale": []}
  x = regression_data()["x"]
  assert not np.allclose(source(x), target(x))
  assert checkpoint_lib.restore(prefix, target.all_variables()) == sorted(source.all_variables())
  np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())


def tiny_bert(seed):
  tf.random.set_seed(seed)
  config = modeling.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2,
                               num_attention_heads=2, intermediate_size=32,
                               max_position_embeddings=12, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0)
  return modeling.BertModel(config, embedding_size=8)


def test_bert_model_names_round_trip(tmp_path):
  source, target = tiny_bert(1), tiny_bert(2)
  named = modeling.named_variables(source)
  prefix = checkpoint_lib.save_checkpoint(str(tmp_path / "bert"), named)
  listed = dict(tf.train.list_variables(prefix))
  assert listed == {name: v.shape.as_list() for name, v in named.items()}
  assert "electra/encoder/layer_1/attention/self/query/kernel" in listed
  assert "electra/embeddings_project/kernel" in listed
  checkpoint_lib.restore(prefix, modeling.named_variables(target))
  ids = tf.constant([[1, 5, 7, 2, 0]])
  mask, segments = tf.constant([[1, 1, 1, 1, 0]]), tf.constant([[0, 0, 1, 1, 0]])
  np.testing.assert_array_equal(source(ids, mask, segments).numpy(),
                                target(ids, mask, segments).numpy())


def write_released_checkpoint(path):
  """Like a released model: weights, a global_step and a head we do not build, but no slots."""
  released = TinyRegressor(seed=7)
  named = dict(released.all_variables())
  named["global_step"] = tf.Variable(1000000, dtype=tf.int64)
  named["discriminator_predictions/dense/kernel"] = tf.Variable(tf.zeros([2, 2]))
  checkpoint_lib.save_checkpoint(path, named)
  return released


def test_init_from_checkpoint_without_slots_reports_them_and_training_continues(
    tmp_path, capsys):
  released = write_released_checkpoint(str(tmp_path / "released" / "electra_tiny"))
  model = TinyRegressor(seed=0)
  optimizer = optimization.AdamWeightDecay(lambda step: 0.01)
  optimizer.build(model.trainable_variables)
  loaded, missing, unused = checkpoint_lib.init_from_checkpoint(
      str(tmp_path / "released"), dict(model.all_variables(), **optimizer.slot_variables()))
  assert loaded == sorted(model.all_variables())
  assert missing == sorted(set(optimizer.slot_variables()) - {"global_step"})
  assert "tiny/dense/kernel/adam_m" in missing
  # The released step counter is not taken: this run's schedule starts at step 0.
  assert unused == ["discriminator_predictions/dense/kernel", "global_step"]
  assert int(optimizer.iterations.numpy()) == 0
  assert "Initialised 5 variables" in capsys.readouterr().out
  x = regression_data()["x"]
  np.testing.assert_array_equal(model(x).numpy(), released(x).numpy())

  # The Trainer initialises the model (not global_step or slots) from it and trains on.
  trainer = make_trainer(one_device(), str(tmp_path / "finetune"),
                         init_checkpoint=str(tmp_path / "released" / "electra_tiny"))
  metrics = trainer.train(3)
  assert metrics["global_step"] == 3 and np.isfinite(metrics["loss"])
  assert "2 checkpoint entries unused" in capsys.readouterr().out


def test_shape_mismatch_names_the_variable_and_both_shapes(tmp_path):
  prefix = checkpoint_lib.save_checkpoint(str(tmp_path / "ckpt"),
                                          TinyRegressor(hidden=8).all_variables())
  model = TinyRegressor(hidden=6)
  before = model.all_variables()["tiny/dense/bias"].numpy().copy()
  pattern = r"'tiny/dense/bias': the model has \[6\], checkpoint '.*ckpt' has \[8\]"
  with pytest.raises(ValueError, match=pattern):
    checkpoint_lib.init_from_checkpoint(prefix, {"tiny/dense/bias": model.all_variables()[
        "tiny/dense/bias"]})
  with pytest.raises(ValueError, match="Shape mismatch for variable 'tiny/dense/"):
    checkpoint_lib.restore(prefix, model.all_variables())
  # Nothing was assigned before the mismatch was found.
  np.testing.assert_array_equal(model.all_variables()["tiny/dense/bias"].numpy(), before)


def test_restore_lists_missing_names_unless_allowed(tmp_path):
  prefix = checkpoint_lib.save_checkpoint(str(tmp_path / "ckpt"), TinyRegressor().all_variables())
  model = TinyRegressor(seed=3, scope="other")
  named = dict(TinyRegressor(seed=3).all_variables(), **{"other/dense/bias":
                                                         model.all_variables()["other/dense/bias"]})
  with pytest.raises(ValueError, match=r"lacks 1 of the 6 variables: other/dense/bias"):
    checkpoint_lib.restore(prefix, named)
  restored = checkpoint_lib.restore(prefix, named, allow_missing=True)
  assert "other/dense/bias" not in restored and len(restored) == 5


def test_keep_max_deletes_the_oldest_and_state_paths_are_relative(tmp_path):
  model_dir = str(tmp_path / "model")
  manager = checkpoint_lib.CheckpointManager(model_dir, keep_max=2)
  variables = TinyRegressor().all_variables()
  for step in (1, 2, 10, 11):  # model.ckpt-1 must not take model.ckpt-10's files with it.
    manager.save(variables, step)
  assert sorted(os.listdir(model_dir)) == [
      "checkpoint", "model.ckpt-10.data-00000-of-00001", "model.ckpt-10.index",
      "model.ckpt-11.data-00000-of-00001", "model.ckpt-11.index"]
  assert tf.train.latest_checkpoint(model_dir) == os.path.join(model_dir, "model.ckpt-11")
  assert manager.latest() == os.path.join(model_dir, "model.ckpt-11")
  with open(os.path.join(model_dir, "checkpoint"), encoding="utf-8") as f:
    assert '"model.ckpt-10"' in f.read()
  moved = str(tmp_path / "moved")
  shutil.move(model_dir, moved)
  assert checkpoint_lib.resolve_checkpoint(moved) == os.path.join(moved, "model.ckpt-11")


def test_resolve_directory_prefix_and_errors(tmp_path):
  variables = TinyRegressor().all_variables()
  model_dir = str(tmp_path / "model")
  checkpoint_lib.CheckpointManager(model_dir).save(variables, 3)
  prefix = os.path.join(model_dir, "model.ckpt-3")
  assert checkpoint_lib.resolve_checkpoint(model_dir) == prefix
  assert checkpoint_lib.resolve_checkpoint(prefix) == prefix
  assert checkpoint_lib.resolve_checkpoint(prefix + ".index") == prefix
  assert checkpoint_lib.resolve_checkpoint(prefix + ".data-00000-of-00001") == prefix
  missing = str(tmp_path / "nowhere" / "model.ckpt-9")
  with pytest.raises(FileNotFoundError, match=f"'{missing}' not found"):
    checkpoint_lib.resolve_checkpoint(missing)
  with pytest.raises(FileNotFoundError, match="No checkpoint found in directory"):
    checkpoint_lib.resolve_checkpoint(str(tmp_path))
  # An unpacked release: one checkpoint and no `checkpoint` state file.
  released = str(tmp_path / "released")
  checkpoint_lib.save_checkpoint(os.path.join(released, "electra_tiny"), variables)
  assert checkpoint_lib.resolve_checkpoint(released) == os.path.join(released, "electra_tiny")


def test_crash_while_saving_leaves_the_previous_checkpoint_current(tmp_path, monkeypatch):
  model_dir = str(tmp_path)
  manager = checkpoint_lib.CheckpointManager(model_dir)
  manager.save(TinyRegressor().all_variables(), 1)

  def crash(source_prefix, target_prefix):
    del source_prefix, target_prefix
    raise KeyboardInterrupt("killed while writing")
  monkeypatch.setattr(checkpoint_lib, "_rename_checkpoint", crash)
  with pytest.raises(KeyboardInterrupt):
    manager.save(TinyRegressor(seed=5).all_variables(), 2)
  assert manager.latest() == os.path.join(model_dir, "model.ckpt-1")
  assert not os.path.exists(os.path.join(model_dir, "model.ckpt-2.index"))
  checkpoint_lib.restore(model_dir, TinyRegressor(seed=9).all_variables())


def test_a_relative_model_dir_resumes_from_any_working_directory(tmp_path, monkeypatch):
  # TF's update_checkpoint_state rewrote a relative directory against the working directory
  # and stored "../../model.ckpt-1", so a run started with a relative --data-dir found nothing.
  monkeypatch.chdir(tmp_path)
  checkpoint_lib.CheckpointManager(os.path.join("data", "models", "m")).save(
      TinyRegressor().all_variables(), 1)
  with open(os.path.join("data", "models", "m", "checkpoint"), encoding="utf-8") as f:
    assert f.read().splitlines()[0] == 'model_checkpoint_path: "model.ckpt-1"'
  for cwd, model_dir in ((tmp_path, "data/models/m"), (tmp_path / "data", "models/m")):
    monkeypatch.chdir(cwd)
    assert checkpoint_lib.CheckpointManager(model_dir).latest().endswith("model.ckpt-1")
    assert tf.train.latest_checkpoint(model_dir).endswith(os.path.join("m", "model.ckpt-1"))
