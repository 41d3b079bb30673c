"""Writing an export directory (SavedModel or Hugging Face folders) on any file system.

An export is written into a staging directory beside its output and moved into place only when
complete, so a failed or interrupted export never leaves a half-written model where a working
one was. TensorFlow-free for local paths (util/fileio.py).
"""

import contextlib
import os
import shutil
import tempfile
import uuid

from util import fileio


class ExportError(ValueError):
  """A mistake the user can fix; the message is one line."""


def absolute(path):
  """A local path made absolute; a remote one unchanged."""
  return path if fileio.is_remote(path) else os.path.abspath(path)


def check_output(output, flag, overwrite):
  """The output path (absolute if local), refused if it is a file or, without overwrite, a
  non-empty directory."""
  output = absolute(output).rstrip("/")
  if fileio.exists(output) and not fileio.isdir(output):
    raise ExportError(f"{flag} {output} exists and is not a directory")
  if fileio.isdir(output) and fileio.listdir(output) and not overwrite:
    raise ExportError(f"{flag} {output} is not empty (pass --overwrite to replace it)")
  return output


def staging_path(output):
  """A sibling of `output` whose name does not start with output's (ram:// matches prefixes)."""
  parent = fileio.parent(output)
  fileio.makedirs(parent)
  name = output.rsplit("/", 1)[-1]
  return f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"


def remove_quietly(path):
  try:
    if fileio.exists(path):
      fileio.rmtree(path)
  except Exception:  # pylint: disable=broad-except (cleanup of a failed export; keep its error)
    pass


def replace(staging, output):
  """Only a complete export replaces the old one (an atomic rename on a local disk; file by file
  on a remote file system)."""
  if fileio.isdir(output):
    fileio.rmtree(output)
  fileio.rename_tree(staging, output)


def write_staged(output, flag, overwrite, write, local_files=True):
  """Calls write(staging dir), then moves the complete result to `output` (checked as
  check_output does, `flag` naming it). With local_files, a remote output is written to a local
  directory and uploaded beside it first, for writers that only write local files; without,
  `write` gets the remote staging path (tf.saved_model.save writes gs:// itself). Returns the
  output path."""
  output = check_output(output, flag, overwrite)
  staging = staging_path(output)
  local = tempfile.mkdtemp() if local_files and fileio.is_remote(output) else None
  try:
    write(os.path.join(local, "out") if local else staging)
    if local:
      fileio.copy_tree(os.path.join(local, "out"), staging)
  except BaseException:
    remove_quietly(staging)
    raise
  finally:
    if local:
      shutil.rmtree(local, ignore_errors=True)
  replace(staging, output)
  return output


@contextlib.contextmanager
def local_copy(path):
  """`path` itself if local, else a temporary local copy of it."""
  if not fileio.is_remote(path):
    yield path
    return
  with tempfile.TemporaryDirectory() as directory:
    local = os.path.join(directory, path.rsplit("/", 1)[-1])
    fileio.copy(path, local, overwrite=True)
    yield local
