"""A Hugging Face folder's files read without transformers or torch: weights and JSON.

Weights are model.safetensors, else pytorch_model.bin, each possibly sharded
(`<name>.index.json` + shards). safetensors is read with NumPy (8-byte header length, JSON
header, raw little-endian bytes: a few lines, and unlike safetensors.numpy it reads bfloat16);
.bin (zip or legacy torch.save format) with util/torch_pickle.py, which never runs the pickle's
code. tf_model.h5 is not read (it needs h5py, which this project does not depend on). Every
refusal is one line (HfImportError); model/hf_import.py builds the import on these readers.
"""

import json
import math
import os

import numpy as np

from util import export_output
from util import torch_pickle

SAFETENSORS_FILE = "model.safetensors"
TORCH_FILE = "pytorch_model.bin"
H5_FILE = "tf_model.h5"
INDEX_SUFFIX = ".index.json"
# safetensors dtype names -> NumPy (BF16 read as raw 16-bit words, widened to float32).
SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
                      "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
                      "U8": np.uint8, "BOOL": np.bool_}


class HfImportError(export_output.ExportError):
  """A folder this import refuses; the message is one line."""


def listed(names, limit=6):
  names = list(names)
  more = f" ... ({len(names)} in all)" if len(names) > limit else ""
  return ", ".join(names[:limit]) + more


def read_json(path):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise HfImportError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None


# ----------------------------------------------------------------------------------------------
# Weight files.

def read_safetensors(path):
  """{name: array} of a .safetensors file, with NumPy; every header entry checked against the
  file's size before a byte of data is read."""
  size = os.path.getsize(path)
  with open(path, "rb") as f:
    length_bytes = f.read(8)
    header_length = int.from_bytes(length_bytes, "little") if len(length_bytes) == 8 else -1
    if not 0 < header_length <= size - 8:
      raise HfImportError(f"{path} is not a safetensors file (bad header length)")
    try:
      header = json.loads(f.read(header_length))
    except (UnicodeDecodeError, json.JSONDecodeError):
      raise HfImportError(f"{path} is not a safetensors file (unreadable header)") from None
  if not isinstance(header, dict):
    raise HfImportError(f"{path} is not a safetensors file (header is not an object)")
  header.pop("__metadata__", None)
  if size == 8 + header_length:  # no data (np.memmap refuses an empty region)
    data = np.zeros([0], np.uint8)
  else:
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_length)
  return {name: _safetensors_tensor(path, name, entry, data)
          for name, entry in header.items()}


def _safetensors_tensor(path, name, entry, data):
  try:
    dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]])
    shape = [int(n) for n in entry["shape"]]
    begin, end = (int(n) for n in entry["data_offsets"])
  except (KeyError, TypeError, ValueError):
    raise HfImportError(f"{path}: tensor {name} has an unsupported dtype or a bad header "
                        f"entry ({entry})") from None
  if not (min(shape, default=0) >= 0 and 0 <= begin <= end <= data.size
          and end - begin == math.prod(shape) * dtype.itemsize):
    raise HfImportError(f"{path}: tensor {name}'s bytes [{begin}, {end}) do not fit its shape "
                        f"{shape} or the file")
  array = np.array(data[begin:end]).view(dtype).reshape(shape)
  if entry["dtype"] == "BF16":  # bfloat16 is float32's upper half
    array = (array.astype(np.uint32) << 16).view(np.float32)
  return array


def read_torch(path):
  try:
    return torch_pickle.load_state_dict(path)
  except torch_pickle.UnsafePickleError as e:
    raise HfImportError(str(e)) from None


def _read_sharded(directory, index_name, read_shard):
  """The tensors of every shard an index.json names; the union must be its weight_map."""
  index_path = os.path.join(directory, index_name)
  weight_map = read_json(index_path).get("weight_map")
  if not isinstance(weight_map, dict) or not weight_map:
    raise HfImportError(f"{index_path} has no weight_map")
  shards = sorted(set(weight_map.values()))
  unsafe = [s for s in shards if not isinstance(s, str) or os.path.basename(s) != s]
  if unsafe:
    raise HfImportError(f"{index_path} names shards outside its folder: {listed(unsafe)}")
  tensors = {}
  for shard in shards:
    path = os.path.join(directory, shard)
    if not os.path.isfile(path):
      raise HfImportError(f"{index_path} names the shard {shard}, which is missing")
    tensors.update(read_shard(path))
  unlisted = sorted(set(tensors) - set(weight_map))
  absent = sorted(set(weight_map) - set(tensors))
  if unlisted or absent:
    raise HfImportError(f"the shards disagree with {index_path}: "
                        f"{'not in weight_map: ' + listed(unlisted) if unlisted else ''}"
                        f"{'; ' if unlisted and absent else ''}"
                        f"{'in no shard: ' + listed(absent) if absent else ''}")
  return tensors


WEIGHT_FORMATS = (  # in order of preference: safetensors runs no code at all
    (SAFETENSORS_FILE, read_safetensors),
    (SAFETENSORS_FILE + INDEX_SUFFIX, read_safetensors),
    (TORCH_FILE, read_torch),
    (TORCH_FILE + INDEX_SUFFIX, read_torch),
)


def read_weights(directory):
  """(the file read, {name: array}) of a folder's first weight format present."""
  for name, reader in WEIGHT_FORMATS:
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      if name.endswith(INDEX_SUFFIX):
        return name, _read_sharded(directory, name, reader)
      return name, reader(path)
  if os.path.isfile(os.path.join(directory, H5_FILE)):
    raise HfImportError(f"{directory} has only {H5_FILE}, which is not read here (it needs "
                        f"h5py, not a dependency of this project): get the folder's "
                        f"{SAFETENSORS_FILE} or {TORCH_FILE}, or re-save it with save_pretrained")
  raise HfImportError(f"{directory} has no weights ({', '.join(n for n, _ in WEIGHT_FORMATS)})")
