"""Hyper-parameter plumbing shared by the pre-training and fine-tuning configs.

`load_hparams` turns the `--hparams` flag (a JSON object string or a `.json` file) into a dict;
`Config` is the base class of `PretrainingConfig` / `FinetuningConfig`: every hyper-parameter is a
plain instance attribute, and `update` refuses keys that are not, so a typo in a JSON file fails
loudly instead of being ignored.
"""

import difflib
import json
import logging
import os

from model import sizes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS_DIR = os.path.join(REPO_ROOT, "params")

_logger = logging.getLogger(__name__)


JIT_COMPILE_MODES = ("auto", "always", "never")


def _jit_compile_mode(value):
  """jit_compile as one of JIT_COMPILE_MODES (true/false are the older spellings)."""
  if isinstance(value, bool):
    return "auto" if value else "never"
  if value not in JIT_COMPILE_MODES:
    raise ValueError(f"Hyper-parameter 'jit_compile' must be one of {list(JIT_COMPILE_MODES)} "
                     f"(or true / false), got {value!r}")
  return value


class HParamsFileNotFoundError(FileNotFoundError, ValueError):
  """A missing hparams file; also a ValueError so callers can catch every bad --hparams alike."""


def is_remote_path(path):
  """True for URLs such as gs://bucket/x, which need tf.io.gfile instead of the os module."""
  return "://" in str(path)


def path_exists(path):
  if is_remote_path(path):
    import tensorflow as tf  # Imported lazily: configs must stay cheap to import.
    return tf.io.gfile.exists(path)
  return os.path.exists(path)


def _read_text(path):
  if is_remote_path(path):
    import tensorflow as tf
    with tf.io.gfile.GFile(path, "r") as f:
      return f.read()
  with open(path, encoding="utf-8") as f:
    return f.read()


def resolve_hparams_path(name):
  """Returns the file `name` refers to: itself if it exists, else params/<name> for a bare name."""
  if path_exists(name):
    return name
  is_bare = os.path.basename(name) == name and not is_remote_path(name)
  if is_bare:
    candidates = [os.path.join(PARAMS_DIR, name)]
    if not name.endswith(".json"):
      candidates.append(os.path.join(PARAMS_DIR, name + ".json"))
    for candidate in candidates:
      if os.path.exists(candidate):
        return candidate
    raise HParamsFileNotFoundError(
        f"hparams file not found: '{name}' (also looked for {' and '.join(candidates)})")
  raise HParamsFileNotFoundError(f"hparams file not found: '{name}'")


def _parse_json_object(text, source):
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(
        f"Invalid JSON in {source} at line {e.lineno}, column {e.colno}: {e.msg}") from None
  if not isinstance(value, dict):
    raise ValueError(f"{source} must hold a JSON object, got {type(value).__name__}")
  return value


def load_hparams(value):
  """Returns the hyper-parameter dict given by `value`.

  `value` may be None/"" (no overrides), a dict, a JSON object string, or a path to a JSON file;
  a bare file name that does not exist in the working directory is looked up in params/.
  """
  if value is None:
    return {}
  if isinstance(value, dict):
    return dict(value)
  text = str(value).strip()
  if not text:
    return {}
  if text.startswith(("{", "[")):
    return _parse_json_object(text, "the --hparams string")
  path = resolve_hparams_path(text)
  return _parse_json_object(_read_text(path), f"hparams file '{path}'")


def encoder_hparams(model_size, vocab_size, overrides=None, debug=False):
  """Every BertConfig field of the encoder that a config describes: the sizes of `model_size`
  (model/sizes.py) with `overrides`, or with debug the original's tiny debug model."""
  from model import modeling  # pylint: disable=import-outside-toplevel (keeps parsing TF-free)
  fields = modeling.get_bert_config(model_size, vocab_size, overrides).to_dict()
  if debug:
    fields.update(sizes.DEBUG_ENCODER)
  return fields


def _type_name(value):
  return type(value).__name__


def _coerce(key, current, value):
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


