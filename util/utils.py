"""Small helpers shared by the scripts and the library: logging, durations and JSON / text files.

TensorFlow-free: files go through util/fileio.py, which imports TensorFlow only for a remote
path (gs://, ram://), so the dataset builder and the demo use these without its start-up cost.
Model and data directories may still live on Cloud Storage.
"""

import json
import logging
import os
import sys
import time
import uuid

from util import fileio

_logger = logging.getLogger("electra")


def setup_logging():
  """Once per entry point: Python logging to stderr at INFO (so the project's warnings and
  counts are seen), TensorFlow's and absl's own loggers at WARNING."""
  if not logging.getLogger().handlers:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s: %(message)s")
  for name in ("tensorflow", "absl"):
    logging.getLogger(name).setLevel(logging.WARNING)


def warning(message):
  """One warning line on stderr (through logging, so it shows even without setup_logging)."""
  _logger.warning(message)


def describe_error(error):
  """One line for an OSError or tf.errors.OpError: what failed and on which file."""
  if isinstance(error, OSError) and error.strerror:
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror}{where}"
  text = (getattr(error, "message", None) or str(error)).strip()
  first = text.splitlines()[0] if text else type(error).__name__
  return f"{type(error).__name__}: {first}"


def log(*args, **kwargs):
  """Prints one line to stdout, flushed at once so progress shows up in logs and pipes."""
  message = " ".join(str(arg) for arg in args)
  print(message, flush=True, **kwargs)


def heading(*args):
  log(80 * "=")
  log(*args)
  log(80 * "=")


def format_duration(seconds):
  """A duration as H:MM:SS, or M:SS below an hour (negative durations clamp to 0)."""
  seconds = max(int(round(seconds)), 0)
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  if hours:
    return f"{hours}:{minutes:02d}:{seconds:02d}"
  return f"{minutes}:{seconds:02d}"


secs_to_str = format_duration  # The name the training loop's progress lines use.


def load_json(path):
  """The JSON value in a UTF-8 file (local or remote)."""
  with fileio.open_file(path, "r") as f:
    return json.load(f)


def write_json(obj, path, indent=2, sort_keys=True, ensure_ascii=False, atomic=False):
  """Writes `obj` as JSON and a final newline; see write_text for `atomic`.

  ensure_ascii=False keeps Chinese text readable in the file; indent=None gives one line.
  """
  # dumps + one write: json.dump streams through the pure-Python encoder, ~10x slower.
  text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
  write_text(path, text + "\n", atomic=atomic)


def write_text(path, text, atomic=False):
  """Writes UTF-8 text, creating the file's directory first.

  atomic: written beside `path` and renamed over it, so that a kill or a full disk never leaves
  half a file (on an object store the rename is a copy, which readers never see half done).
  """
  mkdir_for(path)
  if not atomic:
    with fileio.open_file(path, "w") as f:
      f.write(text)
    return
  # The pid and a random part keep two writers (or a stale leftover) off each other's file.
  tmp_path = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
  try:
    with fileio.open_file(tmp_path, "w") as f:
      f.write(text)
    fileio.replace(tmp_path, path)
  finally:
    if fileio.exists(tmp_path):
      fileio.remove(tmp_path)


def mkdir(path):
  if path and not fileio.exists(path):
    fileio.makedirs(path)


def mkdir_for(path):
  """Creates the directory that will hold `path`."""
  mkdir(fileio.parent(path))


class Timer:
  """Wall-clock seconds since construction (or the last reset)."""

  def __init__(self):
    self.start = time.time()

  def reset(self):
    self.start = time.time()

  def elapsed(self):
    return time.time() - self.start
