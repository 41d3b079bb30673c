"""The multi-process build of the pre-training shards; `build_pretraining_dataset.py` is its CLI.

How the work is split (and why the output depends only on the input and the seed):
- Every input file is cut into "units" of about `unit_bytes`, each ending at a document boundary
  (at any line end with --no-blanks-separate-docs; the end of a unit then cuts the example being
  built short, about once per unit). A unit's examples come from its own random generator
  seeded with (seed, unit index), so they do not depend on which process builds it.
- Worker processes turn units into ready-framed TFRecord fragments in `<out>.tmp-<pid>/parts`.
- Once the number of examples is known, the units are put in a seeded random order and the
  example sequence is cut into `n` equally sized shards by copying byte ranges.
- The finished temporary directory is renamed to the output directory, so a crash or Ctrl-C
  never leaves a directory that looks complete.
- Remote paths (gs://...): corpus files and the vocabulary are first copied to a local
  temporary directory (workers read byte ranges with plain file calls); a remote output is
  built locally and then uploaded and moved into place (see pretrain/output_directory.py).

What lives where:
- here: `build`, which runs it all, and the order of the units in the shards;
- `pretrain/build_inputs.py`: `UsageError`, the corpus files, the checks of the settings, the
  tokenizer and local copies of remote inputs;
- `pretrain/corpus_units.py`: the corpus cut into units, their text and documents;
- `pretrain/unit_worker.py`: the worker side (a unit -> a part file) and the process pool;
- `pretrain/example_builder.py`: token ids -> (segment A, segment B) examples;
- `pretrain/tfrecord_encoding.py`: examples -> tf.train.Example bytes -> TFRecord framing;
- `pretrain/dataset_shards.py`: the shard count, plan, names and assembly;
- `pretrain/output_directory.py`: the temporary directory and the move into place;
- `pretrain/build_report.py`: progress on stderr and the summary.json statistics.

TensorFlow is never imported for local paths, which keeps start-up fast in the main and worker
processes; remote paths import it (util/fileio.py) in the main process only.
"""

import os
import random
import shutil
import sys
import time

from pretrain.build_inputs import (UsageError, check_settings, find_corpus_files,
                                   load_checked_tokenizer, local_inputs, warn_undecodable)
from pretrain.build_report import Progress, summarize, write_summary
from pretrain.corpus_units import default_unit_bytes, plan_units
from pretrain.dataset_shards import (EVAL_SHARD_PREFIX, assemble_shard, default_num_out_files,
                                     shard_jobs)
from pretrain.output_directory import (check_replaceable, put_in_place, remove_stale_temporaries,
                                       temporary_output)
from pretrain.unit_worker import process_unit, worker_pool
from util import fileio


def build(vocab_file,
          output_dir,
          corpus_dir=None,
          corpus_files=None,
          max_seq_length=128,
          do_lower_case=True,
          num_out_files=None,
          num_processes=None,
          seed=0,
          blanks_separate_docs=True,
          legacy_segment_bug=False,
          unit_bytes=None,
          progress=True,
          eval_fraction=0.0):
  """Builds the shards and summary.json in `output_dir`; returns the summary dict.

  `eval_fraction` of the documents (whole documents, chosen by the seed) are held out into
  `pretrain_eval.tfrecord-*` shards for held-out evaluation.

  Raises UsageError for bad inputs or settings before any work is done.
  """
  started = time.time()
  paths = find_corpus_files(corpus_dir, corpus_files)
  num_processes = check_settings(vocab_file, max_seq_length, num_out_files, num_processes)
  if not 0.0 <= eval_fraction < 1.0:
    raise UsageError(f"--eval-fraction must be in [0, 1), not {eval_fraction}")
  if not fileio.is_remote(output_dir):
    output_dir = os.path.abspath(output_dir)
    # Remote leftovers cannot be told from a live build on another host: not removed.
    remove_stale_temporaries(output_dir)
  check_replaceable(output_dir)
  # The order of the keys is that of summary.json's "settings".
  settings = {
      "corpus_dir": corpus_dir,
      "corpus_files": list(corpus_files or []),
      "num_input_files": len(paths),
      "vocab_file": vocab_file,
      "output_dir": output_dir,
      "max_seq_length": max_seq_length,
      "do_lower_case": do_lower_case,
      "num_out_files": num_out_files,
      "num_processes": num_processes,
      "seed": seed,
      "blanks_separate_docs": blanks_separate_docs,
      "legacy_segment_bug": legacy_segment_bug,
      "unit_bytes": unit_bytes,  # the default depends on the size of the (local) corpus
      "eval_fraction": eval_fraction,
  }
  with local_inputs(paths, vocab_file) as (local_paths, local_vocab, origin):
    tokenizer = load_checked_tokenizer(local_vocab, do_lower_case)
    total_bytes = sum(os.path.getsize(path) for path in local_paths)
    settings["unit_bytes"] = unit_bytes or default_unit_bytes(total_bytes)
    with temporary_output(output_dir) as tmp_dir:
      summary = _build_into(tmp_dir, local_paths, tokenizer, settings, total_bytes, started,
                            progress, local_vocab, origin)
      if not summary["examples"]:
        raise UsageError(f"the corpus has no text to build examples from ({len(paths)} file(s), "
                         f"{total_bytes} bytes, no non-blank line); nothing was written")
      put_in_place(tmp_dir, output_dir)
  warn_undecodable(summary)
  return summary


