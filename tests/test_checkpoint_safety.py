"""Checkpoints that cannot lie: resuming skips unloadable ones, nothing intact is deleted,
explicit broken checkpoints are one clear error, orphans and temporaries are cleaned up."""

import os

import pytest

from tests.training_fixtures import make_trainer, one_device
from util import checkpoint as checkpoint_lib


def trained_dir(tmp_path, steps=(2, 4, 6), keep=5):
  """A model directory with checkpoints at `steps`."""
  model_dir = str(tmp_path / "model")
  trainer = make_trainer(one_device(), model_dir, save_checkpoints_steps=2,
                         keep_checkpoint_max=keep)
  trainer.train(max(steps))
  return model_dir


def ckpt(model_dir, step, suffix=""):
  return os.path.join(model_dir, f"model.ckpt-{step}{suffix}")


def resume(model_dir, **kwargs):
  trainer = make_trainer(one_device(), model_dir, save_checkpoints_steps=2, **kwargs)
  step = trainer.restore_or_initialize()
  return trainer, step


def truncate(path, keep_bytes=10):
  with open(path, "r+b") as f:
    f.truncate(keep_bytes)


def test_missing_newest_index_resumes_from_the_older_and_keeps_it(tmp_path, caplog):
  model_dir = trained_dir(tmp_path)
  os.remove(ckpt(model_dir, 6, ".index"))
  trainer, step = resume(model_dir, keep_checkpoint_max=2)
  assert step == 4
  assert "model.ckpt-6 (model.ckpt-6.index is missing)" in caplog.text
  trainer.train(8)  # Saves 6 and 8: the intact older ones go only after newer complete ones.
  assert checkpoint_lib.checkpoint_problem(ckpt(model_dir, 6)) is None
  assert sorted(checkpoint_lib.CheckpointManager(model_dir).all_checkpoints()) == [
      ckpt(model_dir, 6), ckpt(model_dir, 8)]


def test_truncated_newest_data_resumes_from_the_older(tmp_path, caplog):
  model_dir = trained_dir(tmp_path)
  truncate(ckpt(model_dir, 6, ".data-00000-of-00001"))
  assert "is truncated" in checkpoint_lib.checkpoint_problem(ckpt(model_dir, 6))
  _, step = resume(model_dir)
  assert step == 4
  assert "model.ckpt-6.data-00000-of-00001 is truncated" in caplog.text


def test_corrupt_bytes_of_the_right_size_fall_back_too(tmp_path):
  model_dir = trained_dir(tmp_path)
  path = ckpt(model_dir, 6, ".data-00000-of-00001")
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.write(b"\xff" * size)
  _, step = resume(model_dir)
  assert step == 4


def test_no_loadable_checkpoint_is_an_error_not_a_restart(tmp_path):
  model_dir = trained_dir(tmp_path, steps=(2,))
  truncate(ckpt(model_dir, 2, ".data-00000-of-00001"))
  with pytest.raises(checkpoint_lib.CheckpointError, match="No loadable checkpoint.*truncated"):
    resume(model_dir)
  assert os.path.exists(ckpt(model_dir, 2, ".index"))


def test_explicit_broken_checkpoint_names_the_file(tmp_path):
  model_dir = trained_dir(tmp_path, steps=(2,))
  truncate(ckpt(model_dir, 2, ".data-00000-of-00001"))
  trainer = make_trainer(one_device(), str(tmp_path / "other"))
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match=r"model\.ckpt-2\.data-00000-of-00001 is truncated"):
    checkpoint_lib.init_from_checkpoint(ckpt(model_dir, 2), trainer.model.all_variables())
  os.remove(ckpt(model_dir, 2, ".index"))
  with pytest.raises(FileNotFoundError, match=r"model\.ckpt-2\.index is missing"):
    checkpoint_lib.resolve_checkpoint(model_dir)  # predict.py --model-dir: one line too


def test_checkpoint_on_disk_but_not_in_the_state_file_is_used(tmp_path):
  """A kill between the save and the state update: the complete newer checkpoint counts."""
  model_dir = trained_dir(tmp_path)
  checkpoint_lib.write_checkpoint_state(model_dir, ["model.ckpt-2", "model.ckpt-4"])
  _, step = resume(model_dir)
  assert step == 6


def test_orphans_beyond_the_keep_limit_and_temporaries_are_removed(tmp_path):
  model_dir = trained_dir(tmp_path, keep=5)
  # A kill between the state update and the deletions of a keep_max=1 run.
  checkpoint_lib.write_checkpoint_state(model_dir, ["model.ckpt-6"])
  for junk in ("model.ckpt-8.tmp-0123abcd.data-00000-of-00001",
               "model.ckpt-8.tmp-0123abcd.data-00000-of-00001.tempstate99",
               "checkpoint.tmp-0123abcd"):
    with open(os.path.join(model_dir, junk), "w", encoding="utf-8") as f:
      f.write("x")
  manager = checkpoint_lib.CheckpointManager(model_dir, keep_max=1)
  assert len(manager.remove_temporaries()) == 3
  _, step = resume(model_dir, keep_checkpoint_max=1)
  assert step == 6
  assert sorted(name for name in os.listdir(model_dir) if not name.startswith("events")) == [
      "checkpoint", "model.ckpt-6.data-00000-of-00001", "model.ckpt-6.index"]
