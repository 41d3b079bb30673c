"""How often a person reading only the text agrees with a classification set's gold labels.

    python bench/reader_agreement.py --labels bench/results/reader_agreement/chnsenticorp_dev.txt \\
        --split sample_data/finetuning_data/chnsenticorp/dev.tsv [--predictions P1.tsv P2.tsv ...]

--labels holds one `ROW LABEL` pair a line: ROW is the 0-based data row of --split (the header
not counted), LABEL the reader's label, given from the text alone with the gold labels hidden.
The agreement is a ceiling for what a model can be expected to score on that split: where the
reader and the gold label disagree, the text alone rarely decides the label (a fragment of a
longer review, a neutral sentence, or a label that contradicts the text).

--predictions takes predict.py's TSV outputs for the split's texts in order (ids 1, 2, ...): each
model's accuracy is then given on all rows, on the rows where the reader agrees with the gold
label, and on those where the reader differs (where the labels are noise, a model cannot be
expected to be right).

Prints ONE JSON line: rows read, agreements, the agreement in percent with its Wilson 95%
interval, the rows where the reader and the gold label differ, and the split's SHA-256 (a split
made by a script, such as waimai's, can be checked to be the one that was read); with
--predictions, each model's scores under `models`.
"""

import argparse
import csv
import hashlib
import json
import math
import sys


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--labels", required=True, help="the reader's `ROW LABEL` lines")
  parser.add_argument("--split", required=True, help="a TSV with a header, `label` and `text_a`")
  parser.add_argument("--predictions", nargs="*", default=[],
                      help="predict.py TSV outputs (id, label, ...) of the split's texts")
  return parser.parse_args(argv)


def read_reader_labels(path):
  labels = {}
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      fields = line.split()
      if len(fields) != 2 or not all(field.isdigit() for field in fields):
        raise ValueError(f"{path}:{number}: expected `ROW LABEL`, got {line.strip()!r}")
      labels[int(fields[0])] = fields[1]
  return labels


def read_gold_labels(path):
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  if not rows or "label" not in rows[0]:
    raise ValueError(f"{path}: no header with a `label` column")
  column = rows[0].index("label")
  return [row[column] for row in rows[1:]]


def read_predictions(path, n_rows):
  """[predicted label of each data row] from predict.py's TSV (ids 1..n_rows, a header line)."""
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
  labels = {row[0]: row[1] for row in rows if len(row) >= 2}
  missing = [str(n) for n in range(1, n_rows + 1) if str(n) not in labels]
  if missing:
    raise ValueError(f"{path}: no prediction for ids {', '.join(missing[:5])} "
                     f"(expected ids 1-{n_rows}, one per row of the split)")
  return [labels[str(n)] for n in range(1, n_rows + 1)]


def accuracy_by_reader(predicted, gold, reader, differ):
  """Accuracy (%) on every row, and on the rows read where the reader agrees / differs."""
  def accuracy(rows):
    rows = list(rows)
    return 100.0 * sum(predicted[row] == gold[row] for row in rows) / len(rows) if rows else None
  differ = set(differ)
  return {"all": accuracy(range(len(gold))),
          "reader_agrees": accuracy(row for row in reader if row not in differ),
          "reader_differs": accuracy(row for row in reader if row in differ)}


def wilson_interval(successes, total, z=1.96):
  """95% interval of a proportion; unlike the normal approximation it stays inside [0, 1]."""
  if not total:
    return 0.0, 0.0
  p = successes / total
  centre = (p + z * z / (2 * total)) / (1 + z * z / total)
  spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
  return centre - spread, centre + spread


def agreement(reader, gold):
  missing = sorted(row for row in reader if row >= len(gold))
  if missing:
    raise ValueError(f"rows {missing[:5]} are past the split's {len(gold)} data rows")
  differ = sorted(row for row, label in reader.items() if gold[row] != label)
  agreed = len(reader) - len(differ)
  low, high = wilson_interval(agreed, len(reader))
  return {"rows": len(reader), "agreed": agreed,
          "agreement": 100.0 * agreed / len(reader) if reader else 0.0,
          "interval_95": [100.0 * low, 100.0 * high], "differ": differ}


def main(argv=None):
  args = parse_args(argv)
  try:
    reader, gold = read_reader_labels(args.labels), read_gold_labels(args.split)
    result = agreement(reader, gold)
    models = {path: accuracy_by_reader(read_predictions(path, len(gold)), gold, reader,
                                       result["differ"]) for path in args.predictions}
  except (OSError, ValueError) as error:
    sys.exit(f"reader_agreement.py: {error}")
  with open(args.split, "rb") as f:
    split_sha256 = hashlib.sha256(f.read()).hexdigest()
  if models:
    result["models"] = models
  print(json.dumps(dict(result, labels=args.labels, split=args.split, split_sha256=split_sha256)))


if __name__ == "__main__":
  main()
