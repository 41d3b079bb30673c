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
  built in a local temporary directory, uploaded to `<parent>/.<name>.tmp-<pid>` and moved
  into place file by file (object stores cannot rename a directory at once). A killed remote
  build may leave that upload behind; it is not removed automatically (its process may run on
  another host).

What lives where:
- here: corpus files and units, the worker side, the process pool, the atomic output directory
  and `build`, which runs it all;
- `pretrain/example_builder.py`: token ids -> (segment A, segment B) examples;
- `pretrain/tfrecord_encoding.py`: examples -> tf.train.Example bytes -> TFRecord framing;
- `pretrain/dataset_shards.py`: the shard count, plan, names and assembly;
- `pretrain/build_report.py`: progress on stderr and the summary.json statistics.

TensorFlow is never imported for local paths, which keeps start-up fast in the main and worker
processes; remote paths import it (util/fileio.py) in the main process only.
"""

import contextlib
import glob
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time

import numpy as np

from pretrain.build_report import Progress, summarize
from pretrain.dataset_shards import (EVAL_SHARD_PREFIX, SHARD_PREFIX, assemble_shard,
                                     default_num_out_files, plan_shards, shard_name)
from pretrain.example_builder import ExampleBuilder, iter_segments
from pretrain.tfrecord_encoding import ExampleEncoder, frame_records
from util import fileio

SUMMARY_FILE = "summary.json"
# A unit of work: large enough that per-unit costs vanish, small enough that 2+ processes get
# an even share of a few-MB corpus; capped so a huge corpus does not make a huge part file.
MIN_UNIT_BYTES = 256 * 1024
MAX_UNIT_BYTES = 16 * 1024 * 1024
UNITS_PER_CORPUS = 64


class UsageError(Exception):
  """A problem with the inputs or settings, reported as a one-line error (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Input files and units of work.


def find_corpus_files(corpus_dir=None, corpus_files=None):
  """Sorted, de-duplicated input files from a directory and/or glob patterns."""
  paths = set()
  if corpus_dir:
    if not fileio.isdir(corpus_dir):
      raise UsageError(f"corpus directory not found: {corpus_dir}")
    for name in fileio.listdir(corpus_dir):
      path = os.path.join(corpus_dir, name)
      if fileio.isfile(path) and not name.startswith("."):
        paths.add(path)
  for pattern in corpus_files or ():
    matches = [path for path in fileio.glob(pattern) if fileio.isfile(path)]
    if not matches:
      raise UsageError(f"corpus file not found (no match): {pattern}")
    paths.update(matches)
  if not corpus_dir and not corpus_files:
    raise UsageError("give the corpus with --corpus-dir and/or --corpus-files")
  if not paths:
    raise UsageError(f"corpus directory has no files: {corpus_dir}")
  return sorted(paths)


def default_unit_bytes(total_bytes):
  """About UNITS_PER_CORPUS units, within [MIN_UNIT_BYTES, MAX_UNIT_BYTES]."""
  return min(MAX_UNIT_BYTES, max(MIN_UNIT_BYTES, total_bytes // UNITS_PER_CORPUS))


def split_file(path, unit_bytes, blanks_separate_docs=True):
  """(start, end) byte ranges covering `path`, each ending at a document boundary.

  A cut goes after the first blank line at or after every `unit_bytes` step (after any line
  end when blank lines do not separate documents), so only a few bytes are read per cut.
  """
  size = os.path.getsize(path)
  ranges = []
  start = 0
  with open(path, "rb") as reader:
    while start < size:
      reader.seek(start + unit_bytes)
      if start + unit_bytes < size:
        reader.readline()  # the rest of the line the seek landed in
        while blanks_separate_docs:
          line = reader.readline()
          if not line or not line.strip():
            break
      end = min(reader.tell(), size)
      ranges.append((start, end))
      start = end
  return ranges


# ---------------------------------------------------------------------------------------------
# Worker side: one unit of text -> one part file of framed records.

_WORKER = {}


def _init_worker(settings, tokenizer=None):
  """Per-process state; with fork the parent's already-loaded tokenizer is passed in."""
  if tokenizer is None:
    tokenizer = _load_tokenizer(settings["vocab_file"], settings["do_lower_case"])
  vocab = tokenizer.vocab
  _WORKER.clear()
  _WORKER.update(settings=settings,
                 tokenize=tokenizer.tokenize_to_ids,
                 encoder=ExampleEncoder(settings["max_seq_length"], vocab["[CLS]"], vocab["[SEP]"],
                                        max(vocab.values()) + 1))


def _load_tokenizer(vocab_file, do_lower_case):
  from model.tokenization import FullTokenizer  # pylint: disable=import-outside-toplevel
  tokenizer = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
  tokenizer.tokenize_to_ids("warm up 中")  # builds the per-process lookup tables now
  return tokenizer


def unit_seed(seed, unit_index):
  """The random generator of one unit (a str seed is hashed the same way in every run)."""
  return random.Random(f"{int(seed)}:{int(unit_index)}")


def eval_draws(seed, unit_index):
  """The generator that decides which documents of one unit are held out.

  Separate from the unit's example generator, so --eval-fraction 0 builds exactly the
  examples it built before the option existed.
  """
  return random.Random(f"{int(seed)}:{int(unit_index)}:eval")


def _process_unit(task):
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
  text, undecodable = _read_text(path, start, end)
  lines = text.split("\n")
  blanks = settings["blanks_separate_docs"]
  eval_fraction = settings.get("eval_fraction", 0.0)
  if eval_fraction > 0:
    draws = eval_draws(settings["seed"], index)
    documents = {"train": [], "eval": []}
    for document in _split_documents(lines, blanks):
      documents["eval" if draws.random() < eval_fraction else "train"].append(document)
    num_documents = {split: len(docs) for split, docs in documents.items()}
  else:
    documents = {"train": [lines], "eval": []}  # the pre-option code path, unchanged
    num_documents = {"train": _count_documents(text, blanks), "eval": 0}
  result = {
      "index": index,
      "part": part_path,
      "bytes": end - start,
      "undecodable_lines": undecodable[0],
      "first_undecodable": undecodable[1]
  }
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


def _split_documents(lines, blanks_separate_docs):
  """The unit's lines cut into documents at blank lines (one document if blanks do not count)."""
  if not blanks_separate_docs:
    return [lines]
  documents, current = [], []
  for line in lines:
    if line.strip():
      current.append(line)
    elif current:
      documents.append(current)
      current = []
  if current:
    documents.append(current)
  return documents


def _count_documents(text, blanks_separate_docs):
  """The number of documents `_split_documents` would find, at C speed (no list of lines)."""
  if not blanks_separate_docs:
    return 1 if text.strip() else 0
  return sum(1 for chunk in _BLANK_LINES.split(text) if chunk.strip())


# One or more blank (whitespace-only) lines between two documents.
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+\n|\n[^\S\n]*\n")


def _encode_documents(documents, builder, blanks_separate_docs):
  """{records, lengths, examples, two_segment, tokens} of the examples of `documents`."""
  stats = {"records": [], "lengths": [], "two_segment": 0, "tokens": 0}
  for document in documents:
    records, lengths, two_segment, tokens = _encode_unit(document, builder, blanks_separate_docs)
    stats["records"] += records
    stats["lengths"] += lengths
    stats["two_segment"] += two_segment
    stats["tokens"] += tokens
  stats["examples"] = len(stats["records"])
  return stats


def _read_text(path, start, end):
  """The unit's text (undecodable bytes replaced, as before) and (number of lines that are
  not valid UTF-8, (path, byte offset) of the first or None): such lines become [UNK]s,
  which the user should hear about (a GBK corpus, say)."""
  with open(path, "rb") as reader:
    reader.seek(start)
    data = reader.read(end - start)
  try:
    return data.decode("utf-8"), (0, None)
  except UnicodeDecodeError:
    pass  # Only now pay for the line-by-line count.
  bad, first, offset = 0, None, start
  for line in data.split(b"\n"):
    try:
      line.decode("utf-8")
    except UnicodeDecodeError:
      bad += 1
      first = first or (path, offset)
    offset += len(line) + 1
  return data.decode("utf-8", "replace"), (bad, first)


def _encode_unit(lines, builder, blanks_separate_docs):
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


# ---------------------------------------------------------------------------------------------
# Processes.


class _InProcessPool:
  """The Pool interface for one process: no start-up cost, same code path."""

  @staticmethod
  def imap_unordered(function, items):
    return map(function, items)

  @staticmethod
  def map(function, items):
    return list(map(function, items))


@contextlib.contextmanager
def _worker_pool(settings, tokenizer, num_workers):
  if num_workers <= 1:
    _init_worker(settings, tokenizer)
    yield _InProcessPool()
    return
  # fork hands every worker the parent's loaded tokenizer for free. It is unsafe once
  # TensorFlow has started its runtime threads (a child can inherit a held lock), so a
  # process that imported TensorFlow (tests, notebooks) pays for spawn instead, where each
  # worker loads the tokenizer itself.
  if "fork" not in multiprocessing.get_all_start_methods() or "tensorflow" in sys.modules:
    with multiprocessing.get_context("spawn").Pool(num_workers,
                                                   initializer=_init_worker,
                                                   initargs=(settings, None)) as pool:
      yield pool
    return
  with multiprocessing.get_context("fork").Pool(num_workers,
                                                initializer=_init_worker,
                                                initargs=(settings, tokenizer)) as pool:
    yield pool


def available_cpus():
  """Cores this process may run on (respects CPU affinity and taskset)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Output directory: written aside, then renamed into place.


def _lexists(path):
  return fileio.exists(path) if fileio.is_remote(path) else os.path.lexists(path)


def _check_replaceable(output_dir):
  """Only an output directory this tool could have written may be replaced."""
  if not _lexists(output_dir):
    return
  if os.path.islink(output_dir) or not fileio.isdir(output_dir):
    raise UsageError(f"output path exists and is not a directory: {output_dir}")
  for name in fileio.listdir(output_dir):
    if not (name.startswith((SHARD_PREFIX, EVAL_SHARD_PREFIX)) or name == SUMMARY_FILE):
      raise UsageError("refusing to replace %s: it holds %s, which this tool does not "
                       "write" % (output_dir, name))


def _move_into_place(tmp_dir, output_dir):
  """Atomic renames on a local file system; on a remote one they move file by file."""
  if not _lexists(output_dir):
    fileio.rename_tree(tmp_dir, output_dir)
    return
  _check_replaceable(output_dir)
  old_dir = _aside(output_dir, "old")
  fileio.rename_tree(output_dir, old_dir)
  try:
    fileio.rename_tree(tmp_dir, output_dir)
  except BaseException:
    fileio.rename_tree(old_dir, output_dir)
    raise
  fileio.rmtree(old_dir)


def _aside(output_dir, kind):
  """<output>.<kind>-<pid>; remote: <parent>/.<name>.<kind>-<pid>, a name that does not start
  with the output's (TensorFlow's ram:// file system matches directories by prefix)."""
  if not fileio.is_remote(output_dir):
    return f"{output_dir}.{kind}-{int(os.getpid())}"
  name = output_dir.rstrip("/").rsplit("/", 1)[-1]
  return f"{fileio.parent(output_dir.rstrip('/'))}/.{name}.{kind}-{int(os.getpid())}"


def _upload(local_dir, output_dir):
  """A remote output: uploaded aside to <parent>/.<name>.tmp-<pid>, then moved into place."""
  remote_tmp = _aside(output_dir, "tmp")
  try:
    fileio.copy_tree(local_dir, remote_tmp)
    _move_into_place(remote_tmp, output_dir)
  except BaseException:
    if fileio.exists(remote_tmp):
      fileio.rmtree(remote_tmp)
    raise


@contextlib.contextmanager
def _local_inputs(paths, vocab_file):
  """Remote corpus files and vocabulary copied to a local temporary directory, so workers
  read byte ranges with plain file calls and never need TensorFlow. Yields (local corpus
  paths in the same order, local vocabulary, {local path: original path})."""
  remote = sorted({path for path in list(paths) + [vocab_file] if fileio.is_remote(path)})
  if not remote:
    yield paths, vocab_file, {}
    return
  local_dir = tempfile.mkdtemp(prefix="electra-build-inputs-")
  try:
    local_of = {}
    for index, path in enumerate(remote):
      local_of[path] = os.path.join(local_dir, f"{int(index):05}-{path.rsplit('/', 1)[-1]}")
      fileio.copy(path, local_of[path], overwrite=True)
    origin = {local: path for path, local in local_of.items()}
    yield ([local_of.get(path, path) for path in paths], local_of.get(vocab_file,
                                                                      vocab_file), origin)
  finally:
    shutil.rmtree(local_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The whole build.


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
  num_processes = _check_settings(vocab_file, max_seq_length, num_out_files, num_processes)
  if not 0.0 <= eval_fraction < 1.0:
    raise UsageError(f"--eval-fraction must be in [0, 1), not {eval_fraction}")
  remote_output = fileio.is_remote(output_dir)
  if not remote_output:
    output_dir = os.path.abspath(output_dir)
    # Remote leftovers cannot be told from a live build on another host: not removed.
    _remove_stale_temporaries(output_dir)
  _check_replaceable(output_dir)
  with _local_inputs(paths, vocab_file) as (local_paths, local_vocab, origin):
    summary = _build_local_inputs(local_paths, local_vocab, origin, vocab_file, output_dir,
                                  corpus_dir, corpus_files, max_seq_length, do_lower_case,
                                  num_out_files, num_processes, seed, blanks_separate_docs,
                                  legacy_segment_bug, unit_bytes, progress, eval_fraction, started)
  _warn_undecodable(summary)
  return summary


def _build_local_inputs(paths, local_vocab, origin, vocab_file, output_dir, corpus_dir,
                        corpus_files, max_seq_length, do_lower_case, num_out_files, num_processes,
                        seed, blanks_separate_docs, legacy_segment_bug, unit_bytes, progress,
                        eval_fraction, started):
  """`build` once the inputs are local files; returns the summary."""
  tokenizer = _load_checked_tokenizer(local_vocab, do_lower_case)
  total_bytes = sum(os.path.getsize(path) for path in paths)
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
      "unit_bytes": unit_bytes or default_unit_bytes(total_bytes),
      "eval_fraction": eval_fraction,
  }
  remote_output = fileio.is_remote(output_dir)
  if remote_output:
    tmp_dir = tempfile.mkdtemp(prefix="electra-build-output-")
  else:
    tmp_dir = f"{output_dir}.tmp-{int(os.getpid())}"
    # A directory of this name can only be left over from a killed run with our pid.
    shutil.rmtree(tmp_dir, ignore_errors=True)
  try:
    summary = _build_into(tmp_dir, paths, tokenizer, settings, total_bytes, started, progress,
                          local_vocab, origin)
    if not summary["examples"]:
      raise UsageError("the corpus has no text to build examples from (%d file(s), %d "
                       "bytes, no non-blank line); nothing was written" % (len(paths), total_bytes))
    if remote_output:
      _upload(tmp_dir, output_dir)
    else:
      _move_into_place(tmp_dir, output_dir)
  finally:
    # Local output: only a failed build leaves it (moved into place otherwise).
    shutil.rmtree(tmp_dir, ignore_errors=True)
  return summary


def _warn_undecodable(summary):
  first = summary.get("first_undecodable")
  if not first:
    return
  path, offset = first
  with fileio.open_file(path, "rb") as reader:
    line = reader.read(offset).count(b"\n") + 1
  print(f"warning: {summary['undecodable_lines']} corpus line(s) are not valid UTF-8 (first: "
        f"{path}, line {line}); their undecodable bytes became [UNK]s. Convert the corpus to "
        "UTF-8 (e.g. iconv -f GBK)",
        file=sys.stderr)


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _remove_stale_temporaries(output_dir):
  """<output>.tmp-<pid> and .old-<pid> directories of builds whose process has died."""
  for path in glob.glob(glob.escape(output_dir) + ".*-*"):
    kind, _, pid = path[len(output_dir) + 1:].partition("-")
    if kind in ("tmp", "old") and pid.isdigit() and int(pid) != os.getpid() \
            and not _pid_alive(int(pid)):
      shutil.rmtree(path, ignore_errors=True)
      print(f"removed {path}, left by an interrupted build", file=sys.stderr)


def _check_settings(vocab_file, max_seq_length, num_out_files, num_processes):
  """Raises UsageError for a missing vocabulary or bad numbers; returns the process count."""
  if "://" not in vocab_file and not os.path.isfile(vocab_file):
    raise UsageError(f"vocab file not found: {vocab_file}")
  num_processes = available_cpus() if num_processes is None else num_processes
  if max_seq_length < 5:
    raise UsageError("--max-seq-length must be at least 5")
  if num_processes < 1 or (num_out_files is not None and num_out_files < 1):
    raise UsageError("--num-processes and --num-out-files must be at least 1")
  return num_processes


def _load_checked_tokenizer(vocab_file, do_lower_case):
  tokenizer = _load_tokenizer(vocab_file, do_lower_case)
  for token in ("[CLS]", "[SEP]"):
    if token not in tokenizer.vocab:
      raise UsageError(f"vocab file has no {token} token: {vocab_file}")
  return tokenizer


def _plan_units(paths, parts_dir, unit_bytes, blanks_separate_docs):
  """The tasks of the workers: (unit index, path, start, end, part file path)."""
  tasks = []
  for path in paths:
    for start, end in split_file(path, unit_bytes, blanks_separate_docs):
      part_path = os.path.join(parts_dir, f"unit-{len(tasks):07}")
      tasks.append((len(tasks), path, start, end, part_path))
  return tasks


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
  tasks = _plan_units(paths, parts_dir, settings["unit_bytes"], settings["blanks_separate_docs"])
  setup_done = time.time()
  meter = Progress(total_bytes, enabled=progress)
  num_processes = settings["num_processes"]
  worker_settings = dict(settings, vocab_file=local_vocab)
  with _worker_pool(worker_settings, tokenizer, min(num_processes, len(tasks))) as pool:
    results = []
    for result in pool.imap_unordered(_process_unit, tasks):
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
  with open(os.path.join(tmp_dir, SUMMARY_FILE), "w", encoding="utf-8") as writer:
    json.dump(summary, writer, indent=2)
    writer.write("\n")
  return summary


def _write_shards(pool, results, tmp_dir, seed, num_out_files, num_processes, progress):
  """Cuts the units, in a seeded random order, into the shards; returns the shard count."""
  units = sorted(results, key=lambda result: result["index"])
  random.Random(f"{int(seed)}:order").shuffle(units)
  counts = [unit["examples"] for unit in units]
  num_files = num_out_files or default_num_out_files(sum(counts), num_processes)
  if progress:
    print(f"[build] writing {int(sum(counts))} examples to {int(num_files)} shard(s)", file=sys.stderr)
  jobs = []
  for shard, plan in enumerate(plan_shards(counts, num_files)):
    pieces = [(units[position]["part"], first, end, units[position]["examples"])
              for position, first, end in plan]
    jobs.append((os.path.join(tmp_dir, shard_name(shard, num_files)), pieces))
  pool.map(assemble_shard, jobs)
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
    print(f"[build] writing {int(sum(counts))} held-out examples to {int(num_files)} shard(s)",
          file=sys.stderr)
  jobs = []
  for shard, plan in enumerate(plan_shards(counts, num_files)):
    pieces = [(units[position]["part"] + ".eval", first, end, counts[position])
              for position, first, end in plan]
    jobs.append((os.path.join(tmp_dir, shard_name(shard, num_files, EVAL_SHARD_PREFIX)), pieces))
  pool.map(assemble_shard, jobs)
  return num_files
