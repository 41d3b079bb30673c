"""The model sizes: the one table from which the size choices, the defaults and the export derive.

Free of TensorFlow on purpose: configure_pretraining.py and configure_finetuning.py import it, and
their `--help` must stay fast.

A size fixes the discriminator's width and depth; heads and intermediate size follow from the width
by the original's rule (`encoder_sizes`), as do the generator's sizes (`generator_sizes`). A size may
also set hyper-parameter defaults that differ from the configs' own, as the original's configure
files do: ELECTRA-small embeds in 128 dimensions, ELECTRA-large fine-tunes with a smaller learning
rate and a slower layer-wise decay. The release recipes (learning rates, batch sizes and steps of
pre-training each size) are not defaults of the original; they live in params/pretrain_*.json.
"""

import dataclasses
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
