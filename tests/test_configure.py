"""Tests of util/hparams.py, configure_pretraining.py, configure_finetuning.py and params/*.json."""

import argparse
import glob
import json
import logging
import os

import pytest

from configure_finetuning import FinetuningConfig
from configure_pretraining import PretrainingConfig
from model import sizes
from util import hparams

PARAMS_FILES = sorted(glob.glob(os.path.join(hparams.PARAMS_DIR, "*.json")))


# ---- load_hparams ----

def test_load_hparams_empty_values():
  assert hparams.load_hparams(None) == {}
  assert hparams.load_hparams("  ") == {}


def test_load_hparams_json_string():
  assert hparams.load_hparams('{"learning_rate": 3e-4}') == {"learning_rate": 3e-4}


def test_load_hparams_bad_json_string_names_line_and_column():
  with pytest.raises(ValueError, match=r"--hparams string at line 1, column \d+"):
    hparams.load_hparams('{"a": 1,}')


def test_load_hparams_json_must_be_object():
  with pytest.raises(ValueError, match="JSON object"):
    hparams.load_hparams("[1, 2]")


def test_load_hparams_file(tmp_path):
  path = tmp_path / "h.json"
  path.write_text('{"num_trials": 3}')
  assert hparams.load_hparams(str(path)) == {"num_trials": 3}


def test_load_hparams_bad_json_file_names_file_line_column(tmp_path):
  path = tmp_path / "bad.json"
  path.write_text('{\n  "a": 1,\n}\n')  # the Chinese README's trailing comma
  with pytest.raises(ValueError) as info:
    hparams.load_hparams(str(path))
  assert str(path) in str(info.value)
  assert "line 3, column 1" in str(info.value)


def test_load_hparams_missing_file_names_path(tmp_path):
  missing = str(tmp_path / "nope.json")
  with pytest.raises(FileNotFoundError, match="nope.json"):
    hparams.load_hparams(missing)
  # Also a ValueError, so callers can treat every bad --hparams the same way.
  with pytest.raises(ValueError, match="nope.json"):
    hparams.load_hparams(missing)


def test_load_hparams_bare_name_is_looked_up_in_params(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)  # no params_cmrc2018.json here
  expected = json.loads(open(os.path.join(hparams.PARAMS_DIR, "params_cmrc2018.json")).read())
  assert hparams.load_hparams("params_cmrc2018.json") == expected
  assert hparams.load_hparams("params_cmrc2018") == expected


