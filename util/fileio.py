"""File access for local paths and TensorFlow file systems (gs://, ram://, ...) alike.

Remote paths go through tf.io.gfile; local ones through the os module, so modules that never
import TensorFlow (the dataset builder and its worker processes, the task readers, the cheap
checks of the run scripts) stay fast to start. TensorFlow is imported on the first remote path.

Remote file systems have no real directories: `rename_tree` moves a remote directory file by
file (not atomic: a crash in the middle leaves both halves), and every write first creates its
parent, which object stores do not need but TensorFlow's in-memory ram:// file system does to
list the file, and "w" removes an existing remote file first (ram:// would append to it).
"""

import hashlib
import os
import shutil


def is_remote(path):
  """True for URLs such as gs://bucket/x, which the os module cannot open."""
  return "://" in str(path)


def _gfile():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel (slow; remote paths only)
  return tf.io.gfile


def open_file(path, mode="r"):
  """A file object; text modes read and write UTF-8."""
  if is_remote(path):
    if any(flag in mode for flag in "wa"):
      makedirs(parent(path))
    if "w" in mode and _gfile().exists(path):
      _gfile().remove(path)  # ram:// appends to an existing file instead of truncating it
    return _gfile().GFile(path, mode)
  # pylint: disable-next=consider-using-with
  return open(path, mode, encoding=None if "b" in mode else "utf-8")


def read_bytes(path):
  with open_file(path, "rb") as f:
    return f.read()


def sha256(path):
  """The SHA-256 hex digest of a file's bytes (vocabulary and data fingerprints)."""
  digest = hashlib.sha256()
  with open_file(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def exists(path):
  return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path):
  return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path):
  return exists(path) and not isdir(path)


def listdir(path):
  return _gfile().listdir(path) if is_remote(path) else os.listdir(path)


def getsize(path):
  return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)


def glob(pattern):
  if is_remote(pattern):
    return _gfile().glob(pattern)
  import glob as glob_lib  # pylint: disable=import-outside-toplevel
  return glob_lib.glob(pattern)


def parent(path):
  """The directory of `path` ("" for a bare name); unlike os.path.dirname, keeps gs://bucket."""
  return path.rsplit("/", 1)[0] if "/" in path.rstrip("/") else ""


def makedirs(path):
  if not path:
    return
  if is_remote(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def rmtree(path):
  if is_remote(path):
    _gfile().rmtree(path)
  else:
    shutil.rmtree(path)


def remove(path):
  if is_remote(path):
    _gfile().remove(path)
  else:
    os.remove(path)


def copy(source, target, overwrite=False):
  """One file, between any two file systems."""
  if not (is_remote(source) or is_remote(target)):
    if not overwrite and os.path.exists(target):
      raise FileExistsError(f"{target} exists")
    shutil.copyfile(source, target)
    return
  makedirs(parent(target))
  _gfile().copy(source, target, overwrite=overwrite)


def copy_tree(source, target):
  """Every file under local or remote `source` to the same place under `target`."""
  for directory, _, names in walk(source):
    relative = directory[len(source):].lstrip("/")
    out_dir = f"{target}/{relative}" if relative else target
    makedirs(out_dir)
    for name in names:
      copy(f"{directory}/{name}", f"{out_dir}/{name}", overwrite=True)


def walk(path):
  return _gfile().walk(path) if is_remote(path) else os.walk(path)


def replace(source, target):
  """Renames a file over `target`, replacing it if it exists (atomic on a local file system)."""
  if is_remote(source):
    _gfile().rename(source, target, overwrite=True)
  else:
    os.replace(source, target)


def rename_tree(source, target):
  """Renames a file or directory: atomic on a local file system; on a remote one, a directory
  moves file by file (object stores have no directory to rename)."""
  if not is_remote(source):
    os.rename(source, target)
    return
  gfile = _gfile()
  if not gfile.isdir(source):
    gfile.rename(source, target)
    return
  for directory, _, names in list(gfile.walk(source)):
    out_dir = target + directory[len(source):]
    gfile.makedirs(out_dir)
    for name in names:
      gfile.rename(f"{directory}/{name}", f"{out_dir}/{name}")
  gfile.rmtree(source)
