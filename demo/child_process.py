"""Runs one of the repository's scripts as a demo stage: its progress lines on the console as
they come, its whole output in a log file."""

import os
import re
import shlex
import subprocess
import sys

from demo import layout

# Console lines of TensorFlow's start-up and deprecation chatter: kept in the logs, not shown.
NOISE = re.compile(
    r"^([IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]"  # C++ INFO / WARNING log lines (e.g. oneDNN's)
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r"|This TensorFlow binary is optimized"
    r"|WARNING:tensorflow:From .*(deprecated|removed in a future version)"
    r"|Instructions for updating:)")


def _show_line(line, state):
  """Prints one line of a stage's output, indented, unless it is start-up chatter."""
  if state.get("skip_next"):  # The line after "Instructions for updating:".
    state["skip_next"] = False
    return
  if NOISE.match(line):
    state["skip_next"] = line.startswith("Instructions for updating:")
    return
  print("    " + line, flush=True)


def run_script(script, args, log_path):
  """Runs `python script args` in a child process; returns its exit status.

  The child's stdout and stderr go to `log_path` in full and, minus TensorFlow's start-up
  chatter, to the console as they come (carriage-return redraws become lines).
  """
  command = [sys.executable, os.path.join(layout.REPO_ROOT, script)] + list(args)
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO and WARNING lines.
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  state = {}
  with open(log_path, "w", encoding="utf-8") as log:
    log.write("$ " + shlex.join(command) + "\n")
    log.flush()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env) as process:
      for raw in process.stdout:
        text = raw.decode("utf-8", errors="replace")
        log.write(text)
        log.flush()
        for line in text.replace("\r", "\n").splitlines():
          if line.strip():
            _show_line(line.rstrip(), state)
      return process.wait()