def test_load_hparams_existing_local_file_wins_over_params(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  (tmp_path / "params_cmrc2018.json").write_text('{"num_trials": 7}')
  assert hparams.load_hparams("params_cmrc2018.json") == {"num_trials": 7}


def test_load_hparams_missing_bare_name_lists_params_candidate(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(FileNotFoundError, match="params"):
    hparams.load_hparams("no_such_params.json")


# ---- Config base ----

def test_unknown_key_names_it_and_suggests():
  with pytest.raises(ValueError, match=r"Unknown hyper-parameter 'learnig_rate' "
                                       r"\(did you mean 'learning_rate'\?\)"):
    FinetuningConfig("m", "/d", learnig_rate=1e-3)


def test_unknown_key_without_close_match_has_no_suggestion():
  with pytest.raises(ValueError) as info:
    PretrainingConfig("m", "/d", zzzzqqq=1)
  assert str(info.value) == "Unknown hyper-parameter 'zzzzqqq'"


def test_methods_are_not_hparams():
  with pytest.raises(ValueError, match="Unknown hyper-parameter 'model_dir'"):
    FinetuningConfig("m", "/d", model_dir="/x")


def test_constructor_only_keys_cannot_be_updated():
  config = FinetuningConfig("m", "/d")
  with pytest.raises(ValueError, match="constructor"):
    config.update({"data_dir": "/elsewhere"})


def test_type_mismatch_is_rejected():
  with pytest.raises(ValueError, match="'do_train' expects bool"):
    FinetuningConfig("m", "/d", do_train="false")
  with pytest.raises(ValueError, match="'max_seq_length' expects int"):
    FinetuningConfig("m", "/d", max_seq_length=12.5)


def test_int_for_float_is_converted():
  config = FinetuningConfig("m", "/d", task_names=["xnli"], num_train_epochs=2)
  assert config.num_train_epochs == 2.0 and isinstance(config.num_train_epochs, float)


@pytest.mark.parametrize("key,value", [("mixed_precision", "float64"), ("strategy", "gpu"),
                                       ("model_size", "huge")])
def test_choices_are_enforced(key, value):
  with pytest.raises(ValueError, match=f"'{key}' must be one of"):
    FinetuningConfig("m", "/d", **{key: value})


def test_to_dict_to_json_and_log(caplog):
  config = FinetuningConfig("m", "/d", task_names=["xnli"])
  as_dict = config.to_dict()
  assert as_dict["task_names"] == ["xnli"]
  assert json.loads(config.to_json()) == as_dict
  with caplog.at_level(logging.INFO):
    config.log()
  assert "learning_rate" in caplog.text


def test_encoder_hparams_overrides_apply_before_and_after_deriving():
  derived = hparams.encoder_hparams("small", 21128, {"hidden_size": 128})
  assert derived["num_attention_heads"] == 2 and derived["intermediate_size"] == 512
  explicit = hparams.encoder_hparams("base", 100, {"num_attention_heads": 3})
  assert explicit["num_attention_heads"] == 3 and explicit["hidden_size"] == 768
  with pytest.raises(ValueError, match="model_size"):
    hparams.encoder_hparams("tiny", 10)


# ---- the model-size table (model/sizes.py) ----

def test_size_choices_and_defaults_come_from_the_table():
  assert sizes.NAMES == ("small", "base", "large")
  for config in (PretrainingConfig("m", "/d"), FinetuningConfig("m", "/d")):
    assert config._CHOICES["model_size"] == sizes.NAMES  # pylint: disable=protected-access
    assert config.model_size == sizes.DEFAULT_MODEL_SIZE


@pytest.mark.parametrize("name,hidden,layers,heads,embedding", [
    ("small", 256, 12, 4, 128), ("base", 768, 12, 12, 768), ("large", 1024, 24, 16, 1024)])
def test_size_table_gives_the_released_sizes(name, hidden, layers, heads, embedding):
  fields = sizes.encoder_sizes(name)
  assert (fields["hidden_size"], fields["num_hidden_layers"]) == (hidden, layers)
  assert (fields["num_attention_heads"], fields["intermediate_size"]) == (heads, 4 * hidden)
  assert sizes.get(name).default_embedding_size() == embedding
  generator = sizes.generator_sizes(hidden, layers)
  assert (generator["hidden_size"], generator["num_hidden_layers"]) == (hidden // 4, layers)


def test_size_table_rejects_unknown_sizes():
  with pytest.raises(ValueError, match="model_size 'huge'"):
    sizes.get("huge")


@pytest.mark.parametrize("name", sizes.NAMES)
def test_each_size_sets_its_defaults_in_both_configs(name):
  size = sizes.get(name)
  pretraining = PretrainingConfig("m", "/d", model_size=name)
  finetuning = FinetuningConfig("m", "/d", model_size=name)
  for config, defaults in ((pretraining, size.pretraining_defaults()),
                           (finetuning, size.finetuning_defaults())):
    assert {key: getattr(config, key) for key in defaults} == defaults
  assert pretraining.encoder_hparams() == finetuning.encoder_hparams()
  assert pretraining.encoder_hparams()["hidden_size"] == size.hidden_size


# ---- PretrainingConfig ----

def test_pretraining_defaults_and_paths():
  config = PretrainingConfig("electra-small", "/data")
  assert config.mask_prob == 0.15 and config.disc_weight == 50.0 and config.gen_weight == 1.0
  assert config.learning_rate == 5e-4 and config.num_warmup_steps == 10000
  assert config.keep_checkpoint_max == 5 and config.num_train_steps == 1000000
  assert config.generator_hidden_size == 0.25 and config.generator_layers == 1.0
  assert (config.seed, config.jit_compile, config.mixed_precision) == (1, "auto", "float32")
  assert config.strategy == "auto" and config.log_every_steps == 100
  assert config.embedding_size == 128  # small
  assert config.max_predictions_per_seq == 19  # int((0.15 + 0.005) * 128)
  assert config.pretrain_tfrecords == "/data/pretrain_tfrecords/pretrain_data.tfrecord*"
  assert config.vocab_file == "/data/vocab.txt"
  assert config.model_dir == "/data/models/electra-small"
  assert config.results_txt == "/data/models/electra-small/results/unsup_results.txt"


@pytest.mark.parametrize("mask_prob,max_seq,expected", [(0.15, 512, 79), (0.25, 512, 130)])
def test_max_predictions_per_seq_is_derived(mask_prob, max_seq, expected):
  config = PretrainingConfig("m", "/d", mask_prob=mask_prob, max_seq_length=max_seq)
  assert config.max_predictions_per_seq == expected


def test_held_out_masking_rate_has_its_own_room_for_predictions():
  config = PretrainingConfig("m", "/d", mask_prob=0.15, eval_mask_prob=0.4, max_seq_length=512)
  assert config.masking(training=True) == (0.15, 79)
  assert config.masking(training=False) == (0.4, 207)


def test_pretraining_user_values_win_over_debug_and_size_defaults():
  config = PretrainingConfig("m", "/d", debug=True, train_batch_size=16, embedding_size=256)
  assert config.train_batch_size == 16  # debug would say 8
  assert config.num_train_steps == 20  # debug default kept
  assert config.embedding_size == 256  # small would say 128


def test_pretraining_base_keeps_embedding_unset():
  assert PretrainingConfig("m", "/d", model_size="base").embedding_size is None


def test_pretraining_debug_model_is_tiny():
  args = PretrainingConfig("m", "/d", debug=True).encoder_hparams()
  assert (args["hidden_size"], args["num_hidden_layers"], args["num_attention_heads"]) == (
      144, 3, 4)


# ---- FinetuningConfig ----

def test_finetuning_defaults():
  config = FinetuningConfig("electra-small", "/data")
  assert config.layerwise_lr_decay == 0.8 and config.learning_rate == 1e-4
  assert config.warmup_proportion == 0.1 and config.vocab_size == 21128
  assert (config.doc_stride, config.max_query_length, config.n_best_size) == (128, 64, 20)
  assert (config.max_answer_length, config.beam_size, config.qa_na_threshold) == (30, 20, -2.75)
  assert config.answerable_weight == 0.5 and config.joint_prediction
  assert config.do_train and config.do_eval and config.do_test
  assert not config.legacy_layerwise_lr and config.strategy == "auto"
  assert config.embedding_size == 128


def test_finetuning_paths(tmp_path):
  data_dir = str(tmp_path)
  config = FinetuningConfig("electra-small", data_dir, task_names="lcqmc,xnli")
  model_dir = os.path.join(data_dir, "models", "electra-small")
  assert config.task_names == ["lcqmc", "xnli"]
  assert config.pretrained_model_dir == model_dir
  assert config.init_checkpoint == model_dir
  assert config.raw_data_dir("xnli") == os.path.join(data_dir, "finetuning_data", "xnli")
  assert config.vocab_file == os.path.join(data_dir, "vocab.txt")
  assert config.model_dir(2) == os.path.join(model_dir, "finetuning_models", "lcqmc,xnli_model_2")
  assert config.results_txt == os.path.join(model_dir, "results", "lcqmc,xnli_results.txt")
  assert config.results_json.endswith("lcqmc,xnli_results.json")
  assert config.qa_preds_file("cmrc2018_dev") == os.path.join(
      model_dir, "results", "lcqmc,xnli_qa", "cmrc2018_dev_preds.json")
  assert config.preprocessed_data_dir == os.path.join(
      model_dir, "finetuning_tfrecords", "lcqmc,xnli_tfrecords")
  assert config.test_predictions("xnli", "test", 1) == os.path.join(
      model_dir, "test_predictions", "xnli_test_1_predictions.pkl")


def test_vocab_file_prefers_the_model_directory(tmp_path):
  model_dir = tmp_path / "models" / "electra-small"
  model_dir.mkdir(parents=True)
  (model_dir / "vocab.txt").write_text("[PAD]\n")
  config = FinetuningConfig("electra-small", str(tmp_path))
  assert config.vocab_file == str(model_dir / "vocab.txt")


@pytest.mark.parametrize("task", ["cmrc2018", "drcd"])
def test_qa_tasks_get_qa_defaults(task):
  config = FinetuningConfig("m", "/d", task_names=[task])
  assert (config.max_seq_length, config.num_train_epochs) == (512, 2.0)
  assert not config.write_test_outputs


def test_classification_task_defaults():
  config = FinetuningConfig("m", "/d", task_names=["chnsenticorp"])
  assert (config.max_seq_length, config.num_train_epochs) == (128, 3.0)


def test_several_tasks_keep_the_shared_defaults():
  config = FinetuningConfig("m", "/d", task_names=["cmrc2018", "chnsenticorp"], debug=False)
  assert (config.max_seq_length, config.num_train_epochs) == (128, 3.0)


def test_unknown_task_is_refused_when_the_config_is_built():
  with pytest.raises(ValueError, match=r"Unknown task\(s\) \['chunk'\]"):
    FinetuningConfig("m", "/d", task_names=["chunk"])


def test_finetuning_user_values_win_over_task_and_size_defaults():
  config = FinetuningConfig("m", "/d", task_names=["cmrc2018"], model_size="large",
                            num_train_epochs=3, learning_rate=1e-5, write_test_outputs=True)
  assert config.num_train_epochs == 3.0 and config.learning_rate == 1e-5
  assert config.write_test_outputs and config.max_seq_length == 512
  assert config.layerwise_lr_decay == 0.9 and config.embedding_size is None


def test_large_model_defaults():
  config = FinetuningConfig("m", "/d", model_size="large")
  assert (config.learning_rate, config.layerwise_lr_decay) == (5e-5, 0.9)


def test_debug_defaults_and_tfrecord_suffix():
  config = FinetuningConfig("m", "/d", debug=True, task_names=["xnli"])
  assert config.preprocessed_data_dir.endswith("xnli_tfrecords-debug")
  assert not config.use_tfrecords_if_existing and config.log_examples


def test_trial_seeds():
  config = FinetuningConfig("m", "/d", seed=10)
  assert [config.trial_seed(t) for t in (1, 2, 3)] == [10, 11, 12]


def test_empty_task_names_rejected():
  with pytest.raises(ValueError, match="task_names"):
    FinetuningConfig("m", "/d", task_names=" , ")


# ---- from_args ----

def test_from_args_takes_names_from_json():
  config = FinetuningConfig.from_args(
      {"hparams": '{"data_dir": "/j", "model_name": "jm", "task_names": "xnli"}'})
  assert (config.data_dir, config.model_name, config.task_names) == ("/j", "jm", ["xnli"])


def test_from_args_flags_win_over_json():
  args = argparse.Namespace(data_dir="/flag", model_name="flag-model",
                            hparams='{"data_dir": "/j", "model_name": "jm"}')
  config = FinetuningConfig.from_args(args)
  assert (config.data_dir, config.model_name) == ("/flag", "flag-model")


def test_from_args_accepts_dashed_keys():
  config = FinetuningConfig.from_args({"data-dir": "/d", "model-name": "m"})
  assert (config.data_dir, config.model_name) == ("/d", "m")


def test_from_args_without_data_dir_is_a_clear_error():
  with pytest.raises(ValueError, match="No data_dir given: pass --data-dir"):
    FinetuningConfig.from_args({"model_name": "m", "hparams": None})
  with pytest.raises(ValueError, match="No model_name given"):
    PretrainingConfig.from_args({"data_dir": "/d"})


def test_from_args_params_file_by_bare_name(monkeypatch, tmp_path):
  monkeypatch.chdir(tmp_path)
  config = FinetuningConfig.from_args({"data_dir": "/d", "hparams": "params_drcd_base.json"})
  assert config.model_name == "electra-base" and config.task_names == ["drcd"]
  assert (config.learning_rate, config.max_seq_length, config.num_train_epochs) == (1e-4, 512, 2.0)
  assert config.write_test_outputs and config.embedding_size is None


# ---- params/*.json ----

def test_params_directory_has_every_release_setting():
  names = {os.path.basename(p) for p in PARAMS_FILES}
  for task in ("cmrc2018", "drcd", "xnli", "chnsenticorp", "lcqmc", "bqcorpus"):
    assert {f"params_{task}.json", f"params_{task}_base.json"} <= names
  for size in ("small", "small_ex", "base", "large"):
    assert f"pretrain_{size}.json" in names


@pytest.mark.parametrize("path", PARAMS_FILES, ids=os.path.basename)
def test_every_params_file_loads_into_its_config(path):
  is_pretraining = os.path.basename(path).startswith("pretrain_")
  config_class = PretrainingConfig if is_pretraining else FinetuningConfig
  config = config_class.from_args({"data_dir": "/d", "model_name": "m", "hparams": path})
  if os.path.basename(path) == "pretrain_mini.json":  # sized for a 2-core CPU, its own vocab
    assert config.encoder_hparams()["num_hidden_layers"] == 2 and config.do_eval
    assert config.eval_at_checkpoints and config.mixed_precision == "bfloat16"
    return
  assert config.vocab_size == 21128 and config.max_seq_length in (128, 512)
  if not is_pretraining:
    small = config.model_size == "small"
    assert config.learning_rate == (3e-4 if small else 1e-4)
    assert config.train_batch_size == 32
    assert json.load(open(path))["model_name"] == ("electra-small" if small else "electra-base")


def test_pretraining_release_sizes():
  def load(name):
    return PretrainingConfig.from_args({"data_dir": "/d", "model_name": "m", "hparams": name})
  small_ex = load("pretrain_small_ex.json")
  assert small_ex.embedding_size == 256
  assert small_ex.encoder_hparams()["num_hidden_layers"] == 24
  assert small_ex.max_predictions_per_seq == 79
  base = load("pretrain_base.json")
  assert (base.embedding_size, base.generator_hidden_size, base.learning_rate) == (768, 0.25, 2e-4)
  large = load("pretrain_large.json")
  assert large.encoder_hparams()["hidden_size"] == 1024 and large.train_batch_size == 96
  # The release read its data through a 100-record shuffle buffer; the default mixes more.
  for name in ("pretrain_small.json", "pretrain_small_ex.json", "pretrain_base.json",
               "pretrain_large.json"):
    assert load(name).shuffle_buffer_size == 100
  assert load("pretrain_mini.json").shuffle_buffer_size > 100


@pytest.mark.parametrize("key,value", [("qa_na_threshold", 0.0), ("num_tpu_cores", 8)])
def test_hparams_without_effect_are_refused_unless_default(key, value):
  with pytest.raises(ValueError, match=f"'{key}' has no effect here"):
    FinetuningConfig("m", "/tmp/d", **{key: value})
  default = getattr(FinetuningConfig("m", "/tmp/d"), key)
  FinetuningConfig("m", "/tmp/d", **{key: default})  # the default loads


def test_no_results_pkl_path_that_nothing_writes():
  assert not hasattr(FinetuningConfig("m", "/tmp/d"), "results_pkl")
  assert not hasattr(PretrainingConfig("m", "/tmp/d"), "results_pkl")
