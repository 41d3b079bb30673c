"""Throughput of build_pretraining_dataset.py against a plain-Python reference builder.

Prints one JSON line (1 MB = 1e6 bytes of UTF-8 input) with
- builder, per process count: the tool run in a fresh process, best of --repeats by wall clock.
  `mb_per_s` / `examples_per_s` cover the whole build as its summary.json times it (tokenizer
  loading, reading, building, writing, renaming; not interpreter start-up, which
  `process_wall_s` includes); `mb_per_s_after_setup` leaves out the one-off tokenizer loading;
  `mb_per_unit_cpu_s` is input per CPU second of the per-unit work (per-core speed, robust to
  other load on the machine);
- reference: bench/reference_tokenizer.py plus a straightforward builder that writes
  tf.train.Example protos with tf.io.TFRecordWriter, in one process, best of
  --reference-repeats (wall clock, and CPU time);
- speedup: builder MB/s over reference MB/s, both wall clock;
- two_segment_fraction with the fixed and with the legacy (--legacy-segment-bug) rule.
On a shared machine wall-clock figures vary with other load: compare runs made together.

  python bench/bench_build_dataset.py [--corpus FILE] [--vocab-file FILE] [--processes 1 2]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import reference_tokenizer  # pylint: disable=wrong-import-position

DEFAULT_CORPUS = os.path.join(os.path.dirname(REPO), "shared", "data", "peoples_daily_1998_01.txt")


def run_builder(corpus, vocab_file, output_dir, processes, max_seq_length, extra=()):
  """Runs the tool in a fresh process; returns its summary plus the process wall time."""
  command = [sys.executable, os.path.join(REPO, "build_pretraining_dataset.py"),
             "--corpus-files", corpus, "--vocab-file", vocab_file, "--output-dir", output_dir,
             "--num-processes", str(processes), "--max-seq-length", str(max_seq_length),
             "--quiet", *extra]
  started = time.time()
  subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
  wall = time.time() - started
  with open(os.path.join(output_dir, "summary.json"), encoding="utf-8") as reader:
    summary = json.load(reader)
  summary["process_wall_s"] = wall
  return summary


def best_builder_run(corpus, vocab_file, work_dir, processes, max_seq_length, repeats):
  runs = [
      run_builder(corpus, vocab_file, os.path.join(work_dir, f"out-{processes}"), processes,
                  max_seq_length) for _ in range(repeats)
  ]
  best = min(runs, key=lambda summary: summary["elapsed_s"])
  without_setup = best["elapsed_s"] - best["setup_s"]
  return {
      "mb_per_s": round(best["mb_per_s"], 2),
      "examples_per_s": round(best["examples_per_s"]),
      "elapsed_s": best["elapsed_s"],
      "setup_s": best["setup_s"],
      "mb_per_s_after_setup": round(best["input_bytes"] / 1e6 / without_setup, 2),
      "mb_per_unit_cpu_s": round(best["input_bytes"] / 1e6 / best["unit_cpu_s"], 2),
      "process_wall_s": round(best["process_wall_s"], 3),
      "examples": best["examples"],
      "two_segment_fraction": round(best["two_segment_fraction"], 4),
  }


# ---------------------------------------------------------------------------------------------
# The reference: the obvious way to write the original algorithm.


def reference_examples(lines, vocab, max_length, tf):
  """The original script's loop, line by line: sentences are collected until they reach the
  target length or a document ends, then split, truncated and written as a tf.train.Example."""
  sentences, length, target = [], 0, max_length
  for line in lines:
    line = line.strip()
    if line:
      ids = reference_tokenizer.tokenize_to_ids(line, vocab)
      sentences.append(ids)
      length += len(ids)
    if length and (not line or length >= target):
      first, second = reference_segments(sentences, target, max_length)
      sentences, length = [], 0
      target = random.randint(5, max_length) if random.random() < 0.05 else max_length
      yield reference_example(first, second, vocab, max_length, tf)


def reference_segments(sentences, target, max_length):
  """Segments A and B of the collected sentences, truncated to `max_length` with specials."""
  first_target = 100000 if random.random() < 0.1 else (target - 3) // 2
  first, second = [], []
  for sentence in sentences:
    if (not first or len(first) + len(sentence) < first_target or
        (not second and len(first) < first_target and random.random() < 0.5)):
      first += sentence
    else:
      second += sentence
  first = first[:max_length - 2]
  return first, second[:max(0, max_length - len(first) - 3)]


def reference_example(first, second, vocab, max_length, tf):
  """`[CLS] A [SEP] (B [SEP])`, zero-padded, as a tf.train.Example proto."""
  input_ids = [vocab["[CLS]"]] + first + [vocab["[SEP]"]]
  segment_ids = [0] * len(input_ids)
  if second:
    input_ids += second + [vocab["[SEP]"]]
    segment_ids += [1] * (len(second) + 1)
  input_mask = [1] * len(input_ids)
  padding = [0] * (max_length - len(input_ids))
  features = {
      name: tf.train.Feature(int64_list=tf.train.Int64List(value=values + padding))
      for name, values in (("input_ids", input_ids), ("input_mask", input_mask),
                           ("segment_ids", segment_ids))
  }
  return tf.train.Example(features=tf.train.Features(feature=features))


def run_reference(corpus, vocab_file, output_path, max_seq_length):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  started, cpu_started = time.time(), time.process_time()
  vocab = {}
  with open(vocab_file, encoding="utf-8") as reader:
    for index, line in enumerate(reader):
      vocab[line.strip()] = index
  random.seed(0)
  examples = 0
  with tf.io.TFRecordWriter(output_path) as writer, \
          open(corpus, encoding="utf-8") as reader:
    for example in reference_examples(list(reader) + [""], vocab, max_seq_length, tf):
      writer.write(example.SerializeToString())
      examples += 1
  elapsed, cpu = time.time() - started, time.process_time() - cpu_started
  size_mb = os.path.getsize(corpus) / 1e6
  return {
      "mb_per_s": round(size_mb / elapsed, 3),
      "examples_per_s": round(examples / elapsed),
      "mb_per_cpu_s": round(size_mb / cpu, 3),
      "elapsed_s": round(elapsed, 3),
      "examples": examples
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="text file to build from")
  parser.add_argument("--vocab-file", help="vocabulary (default: build_vocab.py on the corpus)")
  parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
  parser.add_argument("--repeats", type=int, default=5, help="builder runs per setting (best)")
  parser.add_argument("--reference-repeats", type=int, default=2, help="reference runs (best)")
  parser.add_argument("--max-seq-length", type=int, default=128)
  parser.add_argument("--skip-reference", action="store_true")
  args = parser.parse_args()

  with tempfile.TemporaryDirectory(prefix="bench-build-") as work_dir:
    vocab_file = args.vocab_file
    if not vocab_file:
      vocab_file = os.path.join(work_dir, "vocab.txt")
      subprocess.run([sys.executable, os.path.join(REPO, "build_vocab.py"), "--input",
                      args.corpus, "--output", vocab_file],
                     check=True, stdout=subprocess.DEVNULL)
    result = {
        "corpus": args.corpus,
        "corpus_mb": round(os.path.getsize(args.corpus) / 1e6, 2),
        "cpus": os.cpu_count(),
        "max_seq_length": args.max_seq_length,
        "builder": {}
    }
    for processes in args.processes:
      result["builder"][str(processes)] = best_builder_run(args.corpus, vocab_file, work_dir,
                                                           processes, args.max_seq_length,
                                                           args.repeats)
    legacy = run_builder(args.corpus, vocab_file, os.path.join(work_dir, "legacy"),
                         max(args.processes), args.max_seq_length, ["--legacy-segment-bug"])
    fastest = result["builder"][str(max(args.processes))]
    result["two_segment_fraction"] = {
        "fixed": fastest["two_segment_fraction"],
        "legacy": round(legacy["two_segment_fraction"], 4)
    }
    if not args.skip_reference:
      reference = max(
          (run_reference(args.corpus, vocab_file, os.path.join(work_dir, "reference.tfrecord"),
                         args.max_seq_length) for _ in range(args.reference_repeats)),
          key=lambda run: run["mb_per_s"])
      result["reference"] = reference
      result["speedup"] = {
          processes: round(run["mb_per_s"] / reference["mb_per_s"], 1)
          for processes, run in result["builder"].items()
      }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
