"""Runs a script and records every path it writes, for checks where strace is not installed.

    WRITE_RECORD=/tmp/writes.txt python tools/write_recorder.py SCRIPT ARGS...

Python's own file operations are seen by an audit hook (open for writing, rename, remove,
mkdir, rmdir, rmtree, copy, truncate, link); TensorFlow's C++ ones by wrapping the functions the
project writes through (tf.io.gfile, tf.summary.create_file_writer, tf.io.TFRecordWriter and the
SaveV2 op of checkpoints). One JSON line {"event", "path"} per write.
"""

import json
import os
import runpy
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {"os.rename": 2, "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1,
                "shutil.rmtree": 1, "shutil.copyfile": 2, "os.truncate": 1, "os.link": 2,
                "os.symlink": 2}


class Recorder:
  def __init__(self, path):
    self._file = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with
    self._path = os.path.realpath(path)

  def note(self, event, path):
    if isinstance(path, bytes):
      path = os.fsdecode(path)
    if not isinstance(path, str) or os.path.realpath(path) == self._path:
      return
    self._file.write(json.dumps({"event": event, "path": path}) + "\n")
    self._file.flush()

  def audit(self, event, args):
    if event == "open":
      path, mode, flags = args
      writes = any(c in mode for c in "wax+") if isinstance(mode, str) else (
          isinstance(flags, int) and flags & _WRITE_FLAGS)
      if writes:
        self.note(event, path)
    elif event in _PATH_EVENTS:
      for path in args[:_PATH_EVENTS[event]]:
        self.note(event, path)


def wrap_tensorflow(recorder):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def recording(name, function, n_paths=1):
    def wrapper(*args, **kwargs):
      for path in args[:n_paths]:
        recorder.note(name, path)
      return function(*args, **kwargs)
    return wrapper

  gfile = tf.io.gfile
  for name, n_paths in (("makedirs", 1), ("mkdir", 1), ("remove", 1), ("rmtree", 1),
                        ("rename", 2), ("copy", 2)):
    setattr(gfile, name, recording(f"gfile.{name}", getattr(gfile, name), n_paths))

  class RecordedGFile(gfile.GFile):
    def __init__(self, name, mode="r"):
      if any(c in mode for c in "wa"):
        recorder.note("gfile.GFile", name)
      super().__init__(name, mode)
  gfile.GFile = RecordedGFile
  tf.summary.create_file_writer = recording("create_file_writer", tf.summary.create_file_writer)
  tf.io.TFRecordWriter = recording("TFRecordWriter", tf.io.TFRecordWriter)
  save = tf.raw_ops.SaveV2

  def save_v2(**kwargs):
    recorder.note("SaveV2", kwargs["prefix"])
    return save(**kwargs)
  tf.raw_ops.SaveV2 = save_v2


def main():
  recorder = Recorder(os.environ["WRITE_RECORD"])
  sys.addaudithook(recorder.audit)
  wrap_tensorflow(recorder)
  script = sys.argv[1]
  sys.argv = sys.argv[1:]
  sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
  runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
  main()
