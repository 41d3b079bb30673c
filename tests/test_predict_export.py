"""predict.py, export_model.py and finetune/inference.py on tiny untrained models built here."""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import configure_finetuning
import export_model
import predict
from finetune import inference
from finetune import task_builder
from finetune.classification.tasks import ClassificationExample
from finetune.finetuning_model import FinetuningModel
from finetune.qa.prediction import QAInput, qa_examples
from model import tokenization
from util import checkpoint as checkpoint_lib
from util import utils

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY = {"model_size": "small", "model_hparam_overrides": {"hidden_size": 32,
                                                          "num_hidden_layers": 1},
        "embedding_size": 16}

TEXTS = ["这家酒店很好，服务周到。", "房间太小了", "早餐一般，but the view is great!"]
PAIRS = [("今天天气怎么样", "今天天气如何"), ("我想买手机", "北京是中国的首都")]
CONTEXT = ("北京是中华人民共和国的首都，也是全国的政治、文化中心。北京有3000多年建城史，"
           "人口约2100万。长城和故宫是北京著名的名胜古迹，每年吸引Millions of游客。")
QUESTIONS = ["中国的首都是哪里？", "北京有多少人口？", "北京有什么名胜古迹？"]


def write_vocab(path):
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  text = "".join(TEXTS) + "".join(a + b for a, b in PAIRS) + CONTEXT + "".join(QUESTIONS)
  chars = sorted({char for token in basic.tokenize(text) for char in token})
  pieces = chars + ["##" + char for char in chars if not tokenization.is_chinese_char(ord(char))]
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(SPECIALS + pieces) + "\n")
  return len(SPECIALS) + len(pieces)


def make_model_dir(root, task_names, **hparams):
  """A fine-tuned model directory as run_finetuning.py leaves it, with random weights."""
  data_dir = root / "data"
  (data_dir / "models" / "tiny").mkdir(parents=True, exist_ok=True)
  vocab_size = write_vocab(data_dir / "models" / "tiny" / "vocab.txt")
  config = configure_finetuning.FinetuningConfig(
      "tiny", str(data_dir), task_names=task_names, vocab_size=vocab_size, **TINY, **hparams)
  tasks = task_builder.get_tasks(config)
  tf.random.set_seed(7)
  model = FinetuningModel(config, tasks)
  model_dir = config.model_dir(1)
  checkpoint_lib.CheckpointManager(model_dir).save(model.all_variables(), 3)
  utils.write_json(config.to_dict(), os.path.join(model_dir, inference.MODEL_CONFIG_FILE))
  shutil.copyfile(config.vocab_file, os.path.join(model_dir, "vocab.txt"))
  return model_dir, config, tasks, model


@pytest.fixture(scope="module")
def cls_model(tmp_path_factory):
  return make_model_dir(tmp_path_factory.mktemp("cls"), ["chnsenticorp", "lcqmc"],
                        max_seq_length=32)


@pytest.fixture(scope="module")
def qa_model(tmp_path_factory):
  # Short windows: the context needs several, so post-processing pools windows.
  return make_model_dir(tmp_path_factory.mktemp("qa"), ["cmrc2018"], max_seq_length=40,
                        max_query_length=12, doc_stride=12, beam_size=5)


def in_process_probabilities(config, tasks, model, task_name, texts):
  """The model's probabilities on full-length features, without the inference module."""
  task = tasks[config.task_names.index(task_name)]
  features = [task.featurize(ClassificationExample(task_name, i, a, b, task.label_list[0]),
                             False)[0] for i, (a, b) in enumerate(texts)]
  batch = {}
  for task_ in tasks:
    for spec in task_.feature_specs():
      batch[spec.name] = tf.constant([f.get(spec.name, 0) for f in features], tf.int32)
  for name in ("input_ids", "input_mask", "segment_ids", "task_id"):
    batch[name] = tf.constant([f[name] for f in features], tf.int32)
  return model.predict(batch)[f"{task_name}_probabilities"].numpy()


def run_predict(argv):
  out = io.StringIO()
  predict.main(argv, out=out)
  return out.getvalue().splitlines()


def exit_message(function, argv):
  with pytest.raises(SystemExit) as e:
    function(argv)
  return str(e.value.code)


