"""The corpus as units of work: byte ranges of the input files, their text and its documents.

Every input file is cut into units of about `unit_bytes`, each ending at a document boundary (at
any line end when blank lines do not separate documents), so that a unit's examples depend only
on its own text and seed.

What lives where:
- here: the unit size, `split_file` and `plan_units` (the units), `read_unit_text` (a unit's
  text) and `split_documents` / `count_documents` (the documents of a text, also used by
  tools/make_sample_data.py);
- `pretrain/unit_worker.py`: a unit's text -> its examples' TFRecord part file.

Pure Python: no TensorFlow, no numpy.
"""

import os
import re

# A unit of work: large enough that per-unit costs vanish, small enough that 2+ processes get
# an even share of a few-MB corpus; capped so a huge corpus does not make a huge part file.
MIN_UNIT_BYTES = 256 * 1024
MAX_UNIT_BYTES = 16 * 1024 * 1024
UNITS_PER_CORPUS = 64

# One or more blank (whitespace-only) lines between two documents.
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+\n|\n[^\S\n]*\n")


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


def plan_units(paths, parts_dir, unit_bytes, blanks_separate_docs):
  """The tasks of the workers: (unit index, path, start, end, part file path)."""
  tasks = []
  for path in paths:
    for start, end in split_file(path, unit_bytes, blanks_separate_docs):
      part_path = os.path.join(parts_dir, f"unit-{len(tasks):07}")
      tasks.append((len(tasks), path, start, end, part_path))
  return tasks


def read_unit_text(path, start, end):
  """The unit's text and (number of lines that are not valid UTF-8, (path, byte offset) of the
  first or None).

  Undecodable bytes are replaced; such lines become [UNK]s, which the user should hear about
  (a GBK corpus, say).
  """
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


def split_documents(lines):
  """The documents (lists of non-blank lines, as given) of lines with blank lines between."""
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


def count_documents(text, blanks_separate_docs):
  """The number of documents in `text`, at C speed (no list of lines).

  It equals len(split_documents(text.split("\\n"))) when blank lines separate documents; else
  the text is one document unless it is blank.
  """
  if not blanks_separate_docs:
    return 1 if text.strip() else 0
  return sum(1 for chunk in _BLANK_LINES.split(text) if chunk.strip())
