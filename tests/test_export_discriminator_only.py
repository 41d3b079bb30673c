"""export_model.py --pretrained-dir on a checkpoint that holds only the discriminator's encoder
(as the bundled sample_data/models/electra-mini does), and on a checkpoint without config files
(as a released model unpacks), whose sizes come from its variable shapes."""

import json
import os

import pytest
import tensorflow as tf

import export_model
from model import modeling
from util import checkpoint as checkpoint_lib

safetensors_numpy = pytest.importorskip("safetensors.numpy")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(0x4e00 + i) for i in range(27)]


@pytest.fixture(scope="module")
def encoder_only_dir(tmp_path_factory):
  """A pre-trained directory as tools/ship_pretrained_model.py leaves it: electra/* only, with
  the config files of a run that had a generator (pretrain_config.json says so)."""
  root = tmp_path_factory.mktemp("data") / "models" / "mini"
  root.mkdir(parents=True)
  config = modeling.BertConfig.from_dict({"vocab_size": len(VOCAB), "hidden_size": 16,
                                          "num_hidden_layers": 2, "num_attention_heads": 2,
                                          "intermediate_size": 32, "max_position_embeddings": 64})
  tf.random.set_seed(5)
  encoder = modeling.BertModel(config, "electra", embedding_size=8)
  checkpoint_lib.CheckpointManager(str(root)).save(modeling.named_variables(encoder), 30)
  (root / "discriminator_config.json").write_text(config.to_json_string())
  (root / "pretrain_config.json").write_text(json.dumps(
      {"model_size": "small", "embedding_size": 8, "vocab_size": len(VOCAB),
       "generator_hidden_size": 0.5, "electra_objective": True, "do_lower_case": True}))
  (root / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  return root, modeling.named_variables(encoder)


def test_exports_the_discriminator_alone_as_an_electra_model(encoder_only_dir, tmp_path, capsys):
  root, variables = encoder_only_dir
  out = tmp_path / "hf"
  paths = export_model.main(["--pretrained-dir", str(root), "--hf-output", str(out)])
  assert sorted(paths) == ["discriminator"] and sorted(os.listdir(out)) == ["discriminator"]
  with open(out / "discriminator" / "config.json", encoding="utf-8") as f:
    config = json.load(f)
  assert config["architectures"] == ["ElectraModel"] and config["embedding_size"] == 8
  tensors = safetensors_numpy.load_file(str(out / "discriminator" / "model.safetensors"))
  assert len(tensors) == len(variables)  # every encoder variable, nothing else
  word = tensors["embeddings.word_embeddings.weight"]
  assert word.shape == (len(VOCAB), 8)
  assert (word == variables["electra/embeddings/word_embeddings"].numpy()).all()
  printed = capsys.readouterr()
  assert "ElectraModel.from_pretrained" in printed.out and "generator =" not in printed.out
  assert "holds no generator" in printed.err


def test_config_only_export_writes_the_discriminators_config(encoder_only_dir, tmp_path):
  root, _ = encoder_only_dir
  paths = export_model.main(["--pretrained-dir", str(root), "--output", str(tmp_path / "c")])
  assert sorted(os.listdir(tmp_path / "c")) == ["hf_discriminator_config.json"]
  assert sorted(paths) == ["discriminator"]


def test_a_checkpoint_without_config_files_is_sized_by_its_shapes(tmp_path):
  root = tmp_path / "models" / "released"
  root.mkdir(parents=True)
  disc = modeling.BertConfig.from_dict({"vocab_size": len(VOCAB), "hidden_size": 128,
                                        "num_hidden_layers": 2, "num_attention_heads": 2,
                                        "intermediate_size": 96, "max_position_embeddings": 64})
  networks = modeling.ElectraNetworks(disc, modeling.get_generator_config(disc, 0.5),
                                      embedding_size=8)
  checkpoint_lib.CheckpointManager(str(root)).save(modeling.named_variables(networks), 9)
  (root / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  out = tmp_path / "hf"
  export_model.main(["--pretrained-dir", str(root), "--hf-output", str(out)])
  configs = {}
  for role in ("discriminator", "generator"):
    with open(out / role / "config.json", encoding="utf-8") as f:
      configs[role] = json.load(f)
  disc_config, gen_config = configs["discriminator"], configs["generator"]
  assert (disc_config["hidden_size"], disc_config["num_hidden_layers"]) == (128, 2)
  assert (disc_config["intermediate_size"], disc_config["max_position_embeddings"]) == (96, 64)
  assert disc_config["num_attention_heads"] == 2  # 128 / 64: the original's rule
  assert (gen_config["hidden_size"], gen_config["num_hidden_layers"]) == (64, 2)
  assert disc_config["embedding_size"] == gen_config["embedding_size"] == 8
