"""run_demo.py --quick end to end (vocabulary, dataset, pre-training, fine-tuning on chnsenticorp
and cmrc2018), and its handling of the output directory."""

import json
import math
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import run_demo
from demo import layout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_CMRC_DEV = os.path.join(REPO_ROOT, "sample_data", "finetuning_data", "cmrc2018",
                               "dev.json")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  """Runs the quick demo once for the module; returns (output dir, stdout)."""
  output_dir = tmp_path_factory.mktemp("demo") / "out"
  process = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "run_demo.py"), "--quick",
       "--output-dir", str(output_dir)],
      capture_output=True, text=True, timeout=600, check=False)
  assert process.returncode == 0, (
      f"run_demo.py --quick failed:\n{process.stdout[-4000:]}\n{process.stderr[-4000:]}")
  return output_dir, process.stdout


def model_dir(output_dir):
  return output_dir / "models" / run_demo.MODEL_NAME


def test_progress_and_report_printed(demo):
  _, stdout = demo
  for number in range(1, 7):
    assert f"[stage {number}/6]" in stdout
  # The learning stage: the bundled pre-trained model, its from-scratch twin and the floor.
  assert "Learning: chnsenticorp accuracy" in stdout
  for label in ("pre-trained (sample_data/models/electra-mini)", "same model from random weights",
                "character-bigram naive Bayes"):
    assert label in stdout, label
  # ... and a person's agreement with the dev labels, scored against the copy the demo reads.
  reader = next(line for line in stdout.splitlines() if "a person reading the text alone" in line)
  assert "(260 dev reviews)" in reader and reader.split()[-2:] == ["85.00", "-"]
  assert "step 10/10" in stdout  # The pre-training script's own progress lines come through.
  assert "oneDNN custom operations" not in stdout  # TensorFlow's start-up chatter does not.
  assert "tensorboard --logdir" in stdout
  for task in ("pre-training", "chnsenticorp", "cmrc2018"):
    assert any(line.strip().startswith(task) for line in stdout.splitlines()), task


def test_vocabulary_has_bert_special_tokens(demo):
  output_dir, _ = demo
  tokens = (output_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
  assert tokens[0] == "[PAD]"
  assert tokens[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  assert len(tokens) > 4000
  # The copy that fine-tuning reads is the same file.
  assert (model_dir(output_dir) / "vocab.txt").read_text(encoding="utf-8").splitlines() == tokens


def test_pretraining_dataset(demo):
  output_dir, _ = demo
  records = output_dir / "pretrain_tfrecords"
  shards = sorted(records.glob("pretrain_data.tfrecord-*"))
  assert shards
  summary = json.loads((records / "summary.json").read_text(encoding="utf-8"))
  assert summary["examples"] > 0
  assert summary["settings"]["max_seq_length"] == run_demo.PROFILES["quick"]["pretrain_seq_length"]


def test_pretraining_checkpoint_has_tf1_names(demo):
  output_dir, _ = demo
  checkpoint = tf.train.latest_checkpoint(str(model_dir(output_dir)))
  assert checkpoint and checkpoint.endswith("model.ckpt-10")
  names = {name for name, _ in tf.train.list_variables(checkpoint)}
  assert "electra/embeddings/word_embeddings" in names
  assert any(name.startswith("electra/encoder/layer_1/") for name in names)
  assert any(name.startswith("generator/encoder/layer_0/") for name in names)
  assert "electra/embeddings/word_embeddings/adam_m" in names
  assert "electra/embeddings/word_embeddings/adam_v" in names
  assert "global_step" in names


def test_finetuning_results(demo):
  output_dir, _ = demo
  results_dir = model_dir(output_dir) / "results"
  expected = {"chnsenticorp": {"accuracy", "loss"}, "cmrc2018": {"em", "f1"}}
  for task, metric_names in expected.items():
    assert (results_dir / f"{task}_results.txt").is_file()
    results = json.loads((results_dir / f"{task}_results.json").read_text(encoding="utf-8"))
    for split in ("dev", "test"):
      metrics = results["trials"][0]["results"][task][split]
      assert metric_names <= set(metrics), (task, split, metrics)
      assert set(results["summary"][task][split]) >= metric_names
  # The fine-tuning stages train on batches grouped by length (windows of several batches).
  for task in expected:
    written = json.loads((output_dir / "hparams" / f"finetune_{task}.json").read_text())
    assert written["group_by_length"] > 1


def test_cmrc2018_dev_predictions_answer_every_question(demo):
  output_dir, _ = demo
  with open(SAMPLE_CMRC_DEV, encoding="utf-8") as f:
    dev = json.load(f)
  question_ids = {qa["id"] for article in dev["data"] for paragraph in article["paragraphs"]
                  for qa in paragraph["qas"]}
  preds_file = model_dir(output_dir) / "results" / "cmrc2018_qa" / "cmrc2018_dev_preds.json"
  predictions = json.loads(preds_file.read_text(encoding="utf-8"))
  assert set(predictions) == question_ids
  assert all(isinstance(answer, str) for answer in predictions.values())


def test_demo_results_summary(demo):
  output_dir, _ = demo
  summary = json.loads((output_dir / run_demo.RESULTS_FILE).read_text(encoding="utf-8"))
  pretraining = summary["pretraining"]
  assert pretraining["final_step"] == 10
  assert math.isfinite(pretraining["final_loss"]) and pretraining["final_loss"] > 0
  assert set(summary["finetuning"]) == {"chnsenticorp", "cmrc2018"}
  for path in (summary["outputs"]["vocab"], summary["outputs"]["pretrain_checkpoint"] + ".index",
               *summary["outputs"]["qa_predictions"]):
    assert os.path.isfile(path), path
  assert (output_dir / run_demo.MARKER_FILE).is_file()
  assert (output_dir / "logs" / "3-pretraining.log").is_file()


# ----------------------------------------------------------------------------------------------
# The output directory (no training).

def test_refuses_a_directory_it_did_not_make(tmp_path):
  precious = tmp_path / "precious"
  precious.mkdir()
  (precious / "notes.txt").write_text("keep me")
  process = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "run_demo.py"), "--output-dir", str(precious)],
      capture_output=True, text=True, timeout=120, check=False)
  assert process.returncode == 1
  error_lines = process.stderr.strip().splitlines()
  assert len(error_lines) == 1 and error_lines[0].startswith("run_demo.py: error: ")
  assert "--keep" in error_lines[0]
  assert (precious / "notes.txt").read_text() == "keep me"
  assert sorted(os.listdir(precious)) == ["notes.txt"]


