"""What a build reports: progress lines on stderr, the statistics of summary.json, the last words.

What lives where: here `Progress`, `summarize` and `write_summary` (summary.json) and
`print_summary`; `pretrain/dataset_writer.py` collects the per-unit results they are made from.
"""

import os
import sys
import time

import numpy as np

from util.utils import format_duration, write_json

SUMMARY_FILE = "summary.json"


class Progress:
  """Throughput and ETA on stderr: redrawn in place on a terminal, else a line every 15 s."""

  def __init__(self, total_bytes, enabled=True, stream=None):
    self.total_bytes = total_bytes
    self.enabled = enabled
    self.stream = stream or sys.stderr
    self.is_tty = self.stream.isatty()
    self.interval = 0.5 if self.is_tty else 15.0
    self.started = time.time()
    self.last_shown = self.started
    self.done_bytes = 0
    self.examples = 0

  def update(self, unit_bytes, unit_examples):
    self.done_bytes += unit_bytes
    self.examples += unit_examples
    now = time.time()
    if self.enabled and now - self.last_shown >= self.interval:
      self.last_shown = now
      self._show(now, final=False)

  def finish(self):
    if self.enabled:
      self._show(time.time(), final=True)

  def _show(self, now, final):
    elapsed = max(now - self.started, 1e-9)
    rate = self.done_bytes / elapsed
    fraction = self.done_bytes / self.total_bytes if self.total_bytes else 1.0
    if final:
      tail = f"done in {format_duration(elapsed)}"
    else:
      eta = (self.total_bytes - self.done_bytes) / rate if rate else float("inf")
      tail = f"ETA {format_duration(eta) if eta != float('inf') else '?'}"
    line = (f"[build] {100 * fraction:5.1f}%  {self.done_bytes / 1e6:.1f}/"
            f"{self.total_bytes / 1e6:.1f} MB  {rate / 1e6:.2f} MB/s  {self.examples} examples  "
            f"{tail}")
    if self.is_tty:
      self.stream.write("\r" + line.ljust(79) + ("\n" if final else ""))
    else:
      self.stream.write(line + "\n")
    self.stream.flush()


def length_histogram(length_counts, bins=16):
  """{"min-max": count} over example lengths (tokens incl. [CLS]/[SEP]), in order."""
  max_length = len(length_counts) - 1
  width = max(1, -(-max_length // bins))
  histogram = {}
  for low in range(1, max_length + 1, width):
    high = min(low + width - 1, max_length)
    histogram[f"{low}-{high}"] = int(length_counts[low:high + 1].sum())
  return histogram


def summarize(results, settings, num_files, total_bytes, timings, num_eval_files=0):
  """The contents of summary.json, from the per-unit results of the workers."""
  examples = sum(r["examples"] for r in results)
  two_segment = sum(r["two_segment"] for r in results)
  tokens = sum(r["tokens"] for r in results)
  max_length = settings["max_seq_length"]
  length_counts = sum((r["lengths"] for r in results), np.zeros(max_length + 1, np.int64))
  elapsed = timings["elapsed_s"]
  mean_length = (length_counts * np.arange(max_length + 1)).sum() / examples if examples else 0.0
  return {
      "examples": examples,
      "two_segment_examples": two_segment,
      "two_segment_fraction": two_segment / examples if examples else 0.0,
      "tokens": tokens,
      "corpus_tokens": sum(r["corpus_tokens"] for r in results),
      "mean_length": float(mean_length),
      "length_histogram": length_histogram(length_counts),
      "num_out_files": num_files,
      "documents": sum(r["documents"] for r in results),
      # Held-out documents (--eval-fraction), in pretrain_eval.tfrecord-* shards.
      "eval": {
          "fraction": settings.get("eval_fraction", 0.0),
          "documents": sum(r["eval"]["documents"] for r in results),
          "examples": sum(r["eval"]["examples"] for r in results),
          "tokens": sum(r["eval"]["tokens"] for r in results),
          "num_out_files": num_eval_files,
      },
      # Lines that were not valid UTF-8 (their bad bytes became [UNK]s).
      "undecodable_lines": sum(r["undecodable_lines"] for r in results),
      "first_undecodable": min((r["first_undecodable"] for r in results
                                if r["first_undecodable"]), default=None),
      "input_files": settings["num_input_files"],
      "input_bytes": total_bytes,
      "mb_per_s": total_bytes / 1e6 / elapsed if elapsed else 0.0,
      "examples_per_s": examples / elapsed if elapsed else 0.0,
      # CPU time of the per-unit work over all processes: throughput per core, which other
      # load on the machine does not distort the way it distorts wall-clock figures.
      "unit_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
      **{key: round(value, 3) for key, value in timings.items()},
      "settings": settings,
  }


def write_summary(summary, directory):
  """`summary` as `directory`/summary.json, its keys in the order they were made."""
  write_json(summary, os.path.join(directory, SUMMARY_FILE), sort_keys=False, ensure_ascii=True)


def print_summary(summary, output_dir, stream=None):
  """The last words of a build on stdout: what was written, how fast."""
  stream = stream or sys.stdout
  print(f"wrote {summary['examples']} examples ({100 * summary['two_segment_fraction']:.1f}% "
        f"with two segments, {summary['tokens']} tokens) to {summary['num_out_files']} file(s) "
        f"in {output_dir}",
        file=stream)
  held_out = summary.get("eval", {})
  if held_out.get("examples"):
    print(f"held out {held_out['documents']} documents ({held_out['examples']} examples, "
          f"{held_out['tokens']} tokens) in {held_out['num_out_files']} eval shard(s)",
          file=stream)
  print(f"{summary['input_bytes'] / 1e6:.2f} MB of text in {summary['elapsed_s']:.2f} s: "
        f"{summary['mb_per_s']:.2f} MB/s, {int(summary['examples_per_s'])} examples/s",
        file=stream)
