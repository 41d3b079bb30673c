"""The model sizes: the one table from which the size choices, the defaults and the export derive.

Free of TensorFlow on purpose: configure_pretraining.py and configure_finetuning.py import it, and
their `--help` must stay fast.

A size fixes the discriminator's width and depth; heads and intermediate size follow from the width
by the original's rule (`encoder_sizes`), as do the generator's sizes (`generator_sizes`). A size
may also set hyper-parameter defaults that differ from the configs' own, as the original's
configure files do: ELECTRA-small embeds in 128 dimensions, ELECTRA-large fine-tunes with a smaller
learning rate and a slower layer-wise decay. The release recipes (learning rates, batch sizes and
steps of pre-training each size) are not defaults of the original; they live in
params/pretrain_*.json.
"""

import dataclasses
import json
import os
from typing import Optional

# Width of one attention head: heads = max(1, hidden_size // HEAD_SIZE), as in the original.
HEAD_SIZE = 64
# The feed-forward layer is this many times wider than the hidden size.
INTERMEDIATE_MULTIPLE = 4
# The generator's fractions of the discriminator's hidden size and layers (pre-training defaults;
# the released Chinese models use 1/4 of the width at every size).
GENERATOR_HIDDEN_FRACTION = 0.25
GENERATOR_LAYERS_FRACTION = 1.0
# The original's debug model (pre-training with debug=True), whatever model_size says.
DEBUG_ENCODER = {"hidden_size": 144, "num_hidden_layers": 3, "num_attention_heads": 4,
                 "intermediate_size": 144 * 4}


@dataclasses.dataclass(frozen=True)
class ModelSize:
  """One released size. The optional fields are hyper-parameter defaults that this size sets in
  place of the config's own; None keeps the config's (embedding_size None: the hidden size)."""
  name: str
  hidden_size: int
  num_hidden_layers: int
  embedding_size: Optional[int] = None
  finetuning_learning_rate: Optional[float] = None
  finetuning_layerwise_lr_decay: Optional[float] = None

  def pretraining_defaults(self):
    """{hyper-parameter: value} this size sets in a PretrainingConfig."""
    return _set_only({"embedding_size": self.embedding_size})

  def finetuning_defaults(self):
    """{hyper-parameter: value} this size sets in a FinetuningConfig."""
    return _set_only({"embedding_size": self.embedding_size,
                      "learning_rate": self.finetuning_learning_rate,
                      "layerwise_lr_decay": self.finetuning_layerwise_lr_decay})

  def default_embedding_size(self, hidden_size=None):
    """The embedding width of a model of this size whose config gives none: the size's own,
    else the encoder's hidden size (`hidden_size` where model_hparam_overrides changed it)."""
    return self.embedding_size or hidden_size or self.hidden_size


MODEL_SIZES = {size.name: size for size in (
    ModelSize("small", hidden_size=256, num_hidden_layers=12, embedding_size=128),
    ModelSize("base", hidden_size=768, num_hidden_layers=12),
    ModelSize("large", hidden_size=1024, num_hidden_layers=24, finetuning_learning_rate=5e-5,
              finetuning_layerwise_lr_decay=0.9),
)}
NAMES = tuple(MODEL_SIZES)
DEFAULT_MODEL_SIZE = "small"


def _set_only(values):
  return {key: value for key, value in values.items() if value is not None}


def get(name):
  """The ModelSize called `name`; a ValueError naming the choices for an unknown one."""
  if name not in MODEL_SIZES:
    raise ValueError(f"Unknown model_size '{name}' (expected one of {sorted(MODEL_SIZES)})")
  return MODEL_SIZES[name]


