"""Tagging end to end: run_finetuning.py trains a tiny model from scratch on generated NER data
and scores span F1; predict.py turns raw text into entities with character offsets;
export_model.py serves per-token label probabilities."""

import io
import json
import os

import numpy as np
import pytest

import export_model
import predict
import run_finetuning
from tests.test_run_finetuning import TINY, write_vocab

NAME = "peoples_daily_ner"
SENTENCES = [  # (text, [(entity text, type)])
    ("北京是中国的首都", [("北京", "LOC"), ("中国", "LOC")]),
    ("我们去北京玩吧", [("北京", "LOC")]),
    ("我们去公园玩吧", []),
    ("今天天气很好", []),
    ("中国的菜太难吃了", [("中国", "LOC")]),
    ("这家店的服务也差", []),
]


def tagged_lines(text, entities):
  tags = ["O"] * len(text)
  for entity, kind in entities:
    start = text.index(entity)
    tags[start:start + len(entity)] = [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
  return "".join(f"{char} {tag}\n" for char, tag in zip(text, tags)) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("ner")
  model_dir = data_dir / "models" / "tiny"
  model_dir.mkdir(parents=True)
  write_vocab(model_dir / "vocab.txt")
  task_dir = data_dir / "finetuning_data" / NAME
  task_dir.mkdir(parents=True)
  text = "".join(tagged_lines(*sentence) for sentence in SENTENCES)
  (task_dir / "train.txt").write_text(text * 8, encoding="utf-8")
  (task_dir / "dev.txt").write_text(text, encoding="utf-8")
  hparams = dict(TINY, task_names=[NAME], init_checkpoint=None, num_train_epochs=12,
                 learning_rate=3e-3, warmup_proportion=0.0, do_test=False,
                 write_test_outputs=True)
  trials = run_finetuning.main(["--data-dir", str(data_dir), "--model-name", "tiny",
                                "--hparams", json.dumps(hparams)])
  return data_dir, trials


def test_finetuning_scores_span_f1_and_writes_entities(trained):
  data_dir, trials = trained
  dev = trials[0]["results"][NAME]["dev"]
  assert set(dev) >= {"precision", "recall", "f1", "f1_PER", "f1_LOC", "f1_ORG", "loss"}
  assert dev["f1"] > 50.0  # the LOC pattern is easy; random tags score near 0
  assert trials[0]["data"][NAME]["dev"] == {"sentences": 6, "split_sentences": 0}
  results = json.loads((data_dir / "models" / "tiny" / "results" /
                        f"{NAME}_results.json").read_text(encoding="utf-8"))
  assert results["summary"][NAME]["dev"]["f1"]["best"] == dev["f1"]
  path = data_dir / "models" / "tiny" / "test_predictions" / f"{NAME}_dev_1_predictions.jsonl"
  written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
  assert [item["text"] for item in written] == [text for text, _ in SENTENCES]
  for item in written:
    for entity in item["entities"]:
      assert item["text"][entity["char_start"]:entity["char_end"]] == entity["text"]


def model_dir_of(data_dir):
  return str(data_dir / "models" / "tiny" / "finetuning_models" / f"{NAME}_model_1")


def test_predict_gives_entities_with_char_offsets(trained, tmp_path):
  data_dir, _ = trained
  texts = ["北京 是中国的首都", "我们去公园玩吧", "今天　天气很好"]
  source = tmp_path / "input.txt"
  source.write_text("\n".join(texts[:2]) + "\n" + json.dumps(
      {"id": "x", "text": texts[2]}) + "\n", encoding="utf-8")
  out = io.StringIO()
  assert predict.main(["--model-dir", model_dir_of(data_dir), "--input", str(source)],
                      out=out) == 3
  results = [json.loads(line) for line in out.getvalue().splitlines()]
  assert [result["id"] for result in results] == [1, 2, "x"]
  for text, result in zip(texts, results):
    for entity in result["entities"]:
      assert text[entity["char_start"]:entity["char_end"]] == entity["text"]
      assert entity["type"] in ("PER", "LOC", "ORG")
  tsv = io.StringIO()
  predict.main(["--model-dir", model_dir_of(data_dir), "--input", str(source), "--format",
                "tsv"], out=tsv)
  assert tsv.getvalue().splitlines()[0] == "id\ttype\tchar_start\tchar_end\ttext"


def test_export_serves_per_token_label_probabilities(trained, tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  data_dir, _ = trained
  export_dir = str(tmp_path / "export")
  export_model.main(["--model-dir", model_dir_of(data_dir), "--output", export_dir])
  loaded = tf.saved_model.load(export_dir)
  ids = tf.constant([[101, 102, 103, 0]], tf.int32)
  outputs = loaded.signatures[export_model.SIGNATURE_KEY](
      input_ids=ids, input_mask=tf.constant([[1, 1, 1, 0]], tf.int32),
      segment_ids=tf.zeros_like(ids))
  assert outputs["probabilities"].shape == (1, 4, 7)
  assert outputs["predictions"].shape == (1, 4)
  np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
  labels = [b.decode() for b in loaded.labels.numpy()]
  assert labels[:3] == ["O", "B-PER", "I-PER"]
  assert os.path.exists(os.path.join(export_dir, "assets", "vocab.txt"))
