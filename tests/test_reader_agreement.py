"""bench/reader_agreement.py: a reader's labels scored against a split's gold labels."""

import json
import math

import pytest

from bench import reader_agreement


def write_split(path, labels):
  path.write_text("label\ttext_a\n" + "".join(f"{label}\t评论{n}\n" for n, label in
                                              enumerate(labels)), encoding="utf-8")


def test_agreement_counts_the_rows_read_and_lists_the_others(tmp_path, capsys):
  split, labels = tmp_path / "dev.tsv", tmp_path / "reader.txt"
  write_split(split, [1, 0, 1, 1, 0])
  labels.write_text("1 0\n2 1\n3 0\n4 0\n", encoding="utf-8")  # row 0 not read; row 3 differs
  reader_agreement.main(["--labels", str(labels), "--split", str(split)])
  result = json.loads(capsys.readouterr().out)
  assert (result["rows"], result["agreed"], result["differ"]) == (4, 3, [3])
  assert result["agreement"] == pytest.approx(75.0)
  low, high = result["interval_95"]
  assert low < 75.0 < high and 0.0 <= low and high <= 100.0
  assert len(result["split_sha256"]) == 64


def test_wilson_interval_matches_the_formula_and_stays_in_range():
  low, high = reader_agreement.wilson_interval(221, 260)
  # 221/260 = 0.85: the Wilson interval is about [0.802, 0.888], a little left of centre.
  assert low == pytest.approx(0.8015, abs=1e-3) and high == pytest.approx(0.8883, abs=1e-3)
  low, high = reader_agreement.wilson_interval(10, 10)
  assert high <= 1.0 and low < 1.0 and not math.isnan(low)


@pytest.mark.parametrize("labels, message", [
    ("1 0\nnot a pair\n", "reader.txt:2: expected `ROW LABEL`"),
    ("9 1\n", "past the split's 3 data rows"),
])
def test_bad_labels_are_a_one_line_error(tmp_path, labels, message):
  split, path = tmp_path / "dev.tsv", tmp_path / "reader.txt"
  write_split(split, [1, 0, 1])
  path.write_text(labels, encoding="utf-8")
  with pytest.raises(SystemExit) as raised:
    reader_agreement.main(["--labels", str(path), "--split", str(split)])
  assert message in str(raised.value) and "\n" not in str(raised.value)


def test_models_are_scored_apart_on_the_rows_the_reader_agrees_and_differs(tmp_path, capsys):
  split, labels, predictions = tmp_path / "dev.tsv", tmp_path / "reader.txt", tmp_path / "p.tsv"
  write_split(split, [1, 0, 1, 1, 0])
  labels.write_text("0 1\n1 0\n2 0\n3 1\n", encoding="utf-8")  # the reader differs on row 2
  # predict.py's TSV: ids from 1; right on rows 0, 1 and 4, wrong on 2 and 3.
  predictions.write_text("id\tlabel\tprobability\n1\t1\t0.9\n2\t0\t0.8\n3\t0\t0.7\n4\t0\t0.6\n"
                         "5\t0\t0.9\n", encoding="utf-8")
  reader_agreement.main(["--labels", str(labels), "--split", str(split),
                         "--predictions", str(predictions)])
  scores = json.loads(capsys.readouterr().out)["models"][str(predictions)]
  assert scores["all"] == pytest.approx(60.0)
  assert scores["reader_agrees"] == pytest.approx(200.0 / 3)  # rows 0, 1 right; row 3 wrong
  assert scores["reader_differs"] == pytest.approx(0.0)  # row 2


def test_predictions_missing_a_row_are_a_one_line_error(tmp_path):
  split, labels, predictions = tmp_path / "dev.tsv", tmp_path / "reader.txt", tmp_path / "p.tsv"
  write_split(split, [1, 0])
  labels.write_text("0 1\n", encoding="utf-8")
  predictions.write_text("id\tlabel\n1\t1\n", encoding="utf-8")
  with pytest.raises(SystemExit, match="no prediction for ids 2"):
    reader_agreement.main(["--labels", str(labels), "--split", str(split),
                           "--predictions", str(predictions)])
