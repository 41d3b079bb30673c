"""The names of the distribution strategies and compute precisions a run may choose.

The one table of both: the configs (configure_*.py) validate hparams against it and
util/strategy.py builds strategies and dtypes from it. Free of TensorFlow, so that the configs
(and with them the scripts' --help) do not import it.
"""

import os

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


# CPU flags of native bfloat16 arithmetic (Linux /proc/cpuinfo names): AVX-512 BF16 and AMX.
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bfloat16(cpuinfo_path="/proc/cpuinfo"):
  """True or False from the CPU's flags; None where they cannot be read (not Linux).

  Without these instructions the CPU has no bfloat16 arithmetic and bfloat16 saves no compute:
  ELECTRA-small's pre-training step ran at 0.82x float32's speed on a 2-core AVX2 EPYC
  (bench/bench_train_step.py)."""
  if not os.path.isfile(cpuinfo_path):
    return None
  with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
    for line in f:
      if line.startswith("flags"):
        return any(flag in line.split() for flag in NATIVE_BFLOAT16_FLAGS)
  return None
