"""One run per model directory: a lock file naming the host and process that holds it.

Two runs writing one model directory interleave their checkpoints and results, so a second
run refuses to start. A lock left by a dead process (same host, PID gone or reused) is taken
over with a message; a lock from another host cannot be checked and is never taken over.
Multi-worker runs share one directory by design: only the chief takes the lock.

`private_tempdir` gives a run's process its own temporary directory, so the files TensorFlow
leaves in the system's when it is killed (autograph's generated modules) go with it.

The lock is created with O_CREAT | O_EXCL, atomic on local and network file systems. Remote
directories (gs://...) get a best-effort lock through tf.io.gfile: written if absent.
"""

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time

from util import utils

LOCK_FILE = "run.lock"


class LockError(RuntimeError):
  """The directory is in use by another run."""


def _process_start(pid):
  """The kernel's start time of `pid` (Linux), to tell a reused PID from the lock holder."""
  try:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
      return f.read().rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _alive(holder):
  pid = holder.get("pid")
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Someone else's live process.
    return True
  start = holder.get("start")
  return start is None or _process_start(pid) in (None, start)


def _holder_text(holder):
  since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("time", 0)))
  return (f"{holder.get('program', '?')} (pid {holder.get('pid')} on host {holder.get('host')},"
          f" since {since})")


def _read_holder(path):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {}  # Half-written by a process killed while creating it: no live holder.


def _me(program):
  return {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid()),
          "program": program, "time": time.time()}


def _create_local(path, me):
  """True if we created the lock file."""
  try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, "w", encoding="utf-8") as f:
    json.dump(me, f)
  return True


def acquire(directory, program, name=LOCK_FILE):
  """Creates `directory`/`name` for this process; raises LockError if a live run holds it."""
  utils.mkdir(directory)
  path = os.path.join(directory, name)
  if "://" in str(directory):
    return _acquire_remote(path, program)
  me = _me(program)
  for _ in range(3):  # Races with another run taking over the same stale lock.
    if _create_local(path, me):
      return path
    holder = _read_holder(path)
    if holder is None:
      continue
    same_process = holder.get("host") == me["host"] and holder.get("pid") == me["pid"]
    if same_process:  # Our own (an earlier run in this process that did not release it).
      os.remove(path)
      continue
    if holder and (holder.get("host") != me["host"] or _alive(holder)):
      raise LockError(f"{directory} is in use by {_holder_text(holder)}; wait for it to end "
                      f"(if it has ended on another host, delete {path})")
    utils.log(f"Taking over the stale lock {path} of {_holder_text(holder)}, which has ended")
    os.remove(path)
  raise LockError(f"could not take the lock {path}: another run keeps taking it")


def _acquire_remote(path, program):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      try:
        holder = json.loads(f.read())
      except ValueError:
        holder = {}
    raise LockError(f"{os.path.dirname(path)} is in use by {_holder_text(holder)}; if that run "
                    f"has ended, delete {path}")
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(json.dumps(_me(program)))
  return path


def release(path):
  """Removes the lock if it is still ours."""
  if path is None:
    return
  if "://" in str(path):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)
    return
  holder = _read_holder(path)
  if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
    os.remove(path)


@contextlib.contextmanager
def hold(directory, program, enabled=True, name=LOCK_FILE):
  """Holds the lock of `directory` for the block (not at all if not `enabled`: non-chiefs)."""
  path = acquire(directory, program, name) if enabled else None
  try:
    yield path
  finally:
    release(path)


TEMPDIR_PREFIX = "electra-run-"


@contextlib.contextmanager
def private_tempdir():
  """Points the process's temporary files (tempfile.tempdir, which autograph's generated
  `__autograph_generated_file*.py` use) at a directory of its own in the system's, removed when
  the block ends. A killed process cannot remove it: the next run on the host removes those of
  processes that have ended (the directory's name holds the pid and its start time)."""
  system = tempfile.gettempdir()
  _remove_stale_tempdirs(system)
  start = _process_start(os.getpid()) or "0"
  path = os.path.join(system, f"{TEMPDIR_PREFIX}{os.getpid()}-{start}")
  os.makedirs(path, exist_ok=True)
  previous, tempfile.tempdir = tempfile.tempdir, path
  try:
    yield path
  finally:
    tempfile.tempdir = previous
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale_tempdirs(system):
  for name in os.listdir(system):
    if not name.startswith(TEMPDIR_PREFIX):
      continue
    pid, _, start = name[len(TEMPDIR_PREFIX):].partition("-")
    holder = {"pid": int(pid) if pid.isdigit() else None, "start": start}
    if not _alive(holder):
      shutil.rmtree(os.path.join(system, name), ignore_errors=True)
