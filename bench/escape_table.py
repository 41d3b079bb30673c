"""Escape points of pre-training runs, from their held-out histories, as Markdown tables.

    python bench/escape_table.py bench/results/escape_2x128 [--threshold 0.25]
        [--eval-mask-prob 0.15] [--by-tokens]

Reads every `<run>/unsup_results_history.jsonl` (one held-out evaluation a line, as
run_pretraining.py writes it) under the directory, with `<run>/change.txt` (one line: what the run
changes from the base). Each run is read at its own masking rate (`mask_prob` of `<run>/hp.json`,
0.15 if absent), or with --eval-mask-prob at that rate, from the rows evaluated at it: those of
the history that record it (`eval_mask_prob`) and of `<run>/held_out_at_mask_<rate>.jsonl`
(evaluations of its checkpoints afterwards); runs with none are left out. The escape point of a
run is its first held-out evaluation with masked-LM accuracy >= --threshold; a run without one
is "none by step N" (its last evaluation); with the run's batch size and sequence length in
`<run>/hp.json`, the escape point is also given in training tokens (steps x train_batch_size x
max_seq_length), which is what compares runs of different batch sizes. Prints the summary
table, then the step-by-step table (MLM accuracy and AUC of every run; with --by-tokens its rows
are millions of training tokens instead, for the runs whose hp.json gives them), then, for runs
with `attention/<run>/step<N>.json` files (written by tools/attention_stats.py for checkpoints
of the run), how local the discriminator's first layer is: the largest share of attention a
head puts on a token's two neighbours, and the mean cosine between texts' [CLS].
"""

import argparse
import glob
import json
import os
import re

DEFAULT_MASK_PROB = 0.15  # run_pretraining.py's


def read_history(paths, eval_mask_prob, train_mask_prob):
  """{step: record} of the records at `eval_mask_prob` (a record without the field was evaluated
  at `train_mask_prob`); the last record of a step wins (a resumed run re-evaluates a step)."""
  records = {}
  for path in paths:
    with open(path, encoding="utf-8") as f:
      for line in f:
        if line.strip():
          record = json.loads(line)
          if record.get("eval_mask_prob", train_mask_prob) == eval_mask_prob:
            records[int(record["global_step"])] = record
  return dict(sorted(records.items()))


def read_hparams(run_dir):
  path = os.path.join(run_dir, "hp.json")
  if not os.path.isfile(path):
    return {}
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def tokens_per_step(hparams):
  """Training tokens per step (padding included, as the model sees them), or None if unknown."""
  if "train_batch_size" not in hparams or "max_seq_length" not in hparams:
    return None
  return hparams["train_batch_size"] * hparams["max_seq_length"]


def escape_point(history, threshold):
  for step, record in history.items():
    if record["masked_lm_accuracy"] >= threshold:
      return step
  return None


def read_runs(results_dir, eval_mask_prob=None):
  runs = {}
  for name in sorted(os.listdir(results_dir)):
    path = os.path.join(results_dir, name, "unsup_results_history.jsonl")
    if not os.path.isfile(path):
      continue
    hparams = read_hparams(os.path.join(results_dir, name))
    trained_at = hparams.get("mask_prob", DEFAULT_MASK_PROB)
    rate = trained_at if eval_mask_prob is None else eval_mask_prob
    later = glob.glob(os.path.join(results_dir, name, "held_out_at_mask_*.jsonl"))
    history = read_history([path] + sorted(later), rate, trained_at)
    if not history:
      continue
    change_path = os.path.join(results_dir, name, "change.txt")
    change = ""
    if os.path.isfile(change_path):
      with open(change_path, encoding="utf-8") as f:
        change = f.read().strip()
    runs[name] = {"change": change, "history": history,
                  "tokens_per_step": tokens_per_step(hparams)}
  return runs


def disc_cells(record):
  """AUC and recall for ELECTRA runs, '-' for the masked LM alone (no discriminator)."""
  if "disc_auc" not in record:
    return "-", "-"
  return f"{record['disc_auc']:.3f}", f"{record['disc_recall']:.3f}"