def test_wipes_only_its_own_directory(tmp_path):
  output_dir = tmp_path / "out"
  run_demo.prepare_output_dir(str(output_dir))
  (output_dir / "old_result.txt").write_text("from the last run")
  run_demo.prepare_output_dir(str(output_dir), keep=True)
  assert (output_dir / "old_result.txt").is_file()
  run_demo.prepare_output_dir(str(output_dir))
  assert sorted(os.listdir(output_dir)) == [run_demo.MARKER_FILE]
  empty = tmp_path / "empty"
  empty.mkdir()
  run_demo.prepare_output_dir(str(empty))  # An empty directory is fine as it is.
  assert os.listdir(empty) == [run_demo.MARKER_FILE]


def test_a_quick_run_never_wipes_a_full_demos_directory(tmp_path):
  full = tmp_path / "full"
  run_demo.prepare_output_dir(str(full))
  (full / "demo_results.json").write_text("{}")
  process = subprocess.run(
      [sys.executable, os.path.join(REPO_ROOT, "run_demo.py"), "--quick", "--output-dir",
       str(full)], capture_output=True, text=True, timeout=120, check=False)
  error_lines = process.stderr.strip().splitlines()
  assert process.returncode == 1 and len(error_lines) == 1
  assert "holds the output of a full demo, which --quick would wipe" in error_lines[0]
  assert sorted(os.listdir(full)) == sorted([run_demo.MARKER_FILE, "demo_results.json"])
  quick = tmp_path / "quick"
  run_demo.prepare_output_dir(str(quick), profile="quick")
  (quick / "old.txt").write_text("from the last quick run")
  run_demo.prepare_output_dir(str(quick), profile="quick")  # its own: wiped
  assert os.listdir(quick) == [run_demo.MARKER_FILE]
  run_demo.prepare_output_dir(str(quick))  # a full run may replace a quick run's output
  assert layout.marker_profile(str(quick)) == "default"


def test_quick_has_its_own_default_directory():
  assert run_demo.QUICK_OUTPUT_DIR != run_demo.DEFAULT_OUTPUT_DIR
  help_text = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "run_demo.py"), "--help"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
  assert "demo_output_quick/" in " ".join(help_text.split())


def test_refuses_to_hold_the_repository():
  with pytest.raises(run_demo.DemoError, match="repository"):
    run_demo.prepare_output_dir(os.path.dirname(REPO_ROOT))


def test_reads_scalars_from_tensorboard_events(tmp_path):
  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    for step, loss in ((10, 3.5), (20, 2.25)):
      tf.summary.scalar("loss", loss, step=step)
      tf.summary.scalar("disc_accuracy", 0.5, step=step)
  writer.close()
  summary = run_demo.pretraining_summary(str(tmp_path))
  assert summary["first_step"] == 10 and summary["first_loss"] == pytest.approx(3.5)
  assert summary["final_step"] == 20 and summary["final_loss"] == pytest.approx(2.25)
  assert summary["final_metrics"] == {"disc_accuracy": pytest.approx(0.5)}


