"""import_hf.py: Hugging Face ELECTRA folders into release-layout model directories, no torch.

tests/fixtures/hf_import was written by real transformers and torch
(tools/make_hf_import_fixture.py): values.npz holds every saved tensor; the discriminator's
.bin is in torch's zip format, the generator's in the legacy one. The .bin files built
here (shards, malicious pickles) are written without torch: `write_torch_file` pickles NumPy
arrays as torch.save does, through stand-ins registered under torch's names while pickling.
"""

import contextlib
import io
import json
import os
import pickle
import shutil
import sys
import types
import zipfile

import numpy as np
import pytest
import tensorflow as tf

import export_hf
import import_hf
from model import hf_import
from model import hf_mapping
from model import modeling
from tests.test_modeling import RELEASED, read_layout
from tests.test_predict_export import exit_message
from util import checkpoint as checkpoint_lib
from util import torch_pickle

safetensors_numpy = pytest.importorskip("safetensors.numpy")

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "hf_import")
ROLES = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def fixture_values(role):
  with np.load(os.path.join(FIXTURE, "values.npz")) as values:
    return {key.split("/", 1)[1]: values[key] for key in values.files
            if key.startswith(role + "/")}


def copy_folder(role, target, weights="model.safetensors"):
  """The fixture folder of `role` with only one weight file."""
  shutil.copytree(os.path.join(FIXTURE, role), target,
                  ignore=lambda _, names: [n for n in names if n in WEIGHT_FILES and n != weights])
  return str(target)


def folders(tmp_path, weights="model.safetensors"):
  return (copy_folder("discriminator", tmp_path / "disc", weights),
          copy_folder("generator", tmp_path / "gen", weights))


def run_import(disc, gen, output, *flags):
  argv = ["--discriminator-dir", disc, "--output", str(output), *flags]
  return import_hf.main(argv + (["--generator-dir", gen] if gen else []))


def import_error(disc, gen, output, *flags):
  argv = ["--discriminator-dir", disc, "--output", str(output), *flags]
  return exit_message(import_hf.main, argv + (["--generator-dir", gen] if gen else []))


def checkpoint_values(model_dir):
  reader = tf.train.load_checkpoint(checkpoint_lib.resolve_checkpoint(str(model_dir)))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def edit_json(path, **changes):
  with open(path, encoding="utf-8") as f:
    values = json.load(f)
  values.update(changes)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(values, f)


# ----------------------------------------------------------------------------------------------
# .bin files without torch.

@contextlib.contextmanager
def torch_names():
  """Stand-ins for torch.FloatStorage etc. and torch._utils._rebuild_tensor_v2, registered as
  modules `torch` / `torch._utils` only while pickling (pickle checks GLOBALs by import)."""
  torch_module, utils_module = types.ModuleType("torch"), types.ModuleType("torch._utils")
  for name in torch_pickle.STORAGE_DTYPES:
    setattr(torch_module, name, type(name, (), {"__module__": "torch"}))

  def _rebuild_tensor_v2(*args):
    return args
  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  utils_module._rebuild_tensor_v2 = _rebuild_tensor_v2
  torch_module._utils = utils_module
  saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
  sys.modules.update({"torch": torch_module, "torch._utils": utils_module})
  try:
    yield torch_module, _rebuild_tensor_v2
  finally:
    for name, module in saved.items():
      if module is None:
        sys.modules.pop(name, None)
      else:
        sys.modules[name] = module


class _TensorStandIn:
  def __init__(self, key, storage_type, array):
    self.key, self.storage_type, self.array = key, storage_type, array


