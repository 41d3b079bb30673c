"""run_finetuning.py: every split validated before training, one line per user error naming the
file, sizes from the model directory, one run per task set, trial status, nothing overwritten."""

import json
import os
import socket
import subprocess
import sys

import pytest

import configure_finetuning
import run_finetuning
from finetune import trials
from model import modeling
from tests.test_run_finetuning import TINY, argv
from util import fileio
from util import run_lock


def fails_with(data_dir, **hparams):  # pylint: disable=redefined-outer-name
  with pytest.raises(SystemExit) as raised:
    run_finetuning.main(argv(data_dir, **{"task_names": ["chnsenticorp"], "do_test": False,
                                          **hparams}))
  message = str(raised.value.code)
  assert message.startswith("run_finetuning.py: error:") and "\n" not in message
  return message


def models_dir(data_dir):  # pylint: disable=redefined-outer-name
  return data_dir / "models" / "tiny" / "finetuning_models"


@pytest.mark.parametrize("content,expected", [
    (b"", "is empty"),
    (b"label\ttext_a\n", "has a header but no data rows"),
    (b"label\ttext_a\n7\tabc\nx\tdef\n", "no usable rows"),
    ("label\ttext_a\n1\t好\n0\t很差\n".encode("gbk"), "line 2: not valid UTF-8"),
])
def test_bad_dev_tsv_fails_before_training(data_dir, content, expected):
  dev = data_dir / "finetuning_data" / "chnsenticorp" / "dev.tsv"
  dev.write_bytes(content)
  message = fails_with(data_dir)
  assert expected in message and str(dev) in message
  assert not models_dir(data_dir).exists() or not list(models_dir(data_dir).glob("*_model_*"))


def test_invalid_cmrc_json_names_file_and_line(data_dir):
  dev = data_dir / "finetuning_data" / "cmrc2018" / "dev.json"
  dev.write_text('{"data": [\n  {"paragraphs": ]}\n', encoding="utf-8")
  message = fails_with(data_dir, task_names=["cmrc2018"])
  assert f"{dev}, line 2" in message and "invalid JSON" in message


def test_unfindable_answers_are_a_warning_and_counted(data_dir, caplog):
  train = data_dir / "finetuning_data" / "cmrc2018" / "train.json"
  data = json.loads(train.read_text(encoding="utf-8"))
  data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["text"] = "上海"
  train.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
  trials = run_finetuning.main(argv(data_dir, task_names=["cmrc2018"], num_train_epochs=1,
                                    train_batch_size=2, eval_batch_size=2, doc_stride=8,
                                    max_query_length=8, do_test=False, do_eval=False))
  assert ("1 of 3 questions dropped from training (0 without answers, 1 whose answer is not in "
          "its context)") in caplog.text
  assert trials[0]["data"]["cmrc2018"]["train"]["answers_not_found"] == 1
  assert trials[0]["data"]["cmrc2018"]["train"]["questions_without_answers"] == 0
  results = data_dir / "models" / "tiny" / "results" / "cmrc2018_results.json"
  assert json.loads(results.read_text())["trials"][0]["data"]["cmrc2018"]["train"][
      "answers_not_found"] == 1


def test_a_second_finetuning_of_the_same_tasks_refuses(data_dir):
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    directory = models_dir(data_dir)
    directory.mkdir(parents=True)
    (directory / "chnsenticorp.lock").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": holder.pid, "program": "run_finetuning.py"}))
    message = fails_with(data_dir)
    assert "is in use by run_finetuning.py" in message and f"pid {holder.pid}" in message
  finally:
    holder.kill()
    holder.wait()


