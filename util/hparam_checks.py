"""What a hyper-parameter's value may be: its type, its range, the jit_compile modes.

`RANGES` is the one table of valid ranges of both configs (a config checks the keys it has; a task
kind adds its own hyper-parameters' ranges beside their defaults, finetune/*/defaults.py), and
`ENCODER_RANGES` that of model_hparam_overrides' fields. `coerce` checks a value against the type
of the default it replaces; `jit_compile_mode` reads jit_compile's spellings.
"""

import dataclasses
import math

JIT_COMPILE_MODES = ("auto", "always", "never")


def jit_compile_mode(value):
  """jit_compile as one of JIT_COMPILE_MODES (true/false are the older spellings)."""
  if isinstance(value, bool):
    return "auto" if value else "never"
  if value not in JIT_COMPILE_MODES:
    raise ValueError(f"Hyper-parameter 'jit_compile' must be one of {list(JIT_COMPILE_MODES)} "
                     f"(or true / false), got {value!r}")
  return value


@dataclasses.dataclass(frozen=True)
class Range:
  """An interval of valid values; `open_low` / `open_high` exclude that end, `or_none` also
  accepts None (a value derived later) and `or_negative` any negative value (a switch)."""
  low: float = -math.inf
  high: float = math.inf
  open_low: bool = False
  open_high: bool = False
  or_none: bool = False
  or_negative: str = ""  # what a negative value means, when it is allowed

  def contains(self, value):
    if value is None:
      return self.or_none
    if self.or_negative and value < 0:
      return True
    above = value > self.low if self.open_low else value >= self.low
    below = value < self.high if self.open_high else value <= self.high
    return above and below

  def describe(self):
    low = "-inf" if self.low == -math.inf else f"{self.low:g}"
    high = "inf" if self.high == math.inf else f"{self.high:g}"
    text = f"{'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"
    if self.high == math.inf:
      text = f"{text[:-1]})"
    if self.or_negative:
      text += f", or negative ({self.or_negative})"
    if self.or_none:
      text += " or null"
    return text


COUNT = Range(1)  # a positive integer: batch sizes, steps, lengths
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, open_low=True)
FRACTION = Range(0, 1)  # [0, 1]
PROBABILITY_OPEN = Range(0, 1, open_low=True, open_high=True)  # (0, 1)
DROPOUT = Range(0, 1, open_high=True)  # [0, 1): 1 would drop everything

RANGES = {
    # shared by pre-training and fine-tuning
    "learning_rate": POSITIVE,
    "weight_decay_rate": FRACTION,
    "train_batch_size": COUNT,
    "eval_batch_size": COUNT,
    "predict_batch_size": COUNT,
    # [CLS] x [SEP] at least; at most the model's max_position_embeddings (check_ranges)
    "max_seq_length": Range(3),
    "iterations_per_loop": COUNT,
    "save_checkpoints_steps": COUNT,
    "log_every_steps": COUNT,
    "vocab_size": COUNT,
    "embedding_size": Range(1, or_none=True),
    "seed": Range(0, 2 ** 31 - 1),
    # fine-tuning
    "num_trials": Range(1, or_negative="run trials until stopped"),
    "num_train_epochs": POSITIVE,
    "warmup_proportion": FRACTION,
    "layerwise_lr_decay": FRACTION,  # 0: no layer-wise decay
    "n_writes_test": NON_NEGATIVE,
    "group_by_length": NON_NEGATIVE,
    # pre-training
    "num_train_steps": COUNT,
    "num_warmup_steps": NON_NEGATIVE,
    "num_eval_steps": COUNT,
    "keep_checkpoint_max": COUNT,
    "shuffle_buffer_size": COUNT,
    "mask_prob": PROBABILITY_OPEN,
    "eval_mask_prob": Range(0, 1, open_low=True, open_high=True, or_none=True),
    "gen_weight": NON_NEGATIVE,
    "disc_weight": NON_NEGATIVE,
    "lr_decay_power": NON_NEGATIVE,
    "temperature": POSITIVE,
    "generator_hidden_size": Range(0, 1, open_low=True),
    "generator_layers": Range(0, 1, open_low=True),
    "max_predictions_per_seq": Range(1, or_none=True),  # at most max_seq_length (check_ranges)
}

# Fields of model_hparam_overrides (BertConfig).
ENCODER_RANGES = {
    "hidden_size": COUNT,
    "num_hidden_layers": COUNT,
    "num_attention_heads": COUNT,
    "intermediate_size": COUNT,
    "max_position_embeddings": COUNT,
    "type_vocab_size": COUNT,
    "vocab_size": COUNT,
    "hidden_dropout_prob": DROPOUT,
    "attention_probs_dropout_prob": DROPOUT,
    "initializer_range": POSITIVE,
}


def check_range(key, value, valid, why=""):
  """ValueError (one line, with the valid range) when `value` is outside `valid`."""
  if isinstance(value, bool) or not (value is None or isinstance(value, (int, float))):
    return  # the type check reports these
  if not valid.contains(value):
    raise ValueError(f"Hyper-parameter '{key}' must be in {valid.describe()}{why}, got {value!r}")


def _type_name(value):
  return type(value).__name__


def coerce(key, current, value):
  """Checks `value` against the type of the current value of `key` (None means any type).

  Catches hparams like "true" (a string) for a bool or 2.5 for a step count early; an int given
  for a float hparam is converted so that e.g. `"num_train_epochs": 2` behaves like 2.0.
  """
  if current is None or value is None:
    return value
  if isinstance(current, bool):
    ok = isinstance(value, bool)
  elif isinstance(current, int):
    ok = isinstance(value, int) and not isinstance(value, bool)
  elif isinstance(current, float):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    value = float(value) if ok else value
  else:
    ok = isinstance(value, type(current))
  if not ok:
    raise ValueError(f"Hyper-parameter '{key}' expects {_type_name(current)}, got "
                     f"{value!r} ({_type_name(value)})")
  return value
