"""The worker side of a build: one unit of text -> one part file of TFRecord-framed examples.

A unit's examples come from its own random generator seeded with (seed, unit index), so they do
not depend on which process builds it. Each part file comes with `<part>.ends`, the end offset of
every framed record, from which `pretrain/dataset_shards.py` cuts the shards.

What lives where:
- here: the per-process worker state, `process_unit`, the part files and the process pool;
- `pretrain/corpus_units.py`: the units, their text and documents;
- `pretrain/example_builder.py` and `pretrain/tfrecord_encoding.py`: the examples and their bytes;
- `pretrain/dataset_writer.py`: `build`, which hands the units to the pool.

TensorFlow is never imported here: it would slow down the start of every worker process.
"""

import contextlib
import multiprocessing
import random
import sys
import time

import numpy as np

from pretrain.build_inputs import load_tokenizer
from pretrain.corpus_units import count_documents, read_unit_text, split_documents
from pretrain.example_builder import ExampleBuilder, iter_segments
from pretrain.tfrecord_encoding import ExampleEncoder, frame_records

_WORKER = {}


def init_worker(settings, tokenizer=None):
  """Per-process state; with fork the parent's already-loaded tokenizer is passed in."""
  if tokenizer is None:
    tokenizer = load_tokenizer(settings["vocab_file"], settings["do_lower_case"])
  vocab = tokenizer.vocab
  _WORKER.clear()
  _WORKER.update(settings=settings,
                 tokenize=tokenizer.tokenize_to_ids,
                 encoder=ExampleEncoder(settings["max_seq_length"], vocab["[CLS]"], vocab["[SEP]"],
                                        max(vocab.values()) + 1))


def unit_seed(seed, unit_index):
  """The random generator of one unit (a str seed is hashed the same way in every run)."""
  return random.Random(f"{int(seed)}:{int(unit_index)}")


def eval_draws(seed, unit_index):
  """The generator that decides which documents of one unit are held out.

  Separate from the unit's example generator, so --eval-fraction 0 builds exactly the
  examples it built before the option existed.
  """
  return random.Random(f"{int(seed)}:{int(unit_index)}:eval")


def process_unit(task):
  """Builds the examples of one unit into its part file(s); returns the unit's statistics.

  With an eval fraction, each whole document is held out with that probability: its
  examples go to `<part>.eval` (built by a generator of their own) instead of `<part>`.
  """
  cpu_started = time.process_time()
  index, path, start, end, part_path = task
  settings = _WORKER["settings"]
  max_length = settings["max_seq_length"]
  builders = {
      "train":
          ExampleBuilder(max_length, unit_seed(settings["seed"], index),
                         settings["legacy_segment_bug"]),
      "eval":
          ExampleBuilder(max_length,
                         random.Random(f"{int(settings['seed'])}:{int(index)}:eval-examples"),
                         settings["legacy_segment_bug"]),
  }
  text, undecodable = read_unit_text(path, start, end)
  documents, num_documents = _documents_by_split(text, index, settings)
  result = {
      "index": index,
      "part": part_path,
      "bytes": end - start,
      "undecodable_lines": undecodable[0],
      "first_undecodable": undecodable[1]
  }
  blanks = settings["blanks_separate_docs"]
  for split, builder in builders.items():
    stats = _encode_documents(documents[split], builder, blanks)
    _write_part(part_path + (".eval" if split == "eval" else ""), stats.pop("records"))
    stats["documents"] = num_documents[split]
    stats["lengths"] = np.bincount(np.asarray(stats["lengths"], dtype=np.int64),
                                   minlength=max_length + 1)
    stats["corpus_tokens"] = builder.tokens_added
    result.update(stats if split == "train" else {"eval": stats})
  result["cpu_s"] = time.process_time() - cpu_started
  return result


def _documents_by_split(text, index, settings):
  """({split: the line lists to build from}, {split: number of documents}) of one unit."""
  lines = text.split("\n")
  blanks = settings["blanks_separate_docs"]
  eval_fraction = settings.get("eval_fraction", 0.0)
  if eval_fraction <= 0:
    # The code path from before --eval-fraction existed: the unit is fed as one line list.
    return {"train": [lines], "eval": []}, {"train": count_documents(text, blanks), "eval": 0}
  draws = eval_draws(settings["seed"], index)
  documents = {"train": [], "eval": []}
  for document in split_documents(lines) if blanks else [lines]:
    documents["eval" if draws.random() < eval_fraction else "train"].append(document)
  return documents, {split: len(docs) for split, docs in documents.items()}


def _encode_documents(documents, builder, blanks_separate_docs):
  """{records, lengths, examples, two_segment, tokens} of the examples of `documents`."""
  stats = {"records": [], "lengths": [], "two_segment": 0, "tokens": 0}
  for document in documents:
    records, lengths, two_segment, tokens = _encode_lines(document, builder, blanks_separate_docs)
    stats["records"] += records
    stats["lengths"] += lengths
    stats["two_segment"] += two_segment
    stats["tokens"] += tokens
  stats["examples"] = len(stats["records"])
  return stats


def _encode_lines(lines, builder, blanks_separate_docs):
  """The serialized examples of `lines`, their lengths, two-segment and token counts."""
  encode = _WORKER["encoder"].encode
  records, lengths = [], []
  two_segment = tokens = 0
  for first, second in iter_segments(lines, _WORKER["tokenize"], builder, blanks_separate_docs):
    records.append(encode(first, second))
    tokens += len(first) + len(second)
    if second:
      two_segment += 1
      lengths.append(len(first) + len(second) + 3)
    else:
      lengths.append(len(first) + 2)
  return records, lengths, two_segment, tokens


def _write_part(part_path, records):
  """The framed records, and the end offset of each in `<part>.ends` (int64)."""
  framed, ends = frame_records(records)
  with open(part_path, "wb") as writer:
    writer.write(framed)
  ends.astype("<i8").tofile(part_path + ".ends")


class _InProcessPool:
  """The Pool interface for one process: no start-up cost, same code path."""

  @staticmethod
  def imap_unordered(function, items):
    return map(function, items)

  @staticmethod
  def map(function, items):
    return list(map(function, items))


@contextlib.contextmanager
def worker_pool(settings, tokenizer, num_workers):
  """A pool whose processes are initialised with `init_worker` (the calling process for 1)."""
  if num_workers <= 1:
    init_worker(settings, tokenizer)
    yield _InProcessPool()
    return
  # fork hands every worker the parent's loaded tokenizer for free. It is unsafe once
  # TensorFlow has started its runtime threads (a child can inherit a held lock), so a
  # process that imported TensorFlow (tests, notebooks) pays for spawn instead, where each
  # worker loads the tokenizer itself.
  if "fork" not in multiprocessing.get_all_start_methods() or "tensorflow" in sys.modules:
    with multiprocessing.get_context("spawn").Pool(num_workers,
                                                   initializer=init_worker,
                                                   initargs=(settings, None)) as pool:
      yield pool
    return
  with multiprocessing.get_context("fork").Pool(num_workers,
                                                initializer=init_worker,
                                                initargs=(settings, tokenizer)) as pool:
    yield pool