def test_learning_table_prints_the_gain_of_pre_training(capsys):
  from demo import report  # pylint: disable=import-outside-toplevel
  report.print_learning_table({
      layout.SHIPPED_MODEL: {"dev": {"accuracy": 86.0}, "test": {"accuracy": 84.5}},
      layout.SCRATCH_MODEL: {"dev": {"accuracy": 80.0}, "test": {"accuracy": 85.0}},
      "naive-bayes": {"dev": {"accuracy": 82.0}, "test": {"accuracy": 77.0}}})
  gain = [line for line in capsys.readouterr().out.splitlines() if "gain of pre-training" in line]
  assert len(gain) == 1 and gain[0].split()[-2:] == ["+6.00", "-0.50"]
  report.print_learning_table({layout.SHIPPED_MODEL: {"dev": {"accuracy": 86.0}}})
  assert "gain" not in capsys.readouterr().out  # --quick runs no from-scratch arm


def test_learning_stage_averages_its_fine_tuning_seeds(capsys):
  from demo import report  # pylint: disable=import-outside-toplevel
  assert run_demo.PROFILES["default"]["learning_trials"] > 1
  trials = [{"trial": n, "results": {"chnsenticorp": {"dev": {"accuracy": dev},
                                                      "test": {"accuracy": test}}}}
            for n, (dev, test) in enumerate([(80.0, 70.0), (84.0, 74.0), (79.0, 75.0)], 1)]
  pretrained = run_demo.mean_over_trials(trials, "chnsenticorp")
  assert pretrained["dev"]["accuracy"] == pytest.approx(81.0)
  assert pretrained["dev"]["scores"] == [80.0, 84.0, 79.0]
  assert pretrained["test"]["accuracy"] == pytest.approx(73.0)
  dev_only = [{"results": {"chnsenticorp": {"dev": {"accuracy": 80.0}}}}]  # as --quick scores
  assert list(run_demo.mean_over_trials(dev_only, "chnsenticorp")) == ["dev"]
  scratch = run_demo.mean_over_trials(trials[:1], "chnsenticorp")
  report.print_learning_table({layout.SHIPPED_MODEL: pretrained, layout.SCRATCH_MODEL: scratch})
  out = capsys.readouterr().out
  assert "mean [min, max] of 3 fine-tuning seeds" in out
  row = next(line for line in out.splitlines() if "pre-trained" in line)
  assert row.split()[-6:] == ["81.00", "[79.00,", "84.00]", "73.00", "[70.00,", "75.00]"]
  gain = next(line for line in out.splitlines() if "gain of pre-training" in line)
  assert gain.split()[-2:] == ["+1.00", "+3.00"]  # means against means


def test_scripts_side_by_side_share_the_cores_and_keep_their_logs(tmp_path, capsys, monkeypatch):
  from demo import child_process  # pylint: disable=import-outside-toplevel
  monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
  script = tmp_path / "child.py"
  script.write_text(
      "import os, sys\n"
      "print('I0000 00:00:1.0 1 cpu_feature_guard.cc:1] chatter')\n"
      "print('threads', os.environ.get('TF_NUM_INTRAOP_THREADS'))\n"
      "sys.exit(int(sys.argv[1]))\n", encoding="utf-8")
  jobs = [(label, str(script), [code], str(tmp_path / f"{label}.log"))
          for label, code in (("a", "0"), ("b", "3"))]
  assert child_process.run_scripts(jobs) == [0, 3]
  shown = capsys.readouterr().out.splitlines()
  share = str(max(1, (os.cpu_count() or 1) // 2))
  assert sorted(shown) == [f"    [a] threads {share}", f"    [b] threads {share}"]
  for label in ("a", "b"):
    log = (tmp_path / f"{label}.log").read_text(encoding="utf-8")
    assert log.startswith("$ ") and "chatter" in log and f"threads {share}" in log
  monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "7")  # a user's setting wins
  assert child_process.run_script(str(script), ["0"], str(tmp_path / "one.log")) == 0
  assert capsys.readouterr().out == "    threads 7\n"


@pytest.mark.parametrize("native, precision", [(True, "bfloat16"), (False, "float32"),
                                               (None, "float32")])
def test_learning_stage_computes_in_bfloat16_only_where_the_cpu_has_it(monkeypatch, native,
                                                                       precision):
  from util import device_options  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(device_options, "cpu_has_native_bfloat16", lambda: native)
  assert run_demo.learning_precision() == precision
