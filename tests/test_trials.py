"""finetune/trials.py: the results table over trials, trial directories and what is kept aside."""

import json
import os

import pytest

from finetune import task as task_lib
from finetune import trials


class FakeTask:
  def __init__(self, name, metrics):
    self.name = name
    self._metrics = metrics

  def metrics(self):
    return self._metrics


QA = FakeTask("cmrc2018", [task_lib.Metric("em", "EM"), task_lib.Metric("f1", "F1"),
                           task_lib.Metric("total", "TOTAL", None)])
CLS = FakeTask("xnli", [task_lib.Metric("accuracy", "accuracy"),
                        task_lib.Metric("loss", "loss", "lower")])
TABLE = trials.metric_table([QA, CLS])


class FakeConfig:
  def __init__(self, root):
    self.root = root
    self.results_txt = os.path.join(root, "results", "t_results.txt")
    self.results_json = os.path.join(root, "results", "t_results.json")

  def tensorboard_dir(self, trial=None):
    base = os.path.join(self.root, "results", "tensorboard", "t")
    return base if trial is None else os.path.join(base, f"trial_{trial}")

  def model_dir(self, trial):
    return os.path.join(self.root, "finetuning_models", f"t_model_{trial}")

  def to_dict(self):
    return {"root": self.root}


def trial(number, accuracy, loss, status="done"):
  results = {"xnli": {"dev": {"accuracy": accuracy, "loss": loss}}} if status == "done" else {}
  return {"trial": number, "seed": number, "status": status, "results": results}


def test_the_best_of_a_loss_is_its_lowest_and_of_a_score_its_highest():
  summary = trials.summarize(TABLE, [trial(1, 80.0, 0.5), trial(2, 90.0, 0.7),
                                     trial(3, 70.0, 0.3)])
  cells = summary["xnli"]["dev"]
  assert cells["accuracy"] == {"best": 90.0, "mean": pytest.approx(80.0)}
  assert cells["loss"] == {"best": 0.3, "mean": pytest.approx(0.5)}


def test_console_and_results_file_show_the_same_labels_and_digits(tmp_path, capsys):
  metrics = {"em": 12.34567, "f1": 45.6, "total": 197}
  trials.print_scores(TABLE, "dev", {"cmrc2018": metrics})
  console = capsys.readouterr().out.strip()
  assert console == "cmrc2018 dev: EM: 12.346 - F1: 45.600"  # counts are not scores
  config = FakeConfig(str(tmp_path))
  trials.write_results(config, TABLE, [{"trial": 1, "seed": 1, "status": "done",
                                        "results": {"cmrc2018": {"dev": metrics}}}])
  text = open(config.results_txt, encoding="utf-8").read()
  assert "trial 1 (seed 1) " + console in text
  assert "cmrc2018 dev: EM: 12.346 (12.346) - F1: 45.600 (45.600)" in text
  saved = json.load(open(config.results_json, encoding="utf-8"))
  assert saved["trials"][0]["results"]["cmrc2018"]["dev"]["total"] == 197
  assert "total" not in saved["summary"]["cmrc2018"]["dev"]


def test_a_metric_the_task_does_not_declare_is_an_error():
  with pytest.raises(ValueError, match="'bleu'.*does not declare"):
    trials.score_line(TABLE, "xnli", {"accuracy": 1.0, "bleu": 2.0})


def test_interrupted_trials_are_listed_but_not_summarised():
  lines, summary = trials.results_lines(TABLE, [trial(1, 80.0, 0.5),
                                                trial(2, 0, 0, status="interrupted")])
  assert "trial 2 (seed 2): interrupted" in lines
  assert "best (mean) over 1 trial(s):" in lines
  assert summary["xnli"]["dev"]["accuracy"]["best"] == 80.0


def write_run(config, statuses):
  trials.write_results(config, TABLE, [trial(n + 1, 80.0, 0.5, status)
                                       for n, status in enumerate(statuses)])
  os.makedirs(config.tensorboard_dir(1), exist_ok=True)


def test_results_with_a_finished_trial_are_kept_aside(tmp_path):
  config = FakeConfig(str(tmp_path))
  write_run(config, ["done", "interrupted"])
  trials.keep_previous_results(config)
  results = sorted(os.listdir(os.path.join(str(tmp_path), "results")))
  assert results == ["t_results.previous-1.json", "t_results.previous-1.txt", "tensorboard"]
  assert os.listdir(os.path.join(str(tmp_path), "results", "tensorboard")) == ["t.previous-1"]


def test_results_without_a_finished_trial_are_replaced_not_kept(tmp_path):
  config = FakeConfig(str(tmp_path))
  write_run(config, ["interrupted"])
  trials.keep_previous_results(config)
  assert os.listdir(os.path.join(str(tmp_path), "results", "tensorboard")) == []
  assert sorted(os.listdir(os.path.join(str(tmp_path), "results"))) == ["tensorboard"]


def test_a_finished_trial_is_kept_and_an_interrupted_one_removed(tmp_path):
  config = FakeConfig(str(tmp_path))
  for number, status in ((1, "done"), (2, "interrupted")):
    trials.write_trial_status(config.model_dir(number), status)
    trials.clear_trial_dir(config.model_dir(number))
  models = sorted(os.listdir(os.path.join(str(tmp_path), "finetuning_models")))
  assert models == ["t_model_1.previous-1"]
  assert trials.trial_status(os.path.join(str(tmp_path), "finetuning_models",
                                          "t_model_1.previous-1")) == "done"


def test_only_the_last_trial_model_is_kept(tmp_path):
  config = FakeConfig(str(tmp_path))
  for number in (1, 2, 3):
    trials.write_trial_status(config.model_dir(number), "done")
  trials.delete_other_models(config, 3)
  assert os.listdir(os.path.join(str(tmp_path), "finetuning_models")) == ["t_model_3"]
