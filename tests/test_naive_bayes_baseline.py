"""Tests of the naive-Bayes floor (bench/bench_naive_bayes.py) on tiny generated TSV files."""

import json
import os
import subprocess
import sys

import pytest

from bench import bench_naive_bayes as nb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

XNLI_HEADER = ("language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\t"
               "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tpromptID\tpairID")

# Separable by one character each: 好 only in positive rows, 差 only in negative ones.
SENTIMENT = [("1", "这家酒店很好"), ("0", "这家酒店很差"), ("1", "房间好"), ("0", "房间差"),
             ("1", "服务好好"), ("0", "服务差差")]


def write_task(root, task, splits):
  """splits: split name -> lines (header first)."""
  task_dir = root / task
  task_dir.mkdir(parents=True)
  for split, lines in splits.items():
    (task_dir / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
  return root


@pytest.fixture
def sentiment_dir(tmp_path):
  lines = ["label\ttext_a"] + [f"{label}\t{text}" for label, text in SENTIMENT]
  return write_task(tmp_path, "chnsenticorp", {"train": lines, "dev": lines[:3],
                                               "test": ["label\ttext_a", "1\t很好", "0\t很差"]})


def test_features_are_lower_cased_unigrams_and_bigrams():
  assert nb.text_features("AbC") == ["a", "b", "c", "ab", "bc"]
  assert nb.text_features("好", "b:") == ["b:好"]


def test_pair_features_are_prefixed_and_do_not_cross_texts():
  example = type("Example", (), {"text_a": "你好", "text_b": "他"})()
  assert nb.example_features(example) == ["a:你", "a:好", "a:你好", "b:他"]


def test_separable_set_is_classified_perfectly(sentiment_dir):
  record = nb.evaluate_task(str(sentiment_dir), "chnsenticorp")
  assert (record["train_size"], record["dev_size"], record["test_size"]) == (6, 2, 2)
  assert record["dev_accuracy"] == record["test_accuracy"] == 100.0
  assert (record["alpha"], record["alpha_chosen_on"]) == (1.0, "fixed")


def test_log_probabilities_match_hand_computation():
  model = nb.NaiveBayes(["0", "1"], alpha=1.0).fit([["x", "x"], ["y"]], ["0", "1"])
  # Class "0": counts x=2, y=0 -> (3/4, 1/4) after add-one smoothing.
  assert model.log_likelihood[0] == pytest.approx([-0.2876821, -1.3862944])
  assert model.predict([["x"], ["y", "y"], ["unseen"]]) == ["0", "1", "0"]


def test_main_prints_one_json_line(sentiment_dir, capsys):
  nb.main(["--data-dir", str(sentiment_dir), "--alpha", "dev"])
  out = capsys.readouterr().out.strip().splitlines()
  assert len(out) == 1
  record = json.loads(out[0])
  assert record["task"] == "chnsenticorp" and record["alpha_chosen_on"] == "dev"
  assert record["alpha"] in nb.ALPHA_GRID and set(record["dev_accuracy_by_alpha"]) == {
      "0.1", "0.3", "1.0"}
  assert record["test_accuracy"] == 100.0


def test_pair_task_reads_both_texts(tmp_path):
  # Matching pairs share their text; the label follows whether text_b repeats text_a's word.
  rows = [("苹果", "苹果", "1"), ("香蕉", "香蕉", "1"), ("苹果", "汽车", "0"), ("香蕉", "火车", "0")]
  lines = ["text_a\ttext_b\tlabel"] + ["\t".join(row) for row in rows]
  write_task(tmp_path, "lcqmc", {"train": lines, "dev": lines, "test": lines})
  record = nb.evaluate_task(str(tmp_path), "lcqmc", alpha=0.3)
  assert record["alpha"] == 0.3 and record["test_accuracy"] == 100.0


def test_xnli_uses_the_project_reader(tmp_path):
  """XNLI dev/test are in the XNLI-1.0 layout; non-Chinese rows are skipped as in fine-tuning."""
  train = ["premise\thypo\tlabel", "他在家\t他在家\tentailment", "他在家\t他不在家\tcontradictory",
           "他在家\t他在看书\tneutral"]
  held_out = [XNLI_HEADER, "zh\tentailment\t(x)\t(y)\t(x)\t(y)\t他在家\t他在家\t1\t2",
              "en\tneutral\t(x)\t(y)\t(x)\t(y)\the\this\t1\t2"]
  write_task(tmp_path, "xnli", {"train": train, "dev": held_out, "test": held_out})
  record = nb.evaluate_task(str(tmp_path), "xnli")
  assert (record["train_size"], record["dev_size"], record["test_size"]) == (3, 1, 1)


def test_importing_does_not_load_tensorflow():
  """run_demo.py imports evaluate_task; the floor must stay a one-second, TensorFlow-free run."""
  code = "import sys, bench.bench_naive_bayes; print('tensorflow' in sys.modules)"
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
  assert result.stdout.strip() == "False"
