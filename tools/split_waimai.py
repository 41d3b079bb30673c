"""Splits waimai_10k.csv (food-delivery reviews, label 1 positive / 0 negative) into a
classification task for run_finetuning.py:

    python tools/split_waimai.py --source ../shared/data/waimai_10k.csv \\
        --output-dir DATA/finetuning_data/waimai [--seed 0]

Input: UTF-8 CSV with the header `label,review` (quoted fields allowed). Output:
{train,dev,test}.tsv in the ChnSentiCorp layout (`label<TAB>text_a`, with that header), read by the
`waimai` task. The split is 80/10/10 within each label (so every split keeps the corpus's
positive share), shuffled with --seed: the same input and seed always give the same files.
A review seen before (same text after trimming) is dropped, so no text is in two splits;
whitespace inside a review (tabs, newlines) becomes one space. The counts are printed.
The files are written to a staging directory and moved into place only when all three are done.
"""

import argparse
import csv
import os
import random
import shutil
import sys
import tempfile

SPLITS = (("train", 0.8), ("dev", 0.1), ("test", 0.1))
LABELS = ("0", "1")


class WaimaiError(ValueError):
  """Bad input, reported in one line."""


def read_reviews(path):
  """[(label, text)] in file order, duplicates (by text) dropped; and how many were dropped."""
  if not os.path.isfile(path):
    raise WaimaiError(f"{path}: no such file")
  try:
    with open(path, encoding="utf-8", newline="") as f:
      rows = list(csv.reader(f))
  except UnicodeDecodeError as e:
    raise WaimaiError(f"{path}: not UTF-8 (byte {e.start}): {e.reason}") from None
  if not rows or [cell.strip() for cell in rows[0]] != ["label", "review"]:
    raise WaimaiError(f"{path}: line 1 must be the header 'label,review'")
  reviews, seen, duplicates = [], set(), 0
  for line_number, row in enumerate(rows[1:], start=2):
    if len(row) != 2:
      raise WaimaiError(f"{path}: line {line_number}: expected 2 fields, got {len(row)}")
    label, text = row[0].strip(), " ".join(row[1].split())
    if label not in LABELS:
      raise WaimaiError(f"{path}: line {line_number}: label {label!r} is not 0 or 1")
    if not text:
      raise WaimaiError(f"{path}: line {line_number}: empty review")
    if text in seen:
      duplicates += 1
      continue
    seen.add(text)
    reviews.append((label, text))
  if not reviews:
    raise WaimaiError(f"{path}: no reviews")
  return reviews, duplicates


def split_reviews(reviews, seed):
  """{split: [(label, text)]}, 80/10/10 within each label, each split shuffled."""
  rng = random.Random(seed)
  splits = {name: [] for name, _ in SPLITS}
  for label in LABELS:
    group = [review for review in reviews if review[0] == label]
    rng.shuffle(group)
    start = 0
    for index, (name, share) in enumerate(SPLITS):
      end = len(group) if index == len(SPLITS) - 1 else start + round(share * len(group))
      splits[name].extend(group[start:end])
      start = end
  for group in splits.values():
    rng.shuffle(group)
  return splits


def write_splits(splits, output_dir):
  """Writes {split}.tsv into a staging directory beside output_dir, then moves it into place."""
  parent = os.path.dirname(os.path.abspath(output_dir))
  if not os.path.isdir(parent):
    raise WaimaiError(f"{parent}: no such directory (create it first)")
  staging = tempfile.mkdtemp(prefix=".waimai-", dir=parent)
  try:
    for name, group in splits.items():
      with open(os.path.join(staging, f"{name}.tsv"), "w", encoding="utf-8") as f:
        f.write("label\ttext_a\n")
        f.writelines(f"{label}\t{text}\n" for label, text in group)
    if os.path.isdir(output_dir):
      shutil.rmtree(output_dir)
    os.rename(staging, output_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--source", required=True, help="waimai_10k.csv")
  parser.add_argument("--output-dir", required=True,
                      help="task directory to (re)write, e.g. DATA/finetuning_data/waimai")
  parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
  args = parser.parse_args(argv)
  try:
    reviews, duplicates = read_reviews(args.source)
    splits = split_reviews(reviews, args.seed)
    write_splits(splits, args.output_dir)
  except WaimaiError as e:
    sys.exit(f"split_waimai.py: {e}")
  counts = ", ".join(
      f"{name} {len(group)} ({sum(label == '1' for label, _ in group)} positive)"
      for name, group in splits.items())
  print(f"{len(reviews)} reviews ({duplicates} duplicates dropped): {counts} -> {args.output_dir}")


if __name__ == "__main__":
  main()
