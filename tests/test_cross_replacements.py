"""bench/cross_replacements.py: several discriminators scored on one generator's replacements."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from pretrain import electra_model
from pretrain import metrics as metrics_lib
from pretrain import pretrain_data
from tests.pretrain_fixtures import TINY_HPARAMS, write_vocab
from util import checkpoint
from util import utils

import configure_pretraining

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))

import cross_replacements  # noqa: E402  pylint: disable=wrong-import-position

EVAL_STEPS = 2


def make_run(data_dir, name, **hparams):
  """A run_pretraining.py-style model directory DATA/models/NAME holding a freshly initialised
  generator and discriminator: pretrain_config.json and a checkpoint at step 0."""
  config = configure_pretraining.PretrainingConfig(
      name, str(data_dir), **{**TINY_HPARAMS, "eval_batch_size": 4, **hparams})
  model = electra_model.PretrainingModel(config)
  checkpoint.save_checkpoint(os.path.join(config.model_dir, "model.ckpt-0"), model.all_variables())
  checkpoint.write_checkpoint_state(config.model_dir, ["model.ckpt-0"])
  utils.write_json(config.to_dict(), os.path.join(config.model_dir, "pretrain_config.json"))
  return config.model_dir


def own_evaluation(model):
  """The model's own eval_metrics over the batches the bench scores."""
  dataset = pretrain_data.get_input_fn(model.config, is_training=False)()
  model.reset_eval_randomness()
  return metrics_lib.aggregate_eval_metrics(
      [model.eval_metrics(features) for features in dataset.take(EVAL_STEPS)])


def with_held_out_shard(record_dir):
  """One shard of ten records as held-out data too: read once and in order, as evaluation does
  (without one, evaluation falls back on the shuffled training shards)."""
  shards = record_dir / "pretrain_tfrecords"
  shutil.copyfile(shards / "pretrain_data.tfrecord-0-of-3", shards / "pretrain_eval.tfrecord-0-of-1")
  write_vocab(record_dir)


def test_each_row_is_that_discriminator_on_the_generators_replacements(record_dir, tmp_path):
  with_held_out_shard(record_dir)
  # Untied embeddings: every variable belongs to either the generator or the discriminator, so
  # one model can hold a's generator and b's discriminator below.
  gen_dir = make_run(record_dir, "a", seed=1, untied_generator_embeddings=True)
  other_dir = make_run(record_dir, "b", seed=2, untied_generator_embeddings=True)
  output = tmp_path / "cross.json"
  results = cross_replacements.main(["--generator-model", gen_dir, "--discriminator-models",
                                     gen_dir, other_dir, "--num-eval-steps", str(EVAL_STEPS),
                                     "--output", str(output)])
  assert results["batches"] == EVAL_STEPS and results["eval_mask_prob"] == 0.15

  # The generator's own discriminator repeats the generator's own evaluation (float32: to
  # the rounding of a graph against eager sums).
  _, generator = cross_replacements.load_model(gen_dir)
  own = own_evaluation(generator)
  for name, value in results["a"].items():
    assert value == pytest.approx(own[name], rel=1e-5), name
  assert results["generator"]["masked_lm_accuracy"] == pytest.approx(own["masked_lm_accuracy"])

  # b's row: a's generator with b's discriminator put in its place.
  _, other = cross_replacements.load_model(other_dir)
  for name, variable in generator.all_variables().items():
    if not name.startswith(("generator", "global_step")):
      variable.assign(other.all_variables()[name])
  swapped = own_evaluation(generator)
  for name in cross_replacements.DISC_METRICS:
    assert results["b"][name] == pytest.approx(swapped[name], rel=1e-5), name
  assert results["b"]["disc_auc"] != pytest.approx(results["a"]["disc_auc"], abs=1e-4)

  written = json.loads(output.read_text())
  assert written["generator_model"] == gen_dir and written["b"] == results["b"]


def test_a_shipped_model_anywhere_scores_as_its_run(record_dir, tmp_path):
  # tools/ship_pretrained_model.py's layout: vocab.txt in the model directory, no data
  # directory around it (its recorded vocab_file is relative to where it was packed).
  with_held_out_shard(record_dir)
  run_dir = make_run(record_dir, "a")
  shipped = tmp_path / "packed" / "shipped"  # not in a DATA/models/NAME layout
  shutil.copytree(run_dir, shipped)
  shutil.copyfile(record_dir / "vocab.txt", shipped / "vocab.txt")
  config_path = shipped / "pretrain_config.json"
  config_path.write_text(json.dumps({**json.loads(config_path.read_text()),
                                     "vocab_file": "./vocab.txt"}))
  assert cross_replacements.load_config(str(shipped)).vocab_file == str(shipped / "vocab.txt")

  held_out = str(record_dir / "pretrain_tfrecords" / "pretrain_eval.tfrecord-0-of-1")
  results = cross_replacements.main(["--generator-model", str(shipped), "--discriminator-models",
                                     str(shipped), run_dir, "--num-eval-steps", str(EVAL_STEPS),
                                     "--eval-data", held_out])
  for name in cross_replacements.DISC_METRICS:  # the same weights, scored on the same tokens
    assert results["shipped"][name] == pytest.approx(results["a"][name], rel=1e-5), name


def test_another_vocabulary_is_refused(record_dir, tmp_path):
  write_vocab(record_dir)
  gen_dir = make_run(record_dir, "a")
  other_data = tmp_path / "other"
  other_data.mkdir()
  write_vocab(other_data)
  vocab = other_data / "vocab.txt"
  tokens = vocab.read_text(encoding="utf-8").split()
  vocab.write_text("\n".join(tokens[:5] + tokens[5:][::-1]) + "\n", encoding="utf-8")
  other_dir = make_run(other_data, "c")
  with pytest.raises(ValueError, match="is not the generator's"):
    cross_replacements.main(["--generator-model", gen_dir, "--discriminator-models", other_dir])


def test_command_line_error_is_one_line(tmp_path):
  result = subprocess.run([sys.executable, os.path.join(REPO, "bench", "cross_replacements.py"),
                           "--generator-model", str(tmp_path), "--discriminator-models",
                           str(tmp_path)], capture_output=True, text=True, check=False,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"cross_replacements.py: error: {tmp_path}: no pretrain_config.json; expected a "
      "run_pretraining.py model directory")
