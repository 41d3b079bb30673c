"""The output directory of a build: written aside, then moved into place.

A local build writes into `<output>.tmp-<pid>` and renames it to the output directory when it is
complete, so a crash or Ctrl-C never leaves a directory that looks complete; an existing output
is renamed to `<output>.old-<pid>` first and removed once the new one is in place. A remote
output (gs://...) is built in a local temporary directory, uploaded to
`<parent>/.<name>.tmp-<pid>` and moved into place file by file (object stores cannot rename a
directory at once). A killed remote build may leave that upload behind; it is not removed
automatically (its process may run on another host).

What lives where: here the temporary directories, the checks before an output is replaced and
the moves; `pretrain/dataset_writer.py` fills the temporary directory.
"""

import contextlib
import glob
import os
import shutil
import sys
import tempfile

from pretrain.build_inputs import UsageError
from pretrain.build_report import SUMMARY_FILE
from pretrain.dataset_shards import EVAL_SHARD_PREFIX, SHARD_PREFIX
from util import fileio


def check_replaceable(output_dir):
  """Only an output directory this tool could have written may be replaced."""
  if not _lexists(output_dir):
    return
  if os.path.islink(output_dir) or not fileio.isdir(output_dir):
    raise UsageError(f"output path exists and is not a directory: {output_dir}")
  for name in fileio.listdir(output_dir):
    if not (name.startswith((SHARD_PREFIX, EVAL_SHARD_PREFIX)) or name == SUMMARY_FILE):
      raise UsageError(f"refusing to replace {output_dir}: it holds {name}, which this tool "
                       "does not write")


def remove_stale_temporaries(output_dir):
  """<output>.tmp-<pid> and .old-<pid> directories of local builds whose process has died."""
  for path in glob.glob(glob.escape(output_dir) + ".*-*"):
    kind, _, pid = path[len(output_dir) + 1:].partition("-")
    if (kind in ("tmp", "old") and pid.isdigit() and int(pid) != os.getpid() and
        not _pid_alive(int(pid))):
      shutil.rmtree(path, ignore_errors=True)
      print(f"removed {path}, left by an interrupted build", file=sys.stderr)


@contextlib.contextmanager
def temporary_output(output_dir):
  """The directory to build into; whatever is left of it at the end is removed.

  Local: `<output>.tmp-<pid>` beside the output, so that the final rename stays on one file
  system; remote: a local temporary directory, uploaded by `put_in_place`.
  """
  if fileio.is_remote(output_dir):
    tmp_dir = tempfile.mkdtemp(prefix="electra-build-output-")
  else:
    tmp_dir = f"{output_dir}.tmp-{os.getpid()}"
    # A directory of this name can only be left over from a killed run with our pid.
    shutil.rmtree(tmp_dir, ignore_errors=True)
  try:
    yield tmp_dir
  finally:
    # Local output: only a failed build leaves it (moved into place otherwise).
    shutil.rmtree(tmp_dir, ignore_errors=True)


def put_in_place(tmp_dir, output_dir):
  """Makes the complete `tmp_dir` the output directory (replacing an old one)."""
  if fileio.is_remote(output_dir):
    _upload(tmp_dir, output_dir)
  else:
    _move_into_place(tmp_dir, output_dir)


def _lexists(path):
  return fileio.exists(path) if fileio.is_remote(path) else os.path.lexists(path)


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _move_into_place(tmp_dir, output_dir):
  """Atomic renames on a local file system; on a remote one they move file by file."""
  if not _lexists(output_dir):
    fileio.rename_tree(tmp_dir, output_dir)
    return
  check_replaceable(output_dir)
  old_dir = _aside(output_dir, "old")
  fileio.rename_tree(output_dir, old_dir)
  try:
    fileio.rename_tree(tmp_dir, output_dir)
  except BaseException:
    fileio.rename_tree(old_dir, output_dir)
    raise
  fileio.rmtree(old_dir)


def _aside(output_dir, kind):
  """<output>.<kind>-<pid>; remote: <parent>/.<name>.<kind>-<pid>.

  The remote name does not start with the output's, because TensorFlow's ram:// file system
  matches directories by prefix.
  """
  if not fileio.is_remote(output_dir):
    return f"{output_dir}.{kind}-{os.getpid()}"
  name = output_dir.rstrip("/").rsplit("/", 1)[-1]
  return f"{fileio.parent(output_dir.rstrip('/'))}/.{name}.{kind}-{os.getpid()}"


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
