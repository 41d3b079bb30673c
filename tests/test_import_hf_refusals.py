"""import_hf.py refuses what it cannot import faithfully, in one line, writing nothing:
malicious or damaged .bin files, other architectures, mismatched tensors, vocabularies and
embeddings, busy outputs.
"""

import json
import os
import pickle
import sys

import numpy as np
import pytest

from tests.hf_import_fixtures import (fixture_values, copy_folder, folders, run_import,
    import_error, checkpoint_values, edit_json, write_torch_file)

safetensors_numpy = pytest.importorskip("safetensors.numpy")

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
