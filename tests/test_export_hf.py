"""export_hf.py: Hugging Face folders and configs written without torch (CI has none), also
through export_model.py's forwarding flags.

The expected parameter names and shapes (tests/fixtures/transformers_electra_parameters.json)
were derived once from transformers 5.24 (`save_pretrained` of ElectraForPreTraining /
ElectraForMaskedLM / ElectraModel for the tiny config: vocab 40, embedding 24, hidden 32
(generator 16), 2 layers, intermediate 4 x hidden, 64 positions) and pasted there as data.
tools/check_hf_export.py compares the logits with torch.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import export_hf
import export_model
from model import hf_mapping
from model import modeling
from tests.test_predict_export import exit_message, make_model_dir
from util import checkpoint as checkpoint_lib
from util import utils

safetensors_numpy = pytest.importorskip("safetensors.numpy")

# {architecture: {parameter name: shape}} as transformers' save_pretrained writes them.
TRANSFORMERS_PARAMETERS = utils.load_json(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "fixtures", "transformers_electra_parameters.json"))

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    chr(c) for c in range(0x4E00, 0x4E00 + 20)] + [
    "the", "##s", "electra", "model", ",", "。", "a", "b", "c", "##a", "##b", "1", "2", "##1", "x"]


def tiny_configs():
  disc = modeling.get_bert_config("small", len(VOCAB), {
      "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
      "max_position_embeddings": 64})
  return disc, modeling.get_generator_config(disc, 0.5)


def make_pretrained_dir(root, extra_variable=None, drop_variable=None):
  """A pre-training directory as run_pretraining.py leaves it (random weights, Adam slots)."""
  root.mkdir(parents=True, exist_ok=True)
  disc, gen = tiny_configs()
  tf.random.set_seed(3)
  networks = modeling.ElectraNetworks(disc, gen, embedding_size=24)
  variables = dict(modeling.named_variables(networks))
  for name in list(variables)[:3]:  # optimizer slots and the step are not model weights
    variables[f"{name}/adam_m"] = tf.Variable(tf.zeros_like(variables[name]))
  variables["global_step"] = tf.Variable(tf.constant(11, tf.int64))
  if extra_variable:
    variables[extra_variable] = tf.Variable(tf.zeros([3]))
  if drop_variable:
    del variables[drop_variable]
  checkpoint_lib.CheckpointManager(str(root)).save(variables, 7)
  (root / "discriminator_config.json").write_text(disc.to_json_string())
  (root / "generator_config.json").write_text(gen.to_json_string())
  (root / "pretrain_config.json").write_text(json.dumps(
      {"model_size": "small", "embedding_size": 24, "vocab_size": len(VOCAB),
       "generator_hidden_size": 0.5, "do_lower_case": True}))
  (root / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  return root


def hf_export_argv(root, out, *flags):
  return ["--pretrained-dir", str(root), "--hf-output", str(out), *flags]


def export_error(root, out):
  """The one-line message export_hf.py exits with for `root`."""
  return exit_message(export_hf.main, hf_export_argv(root, out))


@pytest.fixture(scope="module")
def pretrained_export(tmp_path_factory):
  root = make_pretrained_dir(tmp_path_factory.mktemp("pre") / "models" / "tiny")
  out = tmp_path_factory.mktemp("hf") / "tiny_hf"
  export_hf.main(hf_export_argv(root, out))
  return root, out


def load(folder):
  return safetensors_numpy.load_file(os.path.join(folder, "model.safetensors"))


def test_safetensors_have_exactly_the_transformers_parameters(pretrained_export):
  _, out = pretrained_export
  for role, architecture in (("discriminator", "ElectraForPreTraining"),
                             ("generator", "ElectraForMaskedLM")):
    tensors = load(out / role)
    assert {name: list(value.shape) for name, value in tensors.items()} == \
        TRANSFORMERS_PARAMETERS[architecture]
    assert all(value.dtype == np.float32 for value in tensors.values())
    with open(out / role / "model.safetensors", "rb") as f:  # metadata as save_pretrained's
      header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert header["__metadata__"] == {"format": "pt"}


def test_values_round_trip_from_the_checkpoint(pretrained_export):
  root, out = pretrained_export
  reader = tf.train.load_checkpoint(checkpoint_lib.resolve_checkpoint(str(root)))
  ckpt = lambda name: reader.get_tensor(name)
  disc, gen = load(out / "discriminator"), load(out / "generator")
  np.testing.assert_array_equal(disc["electra.encoder.layer.1.attention.self.query.weight"],
                                ckpt("electra/encoder/layer_1/attention/self/query/kernel").T)
  np.testing.assert_array_equal(disc["electra.embeddings_project.weight"],
                                ckpt("electra/embeddings_project/kernel").T)
  np.testing.assert_array_equal(disc["discriminator_predictions.dense_prediction.weight"],
                                ckpt("discriminator_predictions/dense_1/kernel").T)
  np.testing.assert_array_equal(disc["discriminator_predictions.dense_prediction.bias"],
                                ckpt("discriminator_predictions/dense_1/bias"))
  np.testing.assert_array_equal(disc["electra.encoder.layer.0.output.LayerNorm.weight"],
                                ckpt("electra/encoder/layer_0/output/LayerNorm/gamma"))
  # The generator's embeddings are its own copy of the shared tables in HF.
  for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
    np.testing.assert_array_equal(gen[f"electra.embeddings.{table}.weight"],
                                  ckpt(f"electra/embeddings/{table}"))
    np.testing.assert_array_equal(disc[f"electra.embeddings.{table}.weight"],
                                  ckpt(f"electra/embeddings/{table}"))
  np.testing.assert_array_equal(gen["electra.embeddings_project.weight"],
                                ckpt("generator/embeddings_project/kernel").T)
  np.testing.assert_array_equal(gen["electra.encoder.layer.1.intermediate.dense.weight"],
                                ckpt("generator/encoder/layer_1/intermediate/dense/kernel").T)
  np.testing.assert_array_equal(gen["generator_predictions.dense.weight"],
                                ckpt("generator_predictions/dense/kernel").T)
  np.testing.assert_array_equal(gen["generator_predictions.LayerNorm.bias"],
                                ckpt("generator_predictions/LayerNorm/beta"))
  np.testing.assert_array_equal(gen["generator_lm_head.bias"],
                                ckpt("generator_predictions/output_bias"))


def test_configs_and_tokenizer_files(pretrained_export, capsys):
  _, out = pretrained_export
  common = {"model_type": "electra", "vocab_size": len(VOCAB), "embedding_size": 24,
            "num_hidden_layers": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
            "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
            "pad_token_id": 0}
  with open(out / "discriminator" / "config.json", encoding="utf-8") as f:
    assert json.load(f) == dict(common, architectures=["ElectraForPreTraining"], hidden_size=32,
                                num_attention_heads=2, intermediate_size=128)
  with open(out / "generator" / "config.json", encoding="utf-8") as f:
    assert json.load(f) == dict(common, architectures=["ElectraForMaskedLM"], hidden_size=16,
                                num_attention_heads=1, intermediate_size=64,
                                tie_word_embeddings=True)
  for role in ("discriminator", "generator"):
    assert (out / role / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == VOCAB
    with open(out / role / "tokenizer_config.json", encoding="utf-8") as f:
      tok = json.load(f)
    assert tok["tokenizer_class"] == "ElectraTokenizer"
    assert (tok["do_lower_case"], tok["tokenize_chinese_chars"], tok["strip_accents"],
            tok["model_max_length"]) == (True, True, None, 64)
    with open(out / role / "special_tokens_map.json", encoding="utf-8") as f:
      assert json.load(f) == {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                              "cls_token": "[CLS]", "mask_token": "[MASK]"}
  assert sorted(os.listdir(out)) == ["discriminator", "generator"]


def test_prints_the_pytorch_install_hint(tmp_path, capsys):
  root = make_pretrained_dir(tmp_path / "models" / "tiny")
  export_hf.main(hf_export_argv(root, tmp_path / "hf"))
  printed = capsys.readouterr().out
  assert "pip install torch transformers safetensors" in printed
  assert "ElectraForMaskedLM.from_pretrained" in printed and "convert_electra" not in printed
  message = export_error(root, tmp_path / "hf")
  assert "not empty" in message
  export_hf.main(hf_export_argv(root, tmp_path / "hf", "--overwrite"))


def test_unused_or_missing_variables_fail_loudly(tmp_path):
  root = make_pretrained_dir(tmp_path / "a" / "models" / "tiny",
                             extra_variable="electra/encoder/layer_0/attention/extra")
  message = export_error(root, tmp_path / "hf")
  assert "no place in the HF models" in message and "attention/extra" in message
  root = make_pretrained_dir(tmp_path / "b" / "models" / "tiny",
                             drop_variable="generator_predictions/LayerNorm/gamma")
  message = export_error(root, tmp_path / "hf")
  assert "generator_predictions/LayerNorm/gamma" in message
  assert not (tmp_path / "hf").exists()


def test_expected_shapes_match_the_transformers_lists():
  disc, gen = tiny_configs()
  for config, embedding, architecture in ((disc, 24, "ElectraForPreTraining"),
                                          (gen, 24, "ElectraForMaskedLM"),
                                          (disc, 24, "ElectraModel")):
    hf_config = hf_mapping.hf_electra_config(config, embedding, "discriminator")
    assert hf_mapping.expected_hf_shapes(hf_config, architecture) == \
        TRANSFORMERS_PARAMETERS[architecture]


def test_finetuned_encoder_export(tmp_path, capsys):
  model_dir, config, _, model = make_model_dir(tmp_path, ["chnsenticorp"])
  out = tmp_path / "encoder_hf"
  export_hf.main(["--model-dir", model_dir, "--hf-output", str(out)])
  printed = capsys.readouterr().out
  assert "ElectraModel" in printed and "task_specific/chnsenticorp/dense/kernel" in printed
  assert "no exact transformers class" in printed
  tensors = load(out)
  expected = {name for name in TRANSFORMERS_PARAMETERS["ElectraModel"]
              if ".layer.1." not in name}  # the fine-tuned tiny model has one layer
  assert set(tensors) == expected
  variables = model.all_variables()
  np.testing.assert_array_equal(tensors["encoder.layer.0.output.dense.weight"],
                                variables["electra/encoder/layer_0/output/dense/kernel"].numpy().T)
  np.testing.assert_array_equal(tensors["embeddings.word_embeddings.weight"],
                                variables["electra/embeddings/word_embeddings"].numpy())
  with open(out / "config.json", encoding="utf-8") as f:
    hf_config = json.load(f)
  assert hf_config["architectures"] == ["ElectraModel"]
  assert (hf_config["hidden_size"], hf_config["embedding_size"]) == (32, 16)
  assert (out / "vocab.txt").read_text(encoding="utf-8") == open(
      config.vocab_file, encoding="utf-8").read()


# ----------------------------------------------------------------------------------------------
# export_hf.py --pretrained-dir without --hf-output: the two configs


def small_bert_configs():
  disc = modeling.get_bert_config("small", 21128)
  return disc, modeling.get_generator_config(disc, 0.25, 1.0)


def check_small_hf_configs(directory):
  with open(os.path.join(directory, "hf_discriminator_config.json"), encoding="utf-8") as f:
    disc = json.load(f)
  with open(os.path.join(directory, "hf_generator_config.json"), encoding="utf-8") as f:
    gen = json.load(f)
  common = {"model_type": "electra", "vocab_size": 21128, "embedding_size": 128,
            "num_hidden_layers": 12, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
            "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
            "pad_token_id": 0}
  assert disc == dict(common, architectures=["ElectraForPreTraining"], hidden_size=256,
                      num_attention_heads=4, intermediate_size=1024)
  assert gen == dict(common, architectures=["ElectraForMaskedLM"], hidden_size=64,
                     num_attention_heads=1, intermediate_size=256)


def test_hf_configs_of_a_small_model_from_its_json_files(tmp_path, capsys):
  disc, gen = small_bert_configs()
  (tmp_path / "discriminator_config.json").write_text(disc.to_json_string())
  (tmp_path / "generator_config.json").write_text(gen.to_json_string())
  (tmp_path / "pretrain_config.json").write_text(json.dumps(
      {"model_size": "small", "embedding_size": 128, "vocab_size": 21128}))
  export_hf.main(["--pretrained-dir", str(tmp_path), "--output", str(tmp_path / "hf")])
  check_small_hf_configs(tmp_path / "hf")
  printed = capsys.readouterr().out
  assert "--hf-output" in printed


def test_hf_configs_of_a_small_model_from_flags(tmp_path):
  export_hf.main(["--pretrained-dir", str(tmp_path), "--model-size", "small",
                  "--vocab-size", "21128"])
  check_small_hf_configs(tmp_path)


def test_hf_configs_are_checked_against_the_checkpoint(tmp_path, capsys):
  disc = modeling.get_bert_config("small", 40, {"hidden_size": 32, "num_hidden_layers": 2})
  gen = modeling.get_generator_config(disc, 0.5)
  networks = modeling.ElectraNetworks(disc, gen, embedding_size=16)
  checkpoint_lib.CheckpointManager(str(tmp_path)).save(modeling.named_variables(networks), 5)
  (tmp_path / "discriminator_config.json").write_text(disc.to_json_string())
  (tmp_path / "generator_config.json").write_text(gen.to_json_string())
  export_hf.main(["--pretrained-dir", str(tmp_path)])
  with open(tmp_path / "hf_generator_config.json", encoding="utf-8") as f:
    hf_gen = json.load(f)
  # The generator reads the shared 16-wide embeddings through its own projection.
  assert (hf_gen["embedding_size"], hf_gen["hidden_size"], hf_gen["vocab_size"]) == (16, 16, 40)
  assert "model.ckpt-5" in capsys.readouterr().out
  message = exit_message(export_hf.main, ["--pretrained-dir", str(tmp_path),
                                          "--embedding-size", "32"])
  assert "do not match checkpoint" in message and "word_embeddings" in message


# ----------------------------------------------------------------------------------------------
# export_model.py forwards the documented Hugging Face forms to export_hf.py


def test_export_model_forwards_the_hugging_face_exports(tmp_path, capsys):
  root = make_pretrained_dir(tmp_path / "models" / "tiny")
  export_model.main(hf_export_argv(root, tmp_path / "hf"))
  assert sorted(os.listdir(tmp_path / "hf")) == ["discriminator", "generator"]
  export_model.main(["--pretrained-dir", str(root), "--output", str(tmp_path / "configs")])
  assert sorted(os.listdir(tmp_path / "configs")) == ["hf_discriminator_config.json",
                                                      "hf_generator_config.json"]
  model_dir = make_model_dir(tmp_path / "finetuned", ["chnsenticorp"])[0]
  export_model.main(["--model-dir", model_dir, "--hf-output", str(tmp_path / "encoder")])
  assert "config.json" in os.listdir(tmp_path / "encoder")
  assert "export_model.py --pretrained-dir" in capsys.readouterr().out
