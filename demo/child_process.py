"""Runs one of the repository's scripts as a demo stage: its progress lines on the console as
they come, its whole output in a log file."""

import os
import re
import shlex
import subprocess
import sys
import threading

from demo import layout

# Console lines of TensorFlow's start-up and deprecation chatter: kept in the logs, not shown.
NOISE = re.compile(
    r"^([IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]"  # C++ INFO / WARNING log lines (e.g. oneDNN's)
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r"|This TensorFlow binary is optimized"
    r"|WARNING:tensorflow:From .*(deprecated|removed in a future version)"
    r"|Instructions for updating:)")


_PRINT_LOCK = threading.Lock()  # Scripts run side by side print whole lines, one at a time.


def _show_line(line, state, label=""):
  """Prints one line of a stage's output, indented, unless it is start-up chatter."""
  if state.get("skip_next"):  # The line after "Instructions for updating:".
    state["skip_next"] = False
    return
  if NOISE.match(line):
    state["skip_next"] = line.startswith("Instructions for updating:")
    return
  with _PRINT_LOCK:
    print("    " + (f"[{label}] " if label else "") + line, flush=True)


def run_script(script, args, log_path):
  """Runs `python script args` in a child process; returns its exit status.

  The child's stdout and stderr go to `log_path` in full and, minus TensorFlow's start-up
  chatter, to the console as they come (carriage-return redraws become lines).
  """
  return run_scripts([("", script, args, log_path)])[0]


def run_scripts(jobs):
  """Runs several `(label, script, args, log_path)` side by side; returns their exit statuses.

  Each child is shown and logged as `run_script` does, its console lines prefixed by its label.
  Unless TF_NUM_INTRAOP_THREADS is set, each child gets an equal share of the CPU cores: small
  models use one core each better than two processes contending for all of them.
  """
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO and WARNING lines.
  if len(jobs) > 1:
    env.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 1) // len(jobs))))
  processes, threads = [], []
  try:
    for label, script, args, log_path in jobs:
      command = [sys.executable, os.path.join(layout.REPO_ROOT, script)] + list(args)
      os.makedirs(os.path.dirname(log_path), exist_ok=True)
      log = open(log_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
      log.write("$ " + shlex.join(command) + "\n")
      log.flush()
      # pylint: disable-next=consider-using-with
      process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env=env)
      processes.append(process)
      threads.append(threading.Thread(target=_relay, args=(process, log, label), daemon=True))
      threads[-1].start()
    for thread in threads:
      thread.join()
    return [process.wait() for process in processes]
  finally:
    for process in processes:  # Ctrl-C or a failed start: no child is left running.
      if process.poll() is None:
        process.kill()
        process.wait()


def _relay(process, log, label):
  """Copies a child's output to its log in full and to the console without the chatter."""
  state = {}
  with log, process.stdout:
    for raw in process.stdout:
      text = raw.decode("utf-8", errors="replace")
      log.write(text)
      log.flush()
      for line in text.replace("\r", "\n").splitlines():
        if line.strip():
          _show_line(line.rstrip(), state, label)
