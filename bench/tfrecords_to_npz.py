"""Dumps the pre-training TFRecords to one .npz, for peers that have no TensorFlow.

    .venv/bin/python bench/tfrecords_to_npz.py --data-dir /work/runs/mini --out mini_data.npz

Arrays: train_{input_ids,input_mask,segment_ids} [N, L] int32 from
pretrain_tfrecords/pretrain_data.tfrecord* (files sorted, records in file order) and eval_* from
pretrain_eval.tfrecord* in the order run_pretraining.py's evaluation reads them (one pass, sorted
files, deterministic interleave of consecutive records: for a single eval shard, file order).
"""

import argparse
import glob
import os

import numpy as np
import tensorflow as tf

FEATURES = ("input_ids", "input_mask", "segment_ids")


def read(pattern, max_seq_length):
  files = sorted(glob.glob(pattern))
  if not files:
    raise SystemExit(f"no files match {pattern}")
  spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in FEATURES}
  out = {name: [] for name in FEATURES}
  for path in files:
    for record in tf.data.TFRecordDataset(path):
      parsed = tf.io.parse_single_example(record, spec)
      for name in FEATURES:
        out[name].append(parsed[name].numpy().astype(np.int32))
  return {name: np.stack(values) for name, values in out.items()}, files


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--max-seq-length", type=int, default=128)
  args = parser.parse_args()
  records = os.path.join(args.data_dir, "pretrain_tfrecords")
  train, train_files = read(os.path.join(records, "pretrain_data.tfrecord*"), args.max_seq_length)
  held_out, eval_files = read(os.path.join(records, "pretrain_eval.tfrecord*"),
                              args.max_seq_length)
  if len(eval_files) > 1:
    print("warning: several eval shards; their order here is file after file, whereas "
          "run_pretraining.py interleaves them")
  arrays = {f"train_{k}": v for k, v in train.items()}
  arrays.update({f"eval_{k}": v for k, v in held_out.items()})
  np.savez_compressed(args.out, **arrays)
  print(f"{args.out}: {len(train['input_ids'])} training and {len(held_out['input_ids'])} "
        f"held-out examples")


if __name__ == "__main__":
  main()
