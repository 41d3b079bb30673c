"""Merges runs of bench_pretraining_gains.py into one table: more seeds, or more tasks.

    python bench/merge_gains.py waimai_3seeds.json waimai_seeds_4_5.json > waimai_5seeds.json
    python bench/merge_gains.py chnsenticorp.json waimai_5seeds.json ... > gains_longer.json

Each input is the bench's output (its last line is the JSON report). Per task and arm, the
scores of every input that ran the task are joined in the order given, and the statistics and
gains are computed again from them. Runs of one task must share their fine-tuning settings: the
`--hparams` of their commands may differ only in `seed` and `num_trials` (a second run adds
seeds by starting at another `seed`), and the same seed may not be counted twice. Each arm keeps
its parts' commands (`commands`) and notes (`notes`). Prints the table on stderr and the merged
report as one JSON line on stdout.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_pretraining_gains as gains  # noqa: E402  pylint: disable=wrong-import-position

ARMS = ("pretrained", "scratch")
# What may differ between runs merged into one table: which seeds ran, and how many.
SEED_KEYS = ("seed", "num_trials")


class MergeError(ValueError):
  pass


def read_report(path):
  try:
    return gains.read_report(path)
  except ValueError as error:
    raise MergeError(str(error)) from None


def seeds_of(arm):
  """The seeds an arm's part ran: trial t used seed + t - 1 (seed 1 unless set)."""
  if "seeds" in arm:  # a merged table
    return list(arm["seeds"])
  hparams = gains.arm_command_hparams(arm)
  first = hparams.get("seed", 1)
  return list(range(first, first + len(arm["scores"])))


def settings_of(arm):
  hparams = gains.arm_command_hparams(arm)
  return {key: value for key, value in hparams.items() if key not in SEED_KEYS}


def merge_arm(task, arm, parts):
  """One arm of one task over its parts: scores joined, statistics again, seeds checked."""
  settings, seeds = settings_of(parts[0][1]), []
  for path, part in parts:
    if settings_of(part) != settings:
      raise MergeError(f"{task} {arm}: {path} ran other settings than {parts[0][0]}")
    seeds += seeds_of(part)
  if len(set(seeds)) != len(seeds):
    raise MergeError(f"{task} {arm}: seeds {seeds} count some seed twice")
  merged = gains.score_stats([score for _, part in parts for score in part["scores"]])
  if all("test_scores" in part for _, part in parts):
    merged.update(gains.score_stats(
        [score for _, part in parts for score in part["test_scores"]], prefix="test_"))
  merged["seeds"] = seeds
  merged["commands"] = [command for _, part in parts
                        for command in part.get("commands", [part.get("command")])]
  notes = []
  for path, part in parts:
    notes += part.get("notes", []) + ([f"{os.path.basename(path)}: {part['note']}"]
                                      if "note" in part else [])
  if notes:
    merged["notes"] = notes
  return merged


def merge(paths):
  reports = [(path, read_report(path)) for path in paths]
  merged = {"bench": "pretraining_gains", "model_dir": reports[0][1].get("model_dir"),
            "merged_from": [os.path.basename(path) for path in paths], "tasks": {}}
  tasks = list(dict.fromkeys(task for _, report in reports for task in report["tasks"]))
  for task in tasks:
    rows = [(path, report["tasks"][task]) for path, report in reports if task in report["tasks"]]
    row = {arm: merge_arm(task, arm, [(path, r[arm]) for path, r in rows if arm in r])
           for arm in ARMS if any(arm in r for _, r in rows)}
    gains.add_gains(row)
    floors = {r["naive_bayes_dev"] for _, r in rows if "naive_bayes_dev" in r}
    if len(floors) > 1:
      raise MergeError(f"{task}: the runs scored different dev splits (naive-Bayes "
                       f"floors {sorted(floors)})")
    if floors:
      row["naive_bayes_dev"] = floors.pop()
    merged["tasks"][task] = row
  merged["trials"] = min(len(row[arm]["scores"]) for row in merged["tasks"].values()
                         for arm in ARMS if arm in row)
  return merged


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("reports", nargs="+", help="bench_pretraining_gains.py outputs")
  args = parser.parse_args(argv)
  try:
    merged = merge(args.reports)
  except (OSError, MergeError) as error:
    sys.exit(f"merge_gains.py: {error}")
  gains.print_table(merged)
  print(json.dumps(merged))


if __name__ == "__main__":
  main()
