"""End-to-end fine-tuning on tiny generated data: trials, results files, QA predictions, errors."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import run_finetuning
from model import modeling
from util import checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHARS = "今天天气很好我们去公园玩吧这家店的菜太难吃了服务也差北京是中国的首都"
TINY = {"model_size": "small", "embedding_size": 16, "vocab_size": 160, "max_seq_length": 32,
        "model_hparam_overrides": {"hidden_size": 16, "num_hidden_layers": 1,
                                   "num_attention_heads": 2, "intermediate_size": 32},
        "train_batch_size": 8, "eval_batch_size": 8, "learning_rate": 1e-3,
        "log_every_steps": 5, "iterations_per_loop": 5, "jit_compile": False}


def write_vocab(path):
  special = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]",
                                                                    "[MASK]"]
  chars = sorted(set(CHARS + "，。？"))
  path.write_text("\n".join(special + chars) + "\n", encoding="utf-8")


def write_pretrained_checkpoint(model_dir):
  """A released-style checkpoint: encoder variables only, no optimizer slots."""
  config = modeling.get_bert_config("small", 160, TINY["model_hparam_overrides"])
  encoder = modeling.BertModel(config, "electra", embedding_size=16)
  checkpoint.CheckpointManager(str(model_dir)).save(modeling.named_variables(encoder), 0)


def write_chnsenticorp(task_dir, n=24):
  task_dir.mkdir(parents=True)
  rows = ["label\ttext_a"] + [f"{i % 2}\t{CHARS[i % 20:i % 20 + 8]}" for i in range(n)]
  for split in ("train", "dev"):
    (task_dir / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_cmrc2018(task_dir):
  task_dir.mkdir(parents=True)
  context = "北京是中国的首都。今天天气很好，我们去公园玩吧。"
  qas = [{"id": f"Q{i}", "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
         for i, (q, a) in enumerate([("中国的首都是？", "北京"), ("今天天气？", "很好"),
                                     ("我们去哪？", "公园")])]
  data = {"version": "v1.0", "data": [{"paragraphs": [{"id": "P0", "context": context,
                                                       "qas": qas}]}]}
  for split in ("train", "dev"):
    (task_dir / f"{split}.json").write_text(json.dumps(data, ensure_ascii=False),
                                            encoding="utf-8")


def write_finetuning_data_dir(tmp_path):
  """A tiny pre-trained model `tiny` and the ChnSentiCorp and CMRC 2018 fixtures."""
  model_dir = tmp_path / "models" / "tiny"
  model_dir.mkdir(parents=True)
  write_vocab(model_dir / "vocab.txt")
  write_pretrained_checkpoint(model_dir)
  write_chnsenticorp(tmp_path / "finetuning_data" / "chnsenticorp")
  write_cmrc2018(tmp_path / "finetuning_data" / "cmrc2018")
  return tmp_path


def argv(data_dir, **hparams):
  return ["--data-dir", str(data_dir), "--model-name", "tiny",
          "--hparams", json.dumps({**TINY, **hparams})]


def test_classification_trials_write_results_with_max_and_mean(data_dir):
  trials = run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], num_trials=2,
                                    num_train_epochs=2, do_test=False))
  assert [t["seed"] for t in trials] == [1, 2]
  results_dir = data_dir / "models" / "tiny" / "results"
  text = (results_dir / "chnsenticorp_results.txt").read_text()
  assert "trial 2 (seed 2) chnsenticorp dev: accuracy:" in text
  assert "best (mean) over 2 trial(s):" in text
  summary = json.loads((results_dir / "chnsenticorp_results.json").read_text())["summary"]
  accuracies = [t["results"]["chnsenticorp"]["dev"]["accuracy"] for t in trials]
  cell = summary["chnsenticorp"]["dev"]["accuracy"]
  assert cell["best"] == max(accuracies)
  assert cell["mean"] == pytest.approx(sum(accuracies) / 2)
  model_dir = data_dir / "models" / "tiny" / "finetuning_models" / "chnsenticorp_model_1"
  names = {name for name, _ in tf.train.list_variables(str(model_dir))}
  assert "task_specific/chnsenticorp/dense/kernel" in names
  assert "electra/encoder/layer_0/output/dense/kernel/adam_m" in names
  assert (model_dir / "finetuning_config.json").exists() and (model_dir / "vocab.txt").exists()


def test_qa_writes_a_prediction_for_every_question_and_scores_it(data_dir):
  trials = run_finetuning.main(argv(data_dir, task_names=["cmrc2018"], num_train_epochs=1,
                                    train_batch_size=2, eval_batch_size=2, doc_stride=8,
                                    max_query_length=8, do_test=False,
                                    write_test_outputs=True))
  dev = trials[0]["results"]["cmrc2018"]["dev"]
  assert set(dev) >= {"em", "f1"} and dev["total"] == 3
  preds_path = data_dir / "models" / "tiny" / "results" / "cmrc2018_qa" / "cmrc2018_dev_preds.json"
  assert set(json.loads(preds_path.read_text(encoding="utf-8"))) == {"Q0", "Q1", "Q2"}


def test_eval_only_from_a_finetuned_model_gives_the_same_scores(data_dir):
  first = run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], num_train_epochs=1,
                                   do_test=False))
  model_dir = data_dir / "models" / "tiny" / "finetuning_models" / "chnsenticorp_model_1"
  again = run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], do_train=False,
                                   do_test=False, init_checkpoint=str(model_dir)))
  assert again[0]["results"] == first[0]["results"]


def run_cli(*args):
  result = subprocess.run([sys.executable, os.path.join(REPO, "run_finetuning.py"), *args],
                          capture_output=True, text=True, cwd=REPO, check=False)
  return result.returncode, result.stderr.strip().splitlines()


@pytest.mark.parametrize("hparams,expected", [
    ({"task_names": ["chnsenticorp"], "learning_rat": 1e-3}, "learning_rate"),
    ({"task_names": ["lcqmc"]}, os.path.join("finetuning_data", "lcqmc")),
    ({"task_names": ["chnsenticorp"], "init_checkpoint": "/nonexistent/ckpt"}, "/nonexistent"),
])
def test_user_errors_are_one_line(data_dir, hparams, expected):
  code, lines = run_cli(*argv(data_dir, **hparams))
  assert code != 0
  assert lines[-1].startswith("run_finetuning.py: error:") and expected in lines[-1]
  assert not any("Traceback" in line for line in lines)


def test_missing_data_dir_and_model_name_is_a_clear_error():
  code, lines = run_cli("--hparams", "{}")
  assert code != 0 and "No model_name given" in lines[-1]


def test_init_checkpoint_null_trains_from_scratch(data_dir):
  trials = run_finetuning.main(argv(data_dir, task_names=["chnsenticorp"], num_train_epochs=1,
                                    do_test=False, init_checkpoint=None))
  assert "accuracy" in trials[0]["results"]["chnsenticorp"]["dev"]
