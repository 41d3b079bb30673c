"""Hyper-parameter values are range-checked when a config is built (util/hparam_checks.RANGES)."""

import os

import pytest

from configure_finetuning import FinetuningConfig
from configure_pretraining import PretrainingConfig
from util import hparam_checks
from util import hparams

FINETUNING_BAD = [
    ("num_train_epochs", 0, "(0, inf)"), ("num_train_epochs", -1.5, "(0, inf)"),
    ("learning_rate", 0.0, "(0, inf)"), ("train_batch_size", 0, "[1, inf)"),
    ("eval_batch_size", -4, "[1, inf)"), ("predict_batch_size", 0, "[1, inf)"),
    ("warmup_proportion", 1.5, "[0, 1]"), ("layerwise_lr_decay", -0.1, "[0, 1]"),
    ("num_trials", 0, "[1, inf), or negative (run trials until stopped)"),
    ("iterations_per_loop", 0, "[1, inf)"), ("log_every_steps", -1, "[1, inf)"),
    ("max_seq_length", 2, "[3, 512]"), ("max_seq_length", 1024, "[3, 512]"),
    ("doc_stride", 0, "[1, inf)"), ("max_answer_length", 0, "[1, inf)"),
    ("answerable_weight", -1.0, "[0, inf)"), ("weight_decay_rate", 2.0, "[0, 1]"),
    ("embedding_size", 0, "[1, inf) or null"), ("seed", -1, "[0, 2.14748e+09]"),
]

PRETRAINING_BAD = [
    ("num_train_steps", -5, "[1, inf)"), ("num_train_steps", 0, "[1, inf)"),
    ("mask_prob", 0.0, "(0, 1)"), ("mask_prob", 1.0, "(0, 1)"),
    ("train_batch_size", 0, "[1, inf)"), ("learning_rate", -1e-4, "(0, inf)"),
    ("num_warmup_steps", -1, "[0, inf)"), ("keep_checkpoint_max", 0, "[1, inf)"),
    ("generator_hidden_size", 0.0, "(0, 1]"), ("generator_layers", 1.5, "(0, 1]"),
    ("temperature", 0.0, "(0, inf)"), ("num_eval_steps", 0, "[1, inf)"),
]


def message_of(config_class, **kwargs):
  with pytest.raises(ValueError) as info:
    config_class("m", "/nonexistent", **kwargs)
  return str(info.value)


@pytest.mark.parametrize("key,value,valid", FINETUNING_BAD)
def test_finetuning_values_out_of_range_are_refused(key, value, valid):
  message = message_of(FinetuningConfig, task_names=["cmrc2018"], **{key: value})
  assert message.startswith(f"Hyper-parameter '{key}' must be in {valid}")
  assert message.endswith((f"got {value!r}", f"got {float(value)!r}"))
  assert "\n" not in message


@pytest.mark.parametrize("key,value,valid", PRETRAINING_BAD)
def test_pretraining_values_out_of_range_are_refused(key, value, valid):
  message = message_of(PretrainingConfig, **{key: value})
  assert message.startswith(f"Hyper-parameter '{key}' must be in {valid}"), message


@pytest.mark.parametrize("key,value", [
    ("num_trials", -1), ("layerwise_lr_decay", 0.0), ("warmup_proportion", 0.0),
    ("max_seq_length", 512), ("n_writes_test", 0), ("embedding_size", None)])
def test_the_ends_of_the_finetuning_ranges_are_accepted(key, value):
  assert getattr(FinetuningConfig("m", "/d", **{key: value}), key) == value


@pytest.mark.parametrize("field,value,valid", [
    ("hidden_dropout_prob", 1.0, "[0, 1)"), ("attention_probs_dropout_prob", -0.1, "[0, 1)"),
    ("num_hidden_layers", 0, "[1, inf)"), ("max_position_embeddings", 0, "[1, inf)")])
def test_encoder_overrides_are_range_checked(field, value, valid):
  message = message_of(FinetuningConfig, model_hparam_overrides={field: value})
  assert message.startswith(f"Hyper-parameter 'model_hparam_overrides.{field}' must be in "
                            f"{valid}")


def test_max_seq_length_follows_the_encoders_positions():
  message = message_of(PretrainingConfig, max_seq_length=256,
                       model_hparam_overrides={"max_position_embeddings": 128})
  assert "must be in [3, 128] (the model's max_position_embeddings is 128), got 256" in message
  PretrainingConfig("m", "/d", max_seq_length=128,
                    model_hparam_overrides={"max_position_embeddings": 128})


def test_max_predictions_per_seq_is_at_most_the_sequence():
  message = message_of(PretrainingConfig, max_seq_length=64, max_predictions_per_seq=65)
  assert "'max_predictions_per_seq' must be in [1, 64] (at most max_seq_length 64)" in message


def test_every_params_file_is_in_range():
  for name in sorted(os.listdir(hparams.PARAMS_DIR)):
    config_class = PretrainingConfig if name.startswith("pretrain_") else FinetuningConfig
    config_class.from_args({"data_dir": "/nonexistent", "model_name": "m",
                            "hparams": os.path.join(hparams.PARAMS_DIR, name)})


def test_the_range_text_of_each_kind():
  assert hparam_checks.Range(0, 1, open_low=True, open_high=True).describe() == "(0, 1)"
  assert hparam_checks.Range(1).describe() == "[1, inf)"
  assert hparam_checks.Range(0, 1, open_high=True).describe() == "[0, 1)"
  assert not hparam_checks.Range(0, 1, open_low=True).contains(0)
  assert hparam_checks.Range(0, 1, open_low=True).contains(1)


def test_a_script_refuses_before_writing_anything(tmp_path):
  import run_pretraining  # pylint: disable=import-outside-toplevel (TensorFlow)
  before = sorted(os.walk(tmp_path))
  with pytest.raises(SystemExit):
    run_pretraining.main(["--data-dir", str(tmp_path), "--model-name", "m",
                          "--hparams", '{"num_train_steps": -5}'])
  assert sorted(os.walk(tmp_path)) == before