def summary_table(runs, threshold):
  lines = [f"| run | change from the base | escape point (held-out MLM acc >= {threshold}) | "
           "last evaluation: step, MLM acc, MLM loss, AUC, disc recall |",
           "| --- | --- | --- | --- |"]
  for name, run in runs.items():
    history = run["history"]
    last_step, last = list(history.items())[-1]
    escape = escape_point(history, threshold)
    escape_text = (f"step {escape} ({history[escape]['masked_lm_accuracy']:.3f})"
                   if escape is not None else f"none by step {last_step}")
    if escape is not None and run["tokens_per_step"]:
      escape_text += f", {millions(escape * run['tokens_per_step'])} M tokens"
    auc, recall = disc_cells(last)
    lines.append(f"| {name} | {run['change']} | {escape_text} | {last_step}: "
                 f"{last['masked_lm_accuracy']:.3f}, {last['masked_lm_loss']:.2f}, {auc}, "
                 f"{recall} |")
  return "\n".join(lines)


def millions(tokens):
  return f"{tokens / 1e6:.1f}"


def step_table(runs, by_tokens=False):
  """MLM accuracy / AUC of every run, a row per step, or per million training tokens."""
  if by_tokens:
    runs = {name: dict(run, history={millions(step * run["tokens_per_step"]): record
                                     for step, record in run["history"].items()})
            for name, run in runs.items() if run["tokens_per_step"]}
  names = list(runs)
  rows = sorted({key for run in runs.values() for key in run["history"]}, key=float)
  header = ["M tokens" if by_tokens else "step"] + [f"{name} MLM acc / AUC" for name in names]
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  for row in rows:
    cells = [str(row)]
    for name in names:
      record = runs[name]["history"].get(row)
      if record is None:
        cells.append("")
      else:
        cells.append(f"{record['masked_lm_accuracy']:.3f} / {disc_cells(record)[0]}")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def read_attention(results_dir):
  """{run: {step: attention statistics}} from attention/<run>/step<N>.json."""
  found = {}
  for path in glob.glob(os.path.join(results_dir, "attention", "*", "step*.json")):
    match = re.fullmatch(r"step(\d+)\.json", os.path.basename(path))
    if match:
      with open(path, encoding="utf-8") as f:
        run = os.path.basename(os.path.dirname(path))
        found.setdefault(run, {})[int(match.group(1))] = json.load(f)
  return {run: dict(sorted(steps.items())) for run, steps in sorted(found.items())}


def attention_cell(stats):
  first_layer = stats["discriminator"]["layers"][0]
  neighbours = max(head["neighbours"] for head in first_layer)
  return f"{neighbours:.2f} / {stats['discriminator']['cls_cosine']:.2f}"


def attention_table(attention):
  names = list(attention)
  steps = sorted({step for run in attention.values() for step in run})
  header = ["step"] + [f"{name} layer-0 neighbours / [CLS] cosine" for name in names]
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  for step in steps:
    cells = [str(step)] + [attention_cell(attention[name][step]) if step in attention[name]
                           else "" for name in names]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("results_dir", help="directory of runs: <run>/unsup_results_history.jsonl")
  parser.add_argument("--threshold", type=float, default=0.25)
  parser.add_argument("--eval-mask-prob", type=float, default=None,
                      help="compare every run at this masking rate (default: each its own)")
  parser.add_argument("--by-tokens", action="store_true",
                      help="rows of the step-by-step table in millions of training tokens")
  args = parser.parse_args(argv)
  runs = read_runs(args.results_dir, args.eval_mask_prob)
  if not runs:
    at = "" if args.eval_mask_prob is None else f" at masking rate {args.eval_mask_prob:g}"
    raise SystemExit(f"escape_table.py: no <run>/unsup_results_history.jsonl{at} in "
                     f"{args.results_dir}")
  print(summary_table(runs, args.threshold))
  print()
  print(step_table(runs, args.by_tokens))
  attention = read_attention(args.results_dir)
  if attention:
    print()
    print(attention_table(attention))


if __name__ == "__main__":
  main()
