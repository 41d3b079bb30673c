"""The names of the distribution strategies and compute precisions a run may choose.

The one table of both: the configs (configure_*.py) validate hparams against it and
util/strategy.py builds strategies and dtypes from it. Free of TensorFlow, so that the configs
(and with them the scripts' --help) do not import it.
"""

# "auto" picks one of the others from the machine (util/strategy.get_strategy).
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
# Compute dtypes; variables stay float32 with each. float16 also turns on loss scaling.
PRECISIONS = ("float32", "bfloat16", "float16")
DEFAULT_PRECISION = "float32"


def precision_name(mixed_precision):
  """The PRECISIONS entry for a mixed_precision hparam (None means the default); ValueError
  for any other value."""
  name = mixed_precision or DEFAULT_PRECISION
  if name not in PRECISIONS:
    raise ValueError(f"Unknown mixed_precision '{mixed_precision}' "
                     f"(expected one of {sorted(PRECISIONS)})")
  return name


def strategy_name(strategy):
  """The STRATEGIES entry for a strategy hparam (None means "auto"); ValueError otherwise."""
  name = strategy or "auto"
  if name not in STRATEGIES:
    raise ValueError(f"Unknown strategy '{name}' (expected one of {STRATEGIES})")
  return name
