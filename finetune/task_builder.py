"""Task registry: maps the names in `config.task_names` to `Task` objects and their defaults.

A kind of task is a package under `finetune/`: its task classes (registered here by name) and a
TensorFlow-free `defaults.py` beside them that declares the hyper-parameters the kind reads, their
defaults and valid ranges, and the values a run of one such task alone starts from
(`HPARAMS`, `RANGES`, `NO_EFFECT`, `SINGLE_TASK_DEFAULTS`). configure_finetuning.py asks the
registry for them and never looks at a task's name.
"""

import dataclasses
import importlib
import importlib.util

# name -> (module, class name). Classes are looked up lazily so a missing or broken module only
# affects runs that use its tasks.
_REGISTRY = {
    "chnsenticorp": ("finetune.classification.tasks", "ChnSentiCorp"),
    "waimai": ("finetune.classification.tasks", "Waimai"),
    "lcqmc": ("finetune.classification.tasks", "LCQMC"),
    "bqcorpus": ("finetune.classification.tasks", "BQCorpus"),
    "xnli": ("finetune.classification.tasks", "XNLI"),
    "cmrc2018": ("finetune.qa.tasks", "CMRC2018"),
    "drcd": ("finetune.qa.tasks", "DRCD"),
    "peoples_daily_ner": ("finetune.tagging.tasks", "PeoplesDailyNER"),
}

DEFAULTS_MODULE = "defaults"


def known_tasks():
  return tuple(sorted(_REGISTRY))


KNOWN_TASKS = known_tasks()


def register(name, module_name, class_name):
  """Adds task `name` (class `class_name` of `module_name`); its package's defaults.py, if it
  has one, supplies its hyper-parameters."""
  _REGISTRY[name] = (module_name, class_name)


def check_task_names(task_names):
  unknown = [name for name in task_names if name not in _REGISTRY]
  if unknown:
    raise ValueError(f"Unknown task(s) {unknown}; known tasks: {', '.join(known_tasks())}")


def task_class(name):
  check_task_names([name])
  module_name, class_name = _REGISTRY[name]
  return getattr(importlib.import_module(module_name), class_name)


# ----------------------------------------------------------------------------------------------
# Defaults of the kinds of task (TensorFlow-free).

@dataclasses.dataclass(frozen=True)
class KindDefaults:
  """What one kind of task (one package) declares about its hyper-parameters."""
  package: str
  hparams: dict  # its own hyper-parameters -> default
  ranges: dict  # its own hyper-parameters -> util.hparam_checks.Range
  no_effect: dict  # kept for the original's JSON files, refused unless default -> why
  single_task: dict  # shared hyper-parameters -> value, when the run has this task alone


def _package(name):
  return _REGISTRY[name][0].rpartition(".")[0]


def kind_defaults(name):
  """The KindDefaults of task `name`'s package (all empty if it has no defaults module)."""
  check_task_names([name])
  package = _package(name)
  module_name = f"{package}.{DEFAULTS_MODULE}"
  module = (importlib.import_module(module_name) if importlib.util.find_spec(module_name)
            else None)
  values = {attr: dict(getattr(module, attr.upper(), {}) or {})
            for attr in ("hparams", "ranges", "no_effect", "single_task_defaults")}
  return KindDefaults(package, values["hparams"], values["ranges"], values["no_effect"],
                      values["single_task_defaults"])


def all_kind_defaults():
  """KindDefaults of every registered kind (one per package), in package order."""
  by_package = {}
  for name in sorted(_REGISTRY):
    by_package.setdefault(_package(name), name)
  return [kind_defaults(name) for _, name in sorted(by_package.items())]


def task_hparams():
  """({hyper-parameter: default}, {hyper-parameter: Range}, {hyper-parameter: why no effect})
  that the registered kinds of task declare; ValueError if two kinds declare one key."""
  defaults, ranges, no_effect, owner = {}, {}, {}, {}
  for kind in all_kind_defaults():
    for key, value in kind.hparams.items():
      if key in owner:
        raise ValueError(f"Hyper-parameter '{key}' is declared by both {owner[key]} and "
                         f"{kind.package}")
      owner[key] = kind.package
      defaults[key] = value
    ranges.update(kind.ranges)
    no_effect.update(kind.no_effect)
  return defaults, ranges, no_effect


# ----------------------------------------------------------------------------------------------
# Building tasks.

def make_tokenizer(config):
  # Imported here so that the registry can be inspected without the tokenizer module.
  from model import tokenization  # pylint: disable=import-outside-toplevel
  # A VocabularyError (a ValueError) names an empty vocabulary, a repeated token or a missing
  # [UNK] / [CLS] / [SEP] in one line, before any task reads data.
  tokenization.check_vocab(config.vocab_file, "fine-tuning")
  return tokenization.FullTokenizer(config.vocab_file, config.do_lower_case)


def get_task(config, name, tokenizer):
  return task_class(name)(config, tokenizer)


def get_tasks(config):
  """One Task per name in config.task_names, all sharing one tokenizer."""
  if not config.task_names:
    raise ValueError(f"No task_names given: set \"task_names\" in --hparams (one or more of "
                     f"{', '.join(known_tasks())})")
  check_task_names(config.task_names)  # before reading the vocabulary, to fail fast
  tokenizer = make_tokenizer(config)
  return [get_task(config, name, tokenizer) for name in config.task_names]
