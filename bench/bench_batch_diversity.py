"""How topical pre-training batches are, for several shuffle buffer sizes.

    python bench/bench_batch_diversity.py --data-dir DATA_DIR [--buffers 100,1000,10000,30000]

build_pretraining_dataset.py writes the corpus in units of a few hundred KB of text (shuffled
as units), so neighbouring records come from neighbouring documents; run_pretraining.py then
interleaves the shards and draws each batch through a buffer of `shuffle_buffer_size` records.
This reads batches through that real input pipeline (pretrain/pretrain_data.py) for each buffer
size and prints the mean KL divergence (nats) between a batch's token distribution and the whole
training set's, against batches drawn from a random permutation of all records (the floor, for
batches of that size). Prints a Markdown table and ONE JSON line.
"""

import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import tensorflow as tf  # noqa: E402  pylint: disable=wrong-import-position

import configure_pretraining  # noqa: E402  pylint: disable=wrong-import-position
from pretrain import pretrain_data  # noqa: E402  pylint: disable=wrong-import-position
import tfrecords_to_npz  # noqa: E402  pylint: disable=wrong-import-position


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", required=True,
                      help="directory with vocab.txt and pretrain_tfrecords/")
  parser.add_argument("--buffers", default="100,1000,10000,30000",
                      help="comma-separated shuffle_buffer_size values")
  parser.add_argument("--batch-size", type=int, default=128)
  parser.add_argument("--max-seq-length", type=int, default=128)
  parser.add_argument("--num-batches", type=int, default=100)
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def vocab_size(data_dir):
  with open(os.path.join(data_dir, "vocab.txt"), encoding="utf-8") as f:
    return sum(1 for _ in f)


def token_counts(ids, mask, size):
  return np.bincount(ids[mask > 0], minlength=size).astype(np.float64)


def kl_to_corpus(counts, corpus):
  q = counts / counts.sum()
  seen = q > 0
  return float((q[seen] * np.log(q[seen] / corpus[seen])).sum())


def make_config(args, size, buffer):
  return configure_pretraining.PretrainingConfig(
      "batch_diversity", args.data_dir, vocab_size=size, shuffle_buffer_size=buffer,
      train_batch_size=args.batch_size, max_seq_length=args.max_seq_length)


def pipeline_kl(config, corpus, size, num_batches):
  tf.random.set_seed(0)
  dataset = pretrain_data.get_input_fn(config, is_training=True)(None)
  return [kl_to_corpus(token_counts(batch["input_ids"].numpy(), batch["input_mask"].numpy(),
                                    size), corpus)
          for batch in dataset.take(num_batches)]


def main(argv=None):
  args = parse_args(argv)
  size = vocab_size(args.data_dir)
  buffers = [int(b) for b in args.buffers.split(",")]
  records, _ = tfrecords_to_npz.read(make_config(args, size, buffers[0]).pretrain_tfrecords,
                                     args.max_seq_length)
  ids, mask = records["input_ids"], records["input_mask"]
  corpus = token_counts(ids, mask, size) + 1.0  # add-one: every token has some probability
  corpus /= corpus.sum()
  rng = np.random.default_rng(args.seed)
  permuted = [kl_to_corpus(token_counts(ids[rows], mask[rows], size), corpus)
              for rows in (rng.permutation(len(ids))[:args.batch_size]
                           for _ in range(args.num_batches))]
  report = {"bench": "batch_diversity", "records": len(ids), "batch_size": args.batch_size,
            "num_batches": args.num_batches,
            "random_permutation": float(np.mean(permuted)), "buffers": {}}
  for buffer in buffers:
    report["buffers"][str(buffer)] = float(np.mean(
        pipeline_kl(make_config(args, size, buffer), corpus, size, args.num_batches)))
  print("| order | mean KL(batch tokens || training set), nats |", file=sys.stderr)
  print("| --- | --- |", file=sys.stderr)
  for buffer, value in report["buffers"].items():
    print(f"| shuffle_buffer_size {buffer} | {value:.3f} |", file=sys.stderr)
  print(f"| random permutation | {report['random_permutation']:.3f} |", file=sys.stderr)
  print(json.dumps(report))


if __name__ == "__main__":
  main()
