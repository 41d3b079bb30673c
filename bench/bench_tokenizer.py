"""Tokenizer throughput on a Chinese corpus; prints one JSON line.

Measures, in MB/s of UTF-8 input (1 MB = 1e6 bytes), one call per corpus line as the dataset
builder does:
  - FullTokenizer.tokenize_to_ids (fast path),
  - FullTokenizer.tokenize,
  - the plain reference (bench/reference_tokenizer.py), tokens -> ids,
and checks that all three give the same ids. Each fast pass uses a fresh FullTokenizer, so its
memos start empty ("cold"); a second pass over the corpus with the same tokenizer is reported
as "warm" (the steady state of a long run). The per-process character tables are built once,
before timing; their build time is reported separately. Times are CPU seconds of this process
(time.process_time), so that other load on a shared machine does not skew the ratios; the best
of --repeats passes is reported.

Usage: python bench/bench_tokenizer.py [--corpus FILE] [--vocab FILE] [--repeats N]
"""

import argparse
import gc
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
import build_vocab
from bench import reference_tokenizer
from model import char_classes, tokenization

DEFAULT_CORPUS = "/work/shared/data/peoples_daily_1998_01.txt"


def read_lines(path):
  with open(path, encoding="utf-8") as reader:
    return reader.read().splitlines()


def timed(function):
  """CPU seconds of function() and its result; the cyclic GC is paused while timing (as timeit
  does), since its cost depends on how many results earlier passes still hold."""
  gc.collect()
  gc.disable()
  try:
    start = time.process_time()
    result = function()
    return time.process_time() - start, result
  finally:
    gc.enable()


def best_time(function, repeats):
  """Shortest CPU time of `repeats` calls of function() and the last result."""
  best, result = float("inf"), None
  for _ in range(repeats):
    seconds, result = timed(function)
    best = min(best, seconds)
  return best, result


def time_table_build():
  # A fresh instance: the module's own copy may already exist (build_vocab uses it).
  return timed(char_classes.CharTables)[0]


def run(corpus, vocab_path, repeats, do_lower_case):
  lines = read_lines(corpus)
  megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
  table_seconds = time_table_build()

  def cold_and_warm(method_name):
    """Times a pass with a fresh tokenizer, then a second pass with the same one."""
    tokenizer = tokenization.FullTokenizer(vocab_path, do_lower_case=do_lower_case)
    method = getattr(tokenizer, method_name)
    cold, result = timed(lambda: [method(line) for line in lines])
    warm, _ = timed(lambda: [method(line) for line in lines])
    return cold, warm, result

  def best_cold_and_warm(method_name):
    runs = [cold_and_warm(method_name) for _ in range(repeats)]
    return min(run[0] for run in runs), min(run[1] for run in runs), runs[-1][2]

  vocab = tokenization.load_vocab(vocab_path)

  def reference_ids():
    return [reference_tokenizer.tokenize_to_ids(line, vocab, do_lower_case) for line in lines]

  ids_cold, ids_warm, ids = best_cold_and_warm("tokenize_to_ids")
  tokens_cold, tokens_warm, tokens = best_cold_and_warm("tokenize")
  reference_seconds, expected = best_time(reference_ids, 1)
  token_ids = [[vocab[token] for token in line_tokens] for line_tokens in tokens]

  def mb_s(seconds):
    return round(megabytes / seconds, 2)

  return {
      "corpus": corpus,
      "megabytes": round(megabytes, 3),
      "lines": len(lines),
      "vocab_size": len(vocab),
      "table_build_s": round(table_seconds, 3),
      "tokenize_to_ids_mb_s": mb_s(ids_cold),
      "tokenize_to_ids_warm_mb_s": mb_s(ids_warm),
      "tokenize_mb_s": mb_s(tokens_cold),
      "tokenize_warm_mb_s": mb_s(tokens_warm),
      "reference_mb_s": mb_s(reference_seconds),
      "speedup_tokenize_to_ids": round(reference_seconds / ids_cold, 1),
      "speedup_tokenize": round(reference_seconds / tokens_cold, 1),
      "speedup_tokenize_to_ids_warm": round(reference_seconds / ids_warm, 1),
      "identical_to_reference": ids == expected and token_ids == expected,
  }


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="UTF-8 text, one sentence a line")
  parser.add_argument("--vocab", default=None,
                      help="vocabulary file (default: built from the corpus with build_vocab)")
  parser.add_argument("--repeats", type=int, default=3, help="passes per fast path (best kept)")
  parser.add_argument("--no-lower-case", dest="do_lower_case", action="store_false")
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as temp_dir:
    vocab_path = args.vocab
    if vocab_path is None:
      vocab_path = os.path.join(temp_dir, "vocab.txt")
      tokens = build_vocab.build_vocab(read_lines(args.corpus), do_lower_case=args.do_lower_case)
      build_vocab.write_vocab(tokens, vocab_path)
    print(json.dumps(run(args.corpus, vocab_path, args.repeats, args.do_lower_case),
                     ensure_ascii=False))


if __name__ == "__main__":
  main()