def _build_into(tmp_dir,
                paths,
                tokenizer,
                settings,
                total_bytes,
                started,
                progress,
                local_vocab=None,
                origin=None):
  """Writes the shards and summary.json into `tmp_dir`; returns the summary.

  `local_vocab` and `origin` ({local copy: remote path}) stand in for remote inputs: workers
  read the copies, the summary names the originals.
  """
  local_vocab = local_vocab or settings["vocab_file"]
  parts_dir = os.path.join(tmp_dir, "parts")
  os.makedirs(parts_dir)
  tasks = plan_units(paths, parts_dir, settings["unit_bytes"], settings["blanks_separate_docs"])
  setup_done = time.time()
  meter = Progress(total_bytes, enabled=progress)
  num_processes = settings["num_processes"]
  worker_settings = dict(settings, vocab_file=local_vocab)
  with worker_pool(worker_settings, tokenizer, min(num_processes, len(tasks))) as pool:
    results = []
    for result in pool.imap_unordered(process_unit, tasks):
      results.append(result)
      meter.update(result["bytes"], result["examples"])
    meter.finish()
    build_done = time.time()
    num_files = _write_shards(pool, results, tmp_dir, settings["seed"], settings["num_out_files"],
                              num_processes, progress)
    num_eval_files = _write_eval_shards(pool, results, tmp_dir, progress)
  shutil.rmtree(parts_dir)
  timings = {
      "setup_s": setup_done - started,
      "build_s": build_done - setup_done,
      "shard_s": time.time() - build_done,
      "elapsed_s": time.time() - started
  }
  summary = summarize(results, settings, num_files, total_bytes, timings, num_eval_files)
  summary["vocab_sha256"] = fileio.sha256(local_vocab)
  if summary.get("first_undecodable") and origin:
    path, offset = summary["first_undecodable"]
    summary["first_undecodable"] = [origin.get(path, path), offset]
  write_summary(summary, tmp_dir)
  return summary


def _write_shards(pool, results, tmp_dir, seed, num_out_files, num_processes, progress):
  """Cuts the units, in a seeded random order, into the shards; returns the shard count."""
  units = sorted(results, key=lambda result: result["index"])
  random.Random(f"{int(seed)}:order").shuffle(units)
  counts = [unit["examples"] for unit in units]
  num_files = num_out_files or default_num_out_files(sum(counts), num_processes)
  if progress:
    print(f"[build] writing {sum(counts)} examples to {num_files} shard(s)",
          file=sys.stderr)
  parts = [unit["part"] for unit in units]
  pool.map(assemble_shard, shard_jobs(parts, counts, tmp_dir, num_files))
  return num_files


def _write_eval_shards(pool, results, tmp_dir, progress):
  """The held-out examples, in unit order, in one shard per EXAMPLES_PER_DEFAULT_SHARD;
  returns the shard count (0 when nothing is held out)."""
  units = sorted(results, key=lambda result: result["index"])
  counts = [unit["eval"]["examples"] for unit in units]
  if not sum(counts):
    return 0
  num_files = default_num_out_files(sum(counts), 1)
  if progress:
    print(f"[build] writing {sum(counts)} held-out examples to {num_files} shard(s)",
          file=sys.stderr)
  parts = [unit["part"] + ".eval" for unit in units]
  pool.map(assemble_shard, shard_jobs(parts, counts, tmp_dir, num_files, EVAL_SHARD_PREFIX))
  return num_files
