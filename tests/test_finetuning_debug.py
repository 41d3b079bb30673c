"""`debug` in fine-tuning builds the original's tiny model, as pre-training's debug does."""

import json

from configure_finetuning import FinetuningConfig
from model.sizes import ENCODER_CONFIG_FILE as MODEL_DIR_ENCODER_CONFIG
from configure_pretraining import PretrainingConfig
from finetune import task_builder
from finetune.finetuning_model import FinetuningModel

SIZE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def sizes(config):
  hparams = config.encoder_hparams()
  return {key: hparams[key] for key in SIZE_KEYS}


def test_debug_builds_pretrainings_tiny_model_from_random_weights(tmp_path):
  (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
  for model_size in ("small", "base"):
    config = FinetuningConfig("electra", str(tmp_path), debug=True, model_size=model_size,
                              task_names=["chnsenticorp"])
    tiny = sizes(PretrainingConfig("electra", str(tmp_path), debug=True, model_size=model_size))
    assert sizes(config) == tiny == {"hidden_size": 144, "num_hidden_layers": 3,
                                     "num_attention_heads": 4, "intermediate_size": 576}
    assert config.init_checkpoint is None  # a released checkpoint does not fit it
    model = FinetuningModel(config, task_builder.get_tasks(config))
    assert model.bert_config.num_hidden_layers == 3
    assert model.all_variables()["electra/encoder/layer_2/output/dense/kernel"].shape == [
        576, 144]
    assert "electra/encoder/layer_3/output/dense/kernel" not in model.all_variables()
    # Saved beside the checkpoints and read back (predict.py, export_model.py): the same model.
    again = FinetuningConfig("electra", str(tmp_path), **{
        key: value for key, value in config.to_dict().items()
        if key not in ("model_name", "data_dir")})
    assert sizes(again) == tiny and again.init_checkpoint is None


def test_debug_keeps_a_model_pretrained_here(tmp_path):
  model_dir = tmp_path / "models" / "mine"
  model_dir.mkdir(parents=True)
  own = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 1,
         "intermediate_size": 256, "vocab_size": 100}
  (model_dir / MODEL_DIR_ENCODER_CONFIG).write_text(json.dumps(own), encoding="utf-8")
  config = FinetuningConfig("mine", str(tmp_path), debug=True, task_names=["chnsenticorp"])
  assert sizes(config) == {key: own[key] for key in SIZE_KEYS}
  assert config.init_checkpoint == str(model_dir)


def test_explicit_values_win_over_debug(tmp_path):
  config = FinetuningConfig("electra", str(tmp_path), debug=True, task_names=["chnsenticorp"],
                            init_checkpoint="/ckpt", model_hparam_overrides={"hidden_size": 32,
                                                                            "num_hidden_layers": 1})
  assert config.init_checkpoint == "/ckpt"
  assert (config.encoder_hparams()["hidden_size"],
          config.encoder_hparams()["num_hidden_layers"]) == (32, 1)
