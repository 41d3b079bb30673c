"""Sizes come from the pre-trained model: its config files, else its checkpoint's shapes."""

import json
import os

import pytest
import tensorflow as tf

from configure_finetuning import FinetuningConfig
from configure_pretraining import PretrainingConfig
from model import modeling
from model import sizes
from util import checkpoint as checkpoint_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_DATA = os.path.join(REPO, "sample_data")
RELEASE_PARAMS = os.path.join(REPO, "params", "params_chnsenticorp.json")
# A model no size of the table has: 2 layers 16 wide, 8-wide embeddings, 40 tokens, 128 positions.
TINY = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 24, "max_position_embeddings": 128}
VOCAB = 40
EMBEDDING = 8


def tiny_bert_config():
  return modeling.BertConfig.from_dict({"vocab_size": VOCAB, **TINY})


def save_checkpoint(model_dir, with_generator=False):
  """A pre-trained model directory holding only a checkpoint (as a released model unpacks)."""
  os.makedirs(model_dir, exist_ok=True)
  disc = tiny_bert_config()
  if with_generator:
    gen = modeling.get_generator_config(disc, 0.5, 0.5)
    networks = modeling.ElectraNetworks(disc, gen, embedding_size=EMBEDDING)
  else:
    networks = modeling.BertModel(disc, "electra", EMBEDDING)
  checkpoint_lib.CheckpointManager(str(model_dir)).save(modeling.named_variables(networks), 5)


@pytest.fixture(scope="module")
def released_like(tmp_path_factory):
  """DATA with models/tiny holding a checkpoint and no config files."""
  data_dir = tmp_path_factory.mktemp("data")
  save_checkpoint(data_dir / "models" / "tiny")
  return str(data_dir)


def test_shapes_give_every_size_but_the_heads():
  shapes = {
      "electra/embeddings/word_embeddings": [100, 32],
      "electra/embeddings/position_embeddings": [128, 32],
      "electra/embeddings/token_type_embeddings": [2, 32],
      "electra/embeddings_project/kernel": [32, 64],
      "electra/encoder/layer_0/attention/self/query/kernel": [64, 64],
      "electra/encoder/layer_1/attention/self/query/kernel": [64, 64],
      "electra/encoder/layer_0/intermediate/dense/kernel": [64, 200],
  }
  encoder, embedding = sizes.sizes_from_shapes(shapes)
  assert embedding == 32
  assert encoder == {"vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2,
                     "intermediate_size": 200, "max_position_embeddings": 128,
                     "type_vocab_size": 2}
  assert sizes.sizes_from_shapes({}) is None


def test_finetuning_takes_the_checkpoints_sizes(released_like):
  config = FinetuningConfig("tiny", released_like, task_names=["chnsenticorp"])
  encoder = config.encoder_hparams()
  assert config.vocab_size == VOCAB and config.embedding_size == EMBEDDING
  for key in ("hidden_size", "num_hidden_layers", "intermediate_size", "max_position_embeddings"):
    assert encoder[key] == TINY[key], key
  # Shapes do not record the heads: the original's rule, one per 64 dimensions (at least one).
  assert encoder["num_attention_heads"] == 1
  with_heads = FinetuningConfig("tiny", released_like, task_names=["chnsenticorp"],
                                model_hparam_overrides={"num_attention_heads": 2})
  assert with_heads.encoder_hparams()["num_attention_heads"] == 2


def test_a_release_params_file_fine_tunes_a_model_of_any_size(released_like):
  config = FinetuningConfig.from_args({"data_dir": released_like, "model_name": "tiny",
                                       "hparams": RELEASE_PARAMS})
  assert config.model_size == "small" and config.vocab_size == VOCAB  # the file said 21128
  assert config.encoder_hparams()["num_hidden_layers"] == 2
  assert config.learning_rate == 3e-4  # the recipe still applies


def test_a_written_size_that_contradicts_the_model_names_key_and_place(released_like, tmp_path):
  args = {"data_dir": released_like, "model_name": "tiny"}
  string = '{"task_names": ["xnli"], "model_size": "base"}'
  with pytest.raises(ValueError) as info:
    FinetuningConfig.from_args(dict(args, hparams=string))
  message = str(info.value)
  assert message.startswith("model_size 'base' contradicts checkpoint ")
  assert message.endswith("remove model_size from the --hparams JSON string")
  assert "which has hidden_size 16" in message and "\n" not in message
  params = tmp_path / "mine.json"
  params.write_text(json.dumps({"task_names": ["xnli"],
                                "model_hparam_overrides": {"num_hidden_layers": 3}}))
  with pytest.raises(ValueError, match=r"model_hparam_overrides.num_hidden_layers 3 contradicts "
                                       r"checkpoint .*model.ckpt-5.*: remove model_hparam_"
                                       r"overrides.num_hidden_layers from hparams file "
                                       r"'.*mine.json'"):
    FinetuningConfig.from_args(dict(args, hparams=str(params)))
  with pytest.raises(ValueError, match="vocab_size 21128 contradicts .*: remove vocab_size from "
                                       "the --hparams JSON string"):
    FinetuningConfig.from_args(dict(args, hparams='{"vocab_size": 21128}'))
  with pytest.raises(ValueError, match="embedding_size 16 contradicts .*which has embedding_size "
                                       "8 .*: remove embedding_size from the hyper-parameters"):
    FinetuningConfig("tiny", released_like, embedding_size=16)


