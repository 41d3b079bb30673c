"""The inputs of a pre-training dataset build, checked before any work is done.

What lives where:
- here: `UsageError`, the corpus file list, the checks of the vocabulary and the numbers, the
  tokenizer, local copies of remote inputs and the warning about lines that are not UTF-8;
- `pretrain/corpus_units.py`: the corpus files cut into units of work;
- `pretrain/dataset_writer.py`: `build`, which runs the whole build.

TensorFlow is imported only for remote paths (util/fileio.py).
"""

import contextlib
import os
import shutil
import sys
import tempfile

from util import fileio


class UsageError(Exception):
  """A problem with the inputs or settings, reported as a one-line error (exit status 2)."""


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


def available_cpus():
  """Cores this process may run on (respects CPU affinity and taskset)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count() or 1


def check_settings(vocab_file, max_seq_length, num_out_files, num_processes):
  """Raises UsageError for an unusable vocabulary or bad numbers; returns the process count."""
  if "://" not in vocab_file and not os.path.isfile(vocab_file):
    raise UsageError(f"vocab file not found: {vocab_file}")
  check_vocab_file(vocab_file)
  num_processes = available_cpus() if num_processes is None else num_processes
  if max_seq_length < 5:
    raise UsageError("--max-seq-length must be at least 5")
  if num_processes < 1 or (num_out_files is not None and num_out_files < 1):
    raise UsageError("--num-processes and --num-out-files must be at least 1")
  return num_processes


def load_tokenizer(vocab_file, do_lower_case):
  """A FullTokenizer whose per-process lookup tables are already built."""
  from model.tokenization import FullTokenizer  # pylint: disable=import-outside-toplevel
  tokenizer = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
  tokenizer.tokenize_to_ids("warm up 中")  # builds the per-process lookup tables now
  return tokenizer


def check_vocab_file(vocab_file):
  """UsageError for a vocabulary the builder cannot use: empty, a token twice, or without
  [UNK], [CLS] or [SEP] (model/tokenization.py's `check_vocab`)."""
  from model import tokenization  # pylint: disable=import-outside-toplevel
  try:
    tokenization.check_vocab(vocab_file, "pre-training data")
  except tokenization.VocabularyError as e:
    raise UsageError(str(e)) from None


def load_checked_tokenizer(vocab_file, do_lower_case):
  """`load_tokenizer` after `check_vocab_file`."""
  check_vocab_file(vocab_file)
  return load_tokenizer(vocab_file, do_lower_case)


@contextlib.contextmanager
def local_inputs(paths, vocab_file):
  """Remote corpus files and vocabulary copied to a local temporary directory.

  Workers then read byte ranges with plain file calls and never need TensorFlow. Yields (local
  corpus paths in the same order, local vocabulary, {local path: original path}).
  """
  remote = sorted({path for path in list(paths) + [vocab_file] if fileio.is_remote(path)})
  if not remote:
    yield paths, vocab_file, {}
    return
  local_dir = tempfile.mkdtemp(prefix="electra-build-inputs-")
  try:
    local_of = {}
    for index, path in enumerate(remote):
      local_of[path] = os.path.join(local_dir, f"{index:05}-{path.rsplit('/', 1)[-1]}")
      fileio.copy(path, local_of[path], overwrite=True)
    origin = {local: path for path, local in local_of.items()}
    local_paths = [local_of.get(path, path) for path in paths]
    yield local_paths, local_of.get(vocab_file, vocab_file), origin
  finally:
    shutil.rmtree(local_dir, ignore_errors=True)


def warn_undecodable(summary):
  """One line on stderr naming the first corpus line that is not valid UTF-8, if any."""
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