# ----------------------------------------------------------------------------------------------
# predict.py


def test_predict_classification_json_matches_the_in_process_model(cls_model, tmp_path):
  model_dir, config, tasks, model = cls_model
  path = tmp_path / "in.txt"
  path.write_text(TEXTS[0] + "\n\n" + "\n".join(TEXTS[1:]) + "\n", encoding="utf-8")
  lines = run_predict(["--model-dir", model_dir, "--task", "chnsenticorp", "--input", str(path),
                       "--format", "json", "--batch-size", "2"])
  records = [json.loads(line) for line in lines]
  assert [r["id"] for r in records] == [1, 3, 4]  # line numbers; the blank line is skipped
  want = in_process_probabilities(config, tasks, model, "chnsenticorp",
                                  [(t, None) for t in TEXTS])
  got = np.array([[r["probabilities"][label] for label in ("0", "1")] for r in records])
  np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
  np.testing.assert_allclose(got, want, atol=1e-5)
  for record, row in zip(records, want):
    assert record["label"] == ("0", "1")[int(np.argmax(row))]
    assert record["probability"] == pytest.approx(row.max(), abs=1e-5)


def test_predict_pair_task_tsv(cls_model, tmp_path):
  model_dir, config, tasks, model = cls_model
  path = tmp_path / "pairs.tsv"
  path.write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS), encoding="utf-8")
  lines = run_predict(["--model-dir", model_dir, "--task", "lcqmc", "--input", str(path)])
  assert lines[0].split("\t") == ["id", "label", "probability", "0", "1"]
  assert len(lines) == 1 + len(PAIRS)
  got = np.array([[float(x) for x in line.split("\t")[3:]] for line in lines[1:]])
  np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
  np.testing.assert_allclose(got, in_process_probabilities(config, tasks, model, "lcqmc", PAIRS),
                             atol=1e-5)


def test_predict_one_line_errors(cls_model, tmp_path):
  model_dir = cls_model[0]
  assert "model directory not found" in exit_message(
      predict.main, ["--model-dir", str(tmp_path / "nope")])
  (tmp_path / "empty").mkdir()
  assert "has no finetuning_config.json" in exit_message(
      predict.main, ["--model-dir", str(tmp_path / "empty")])
  no_checkpoint = tmp_path / "no_checkpoint"
  no_checkpoint.mkdir()
  for name in ("finetuning_config.json", "vocab.txt"):
    shutil.copyfile(os.path.join(model_dir, name), no_checkpoint / name)
  assert "No checkpoint found" in exit_message(
      predict.main, ["--model-dir", str(no_checkpoint), "--task", "lcqmc"])
  assert "several tasks (chnsenticorp, lcqmc)" in exit_message(
      predict.main, ["--model-dir", model_dir])
  bad = tmp_path / "bad.tsv"
  bad.write_text("一\t二\n只有一句\n", encoding="utf-8")
  message = exit_message(predict.main, ["--model-dir", model_dir, "--task", "lcqmc",
                                        "--input", str(bad)])
  assert "line 2" in message and "\n" not in message


def test_predict_qa_spans_lie_in_the_context(qa_model, tmp_path):
  model_dir = qa_model[0]
  path = tmp_path / "questions.jsonl"
  path.write_text("".join(json.dumps({"question": q, "context": CONTEXT, "id": f"q{i}"},
                                     ensure_ascii=False) + "\n"
                          for i, q in enumerate(QUESTIONS)), encoding="utf-8")
  lines = run_predict(["--model-dir", model_dir, "--input", str(path), "--top-k", "3"])
  records = [json.loads(line) for line in lines]
  assert [r["id"] for r in records] == ["q0", "q1", "q2"]
  for record in records:
    assert 1 <= len(record["nbest"]) <= 3
    assert record["answer"] == record["nbest"][0]["text"]
    for entry in record["nbest"]:
      assert 0 <= entry["char_start"] < entry["char_end"] <= len(CONTEXT)
      assert CONTEXT[entry["char_start"]:entry["char_end"]] == entry["text"]
      assert 0.0 < entry["probability"] <= 1.0
    scores = [entry["score"] for entry in record["nbest"]]
    assert scores == sorted(scores, reverse=True)
  # A SQuAD-format file gives the same answers (the question ids are kept).
  squad = {"data": [{"paragraphs": [{"context": CONTEXT, "qas": [
      {"id": f"q{i}", "question": q, "answers": []} for i, q in enumerate(QUESTIONS)]}]}]}
  squad_path = tmp_path / "dev.json"
  squad_path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
  tsv = run_predict(["--model-dir", model_dir, "--input", str(squad_path), "--format", "tsv"])
  assert tsv[0].split("\t")[:3] == ["id", "rank", "answer"]
  assert [line.split("\t")[2] for line in tsv[1:]] == [r["answer"] for r in records]
  bad = tmp_path / "bad.jsonl"
  bad.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n"
                 + '{"question": "没有上下文"}\n', encoding="utf-8")
  assert "line 2" in exit_message(predict.main, ["--model-dir", model_dir, "--input", str(bad)])


