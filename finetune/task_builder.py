"""Task registry: maps the names in `config.task_names` to `Task` objects."""

import importlib

# name -> (module, class name). Classes are looked up lazily so a missing or broken module only
# affects runs that use its tasks.
_REGISTRY = {
    "chnsenticorp": ("finetune.classification.tasks", "ChnSentiCorp"),
    "lcqmc": ("finetune.classification.tasks", "LCQMC"),
    "bqcorpus": ("finetune.classification.tasks", "BQCorpus"),
    "xnli": ("finetune.classification.tasks", "XNLI"),
    "cmrc2018": ("finetune.qa.tasks", "CMRC2018"),
    "drcd": ("finetune.qa.tasks", "DRCD"),
    "peoples_daily_ner": ("finetune.tagging.tasks", "PeoplesDailyNER"),
}

KNOWN_TASKS = tuple(sorted(_REGISTRY))


def check_task_names(task_names):
  unknown = [name for name in task_names if name not in _REGISTRY]
  if unknown:
    raise ValueError(f"Unknown task(s) {unknown}; known tasks: {', '.join(KNOWN_TASKS)}")


def task_class(name):
  check_task_names([name])
  module_name, class_name = _REGISTRY[name]
  return getattr(importlib.import_module(module_name), class_name)


def make_tokenizer(config):
  # Imported here so that the registry can be inspected without the tokenizer module.
  from model import tokenization
  # A VocabularyError (a ValueError) names an empty vocabulary, a repeated token or a missing
  # [UNK] / [CLS] / [SEP] in one line, before any task reads data.
  tokenization.check_vocab(config.vocab_file, "fine-tuning")
  return tokenization.FullTokenizer(config.vocab_file, config.do_lower_case)


def get_task(config, name, tokenizer):
  return task_class(name)(config, tokenizer)


def get_tasks(config):
  """One Task per name in config.task_names, all sharing one tokenizer."""
  check_task_names(config.task_names)  # before reading the vocabulary, to fail fast
  tokenizer = make_tokenizer(config)
  return [get_task(config, name, tokenizer) for name in config.task_names]
