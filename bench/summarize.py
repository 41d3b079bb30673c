"""Turns the JSON lines of bench/run_all.sh into the results table of bench/README.md.

    python bench/summarize.py [RESULTS_DIR]   (default bench/results: the committed run)

Reads matmul_peak.json, train_step.json, inference.json, input_pipeline.json,
build_dataset.json and peer.json (each: the last line that is a JSON object) and prints a
Markdown table: every figure, the peer's or the plain-Python reference's (the peer: the faster
of eager and torch.compile) and the ratio of the two.
"""

import json
import os
import sys


def load(directory, name):
  path = os.path.join(directory, name + ".json")
  if not os.path.exists(path):
    return None
  record = None
  with open(path, encoding="utf-8") as f:
    for line in f:
      if line.startswith("{"):
        record = json.loads(line)
  return record


def fmt(value, digits=3):
  if value is None:
    return "n/a"
  return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  directory = argv[0] if argv else os.path.join(os.path.dirname(__file__), "results")
  peak = load(directory, "matmul_peak") or {}
  train = (load(directory, "train_step") or {}).get("results", {})
  inference = (load(directory, "inference") or {}).get("results", {})
  pipeline = (load(directory, "input_pipeline") or {}).get("results", {})
  peer_record = load(directory, "peer") or {}
  peer = peer_record.get("best", {})
  rows = [("measure", "ours", "PyTorch peer or Python reference", "ours vs that")]

  def peer_value(key, field):
    entry = peer.get(key)
    if not entry:
      return None, ""
    return entry[field], entry.get("mode", "")

  for what in ("finetune", "pretrain"):
    for precision in ("float32", "bfloat16"):
      ours = train.get(f"{what}/{precision}", {}).get("step_s")
      theirs, mode = peer_value(f"{what}/{precision}", "step_s")
      ratio = theirs / ours if ours and theirs else None
      rows.append((f"{what} step, {precision} (s, 32 x 128)", fmt(ours),
                   f"{fmt(theirs)} ({mode})" if theirs else "n/a",
                   f"{ratio:.2f}x" if ratio else "n/a"))
  f32 = train.get("finetune/float32", {})
  rows.append(("finetune float32 MFU (achieved / measured fp32 matmul peak)",
               f"{fmt(f32.get('mfu'))} ({fmt(f32.get('gflops'))} of "
               f"{fmt(peak.get('peak_gflops', {}).get('float32'))} GFLOP/s)", "", ""))
  rows.append(("finetune bfloat16 speed-up over float32",
               fmt(train.get("finetune/bfloat16_speedup")), "", ""))
  for what, key in (("cls", "infer_cls"), ("qa", "infer_qa")):
    for precision in ("float32", "bfloat16"):
      ours = inference.get(f"{what}/{precision}", {}).get("examples_per_s")
      theirs, mode = peer_value(f"{key}/{precision}", "examples_per_s")
      ratio = ours / theirs if ours and theirs else None
      length = "128" if what == "cls" else "512"
      rows.append((f"predict {what}, {precision} (examples/s, x {length})", fmt(ours),
                   f"{fmt(theirs)} ({mode})" if theirs else "n/a",
                   f"{ratio:.2f}x" if ratio else "n/a"))
  post = inference.get("qa_postprocess", {})
  rows.append((f"QA post-processing, {post.get('questions', 'n/a')} questions "
               f"({post.get('windows', 'n/a')} windows) (s)", fmt(post.get("total_s")), "", ""))
  build = load(directory, "build_dataset") or {}
  reference = build.get("reference", {}).get("mb_per_s")
  for processes, run in sorted(build.get("builder", {}).items()):
    ours = run["mb_per_s"]
    rows.append((f"build_pretraining_dataset.py, {processes} process(es) (MB/s, "
                 f"{build.get('corpus_mb')} MB corpus)", fmt(ours),
                 f"{fmt(reference)} (plain-Python reference)" if reference else "n/a",
                 f"{ours / reference:.1f}x" if reference else "n/a"))
  for key, value in pipeline.items():
    rows.append((f"input pipeline overhead, {key} (TFRecords vs in-memory, %, min / median)",
                 f"{fmt(value.get('overhead_pct'))} / {fmt(value.get('overhead_pct_median'))}",
                 "", ""))
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  for index, row in enumerate(rows):
    print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
    if index == 0:
      print("| " + " | ".join("-" * width for width in widths) + " |")


if __name__ == "__main__":
  main()