def test_predict_counts_cut_inputs_in_one_warning(cls_model, tmp_path, capsys):
  model_dir = cls_model[0]
  path = tmp_path / "long.txt"
  # max_seq_length 32 leaves 30 tokens: 100 and 45 characters lose 70 and 15; 5 fit.
  path.write_text("好" * 100 + "\n" + "房" * 45 + "\n" + "早餐一般。\n", encoding="utf-8")
  lines = run_predict(["--model-dir", model_dir, "--task", "chnsenticorp", "--input", str(path)])
  assert len(lines) == 4  # the header and three inputs
  warnings = capsys.readouterr().err.strip().splitlines()
  assert warnings == [
      "predict.py: warning: 2 of 3 inputs were cut to fit the model (examples cut to "
      "max_seq_length 32; 85 tokens dropped in all); the predictions are about the part that "
      "was kept"]


def test_predict_refuses_an_input_without_text_before_loading_the_model(tmp_path):
  path = tmp_path / "empty.txt"
  path.write_text("\n  \n", encoding="utf-8")
  (tmp_path / "model").mkdir()
  output = tmp_path / "out.tsv"
  result = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "predict.py"), "--model-dir",
       str(tmp_path / "model"), "--input", str(path), "--output", str(output)],
      capture_output=True, text=True, check=False, cwd=REPO_ROOT)
  assert result.returncode == 1 and not output.exists()
  assert result.stderr.strip().splitlines() == [
      f"predict.py: error: {path}: no input to predict on (it is empty or only blank lines)"]


def test_predict_help_runs_without_tensorflow():
  result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "predict.py"), "--help"],
                          capture_output=True, text=True, check=True, cwd=REPO_ROOT)
  assert "--model-dir" in result.stdout and "--top-k" in result.stdout
  assert "Tagging input" in result.stdout and "peoples_daily_ner" in result.stdout


# ----------------------------------------------------------------------------------------------
# export_model.py: SavedModel


def classification_features(task, texts):
  """One record per (text_a, text_b), through the task's own featurize (as predict_raw)."""
  return [feature for index, (text_a, text_b) in enumerate(texts)
          for feature in task.featurize(ClassificationExample(
              task.name, index, text_a, text_b, task.label_list[0]), is_training=False)]


def serve(export_dir, features):
  loaded = tf.saved_model.load(export_dir)
  signature = loaded.signatures[export_model.SIGNATURE_KEY]
  return loaded, {key: value.numpy() for key, value in signature(
      input_ids=tf.constant(features["input_ids"], tf.int32),
      input_mask=tf.constant(features["input_mask"], tf.int32),
      segment_ids=tf.constant(features["segment_ids"], tf.int32)).items()}


@pytest.fixture(scope="module")
def cls_export(cls_model, tmp_path_factory):
  export_dir = str(tmp_path_factory.mktemp("export") / "lcqmc")
  export_model.main(["--model-dir", cls_model[0], "--task", "lcqmc", "--output", export_dir])
  return export_dir


