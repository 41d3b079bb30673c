"""A kind of task owns its defaults: configure_finetuning.py reads them through the registry."""

import ast
import os
import re
import subprocess
import sys
import textwrap

import pytest

import configure_finetuning
from finetune import task_builder
from util import hparam_checks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOY_DEFAULTS = """
from util import hparam_checks

HPARAMS = {"toy_window": 7, "toy_label": "none"}
RANGES = {"toy_window": hparam_checks.Range(1, 100)}
NO_EFFECT = {"toy_label": "toys have no labels"}
SINGLE_TASK_DEFAULTS = {"max_seq_length": 64, "num_train_epochs": 5.0}
"""

TOY_TASKS = """
class ToyTask:
  def __init__(self, config, tokenizer):
    self.config = config
    self.name = "toy"
"""


def forget_toy_modules():
  for name in [name for name in sys.modules if name.split(".")[0] == "toykind"]:
    del sys.modules[name]


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
  """A new kind of task, package `toykind` outside the project, registered at run time."""
  forget_toy_modules()
  package = tmp_path / "toykind"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "defaults.py").write_text(textwrap.dedent(TOY_DEFAULTS))
  (package / "tasks.py").write_text(textwrap.dedent(TOY_TASKS))
  monkeypatch.syspath_prepend(str(tmp_path))
  # A copy of the registry, so that the new kind is gone after the test.
  monkeypatch.setattr(task_builder, "_REGISTRY", dict(getattr(task_builder, "_REGISTRY")))
  task_builder.register("toy", "toykind.tasks", "ToyTask")
  yield "toy"
  forget_toy_modules()


def test_a_new_kinds_defaults_reach_the_config(toy_kind):
  config = configure_finetuning.FinetuningConfig("m", "/d", task_names=[toy_kind])
  assert config.toy_window == 7
  assert (config.max_seq_length, config.num_train_epochs) == (64, 5.0)
  assert task_builder.task_class(toy_kind).__name__ == "ToyTask"


def test_user_values_win_over_a_kinds_defaults(toy_kind):
  config = configure_finetuning.FinetuningConfig("m", "/d", task_names=[toy_kind],
                                                 toy_window=3, max_seq_length=32)
  assert (config.toy_window, config.max_seq_length, config.num_train_epochs) == (3, 32, 5.0)


def test_a_kinds_ranges_and_refused_keys_are_checked(toy_kind):
  with pytest.raises(ValueError, match=r"'toy_window' must be in \[1, 100\], got 0"):
    configure_finetuning.FinetuningConfig("m", "/d", task_names=[toy_kind], toy_window=0)
  with pytest.raises(ValueError, match="'toy_label' has no effect here"):
    configure_finetuning.FinetuningConfig("m", "/d", task_names=[toy_kind], toy_label="x")


def test_a_kinds_keys_are_known_in_runs_of_other_tasks(toy_kind):
  config = configure_finetuning.FinetuningConfig("m", "/d", task_names=["chnsenticorp"],
                                                 toy_window=9)
  assert config.toy_window == 9 and config.max_seq_length == 128


def test_two_kinds_declaring_one_key_is_an_error(toy_kind, tmp_path):
  (tmp_path / "toykind" / "defaults.py").write_text(
      "HPARAMS = {'doc_stride': 1}\nSINGLE_TASK_DEFAULTS = {}\n")
  with pytest.raises(ValueError, match="'doc_stride' is declared by both"):
    configure_finetuning.FinetuningConfig("m", "/d", task_names=["xnli"])


@pytest.mark.parametrize("task,length,epochs,stride", [
    ("cmrc2018", 512, 2.0, 128), ("drcd", 512, 2.0, 128), ("xnli", 128, 3.0, 128),
    ("peoples_daily_ner", 128, 3.0, 128)])
def test_the_packages_declare_the_originals_defaults(task, length, epochs, stride):
  config = configure_finetuning.FinetuningConfig("m", "/d", task_names=[task])
  assert (config.max_seq_length, config.num_train_epochs, config.doc_stride) == (
      length, epochs, stride)
  assert (config.max_query_length, config.max_answer_length, config.n_best_size) == (64, 30, 20)
  assert config.double_unordered


def test_no_task_names_is_refused_when_tasks_are_built():
  config = configure_finetuning.FinetuningConfig("m", "/d")
  assert config.task_names == []
  with pytest.raises(ValueError, match="No task_names given"):
    task_builder.get_tasks(config)


@pytest.mark.parametrize("path", ["configure_finetuning.py", "finetune/inference.py"])
def test_no_task_is_named_outside_its_package(path):
  with open(os.path.join(REPO, path), encoding="utf-8") as f:
    source = f.read()
  source = source.replace(ast.get_docstring(ast.parse(source), clean=False) or "", "")  # examples
  for name in task_builder.known_tasks() + ("squad", "chunk", "rte", "sts"):
    assert not re.search(rf"[\"']{name}[\"']", source), f"{path} names task {name}"
  assert "is_qa" not in source and "qa_tasks" not in source
  assert "import finetune.qa" not in source and "from finetune.qa" not in source
  assert "from finetune.classification" not in source


def test_configs_and_task_defaults_stay_tensorflow_free():
  code = ("import sys, configure_finetuning as c; "
          "c.FinetuningConfig('m', '/d', task_names=['cmrc2018']); "
          "assert 'tensorflow' not in sys.modules, 'TensorFlow imported'")
  subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_range_table_names_only_keys_a_config_has():
  from configure_pretraining import PretrainingConfig  # pylint: disable=import-outside-toplevel
  names = set(configure_finetuning.FinetuningConfig("m", "/d").hparam_names())
  names |= set(PretrainingConfig("m", "/d").hparam_names())
  assert set(hparam_checks.RANGES) <= names