def test_max_seq_length_is_checked_against_the_models_positions(released_like):
  with pytest.raises(ValueError, match=r"'max_seq_length' must be in \[3, 128\] \(the model's "
                                       r"max_position_embeddings is 128\), got 512"):
    FinetuningConfig("tiny", released_like, task_names=["cmrc2018"])  # QA's default 512
  FinetuningConfig("tiny", released_like, task_names=["cmrc2018"], max_seq_length=128)


def test_without_a_model_the_params_files_model_size_applies(tmp_path):
  config = FinetuningConfig.from_args({"data_dir": str(tmp_path), "model_name": "none",
                                       "hparams": RELEASE_PARAMS})
  assert config.encoder_hparams()["num_hidden_layers"] == 12 and config.vocab_size == 21128


def test_config_files_win_and_name_the_released_size(tmp_path):
  model_dir = tmp_path / "models" / "big"
  model_dir.mkdir(parents=True)
  large = modeling.get_bert_config("large", 21128)
  (model_dir / "discriminator_config.json").write_text(large.to_json_string())
  (model_dir / "pretrain_config.json").write_text(json.dumps({"embedding_size": None}))
  config = FinetuningConfig.from_args({"data_dir": str(tmp_path), "model_name": "big",
                                       "hparams": RELEASE_PARAMS})
  assert config.model_size == "large" and config.embedding_size == 1024
  assert config.layerwise_lr_decay == 0.9  # large's default
  assert config.learning_rate == 3e-4  # written in the params file: kept


def test_a_contradiction_names_the_file_that_records_the_size(tmp_path):
  model_dir = tmp_path / "models" / "mine"
  model_dir.mkdir(parents=True)
  (model_dir / "discriminator_config.json").write_text(tiny_bert_config().to_json_string())
  (model_dir / "pretrain_config.json").write_text(json.dumps({"embedding_size": EMBEDDING}))
  with pytest.raises(ValueError, match=r"embedding_size 16 contradicts .*pretrain_config.json, "
                                       r"which has embedding_size 8"):
    FinetuningConfig("mine", str(tmp_path), embedding_size=16)
  with pytest.raises(ValueError, match=r"hidden_size 32 contradicts .*discriminator_config.json, "
                                       r"which has hidden_size 16"):
    FinetuningConfig("mine", str(tmp_path), model_hparam_overrides={"hidden_size": 32})


def test_training_choices_of_the_encoder_stay_the_users(tmp_path):
  model_dir = tmp_path / "models" / "mine"
  model_dir.mkdir(parents=True)
  (model_dir / "discriminator_config.json").write_text(tiny_bert_config().to_json_string())
  config = FinetuningConfig("mine", str(tmp_path), model_hparam_overrides={
      "hidden_dropout_prob": 0.3, "num_hidden_layers": 2})
  encoder = config.encoder_hparams()
  assert encoder["hidden_dropout_prob"] == 0.3 and encoder["attention_probs_dropout_prob"] == 0.1
  assert encoder["num_hidden_layers"] == 2 and encoder["hidden_size"] == 16
  with pytest.raises(ValueError, match="model_hparam_overrides.hidden_act 'relu' contradicts"):
    FinetuningConfig("mine", str(tmp_path), model_hparam_overrides={"hidden_act": "relu"})


def test_the_bundled_model_fine_tunes_with_the_release_params():
  config = FinetuningConfig.from_args({"data_dir": SHIPPED_DATA, "model_name": "electra-mini",
                                       "hparams": RELEASE_PARAMS})
  with open(os.path.join(SHIPPED_DATA, "models", "electra-mini",
                         "discriminator_config.json"), encoding="utf-8") as f:
    shipped = json.load(f)
  encoder = config.encoder_hparams()
  assert {key: encoder[key] for key in shipped} == shipped
  assert config.embedding_size == 128


def test_continued_pretraining_takes_the_models_sizes(tmp_path):
  save_checkpoint(tmp_path / "start", with_generator=True)
  config = PretrainingConfig("next", str(tmp_path), init_checkpoint=str(tmp_path / "start"),
                             max_seq_length=64)
  assert config.vocab_size == VOCAB and config.embedding_size == EMBEDDING
  assert config.encoder_hparams()["hidden_size"] == 16
  assert (config.generator_hidden_size, config.generator_layers) == (0.5, 0.5)
  with pytest.raises(ValueError, match="generator_hidden_size 0.25 contradicts checkpoint "
                                       ".*model.ckpt-5, which has generator_hidden_size 0.5"):
    PretrainingConfig("next", str(tmp_path), init_checkpoint=str(tmp_path / "start"),
                      max_seq_length=64, generator_hidden_size=0.25)


def test_reading_a_model_without_config_files_reads_only_its_index(released_like):
  recorded = sizes.read_recorded_sizes(os.path.join(released_like, "models", "tiny"))
  assert recorded.source.startswith("checkpoint ") and recorded.generator == {}
  assert tf.train.latest_checkpoint(os.path.join(released_like, "models", "tiny"))