def test_export_classification_serves_the_same_probabilities(cls_model, cls_export):
  _, config, tasks, model = cls_model
  task = tasks[1]
  features = classification_features(task, PAIRS)
  stacked = {k: np.array([f[k] for f in features]) for k in ("input_ids", "input_mask",
                                                              "segment_ids")}
  loaded, outputs = serve(cls_export, stacked)
  np.testing.assert_allclose(outputs["probabilities"],
                             in_process_probabilities(config, tasks, model, "lcqmc", PAIRS),
                             atol=1e-5)
  assert outputs["logits"].shape == (len(PAIRS), 2)
  # Any length works: the same inputs cut to their longest real token give the same result.
  length = int(stacked["input_mask"].sum(axis=1).max())
  _, trimmed = serve(cls_export, {k: v[:, :length] for k, v in stacked.items()})
  np.testing.assert_allclose(trimmed["probabilities"], outputs["probabilities"], atol=1e-5)
  assert int(loaded.max_seq_length.numpy()) == config.max_seq_length
  assert [b.decode() for b in loaded.labels.numpy()] == ["0", "1"]
  assets = os.path.join(cls_export, "assets")
  with open(os.path.join(assets, "labels.txt"), encoding="utf-8") as f:
    assert f.read().split() == ["0", "1"]
  with open(os.path.join(assets, "export_info.json"), encoding="utf-8") as f:
    info = json.load(f)
  assert info["task"] == "lcqmc" and info["labels"] == ["0", "1"]
  assert info["max_seq_length"] == config.max_seq_length
  assert os.path.exists(os.path.join(assets, "vocab.txt"))


def test_export_refuses_a_non_empty_output(cls_model, cls_export):
  message = exit_message(export_model.main, ["--model-dir", cls_model[0], "--task", "lcqmc",
                                             "--output", cls_export])
  assert "--overwrite" in message


def test_export_qa_serves_the_models_logits_and_beams(qa_model, tmp_path):
  model_dir, config, tasks, model = qa_model
  task = tasks[0]
  export_dir = str(tmp_path / "qa")
  export_model.main(["--model-dir", model_dir, "--output", export_dir])
  examples = qa_examples(task, [QAInput(q, CONTEXT) for q in QUESTIONS])
  features = [f for example in examples for f in task.featurize(example, False)]
  stacked = {k: np.array([f[k] for f in features], np.int32)
             for k in ("input_ids", "input_mask", "segment_ids")}
  _, outputs = serve(export_dir, stacked)
  want = inference.serving_outputs(model, task, *(tf.constant(stacked[k]) for k in (
      "input_ids", "input_mask", "segment_ids")))
  n, length = stacked["input_ids"].shape
  for key in ("start_logits", "end_logits"):
    assert outputs[key].shape == (n, length)
    np.testing.assert_allclose(outputs[key], want[key].numpy(), atol=1e-3, rtol=1e-5)
  predicted = model.predict({**{k: tf.constant(v) for k, v in stacked.items()},
                             "task_id": tf.zeros([n], tf.int32),
                             "cmrc2018_eid": tf.zeros([n], tf.int32)})
  np.testing.assert_array_equal(outputs["start_top_index"],
                                predicted["cmrc2018_start_top_index"].numpy())
  np.testing.assert_allclose(outputs["end_top_log_probs"],
                             predicted["cmrc2018_end_top_log_probs"].numpy(), atol=1e-4)
  assert outputs["end_top_index"].shape == (n, 5, 5)
  with open(os.path.join(export_dir, "assets", "export_info.json"), encoding="utf-8") as f:
    info = json.load(f)
  assert info["task_type"] == "qa" and info["doc_stride"] == 12 and info["beam_size"] == 5
  # Shorter than the beam: padded inside the signature, logits cut back to the input length.
  _, short = serve(export_dir, {k: v[:, :4] for k, v in stacked.items()})
  assert short["start_logits"].shape == (n, 4) and short["start_top_index"].shape == (n, 5)


def saved_model_cli():
  candidate = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  return candidate if os.path.exists(candidate) else shutil.which("saved_model_cli")


def test_saved_model_cli_shows_the_serving_signature(cls_export):
  cli = saved_model_cli()
  if cli is None:
    pytest.skip("saved_model_cli is not installed")
  result = subprocess.run([cli, "show", "--dir", cls_export, "--all"], capture_output=True,
                          text=True, check=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert "signature_def['serving_default']" in result.stdout
  for name in ("input_ids", "input_mask", "segment_ids", "probabilities", "logits"):
    assert f"['{name}']" in result.stdout
  assert "DT_INT32" in result.stdout