class Config:
  """Base of the run configs: hyper-parameters are the public instance attributes."""

  # Fixed by the constructor because the derived paths depend on them.
  _CONSTRUCTOR_ONLY = ("model_name", "data_dir")
  # Hyper-parameters restricted to a set of values: name -> allowed values.
  _CHOICES = {}

  def _set_runtime_defaults(self):
    """Our additions to the original (XLA, precision, strategy) and its TPU fields."""
    # XLA for the whole forward/backward pass: "auto" on GPUs and TPUs (not on CPUs, where it is
    # slower), "always" everywhere (what a TPU does; on a CPU it checks that a step compiles),
    # "never". JSON true / false mean "auto" / "never".
    self.jit_compile = "auto"
    self.mixed_precision = "float32"
    self.strategy = "auto"
    self.use_tpu = False
    self.num_tpu_cores = 1
    self.tpu_job_name = None
    self.tpu_name = None
    self.tpu_zone = None
    self.gcp_project = None

  def hparam_names(self):
    return sorted(k for k in vars(self) if not k.startswith("_"))

  def update(self, kwargs):
    """Sets each known hyper-parameter in `kwargs`; unknown names raise with a suggestion."""
    for key, value in kwargs.items():
      self._check_known(key)
      if key in self._CONSTRUCTOR_ONLY:
        raise ValueError(f"'{key}' must be given to the constructor, not as a hyper-parameter")
      value = (_jit_compile_mode(value) if key == "jit_compile"
               else _coerce(key, getattr(self, key), value))
      self._check_effective(key, value)
      allowed = self._CHOICES.get(key)
      if allowed is not None and value not in allowed:
        raise ValueError(f"Hyper-parameter '{key}' must be one of {list(allowed)}, got {value!r}")
      setattr(self, key, value)

  # Hyper-parameters of the original kept so that its JSON files load, but that have no effect
  # here: a value other than the default is refused instead of being silently ignored.
  _NO_EFFECT = {
      "num_tpu_cores": "TPUStrategy runs on every core of the TPU that tpu_name names",
  }

  def _check_effective(self, key, value):
    reason = self._NO_EFFECT.get(key)
    if reason and value != getattr(self, key):
      raise ValueError(f"Hyper-parameter '{key}' has no effect here ({reason}); remove it "
                       f"from the JSON")

  def _check_known(self, key):
    names = self.hparam_names()
    if key in names:
      return
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ValueError(f"Unknown hyper-parameter '{key}'{hint}")

  def to_dict(self):
    return {k: getattr(self, k) for k in self.hparam_names()}

  def to_json(self, indent=2):
    return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

  def log(self, logger=None):
    logger = logger or _logger
    logger.info("%s:", type(self).__name__)
    for key, value in self.to_dict().items():
      logger.info("  %s: %r", key, value)

  @classmethod
  def from_args(cls, args):
    """Builds the config from parsed command-line flags (argparse namespace or dict).

    Uses `hparams` (JSON string or file); `data_dir` and `model_name` may come from the flags or
    from the JSON, and a flag wins when both give one.
    """
    args = dict(args) if isinstance(args, dict) else dict(vars(args))
    args = {k.replace("-", "_"): v for k, v in args.items()}
    hparams = load_hparams(args.get("hparams"))
    for key in cls._CONSTRUCTOR_ONLY:
      if args.get(key) is not None:
        hparams[key] = args[key]
      elif hparams.get(key) is None:
        flag = "--" + key.replace("_", "-")
        raise ValueError(f"No {key} given: pass {flag} or put \"{key}\" in the --hparams JSON")
    return cls(hparams.pop("model_name"), hparams.pop("data_dir"), **hparams)


def help_epilog(config_class, config_file, params_example):
  """The --help text on hyper-parameters: where they are documented, then every key."""
  names = config_class("MODEL_NAME", "DATA_DIR").hparam_names()
  return (f"Hyper-parameters are the keys of --hparams: their defaults, with a comment each, "
          f"are in {config_file}; release settings are in params/*.json (e.g. "
          f"{params_example}); README.md, section \"Hyper-parameters\", groups the main ones. "
          f"All {len(names)} keys: {', '.join(names)}.")