def write_torch_file(path, tensors, size_of=None, pickled=None):
  """A torch.save zip of {name: float32 array} (C order, as torch writes contiguous tensors);
  `size_of` overrides a tensor's declared size, `pickled` replaces the whole pickle."""
  with torch_names() as (torch_module, rebuild):
    stand_ins = {name: _TensorStandIn(str(i), torch_module.FloatStorage, np.asarray(value))
                 for i, (name, value) in enumerate(tensors.items())}

    class Pickler(pickle.Pickler):
      def persistent_id(self, obj):
        if isinstance(obj, _TensorStandIn):
          return ("storage", obj.storage_type, obj.key, "cpu", obj.array.size)
        return None

      def reducer_override(self, obj):
        if isinstance(obj, _StandInTensor):
          t = obj.tensor
          size = tuple((size_of or {}).get(obj.name, t.array.shape))
          strides = tuple(s // t.array.itemsize for s in t.array.strides)
          return rebuild, (t, 0, size, strides, False, {})
        return NotImplemented

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(
        {name: _StandInTensor(name, t) for name, t in stand_ins.items()})
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", pickled if pickled is not None else buffer.getvalue())
    archive.writestr("archive/byteorder", "little")
    for t in stand_ins.values():
      archive.writestr(f"archive/data/{t.key}", np.ascontiguousarray(t.array).tobytes())


class _StandInTensor:
  def __init__(self, name, tensor):
    self.name, self.tensor = name, tensor


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


# ----------------------------------------------------------------------------------------------
# Checks: one line, nothing written.

def test_malicious_bin_is_refused_and_runs_nothing(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "disc", "pytorch_model.bin")
  marker = tmp_path / "ran"

  class Exploit:
    def __reduce__(self):
      return os.system, (f"touch {marker}",)

  write_torch_file(os.path.join(disc, "pytorch_model.bin"), {},
                   pickled=pickle.dumps({"x": Exploit()}, protocol=2))
  output = tmp_path / "models" / "out"
  message = import_error(disc, None, output)
  assert "refused" in message and "system" in message and "\n" not in message
  assert not marker.exists() and not output.exists()
  assert not any(p.name.startswith(".out") for p in (tmp_path / "models").iterdir()) \
      if (tmp_path / "models").exists() else True
  # The same pickle as a bare file (the legacy format's first pickle).
  with open(os.path.join(disc, "pytorch_model.bin"), "wb") as f:
    f.write(pickle.dumps(Exploit(), protocol=2))
  message = import_error(disc, None, output)
  assert "refused: the pickle calls" in message and "system" in message
  assert not marker.exists() and not output.exists()
  # INST builds an object from a named class without any GLOBAL opcode: refused by opcode.
  inst = b"\x80\x02(X\x04\x00\x00\x00echoios\nsystem\n."
  write_torch_file(os.path.join(disc, "pytorch_model.bin"), {}, pickled=inst)
  assert "opcode INST" in import_error(disc, None, output)
  assert not output.exists()


def test_tensor_reaching_outside_its_storage_is_refused(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "disc", "pytorch_model.bin")
  tensors = fixture_values("discriminator")
  name = "electra.embeddings.word_embeddings.weight"
  write_torch_file(os.path.join(disc, "pytorch_model.bin"), tensors,
                   size_of={name: (64, 12)})
  message = import_error(disc, None, tmp_path / "out")
  assert "reaches element" in message and not (tmp_path / "out").exists()


def test_not_electra_or_wrong_class_is_refused(tmp_path):
  disc, gen = folders(tmp_path)
  message = import_error(gen, None, tmp_path / "out")
  assert "ElectraForMaskedLM" in message and "--generator-dir" in message
  edit_json(os.path.join(disc, "config.json"), model_type="bert")
  assert "not 'electra'" in import_error(disc, gen, tmp_path / "out")
  edit_json(os.path.join(disc, "config.json"), model_type="electra", layer_norm_eps=1e-5)
  assert "layer_norm_eps" in import_error(disc, gen, tmp_path / "out")
  assert not (tmp_path / "out").exists()


def test_unknown_missing_and_misshapen_tensors_are_listed(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "disc")
  path = os.path.join(disc, "model.safetensors")
  tensors = safetensors_numpy.load_file(path)
  safetensors_numpy.save_file(dict(tensors, **{"classifier.weight": np.zeros([2, 2], np.float32)}),
                              path)
  message = import_error(disc, None, tmp_path / "out")
  assert "does not have: classifier.weight" in message
  del tensors["electra.encoder.layer.1.output.dense.bias"]
  safetensors_numpy.save_file(tensors, path)
  assert "lacks 1 tensor(s) of ElectraForPreTraining: electra.encoder.layer.1.output.dense.bias" \
      in import_error(disc, None, tmp_path / "out")
  disc = copy_folder("discriminator", tmp_path / "disc2")
  edit_json(os.path.join(disc, "config.json"), intermediate_size=48)
  message = import_error(disc, None, tmp_path / "out")
  assert "disagree with config.json" in message and "intermediate.dense.weight [32, 16]" in message
  assert not (tmp_path / "out").exists()


def test_vocabulary_and_lower_casing_checks(tmp_path):
  disc, gen = folders(tmp_path)
  vocab = (tmp_path / "gen" / "vocab.txt").read_text(encoding="utf-8")
  (tmp_path / "gen" / "vocab.txt").write_text(vocab + "extra\n", encoding="utf-8")
  assert "has 33 tokens but the embeddings" in import_error(disc, gen, tmp_path / "out")
  (tmp_path / "gen" / "vocab.txt").write_text(vocab, encoding="utf-8")
  edit_json(os.path.join(gen, "tokenizer_config.json"), do_lower_case=False)
  assert "differ in do_lower_case" in import_error(disc, gen, tmp_path / "out")
  edit_json(os.path.join(gen, "tokenizer_config.json"), strip_accents=True)
  assert "strip_accents" in import_error(disc, gen, tmp_path / "out")
  edit_json(os.path.join(gen, "tokenizer_config.json"), do_lower_case=True, strip_accents=None)
  edit_json(os.path.join(disc, "tokenizer_config.json"), do_lower_case=False)
  edit_json(os.path.join(gen, "tokenizer_config.json"), do_lower_case=False)
  output = run_import(disc, gen, tmp_path / "models" / "cased")
  with open(os.path.join(output, "pretrain_config.json"), encoding="utf-8") as f:
    assert json.load(f)["do_lower_case"] is False
  assert not (tmp_path / "out").exists()


def test_differing_embeddings_need_a_choice(tmp_path):
  disc, gen = folders(tmp_path)
  path = os.path.join(gen, "model.safetensors")
  tensors = safetensors_numpy.load_file(path)
  name = "electra.embeddings.position_embeddings.weight"
  tensors[name] = tensors[name] + 0.5
  safetensors_numpy.save_file(tensors, path)
  message = import_error(disc, gen, tmp_path / "out")
  assert "embeddings differ (max |delta| 0.5" in message and "--embeddings-from" in message
  assert not (tmp_path / "out").exists()
  for choice, source in (("generator", tensors),
                         ("discriminator", fixture_values("discriminator"))):
    output = run_import(disc, gen, tmp_path / "models" / choice, "--embeddings-from", choice)
    np.testing.assert_array_equal(
        checkpoint_values(output)["electra/embeddings/position_embeddings"], source[name])


def test_h5_only_and_busy_output_are_refused(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "disc")
  os.remove(os.path.join(disc, "model.safetensors"))
  (tmp_path / "disc" / "tf_model.h5").write_bytes(b"\x89HDF\r\n")
  assert "h5py" in import_error(disc, None, tmp_path / "out")
  busy = tmp_path / "busy"
  busy.mkdir()
  (busy / "keep.txt").write_text("x")
  disc = copy_folder("discriminator", tmp_path / "disc2")
  assert "not empty" in import_error(disc, None, busy)
  assert os.listdir(busy) == ["keep.txt"]


def test_help_and_refusals_do_not_import_tensorflow(tmp_path):
  from tests.test_cli_help import PROBE  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, "-c", PROBE.format(script="import_hf.py")], cwd=repo,
                          capture_output=True, text=True, check=True)
  assert "usage:" in result.stdout and result.stdout.strip().endswith("NO_TENSORFLOW")
  probe = PROBE.replace('"--help"', f'"--discriminator-dir", {str(tmp_path / "none")!r}, '
                                    f'"--output", {str(tmp_path / "out")!r}'
                        ).format(script="import_hf.py")
  result = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True,
                          text=True, check=True)
  assert result.stdout.strip() == "NO_TENSORFLOW"  # a refused folder fails before the import


