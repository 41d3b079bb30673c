"""Small helpers shared by the scripts: logging, duration formatting and json / pickle io.

File helpers go through tf.io.gfile so that model and data directories may live on GCS.
"""

import json
import logging
import pickle
import sys
import time

import tensorflow as tf

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


def secs_to_str(secs):
  """Formats a duration as H:MM:SS, or M:SS below an hour (negative durations clamp to 0)."""
  secs = max(int(round(secs)), 0)
  hours, rest = divmod(secs, 3600)
  minutes, seconds = divmod(rest, 60)
  if hours:
    return f"{hours}:{minutes:02d}:{seconds:02d}"
  return f"{minutes}:{seconds:02d}"


def load_json(path):
  with tf.io.gfile.GFile(path, "r") as f:
    return json.load(f)


def write_json(obj, path):
  """Writes pretty-printed json; ensure_ascii=False keeps Chinese text readable in the file."""
  mkdir_for(path)
  with fileio.open_file(path, "w") as f:
    f.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def load_pickle(path):
  with tf.io.gfile.GFile(path, "rb") as f:
    return pickle.load(f)


def write_pickle(obj, path):
  mkdir_for(path)
  with fileio.open_file(path, "wb") as f:
    pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def mkdir(path):
  if path and not tf.io.gfile.exists(path):
    tf.io.gfile.makedirs(path)


def mkdir_for(path):
  """Creates the directory that will hold `path`."""
  mkdir(path.rsplit("/", 1)[0] if "/" in path else "")


class Timer:
  """Wall-clock seconds since construction (or the last reset)."""

  def __init__(self):
    self.start = time.time()

  def reset(self):
    self.start = time.time()

  def elapsed(self):
    return time.time() - self.start
