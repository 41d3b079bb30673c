"""run_pretraining.py and run_finetuning.py as two workers of one MultiWorkerMirroredStrategy
cluster on localhost, on one shared model directory: tools/multiworker_check.py --quick (the
resumed pre-training run and the fine-tuning run that keeps an earlier one's results, each on
two workers, after a one-worker run that makes what they resume and keep), when
ELECTRA_SLOW_TESTS=1; the recorders' own tests always run. The full check runs every run
on two workers and two trials; it takes several minutes on 2 cores."""

import os
import subprocess
import sys

import pytest

from tools import multiworker_check


# About 75 s on 2 cores, which the CI budget of the whole suite cannot spare: run with
# ELECTRA_SLOW_TESTS=1 (or tools/multiworker_check.py, whose full mode is this and more).
@pytest.mark.skipif(os.environ.get("ELECTRA_SLOW_TESTS") != "1",
                    reason="set ELECTRA_SLOW_TESTS=1 to run both scripts on two workers")
def test_two_workers_write_everything_once_from_the_chief(tmp_path):
  check = multiworker_check.run_checks(str(tmp_path / "work"), quick=True, timeout=300)
  assert not check.failures, "\n".join(check.failures)
  assert check.counts["two_worker_runs"] == 2 and check.counts["checks"] >= 15


@pytest.mark.parametrize("recorder", ["strace", "write_recorder"])
def test_the_recorder_sees_what_a_process_writes(tmp_path, monkeypatch, recorder):
  """Neither recorder is blind: a file created and renamed in the shared directory is seen."""
  if recorder == "strace" and not multiworker_check.STRACE:
    pytest.skip("strace is not installed")
  if recorder == "write_recorder":
    monkeypatch.setattr(multiworker_check, "STRACE", None)
  shared = tmp_path / "shared"
  shared.mkdir()
  script = tmp_path / "writer.py"
  script.write_text(f"import os\nopen({str(shared / 'a')!r}, 'w').write('x')\n"
                    f"os.rename({str(shared / 'a')!r}, {str(shared / 'b')!r})\n")
  record = str(tmp_path / "record.txt")
  command, env = multiworker_check.recorded_command([sys.executable, str(script)], record)
  subprocess.run(command, env={**os.environ, **env}, check=True, timeout=120)
  assert multiworker_check.shared_writes(record, str(shared)) == [str(shared / "a"),
                                                                  str(shared / "b")]
