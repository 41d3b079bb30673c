"""import_hf.py: Hugging Face ELECTRA folders into release-layout model directories, no torch.

The folders are tests/fixtures/hf_import, written by real transformers and torch, and folders
exported here; tests/hf_import_fixtures.py says how. Refused inputs: test_import_hf_refusals.py.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import export_hf
from model import hf_mapping
from model import modeling
from tests.hf_import_fixtures import (FIXTURE, ROLES, WEIGHT_FILES, fixture_values, copy_folder,
    folders, run_import, import_error, checkpoint_values, write_torch_file)
from tests.test_modeling import RELEASED, read_layout
from util import checkpoint as checkpoint_lib

safetensors_numpy = pytest.importorskip("safetensors.numpy")

# ----------------------------------------------------------------------------------------------
# The transformers-written fixture.

@pytest.mark.parametrize("weights", WEIGHT_FILES)
def test_fixture_imports_to_the_values_transformers_saved(tmp_path, weights, capsys):
  disc, gen = folders(tmp_path, weights)
  output = run_import(disc, gen, tmp_path / "data" / "models" / "hf")
  assert "run_finetuning.py --data-dir" in capsys.readouterr().out
  values = checkpoint_values(output)
  expected = {"global_step"}
  for role, architecture in ROLES.items():
    with open(os.path.join(FIXTURE, role, "config.json"), encoding="utf-8") as f:
      config = hf_mapping.with_hf_defaults(json.load(f))
    scope = "generator" if role == "generator" else "electra"
    mapping = hf_mapping.import_mapping(architecture, config, scope)
    saved = fixture_values(role)
    for hf_name, param in mapping.items():
      want = saved[hf_name].T if param.transpose else saved[hf_name]
      np.testing.assert_array_equal(values[param.tf_name], want, err_msg=hf_name)
      expected.add(param.tf_name)
    if role == "generator":  # the .bin's tied output layer and position ids are no variables
      assert set(saved) - set(mapping) == {"generator_lm_head.weight",
                                           "electra.embeddings.position_ids"}
  assert set(values) == expected
  assert values["global_step"] == 0


def test_model_directory_configs_and_vocabulary(tmp_path):
  disc, gen = folders(tmp_path)
  output = tmp_path / "models" / "hf"
  run_import(disc, gen, output)
  read = lambda name: json.loads((output / name).read_text(encoding="utf-8"))
  disc_config = modeling.BertConfig.from_dict(read("discriminator_config.json"))
  gen_config = modeling.BertConfig.from_dict(read("generator_config.json"))
  assert (disc_config.hidden_size, disc_config.num_hidden_layers, disc_config.vocab_size,
          disc_config.num_attention_heads, disc_config.intermediate_size) == (16, 2, 32, 2, 32)
  assert (gen_config.hidden_size, gen_config.intermediate_size) == (8, 32)
  pretrain = read("pretrain_config.json")
  assert (pretrain["embedding_size"], pretrain["generator_hidden_size"],
          pretrain["do_lower_case"]) == (12, 0.5, True)
  # The discriminator folder has only tokenizer.json: its vocabulary is the generator's vocab.txt
  assert (output / "vocab.txt").read_text(encoding="utf-8") == \
      (tmp_path / "gen" / "vocab.txt").read_text(encoding="utf-8")
  # The written directory is one the project rebuilds exactly: every variable, no other.
  networks = modeling.ElectraNetworks(disc_config, gen_config, pretrain["embedding_size"])
  shapes = {name: v.shape.as_list() for name, v in modeling.named_variables(networks).items()}
  values = checkpoint_values(output)
  assert {name: list(v.shape) for name, v in values.items() if name != "global_step"} == shapes


def test_pretrain_config_rebuilds_the_checkpoint_for_continued_pretraining(tmp_path):
  import configure_pretraining  # pylint: disable=import-outside-toplevel
  from pretrain import electra_model  # pylint: disable=import-outside-toplevel
  disc, gen = folders(tmp_path)
  output = run_import(disc, gen, tmp_path / "data" / "models" / "hf")
  with open(os.path.join(output, "pretrain_config.json"), encoding="utf-8") as f:
    hparams = json.load(f)
  config = configure_pretraining.PretrainingConfig("continued", str(tmp_path / "data"),
                                                   init_checkpoint=output, **hparams)
  config.vocab_file = os.path.join(output, "vocab.txt")
  variables = electra_model.PretrainingModel(config).all_variables()
  loaded, missing, unused = checkpoint_lib.init_from_checkpoint(config.init_checkpoint, variables)
  assert (missing, unused) == ([], ["global_step"]) and len(loaded) == len(variables)
  np.testing.assert_array_equal(variables["generator/encoder/layer_1/output/dense/kernel"].numpy(),
                                fixture_values("generator")[
                                    "electra.encoder.layer.1.output.dense.weight"].T)


def test_export_of_the_import_gives_back_the_saved_tensors(tmp_path):
  disc, gen = folders(tmp_path, "pytorch_model.bin")
  output = run_import(disc, gen, tmp_path / "models" / "hf")
  export_hf.main(["--pretrained-dir", output, "--hf-output", str(tmp_path / "out")])
  for role in ROLES:
    exported = safetensors_numpy.load_file(str(tmp_path / "out" / role / "model.safetensors"))
    saved = fixture_values(role)
    for name, value in exported.items():
      np.testing.assert_array_equal(value, saved[name], err_msg=name)


def test_discriminator_alone_and_sharded_safetensors(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "disc")
  tensors = safetensors_numpy.load_file(os.path.join(disc, "model.safetensors"))
  os.remove(os.path.join(disc, "model.safetensors"))
  names = sorted(tensors)
  shards = {"model-1.safetensors": names[:10], "model-2.safetensors": names[10:]}
  for shard, shard_names in shards.items():
    safetensors_numpy.save_file({n: tensors[n] for n in shard_names}, os.path.join(disc, shard))
  index = {"metadata": {}, "weight_map": {n: s for s, ns in shards.items() for n in ns}}
  with open(os.path.join(disc, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
    json.dump(index, f)
  output = run_import(disc, None, tmp_path / "models" / "disc")
  values = checkpoint_values(output)
  assert not any(name.startswith(("generator", "generator_predictions")) for name in values)
  np.testing.assert_array_equal(
      values["discriminator_predictions/dense_1/kernel"],
      tensors["discriminator_predictions.dense_prediction.weight"].T)
  assert not (tmp_path / "models" / "disc" / "generator_config.json").exists()
  index["weight_map"]["extra.weight"] = "model-1.safetensors"
  with open(os.path.join(disc, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
    json.dump(index, f)
  assert "in no shard: extra.weight" in import_error(disc, None, tmp_path / "other")


def test_sharded_bin_written_without_torch(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "disc")
  tensors = fixture_values("discriminator")
  os.remove(os.path.join(disc, "model.safetensors"))
  names = sorted(tensors)
  for i, part in enumerate((names[:7], names[7:])):
    write_torch_file(os.path.join(disc, f"pytorch_model-{i}.bin"), {n: tensors[n] for n in part})
  with open(os.path.join(disc, "pytorch_model.bin.index.json"), "w", encoding="utf-8") as f:
    json.dump({"weight_map": {n: f"pytorch_model-{int(i >= 7)}.bin"
                              for i, n in enumerate(names)}}, f)
  values = checkpoint_values(run_import(disc, None, tmp_path / "models" / "disc"))
  np.testing.assert_array_equal(values["electra/encoder/layer_1/output/dense/kernel"],
                                tensors["electra.encoder.layer.1.output.dense.weight"].T)


# ----------------------------------------------------------------------------------------------
# Export -> import round trip on the four released layouts (tiny sizes).

# (model_size, embedding_size, overrides) shaped like RELEASED's four layouts, tiny; and the
# untied_generator_embeddings variant (the generator's own embeddings, no projection).
TINY_LAYOUTS = {
    "small": ("small", 16, {"hidden_size": 32, "num_hidden_layers": 2}),
    "small_ex": ("small", 32, {"hidden_size": 32, "num_hidden_layers": 4}),
    "base": ("base", 48, {"hidden_size": 48, "num_hidden_layers": 2}),
    "large": ("large", 64, {"hidden_size": 64, "num_hidden_layers": 3}),
    "untied_embeddings": ("small", 16, {"hidden_size": 32, "num_hidden_layers": 2}),
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(0x4E00 + i) for i in range(19)]


@pytest.mark.parametrize("layout", sorted(TINY_LAYOUTS))
def test_export_then_import_is_bit_identical(tmp_path, layout):
  size, embedding, overrides = TINY_LAYOUTS[layout]
  disc = modeling.get_bert_config(size, len(VOCAB), dict(overrides, max_position_embeddings=32))
  gen = modeling.get_generator_config(disc, 0.25)
  tf.random.set_seed(len(layout))
  untied = layout == "untied_embeddings"
  networks = modeling.ElectraNetworks(disc, gen, embedding_size=embedding,
                                      untied_generator_embeddings=untied)
  assert ("generator/embeddings/word_embeddings" in modeling.named_variables(networks)) == untied
  variables = {name: v.numpy() for name, v in modeling.named_variables(networks).items()}
  for name in variables:  # LayerNorm and biases start as 1 and 0: make them distinguishable
    if name.endswith(("/beta", "/gamma", "/bias")):
      variables[name] = variables[name] + np.random.default_rng(1).normal(
          size=variables[name].shape).astype(np.float32)
  source = tmp_path / "data" / "models" / "source"
  checkpoint_lib.CheckpointManager(str(source)).save(variables, 3)
  (source / "discriminator_config.json").write_text(disc.to_json_string())
  (source / "generator_config.json").write_text(gen.to_json_string())
  (source / "pretrain_config.json").write_text(json.dumps({"embedding_size": embedding}))
  (source / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  export_hf.main(["--pretrained-dir", str(source), "--hf-output", str(tmp_path / "hf")])
  output = run_import(str(tmp_path / "hf" / "discriminator"), str(tmp_path / "hf" / "generator"),
                      tmp_path / "data" / "models" / "imported")
  values = checkpoint_values(output)
  assert set(values) == set(variables) | {"global_step"}
  for name, value in variables.items():
    assert values[name].dtype == np.float32
    np.testing.assert_array_equal(values[name], value, err_msg=name)
  for name in ("discriminator_config.json", "generator_config.json"):
    assert json.loads((source / name).read_text()) == json.loads(
        open(os.path.join(output, name), encoding="utf-8").read())
  with open(os.path.join(output, "pretrain_config.json"), encoding="utf-8") as f:
    assert json.load(f)["untied_generator_embeddings"] == untied


@pytest.mark.parametrize("layout,size,embedding_size,overrides", RELEASED)
def test_released_sizes_map_onto_the_released_checkpoint_names(layout, size, embedding_size,
                                                               overrides):
  released, _ = read_layout(layout)
  disc = modeling.get_bert_config(size, 21128, overrides)
  gen = modeling.get_generator_config(disc, 0.25)
  shapes = {}
  for role, config, scope in (("discriminator", disc, "electra"),
                              ("generator", gen, "generator")):
    hf_config = hf_mapping.with_hf_defaults(
        hf_mapping.hf_electra_config(config, embedding_size, role))
    architecture = hf_mapping.PRETRAINED_ARCHITECTURES[role]
    mapping = hf_mapping.import_mapping(architecture, hf_config, scope)
    shapes.update(hf_mapping.checkpoint_shapes(
        mapping, hf_mapping.expected_hf_shapes(hf_config, architecture)))
  assert shapes == released
