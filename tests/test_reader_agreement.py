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
