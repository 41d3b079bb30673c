"""Hyper-parameter plumbing shared by the pre-training and fine-tuning configs.

`load_hparams` turns the `--hparams` flag (a JSON object string or a `.json` file) into a dict;
`Config` is the base class of `PretrainingConfig` / `FinetuningConfig`: every hyper-parameter is a
plain instance attribute, and `update` refuses keys that are not, so a typo in a JSON file fails
loudly instead of being ignored.
"""

import dataclasses
import difflib
import json
import logging
import os

from model import sizes
from util import hparam_checks

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS_DIR = os.path.join(REPO_ROOT, "params")

_logger = logging.getLogger(__name__)


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


@dataclasses.dataclass(frozen=True)
class HParamsSource:
  """Where a config's hyper-parameters were written, for messages about them.

  kind: "file" (a params file), "string" (a JSON object on the command line), "code" (keyword
  arguments) or "saved" (a fine-tuned model's own finetuning_config.json: already resolved, so
  the pre-trained model is not read again).
  """
  kind: str
  label: str


CODE_SOURCE = HParamsSource("code", "the hyper-parameters")


def load_hparams_with_source(value):
  """(hyper-parameter dict, HParamsSource) of `value` (see load_hparams)."""
  if value is None:
    return {}, CODE_SOURCE
  if isinstance(value, dict):
    return dict(value), CODE_SOURCE
  text = str(value).strip()
  if not text:
    return {}, CODE_SOURCE
  if text.startswith(("{", "[")):
    return (_parse_json_object(text, "the --hparams string"),
            HParamsSource("string", "the --hparams JSON string"))
  path = resolve_hparams_path(text)
  label = f"hparams file '{path}'"
  return _parse_json_object(_read_text(path), label), HParamsSource("file", label)


def load_hparams(value):
  """Returns the hyper-parameter dict given by `value`.

  `value` may be None/"" (no overrides), a dict, a JSON object string, or a path to a JSON file;
  a bare file name that does not exist in the working directory is looked up in params/.
  """
  return load_hparams_with_source(value)[0]


def encoder_hparams(model_size, vocab_size, overrides=None, debug=False):
  """Every BertConfig field of the encoder that a config describes: the sizes of `model_size`
  (model/sizes.py) with `overrides`, or with debug the original's tiny debug model."""
  from model import modeling  # pylint: disable=import-outside-toplevel (keeps parsing TF-free)
  fields = modeling.get_bert_config(model_size, vocab_size, overrides).to_dict()
  if debug:
    fields.update(sizes.DEBUG_ENCODER)
  return fields


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
      value = (hparam_checks.jit_compile_mode(value) if key == "jit_compile"
               else hparam_checks.coerce(key, getattr(self, key), value))
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

  # ---- valid ranges ----

  def hparam_ranges(self):
    """{key: Range} of this config's hyper-parameters (RANGES restricted to its keys)."""
    names = set(self.hparam_names())
    return {key: valid for key, valid in hparam_checks.RANGES.items() if key in names}

  def max_position_embeddings(self):
    return (self.model_hparam_overrides or {}).get("max_position_embeddings",
                                                   sizes.DEFAULT_MAX_POSITION_EMBEDDINGS)

  def check_ranges(self):
    """ValueError (one line naming the key and its valid range) for the first value out of
    range; the constructors call it once every default, size and user value is in place."""
    overrides = self.model_hparam_overrides
    if not isinstance(overrides, dict):
      raise ValueError(f"Hyper-parameter 'model_hparam_overrides' must be a JSON object, got "
                       f"{overrides!r}")
    for field, value in sorted(overrides.items()):
      if field in hparam_checks.ENCODER_RANGES:
        hparam_checks.check_range(f"model_hparam_overrides.{field}", value,
                                  hparam_checks.ENCODER_RANGES[field])
    ranges, why = self.hparam_ranges(), {}
    # Bounds that depend on other values: the model's positions, the sequence length.
    positions = self.max_position_embeddings()
    ranges["max_seq_length"] = dataclasses.replace(hparam_checks.RANGES["max_seq_length"],
                                                    high=positions)
    why["max_seq_length"] = f" (the model's max_position_embeddings is {positions})"
    if getattr(self, "max_predictions_per_seq", None) is not None:
      ranges["max_predictions_per_seq"] = hparam_checks.Range(1, self.max_seq_length)
      why["max_predictions_per_seq"] = f" (at most max_seq_length {self.max_seq_length})"
    for key, valid in sorted(ranges.items()):
      hparam_checks.check_range(key, getattr(self, key), valid, why.get(key, ""))

  # ---- sizes recorded by the pre-trained model ----

  def _take_recorded_sizes(self, recorded, explicit, source):
    """Makes the encoder sizes those `recorded` by the model (model/sizes.RecordedSizes).

    A size the user wrote that contradicts the model is a ValueError naming the key and where
    it was written. model_size and vocab_size in a params file name the model the recipe was
    written for (every release file says "small"/"base" and 21128): they give way to the
    model's own sizes; anywhere else they count as written by the user.
    """
    contradictions = self._contradictions(recorded, explicit, source)
    if contradictions:
      key, value, field, have, where = contradictions[0]
      raise ValueError(f"{key} {value!r} contradicts {where}, which has {field} {have} (the "
                       f"pre-trained model's size): remove {key} from {source.label}")
    encoder = {key: value for key, value in recorded.encoder.items()
               if key in sizes.ARCHITECTURE_FIELDS}
    self.vocab_size = encoder.pop("vocab_size", self.vocab_size)
    # The model's recorded training choices (dropout, ...), unless the user wrote others.
    self.model_hparam_overrides = {**recorded.encoder, **(explicit.get("model_hparam_overrides")
                                                          or {}), **encoder}
    self.model_hparam_overrides.pop("vocab_size", None)
    if recorded.embedding_size is not None:
      self.embedding_size = recorded.embedding_size
    for key, value in recorded.generator.items():
      if hasattr(self, key):
        setattr(self, key, value)
    self._take_recorded_size_name(explicit, source)

  def _take_recorded_size_name(self, explicit, source):
    """model_size becomes the released size the model has (if it has one), and that size's
    defaults apply to the keys the user did not write."""
    encoder = self.model_hparam_overrides
    name = sizes.size_name(encoder.get("hidden_size"), encoder.get("num_hidden_layers"))
    written = "model_size" in explicit and source.kind != "file"
    if name is None or name == self.model_size or written:
      return
    _logger.info("model_size %s: the size of the pre-trained model", name)
    self.model_size = name
    for key, value in self._size_defaults(name).items():
      if key not in explicit and key != "embedding_size":
        setattr(self, key, value)

  def _size_defaults(self, name):
    """{key: value} that model size `name` sets in this kind of config."""
    del name
    return {}

  def _contradictions(self, recorded, explicit, source):
    """(key as written, value, recorded field, recorded value, where it is recorded) of each
    written size the model contradicts."""
    return (_override_contradictions(recorded, explicit)
            + (_named_size_contradictions(recorded, explicit) if source.kind != "file" else [])
            + _width_contradictions(recorded, explicit))

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
    hparams, source = load_hparams_with_source(args.get("hparams"))
    for key in cls._CONSTRUCTOR_ONLY:
      if args.get(key) is not None:
        hparams[key] = args[key]
      elif hparams.get(key) is None:
        flag = "--" + key.replace("_", "-")
        raise ValueError(f"No {key} given: pass {flag} or put \"{key}\" in the --hparams JSON")
    return cls(hparams.pop("model_name"), hparams.pop("data_dir"), hparams_source=source,
               **hparams)


