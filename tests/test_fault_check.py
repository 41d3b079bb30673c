"""A small instance of tools/fault_check.py: one kill of pre-training (a checkpoint every
step, so kills land inside saves) and one of fine-tuning, then both run to the end. (Two runs on
one directory: tests/test_pretraining_safety.py and test_finetuning_safety.py.)"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_kills_and_concurrent_runs_keep_the_invariants(tmp_path):
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "tools", "fault_check.py"), "--work-dir",
       str(tmp_path / "work"), "--kills", "1", "--finetune-kills", "1", "--steps", "12",
       "--max-delay", "7", "--trials", "1", "--no-two-runs"],
      capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
  assert result.stdout.strip(), result.stderr[-3000:]
  counts = json.loads(result.stdout.strip().splitlines()[-1])
  assert result.returncode == 0 and counts["failures"] == 0, result.stderr[-2000:]
  assert counts["pretrain_kills"] + counts["finetune_kills"] >= 1 and counts["checks"] > 8