def derived_sizes(hidden_size):
  """Heads and intermediate size of a transformer `hidden_size` wide, by the original's rule."""
  return {"num_attention_heads": max(1, hidden_size // HEAD_SIZE),
          "intermediate_size": INTERMEDIATE_MULTIPLE * hidden_size}


def encoder_sizes(model_size, overrides=None):
  """hidden_size, num_hidden_layers, num_attention_heads and intermediate_size of `model_size`
  with `overrides` (any BertConfig fields, returned too).

  Overrides are applied before and after deriving heads and intermediate size, so an override of
  hidden_size changes the derived values while an explicit num_attention_heads still wins.
  """
  size = get(model_size)
  overrides = dict(overrides or {})
  values = {"hidden_size": size.hidden_size, "num_hidden_layers": size.num_hidden_layers}
  values.update(overrides)
  values.update(derived_sizes(values["hidden_size"]))
  values.update(overrides)
  return values


def generator_sizes(hidden_size, num_hidden_layers, hidden_fraction=GENERATOR_HIDDEN_FRACTION,
                    layers_fraction=GENERATOR_LAYERS_FRACTION):
  """The generator's hidden_size, num_hidden_layers, heads and intermediate size: the given
  fractions of the discriminator's width and depth, rounded, and the rest derived."""
  hidden = int(round(hidden_size * hidden_fraction))
  layers = int(round(num_hidden_layers * layers_fraction))
  return {"hidden_size": hidden, "num_hidden_layers": layers, **derived_sizes(hidden)}


# ----------------------------------------------------------------------------------------------
# The sizes a pre-trained model records about itself. Fine-tuning, export and continued
# pre-training take them from the model instead of from model_size, so that a model of any size
# works with any recipe (params/*.json).

# Written by run_pretraining.py beside its checkpoints.
ENCODER_CONFIG_FILE = "discriminator_config.json"
PRETRAIN_CONFIG_FILE = "pretrain_config.json"
# The BertConfig fields that fix a model's weights (their shapes, or what they compute): a model
# records them and a run may not change them. The others (dropout, initializer_range) are
# training choices that a run may set.
ARCHITECTURE_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                       "intermediate_size", "max_position_embeddings", "type_vocab_size",
                       "hidden_act")
# BertConfig's max_position_embeddings when a config gives none (model/modeling.py).
DEFAULT_MAX_POSITION_EMBEDDINGS = 512


@dataclasses.dataclass(frozen=True)
class RecordedSizes:
  """What a model directory or checkpoint says about the model's sizes.

  `encoder`: BertConfig fields, vocab_size included (from discriminator_config.json: all of
  them; from variable shapes: vocab, hidden, layers, intermediate, positions, token types, never
  the heads). `embedding_size`: the embedding width, or None when only "same as hidden" is known
  (the config files' null). `generator`: generator_hidden_size / generator_layers fractions when
  the checkpoint has a generator. `source`: the file or checkpoint they were read from.
  """
  source: str
  encoder: dict
  embedding_size: Optional[int]
  generator: dict
  embedding_source: str = ""  # where embedding_size was read, when not `source`
  generator_source: str = ""  # where the generator's fractions were read, when not `source`


def _layers_and_width(shapes, scope):
  """(number of transformer layers, their width) of the encoder under `scope`; width None when
  it has no layers."""
  query = f"{scope}/encoder/layer_{{}}/attention/self/query/kernel"
  layers = 0
  while query.format(layers) in shapes:
    layers += 1
  return layers, (shapes[query.format(0)][1] if layers else None)


def sizes_from_shapes(shapes, scope="electra"):
  """(encoder fields, embedding width) recorded by checkpoint variable shapes {name: shape} of
  the encoder under `scope`; None when the checkpoint has no such encoder."""
  word = shapes.get(f"{scope}/embeddings/word_embeddings")
  if word is None:
    return None
  layers, width = _layers_and_width(shapes, scope)
  fields = {"vocab_size": word[0], "hidden_size": width or word[1], "num_hidden_layers": layers}
  optional = {"intermediate_size": (f"{scope}/encoder/layer_0/intermediate/dense/kernel", 1),
              "max_position_embeddings": (f"{scope}/embeddings/position_embeddings", 0),
              "type_vocab_size": (f"{scope}/embeddings/token_type_embeddings", 0)}
  for field, (name, axis) in optional.items():
    if name in shapes:
      fields[field] = shapes[name][axis]
  return fields, word[1]


def generator_fractions(shapes, encoder):
  """The generator's width and depth as fractions of the discriminator's, when the checkpoint
  has a generator encoder of its own (generator/encoder/...)."""
  layers, width = _layers_and_width(shapes, "generator")
  if not layers:
    return {}
  return {"generator_hidden_size": width / encoder["hidden_size"],
          "generator_layers": layers / encoder["num_hidden_layers"]}


