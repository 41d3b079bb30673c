"""run_pretraining.py: training, resuming and evaluating from the command line, one-line errors,
initialising from a released checkpoint, and divergence."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pretrain import electra_model
from tests.pretrain_fixtures import TINY_HPARAMS, VOCAB_SIZE, tiny_config, write_vocab

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT_HPARAMS = {**TINY_HPARAMS, "num_warmup_steps": 0, "iterations_per_loop": 1,
                  "log_every_steps": 1, "save_checkpoints_steps": 2, "jit_compile": False}


def run_script(data_dir, **hparams):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO_ROOT)
  command = [sys.executable, os.path.join(REPO_ROOT, "run_pretraining.py"),
             "--data-dir", str(data_dir), "--model-name", "tiny",
             "--hparams", json.dumps({**SCRIPT_HPARAMS, **hparams})]
  return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120,
                        check=False)


def test_script_trains_resumes_and_evaluates(record_dir):
  write_vocab(record_dir)
  model_dir = record_dir / "models" / "tiny"
  first = run_script(record_dir, num_train_steps=3)
  assert first.returncode == 0, first.stderr
  # A TF1 name-based checkpoint with the original's layout: variables, adam slots, global_step.
  reader = tf.train.load_checkpoint(str(model_dir / "model.ckpt-3"))
  names = set(reader.get_variable_to_shape_map())
  for name in ("electra/encoder/layer_0/attention/self/query/kernel",
               "generator/encoder/layer_0/output/LayerNorm/gamma",
               "discriminator_predictions/dense_1/bias", "generator_predictions/output_bias"):
    assert {name, f"{name}/adam_m", f"{name}/adam_v"} <= names
  assert reader.get_tensor("global_step") == 3
  assert (model_dir / "model.ckpt-2.index").exists()  # save_checkpoints_steps
  disc_config = json.loads((model_dir / "discriminator_config.json").read_text())
  assert disc_config["hidden_size"] == 32 and disc_config["vocab_size"] == VOCAB_SIZE
  assert json.loads((model_dir / "generator_config.json").read_text())["hidden_size"] == 16

  second = run_script(record_dir, num_train_steps=5, do_eval=True, num_eval_steps=2)
  assert second.returncode == 0, second.stderr
  assert "Resumed from" in second.stdout and "model.ckpt-3" in second.stdout
  assert tf.train.load_checkpoint(str(model_dir / "model.ckpt-5")).get_tensor("global_step") == 5
  results = json.loads((model_dir / "results" / "unsup_results.json").read_text())
  assert results["global_step"] == 5 and results["eval_mask_prob"] == 0.15
  assert 0.0 < results["disc_auc"] <= 1.0 and results["masked_lm_loss"] > 0.0
  assert "disc_auc" in (model_dir / "results" / "unsup_results.txt").read_text()
  # Resumed with other values: said, and kept, since pretrain_config.json holds the newest only.
  assert "num_train_steps 3 -> 5" in second.stdout + second.stderr
  changes = (model_dir / "pretrain_config_changes.jsonl").read_text().splitlines()
  assert len(changes) == 1
  change = json.loads(changes[0])
  assert change["global_step"] == 3
  assert change["changed"]["num_train_steps"] == [3, 5]
  assert change["changed"]["do_eval"] == [False, True]

  # The same command again: nothing left to train, the step already evaluated is not written to
  # TensorBoard a second time (neither the training curve nor the eval one gets a new file).
  events = sorted(str(path) for path in model_dir.rglob("events.out.tfevents*"))
  third = run_script(record_dir, num_train_steps=5, do_eval=True, num_eval_steps=2)
  assert third.returncode == 0, third.stderr
  assert sorted(str(path) for path in model_dir.rglob("events.out.tfevents*")) == events
  assert len((model_dir / "pretrain_config_changes.jsonl").read_text().splitlines()) == 1
  eval_steps = [event.step for path in (model_dir / "eval").iterdir()
                for event in tf.compat.v1.train.summary_iterator(str(path))
                for value in event.summary.value if value.tag == "disc_auc"]
  assert eval_steps == [5]

  # The same step evaluated at another masking rate: a second row and a second curve, the first
  # ones kept, also rows from before the rate was recorded (evaluated at mask_prob, 0.15).
  history = model_dir / "results" / "unsup_results_history.jsonl"
  rows = [json.loads(line) for line in history.read_text().splitlines()]
  assert [row.pop("eval_mask_prob") for row in rows] == [0.15] * len(rows)
  history.write_text("".join(json.dumps(row) + "\n" for row in rows))
  fourth = run_script(record_dir, num_train_steps=5, do_eval=True, num_eval_steps=2,
                      eval_mask_prob=0.4)
  assert fourth.returncode == 0, fourth.stderr
  rows = [json.loads(line) for line in history.read_text().splitlines()]
  assert [(row["global_step"], row.get("eval_mask_prob")) for row in rows][-2:] == [
      (5, None), (5, 0.4)]
  assert rows[-1]["masked_lm_loss"] != rows[-2]["masked_lm_loss"]
  assert sorted(path.name for path in model_dir.iterdir() if path.name.startswith("eval")) == [
      "eval", "eval_mask_0.4"]


def test_a_hyper_parameter_newer_than_the_run_is_a_change_only_off_its_default(tmp_path):
  import run_pretraining  # pylint: disable=import-outside-toplevel
  config = tiny_config(tmp_path)
  model_dir = tmp_path / "models" / "tiny"
  model_dir.mkdir(parents=True)
  older = config.to_dict()
  del older["deterministic_data_order"]  # a run started before the key existed
  config_path = model_dir / "pretrain_config.json"
  config_path.write_text(json.dumps(older))
  changes = model_dir / run_pretraining.CONFIG_CHANGES_FILE
  run_pretraining.record_config_changes(config, str(config_path), 3)
  assert not changes.exists()
  config.deterministic_data_order = True
  run_pretraining.record_config_changes(config, str(config_path), 3)
  assert [json.loads(line) for line in changes.read_text().splitlines()] == [
      {"global_step": 3, "changed": {"deterministic_data_order": [None, True]}}]


def test_script_fails_in_one_line_on_user_errors(tmp_path):
  result = run_script(tmp_path, num_train_stepz=3)
  assert result.returncode != 0
  last_line = result.stderr.strip().splitlines()[-1]
  assert "num_train_stepz" in last_line and "Traceback" not in result.stderr
  write_vocab(tmp_path)
  result = run_script(tmp_path, do_train=False, do_eval=True)
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert "nothing to evaluate" in result.stderr.strip().splitlines()[-1]
  assert not (tmp_path / "models").exists()


def test_init_from_released_checkpoint_without_optimizer_slots(record_dir):
  import run_pretraining  # pylint: disable=import-outside-toplevel
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  config = tiny_config(record_dir, **{**SCRIPT_HPARAMS, "num_train_steps": 1})
  released = electra_model.PretrainingModel(config)
  released_prefix = checkpoint_lib.save_checkpoint(str(record_dir / "released" / "electra_tiny"),
                                                   released.all_variables())
  config.init_checkpoint = released_prefix  # set directly: not every config version has it
  trainer = run_pretraining.build_trainer(config, tf.distribute.get_strategy())
  run_pretraining.restore(trainer)
  for name, variable in trainer.model.all_variables().items():
    np.testing.assert_array_equal(variable.numpy(), released.all_variables()[name].numpy())
  assert trainer.global_step == 0
  assert run_pretraining.train(config, trainer)["global_step"] == 1


def test_diverging_loss_stops_with_a_clear_message(record_dir):
  import run_pretraining  # pylint: disable=import-outside-toplevel
  config = tiny_config(record_dir, **{**SCRIPT_HPARAMS, "num_train_steps": 6,
                                      "learning_rate": 1e30})
  trainer = run_pretraining.build_trainer(config, tf.distribute.get_strategy())
  with pytest.raises(SystemExit, match="diverged"):
    run_pretraining.train(config, trainer)


def tree(directory):
  return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def fails_in_process(data_dir, **hparams):
  import run_pretraining  # pylint: disable=import-outside-toplevel
  with pytest.raises(SystemExit) as raised:
    run_pretraining.main(["--data-dir", str(data_dir), "--model-name", "tiny", "--hparams",
                          json.dumps({**SCRIPT_HPARAMS, "num_train_steps": 1, **hparams})])
  return str(raised.value.code)


def test_a_run_that_fails_its_checks_writes_nothing(record_dir):
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  write_vocab(record_dir)
  other = tiny_config(record_dir, model_hparam_overrides={"hidden_size": 64,
                                                          "num_hidden_layers": 1})
  prefix = checkpoint_lib.save_checkpoint(str(record_dir / "other" / "model.ckpt-1"),
                                          electra_model.PretrainingModel(other).all_variables())
  before = tree(record_dir)
  message = fails_in_process(record_dir, init_checkpoint=prefix)
  # Caught when the config is built, from the checkpoint's shapes, before any model is built.
  assert "hidden_size 32 contradicts checkpoint" in message and tree(record_dir) == before
  message = fails_in_process(record_dir, model_hparam_overrides={
      **SCRIPT_HPARAMS["model_hparam_overrides"], "max_position_embeddings": 8})
  assert "max_position_embeddings" in message and tree(record_dir) == before
