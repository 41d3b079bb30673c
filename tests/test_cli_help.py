"""--help of the run scripts answers before TensorFlow is imported and says where the
hyper-parameters are documented."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs the script as __main__ with --help, then reports whether TensorFlow got imported.
PROBE = """
import runpy, sys
sys.argv = [{script!r}, "--help"]
try:
  runpy.run_path({script!r}, run_name="__main__")
except SystemExit:
  pass
print("TENSORFLOW_IMPORTED" if "tensorflow" in sys.modules else "NO_TENSORFLOW")
"""


@pytest.mark.parametrize("script, config_file", [
    ("run_pretraining.py", "configure_pretraining.py"),
    ("run_finetuning.py", "configure_finetuning.py"),
    ("predict.py", None), ("export_model.py", None), ("export_hf.py", None),
    ("build_pretraining_dataset.py", None)])
def test_help_does_not_import_tensorflow(script, config_file):
  result = subprocess.run([sys.executable, "-c", PROBE.format(script=script)], cwd=REPO,
                          capture_output=True, text=True, check=True)
  assert result.stdout.strip().endswith("NO_TENSORFLOW"), result.stdout
  assert "usage:" in result.stdout
  assert result.stderr == ""  # no TensorFlow start-up lines
  if config_file:
    text = " ".join(result.stdout.split())
    assert config_file in text and "params/*.json" in text
    assert "learning_rate" in text and "max_seq_length" in text