def model_directory(path):
  """The directory of a model given as a directory or as a checkpoint prefix."""
  from util import fileio  # pylint: disable=import-outside-toplevel
  return path if fileio.isdir(path) else os.path.dirname(str(path))


def _has_checkpoint(path):
  from util import fileio  # pylint: disable=import-outside-toplevel
  if fileio.isdir(path):
    return any(name.endswith(".index") for name in fileio.listdir(path))
  return fileio.exists(f"{path}.index")


def checkpoint_shapes(path):
  """(prefix, {name: shape list}) of the checkpoint at `path` (a directory or a prefix), or
  (None, {}) when there is none. TensorFlow is imported only when there is one to read."""
  if not path or not _has_checkpoint(path):
    return None, {}
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  try:
    prefix = checkpoint_lib.resolve_checkpoint(path)
  except FileNotFoundError:
    return None, {}
  reader = checkpoint_lib.open_checkpoint(prefix)
  return prefix, {name: list(shape) for name, shape in
                  reader.get_variable_to_shape_map().items()}


def _read_json(path):
  from util import fileio  # pylint: disable=import-outside-toplevel
  try:
    with fileio.open_file(path) as f:
      value = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise ValueError(f"{path} is not valid JSON ({e})") from None
  if not isinstance(value, dict):
    raise ValueError(f"{path} does not hold a JSON object")
  return value


def _recorded_from_files(directory):
  """From run_pretraining.py's config files in `directory`, or None when it has none."""
  from util import fileio  # pylint: disable=import-outside-toplevel
  encoder_path = os.path.join(directory, ENCODER_CONFIG_FILE)
  if not fileio.exists(encoder_path):
    return None
  encoder = _read_json(encoder_path)
  pretrain_path = os.path.join(directory, PRETRAIN_CONFIG_FILE)
  pretrain = _read_json(pretrain_path) if fileio.exists(pretrain_path) else {}
  # pretrain_config.json's null embedding_size means the hidden size; without the file the
  # size's default (128 for small) decides, so it is read from the checkpoint when there is one.
  if "embedding_size" in pretrain:
    embedding = pretrain["embedding_size"] or encoder.get("hidden_size")
    embedding_source = pretrain_path
  else:
    embedding, embedding_source = _embedding_from_checkpoint(directory)
  return RecordedSizes(encoder_path, encoder, embedding, {}, embedding_source)


def _embedding_from_checkpoint(directory):
  """(embedding width, "checkpoint PREFIX") of the directory's checkpoint, or (None, "")."""
  prefix, shapes = checkpoint_shapes(directory)
  found = sizes_from_shapes(shapes)
  return (found[1], f"checkpoint {prefix}") if found else (None, "")


def read_recorded_sizes(path, with_generator=False):
  """The sizes the model at `path` (a model directory or a checkpoint prefix) records: its
  config files (as run_pretraining.py writes them), else its checkpoint's variable shapes;
  None when there is nothing to read. `with_generator` also reads the generator's fractions
  from the checkpoint. A ValueError names an unreadable config file."""
  from util import fileio  # pylint: disable=import-outside-toplevel
  if not path:
    return None
  directory = model_directory(path)
  if not fileio.isdir(directory):
    return None
  recorded = _recorded_from_files(directory)
  if recorded is not None and not with_generator:
    return recorded
  prefix, shapes = checkpoint_shapes(path)
  if recorded is not None:
    return dataclasses.replace(recorded, generator=generator_fractions(shapes, recorded.encoder),
                               generator_source=f"checkpoint {prefix}")
  found = sizes_from_shapes(shapes)
  if found is None:
    return None
  encoder, embedding = found
  return RecordedSizes(f"checkpoint {prefix}", encoder, embedding,
                       generator_fractions(shapes, encoder))


def size_name(hidden_size, num_hidden_layers):
  """The name of the released size with this width and depth, or None."""
  for size in MODEL_SIZES.values():
    if (size.hidden_size, size.num_hidden_layers) == (hidden_size, num_hidden_layers):
      return size.name
  return None
