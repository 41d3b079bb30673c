"""tools/split_waimai.py: a fixed, stratified, duplicate-free 80/10/10 split the waimai task
reads."""

import collections
import os
import subprocess
import sys
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import split_waimai  # noqa: E402  pylint: disable=wrong-import-position
from finetune import task_builder  # noqa: E402  pylint: disable=wrong-import-position


def write_csv(path, rows, header="label,review"):
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(header + "\n")
    f.writelines(row + "\n" for row in rows)
  return str(path)


@pytest.fixture
def source(tmp_path):
  rows = [f"0,差评第{i}次，送得太慢" for i in range(80)] + [f"1,好吃第{i}次" for i in range(40)]
  rows += ['1,"好吃第0次"', '0,"多行\n评论\t有制表符"']  # a repeat; a quoted field with whitespace
  return write_csv(tmp_path / "waimai_10k.csv", rows)


def read_tsv(path):
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  assert lines[0] == "label\ttext_a"
  return [tuple(line.split("\t")) for line in lines[1:]]


def run_split(source, output_dir, seed=0):
  split_waimai.main(["--source", source, "--output-dir", str(output_dir), "--seed", str(seed)])
  return {name: read_tsv(output_dir / f"{name}.tsv") for name in ("train", "dev", "test")}


def test_split_is_stratified_disjoint_and_fixed_by_the_seed(source, tmp_path):
  splits = run_split(source, tmp_path / "waimai")
  sizes = {name: collections.Counter(label for label, _ in rows) for name, rows in splits.items()}
  # 81 negatives (80 + the multi-line one) and 40 positives after the repeat is dropped.
  assert sizes == {"train": {"0": 65, "1": 32}, "dev": {"0": 8, "1": 4},
                   "test": {"0": 8, "1": 4}}
  texts = [text for rows in splits.values() for _, text in rows]
  assert len(texts) == len(set(texts)) == 121
  assert "多行 评论 有制表符" in texts
  assert run_split(source, tmp_path / "again") == splits
  assert run_split(source, tmp_path / "other", seed=1) != splits


def test_the_waimai_task_reads_the_split(source, tmp_path):
  run_split(source, tmp_path / "waimai")
  config = types.SimpleNamespace(raw_data_dir=lambda name: str(tmp_path / name),
                                 double_unordered=False)
  task = task_builder.task_class("waimai")(config, tokenizer=None)
  examples = task.get_examples("dev")
  assert len(examples) == 12
  assert sorted(task.label_list) == ["0", "1"]


@pytest.mark.parametrize("rows,header,message", [
    (["2,好"], "label,review", "label '2' is not 0 or 1"),
    (["1,"], "label,review", "empty review"),
    (["1,好,多"], "label,review", "expected 2 fields"),
    (["1,好"], "text,label", "header"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, rows, header, message):
  path = write_csv(tmp_path / "bad.csv", rows, header)
  result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "split_waimai.py"),
                           "--source", path, "--output-dir", str(tmp_path / "out")],
                          capture_output=True, text=True, check=False)
  assert result.returncode != 0
  assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
  assert sorted(os.listdir(tmp_path)) == ["bad.csv"]


def test_missing_source_and_rewrite_leave_no_staging(tmp_path, source):
  with pytest.raises(SystemExit, match="no such file"):
    split_waimai.main(["--source", str(tmp_path / "none.csv"), "--output-dir",
                       str(tmp_path / "out")])
  run_split(source, tmp_path / "out")
  run_split(source, tmp_path / "out", seed=3)  # rewrites in place
  assert sorted(os.listdir(tmp_path)) == ["out", "waimai_10k.csv"]