def test_electra_model_folder_imports_as_the_encoder(tmp_path):
  disc = copy_folder("discriminator", tmp_path / "encoder")
  path = os.path.join(disc, "model.safetensors")
  tensors = {name[len("electra."):]: value
             for name, value in safetensors_numpy.load_file(path).items()
             if name.startswith("electra.")}
  safetensors_numpy.save_file(tensors, path)
  edit_json(os.path.join(disc, "config.json"), architectures=["ElectraModel"])
  values = checkpoint_values(run_import(disc, None, tmp_path / "models" / "encoder"))
  assert set(values) == {name for name in checkpoint_values(run_import(
      copy_folder("discriminator", tmp_path / "disc"), None, tmp_path / "models" / "disc"))
                         if not name.startswith("discriminator_predictions/")}
  np.testing.assert_array_equal(values["electra/embeddings_project/kernel"],
                                tensors["embeddings_project.weight"].T)


def test_untied_output_layer_is_refused(tmp_path):
  disc, gen = folders(tmp_path, "pytorch_model.bin")
  tensors = {name: value for name, value in fixture_values("generator").items()
             if value.dtype == np.float32}  # position ids left out
  tensors["generator_lm_head.weight"] = tensors["generator_lm_head.weight"] + 1
  write_torch_file(os.path.join(gen, "pytorch_model.bin"), tensors)
  message = import_error(disc, gen, tmp_path / "out")
  assert "generator_lm_head.weight differs from the word embeddings" in message
  edit_json(os.path.join(gen, "config.json"), tie_word_embeddings=False)
  assert "tie_word_embeddings is false" in import_error(disc, gen, tmp_path / "out")
  assert not (tmp_path / "out").exists()
