"""Shared by the import_hf.py tests: the fixture folders, running the import, and .bin files
written without torch.

tests/fixtures/hf_import was written by real transformers and torch
(tools/make_hf_import_fixture.py): values.npz holds every saved tensor; the discriminator's
.bin is in torch's zip format, the generator's in the legacy one. The .bin files built
by the tests (shards, malicious pickles) are written without torch: `write_torch_file` pickles
NumPy arrays as torch.save does, through stand-ins registered under torch's names while
pickling.
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
import tensorflow as tf

import import_hf
from tests.test_predict_export import exit_message
from util import checkpoint as checkpoint_lib
from util import torch_pickle

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
