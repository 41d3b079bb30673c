"""The shard files: how many, which examples each holds, and how they are assembled.

The example sequence (the units of work in a seeded random order, each unit's examples in
order) is cut into `n` equally sized shards named `pretrain_data.tfrecord-<i>-of-<n>`. Every
unit was written as a part file of TFRecord-framed records plus a `.ends` file of the framed
records' end offsets, so a shard is assembled by copying whole part files or byte ranges of them.

What lives where: here the shard count, plan, names and assembly jobs; the unit order and the
process pool that runs `assemble_shard` are in `pretrain/dataset_writer.py`.
"""

import os

import numpy as np

SHARD_PREFIX = "pretrain_data.tfrecord-"
# Held-out documents (--eval-fraction) go to shards of their own, never read by training.
EVAL_SHARD_PREFIX = "pretrain_eval.tfrecord-"
EXAMPLES_PER_DEFAULT_SHARD = 10000
MAX_DEFAULT_SHARDS = 1000


def default_num_out_files(num_examples, num_processes):
  """One shard per EXAMPLES_PER_DEFAULT_SHARD examples, at most MAX_DEFAULT_SHARDS.

  At least one per process, so a reader can interleave that many files in parallel, but never
  more shards than examples (Chinese-ELECTRA's fixed 1000 shards starved the input pipeline on
  small corpora, ymcui/Chinese-ELECTRA#23).
  """
  wanted = max(num_processes, min(MAX_DEFAULT_SHARDS, num_examples // EXAMPLES_PER_DEFAULT_SHARD))
  return max(1, min(wanted, num_examples))


def plan_shards(counts, num_shards):
  """For each shard, the (unit position, first, end) example ranges that make it up.

  `counts` are the example counts of the units in output order; shard j gets the examples
  total*j//n .. total*(j+1)//n - 1 of their concatenation.
  """
  total = sum(counts)
  bounds = [total * j // num_shards for j in range(num_shards + 1)]
  plans = [[] for _ in range(num_shards)]
  shard = 0
  unit_start = 0
  for position, count in enumerate(counts):
    first = 0
    while first < count:
      while bounds[shard + 1] <= unit_start + first:
        shard += 1
      end = min(count, bounds[shard + 1] - unit_start)
      plans[shard].append((position, first, end))
      first = end
    unit_start += count
  return plans


def shard_name(index, count, prefix=SHARD_PREFIX):
  """`pretrain_data.tfrecord-<index>-of-<count>` (or another prefix)."""
  return f"{prefix}{index}-of-{count}"


def shard_jobs(part_paths, counts, directory, num_shards, prefix=SHARD_PREFIX):
  """The `assemble_shard` jobs that cut the parts' examples, in order, into `num_shards` shards.

  `part_paths` are the part files in output order and `counts` their example counts.
  """
  jobs = []
  for shard, plan in enumerate(plan_shards(counts, num_shards)):
    pieces = [(part_paths[position], first, end, counts[position]) for position, first, end in plan]
    jobs.append((os.path.join(directory, shard_name(shard, num_shards, prefix)), pieces))
  return jobs


def assemble_shard(job):
  """Writes one shard by copying whole part files or byte ranges of them.

  `job` is (shard path, [(part path, first example, end example, the part's example count)]).
  """
  shard_path, pieces = job
  with open(shard_path, "wb") as writer:
    for part_path, first, end, count in pieces:
      if first == 0 and end == count:
        start, stop = 0, None
      else:
        ends = np.fromfile(part_path + ".ends", dtype="<i8")
        start = int(ends[first - 1]) if first else 0
        stop = int(ends[end - 1])
      _copy_range(part_path, writer, start, stop)


def _copy_range(path, writer, start, stop, block=16 << 20):
  with open(path, "rb") as reader:
    reader.seek(start)
    remaining = None if stop is None else stop - start
    while remaining is None or remaining > 0:
      data = reader.read(block if remaining is None else min(block, remaining))
      if not data:
        break
      writer.write(data)
      if remaining is not None:
        remaining -= len(data)