# The written sizes that contradict a model's recorded ones (Config._contradictions): tuples of
# (key as written, value, recorded field, recorded value, where it is recorded).

def _override_contradictions(recorded, explicit):
  found = []
  for field, value in sorted((explicit.get("model_hparam_overrides") or {}).items()):
    have = recorded.encoder.get(field, value)
    if field in sizes.ARCHITECTURE_FIELDS and have != value:
      found.append((f"model_hparam_overrides.{field}", value, field, have, recorded.source))
  return found


def _named_size_contradictions(recorded, explicit):
  """vocab_size and model_size (what model_size fixes: width and depth, unless an override
  gives them)."""
  have, found = recorded.encoder, []
  if "vocab_size" in have and explicit.get("vocab_size", have["vocab_size"]) != have["vocab_size"]:
    found.append(("vocab_size", explicit["vocab_size"], "vocab_size", have["vocab_size"],
                  recorded.source))
  if "model_size" in explicit:
    size = sizes.get(explicit["model_size"])
    overrides = explicit.get("model_hparam_overrides") or {}
    for field in ("hidden_size", "num_hidden_layers"):
      if field not in overrides and getattr(size, field) != have.get(field, getattr(size, field)):
        found.append(("model_size", explicit["model_size"], field, have[field],
                      recorded.source))
  return found


def _width_contradictions(recorded, explicit):
  """The embedding width and the generator's fractions."""
  found = []
  if "embedding_size" in explicit and recorded.embedding_size is not None:
    value = explicit["embedding_size"] or recorded.encoder.get("hidden_size")
    if value != recorded.embedding_size:
      found.append(("embedding_size", explicit["embedding_size"], "embedding_size",
                    recorded.embedding_size, recorded.embedding_source or recorded.source))
  for key, value in sorted(recorded.generator.items()):
    if key in explicit and abs(explicit[key] - value) > 1e-6:
      found.append((key, explicit[key], key, round(value, 6),
                    recorded.generator_source or recorded.source))
  return found


def help_epilog(config_class, config_file, params_example):
  """The --help text on hyper-parameters: where they are documented, then every key."""
  names = config_class("MODEL_NAME", "DATA_DIR").hparam_names()
  return (f"Hyper-parameters are the keys of --hparams: their defaults, with a comment each, "
          f"are in {config_file}; release settings are in params/*.json (e.g. "
          f"{params_example}); README.md, section \"Hyper-parameters\", groups the main ones. "
          f"All {len(names)} keys: {', '.join(names)}.")
