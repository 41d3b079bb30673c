"""The harness of tools/bad_input_cases.py: a case's context (its own directory, the scripts run
as a user runs them) and the checks of a refusal or a lossy success.

A refused run must end with exactly one error line (`...: error: ...` or `error: ...`) holding
the expected words, no traceback, a non-zero exit status, and leave its directory exactly as it
found it (the listing of every file and directory, with sizes, is compared before and after).
"""

import dataclasses
import os
import re
import signal
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Start-up lines of TensorFlow and absl, which no script controls.
_FOREIGN_LOG_LINE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")
_ERROR_LINE = re.compile(r"(^|: )error: ")
RUN_TIMEOUT_S = 900
FAST_TIMEOUT_S = 60  # a fast case that runs longer has started real work: a refusal is missing


@dataclasses.dataclass
class Case:
  name: str
  item: str  # what the case checks, in a few words
  fast: bool  # fails before TensorFlow loads
  run: object  # run(context)
  needs_models: bool = False  # needs the tiny models of the kill checks


class Context:
  """What a case needs: a directory of its own, the scripts, and the checks."""

  def __init__(self, check, work, pretrain_hparams=None):
    self.check = check
    self.work = work
    self.pretrain_hparams = pretrain_hparams or {}  # the tiny model's (fault_check.PRETRAIN)
    self.timeout_s = RUN_TIMEOUT_S
    self.tmp = os.path.join(work, "tmp")  # the children's TMPDIR (autograph temporaries)
    os.makedirs(self.tmp, exist_ok=True)

  def case_dir(self, name):
    path = os.path.join(self.work, "cases", name)
    os.makedirs(path)
    return path

  def run(self, script, *args):
    """The finished process (stdout, stderr, returncode); one that outlives the case's time
    limit is killed with its children and reported as exit status -9."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, TMPDIR=self.tmp)
    command = [sys.executable, os.path.join(REPO, script), *map(str, args)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=REPO, env=env, start_new_session=True) as process:
      try:
        stdout, stderr = process.communicate(timeout=self.timeout_s)
      except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        stderr += f"\n(killed after {self.timeout_s} s)"
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

  def expect(self, ok, what):
    self.check.expect(ok, what)

  def refused(self, label, watched, fragments, script, *args):
    """Runs `script`; it must refuse in one line holding `fragments`, leaving `watched` as it
    was. Returns the error line."""
    before = listing(watched)
    result = self.run(script, *args)
    after = listing(watched)
    output = result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines()
              if _ERROR_LINE.search(line) and not _FOREIGN_LOG_LINE.match(line)]
    self.expect(result.returncode != 0, f"{label}: exit status 0, expected a refusal")
    self.expect("Traceback" not in output, f"{label}: a traceback: {tail(output)}")
    self.expect(len(errors) == 1, f"{label}: {len(errors)} error lines, expected one: "
                f"{tail(result.stderr)}")
    line = errors[0] if errors else ""
    missing = [fragment for fragment in fragments if fragment not in line]
    self.expect(not missing, f"{label}: the error line lacks {missing}: {line!r}")
    self.expect(before == after, f"{label}: the refused run changed {watched}: "
                f"{describe_change(before, after)}")
    return line

  def succeeded(self, label, result):
    errors = [line for line in result.stderr.splitlines()
              if _ERROR_LINE.search(line) and not _FOREIGN_LOG_LINE.match(line)]
    self.expect(result.returncode == 0, f"{label}: exit status {result.returncode}: "
                f"{errors[-1] if errors else tail(result.stderr)}")
    return result.returncode == 0

  def once(self, label, output, pattern):
    """`pattern` (a regex) must match exactly one line of `output`."""
    lines = [line for line in output.splitlines() if re.search(pattern, line)]
    self.expect(len(lines) == 1, f"{label}: {len(lines)} lines match {pattern!r}, expected one")
    return lines[0] if lines else ""


def listing(root):
  """Every path under `root` with its size (None for directories), sorted."""
  entries = []
  for directory, names, files in os.walk(root):
    for name in names:
      entries.append((os.path.relpath(os.path.join(directory, name), root), None))
    for name in files:
      path = os.path.join(directory, name)
      entries.append((os.path.relpath(path, root), os.path.getsize(path)))
  return sorted(entries, key=lambda entry: entry[0])


def describe_change(before, after):
  old, new = dict(before), dict(after)
  added = sorted(set(new) - set(old))
  removed = sorted(set(old) - set(new))
  changed = sorted(path for path in set(old) & set(new) if old[path] != new[path])
  return f"added {added[:5]}, removed {removed[:5]}, changed {changed[:5]}"


def tail(text, size=400):
  return text.strip()[-size:]


def write(path, text_or_bytes):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  mode = "wb" if isinstance(text_or_bytes, bytes) else "w"
  with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
    f.write(text_or_bytes)
  return path


def write_vocab(path, tokens):
  return write(path, "".join(token + "\n" for token in tokens))


def run_cases(check, work, cases, pretrain_hparams=None):
  """Runs `cases`; a case that fails with an exception counts as one failed check."""
  context = Context(check, work, pretrain_hparams)
  for case in cases:
    failures = len(check.failures)
    context.timeout_s = FAST_TIMEOUT_S if case.fast else RUN_TIMEOUT_S
    try:
      case.run(context)
    except Exception as e:  # pylint: disable=broad-except  # Report and go on with the next.
      check.expect(False, f"case {case.name} itself failed: {e!r}")
    status = "ok" if len(check.failures) == failures else "FAILED"
    print(f"{status:6} {case.name} ({case.item})", file=sys.stderr, flush=True)
    check.counts["bad_input_cases"] += 1