def test_interrupted_trial_is_recorded_and_finished_results_are_kept(
    data_dir, monkeypatch):
  run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], num_train_epochs=1,
                           do_test=False))
  results_dir = data_dir / "models" / "tiny" / "results"
  first = (results_dir / "chnsenticorp_results.json").read_text()

  def killed(self):
    raise KeyboardInterrupt("killed")
  monkeypatch.setattr(run_finetuning.TrialRunner, "train", killed)
  with pytest.raises(KeyboardInterrupt):
    run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], num_train_epochs=1,
                             do_test=False))
  assert (results_dir / "chnsenticorp_results.previous-1.json").read_text() == first
  now = json.loads((results_dir / "chnsenticorp_results.json").read_text())
  assert [t["status"] for t in now["trials"]] == ["interrupted"]
  assert "interrupted" in (results_dir / "chnsenticorp_results.txt").read_text()
  kept = models_dir(data_dir) / "chnsenticorp_model_1.previous-1"
  assert (kept / "checkpoint").exists()  # the finished model, kept aside
  assert trials.trial_status(str(models_dir(data_dir) / "chnsenticorp_model_1")) == \
      "interrupted"
  assert not (models_dir(data_dir) / run_lock.LOCK_FILE).exists()
  assert not list(models_dir(data_dir).glob("*.lock"))


def write_pretrained_configs(model_dir, hidden=16, layers=1):
  config = modeling.get_bert_config("small", 160, {**TINY["model_hparam_overrides"],
                                                   "hidden_size": hidden,
                                                   "num_hidden_layers": layers})
  (model_dir / "discriminator_config.json").write_text(config.to_json_string())
  (model_dir / "pretrain_config.json").write_text(json.dumps({"embedding_size": 16}))


def test_sizes_come_from_the_model_directory(tmp_path):
  model_dir = tmp_path / "models" / "mine"
  model_dir.mkdir(parents=True)
  write_pretrained_configs(model_dir)
  config = configure_finetuning.FinetuningConfig("mine", str(tmp_path),
                                                 task_names=["chnsenticorp"])
  assert config.vocab_size == 160 and config.embedding_size == 16
  assert config.encoder_hparams()["hidden_size"] == 16
  assert config.encoder_hparams()["num_hidden_layers"] == 1
  with pytest.raises(ValueError, match="hidden_size 256 contradicts .*discriminator_config.json"):
    configure_finetuning.FinetuningConfig(
        "mine", str(tmp_path), task_names=["chnsenticorp"],
        model_hparam_overrides={"hidden_size": 256})


def tree(directory):
  return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def test_shape_mismatch_with_the_checkpoint_is_one_line_and_writes_nothing(data_dir):
  before = tree(data_dir)
  message = fails_with(data_dir, model_hparam_overrides={**TINY["model_hparam_overrides"],
                                                         "hidden_size": 32})
  # Caught when the config is built, from the checkpoint's shapes, before any model is built.
  assert "model_hparam_overrides.hidden_size 32 contradicts checkpoint" in message
  assert tree(data_dir) == before  # no trial directory, results, events file or lock


def test_a_longer_max_seq_length_than_the_model_has_positions_writes_nothing(
    data_dir):
  before = tree(data_dir)
  message = fails_with(data_dir, max_seq_length=600)  # the model has 512 positions
  assert "max_position_embeddings" in message and "512" in message
  assert tree(data_dir) == before


def test_results_of_a_run_that_finished_no_trial_are_not_kept(
    data_dir, monkeypatch):
  def killed(self):
    raise KeyboardInterrupt("killed")
  monkeypatch.setattr(run_finetuning.TrialRunner, "train", killed)
  for _ in range(2):
    with pytest.raises(KeyboardInterrupt):
      run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], do_test=False))
  results_dir = data_dir / "models" / "tiny" / "results"
  assert sorted(path.name for path in results_dir.iterdir()) == [
      "chnsenticorp_results.json", "chnsenticorp_results.txt"]


def test_results_file_write_is_atomic(tmp_path, monkeypatch):
  path = tmp_path / "r.json"
  path.write_text("old")

  class Full:
    def __init__(self, name, mode):
      self.f = open(name, mode, encoding="utf-8")  # pylint: disable=consider-using-with

    def __enter__(self):
      return self

    def write(self, text):
      self.f.write(text[:3])
      raise OSError(28, "No space left on device", str(path))

    def __exit__(self, *args):
      self.f.close()
  monkeypatch.setattr(fileio, "open_file", Full)
  with pytest.raises(OSError):
    run_finetuning.utils.write_text(str(path), "new", atomic=True)
  assert path.read_text() == "old" and os.listdir(tmp_path) == ["r.json"]
