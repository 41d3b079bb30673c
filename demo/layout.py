"""Where the demo reads (the repository's sample data) and writes (its output directory)."""

import os
import shutil

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_DATA = os.path.join(REPO_ROOT, "sample_data")
CORPUS = os.path.join(SAMPLE_DATA, "pretrain_corpus", "corpus.txt")
FINETUNING_DATA = os.path.join(SAMPLE_DATA, "finetuning_data")
PROGRAM = "run_demo.py"
MODEL_NAME = "tiny"
# Marks a directory this script made, so that the next run may delete it.
MARKER_FILE = ".run_demo_output"
DEFAULT_OUTPUT_DIR = os.path.join(REPO_ROOT, "demo_output")
# --quick has a directory of its own: a check that everything runs must not wipe the output of
# a full demo (several minutes of work).
QUICK_OUTPUT_DIR = os.path.join(REPO_ROOT, "demo_output_quick")
PROFILE_LINE = "profile: "  # the marker's line naming the settings that made the directory
RESULTS_FILE = "demo_results.json"
TASKS = ("chnsenticorp", "cmrc2018")
# The bundled pre-trained model (tools/ship_pretrained_model.py) and its fine-tuning settings.
SHIPPED_MODEL_DIR = os.path.join(SAMPLE_DATA, "models", "electra-mini")
SHIPPED_MODEL = "electra-mini"
SCRATCH_MODEL = "electra-mini-scratch"


class DemoError(Exception):
  """Stops the demo; main() prints it as one line."""


def show_path(path):
  """`path` relative to the working directory when it lies below it, else absolute."""
  path = os.path.abspath(path)
  relative = os.path.relpath(path)
  return path if relative == ".." or relative.startswith(".." + os.sep) else relative


def marker_profile(output_dir):
  """The settings ("default" or "quick") of the demo that made `output_dir`, or None when no
  demo made it; a marker without a profile line (an older demo) counts as a full one."""
  try:
    with open(os.path.join(output_dir, MARKER_FILE), encoding="utf-8") as f:
      lines = f.read().splitlines()
  except OSError:
    return None
  named = [line[len(PROFILE_LINE):] for line in lines if line.startswith(PROFILE_LINE)]
  return named[0] if named else "default"


def prepare_output_dir(output_dir, keep=False, profile="default"):
  """Creates `output_dir`; wipes it first if an earlier demo made it (unless `keep`).

  Refuses, with DemoError, a directory that has files but no demo marker (it may hold someone's
  work) unless `keep` is given, a full demo's directory for a quick run (`profile` "quick"),
  and any directory that holds the repository itself.
  """
  output_dir = os.path.abspath(output_dir)
  repo = os.path.realpath(REPO_ROOT)
  real = os.path.realpath(output_dir)
  if real == repo or repo.startswith(real.rstrip(os.sep) + os.sep):
    raise DemoError(f"--output-dir {show_path(output_dir)} would hold the repository itself; "
                    "choose a new directory")
  if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
    raise DemoError(f"--output-dir {show_path(output_dir)} exists and is not a directory")
  if os.path.isdir(output_dir) and os.listdir(output_dir) and not keep:
    made_by = marker_profile(output_dir)
    if made_by is None:
      raise DemoError(
          f"{show_path(output_dir)} exists, is not empty and was not made by {PROGRAM} (no "
          f"{MARKER_FILE} file in it); give another --output-dir, or --keep to write into it")
    if profile == "quick" and made_by != "quick":
      raise DemoError(
          f"{show_path(output_dir)} holds the output of a full demo, which --quick would wipe; "
          f"give --quick another --output-dir (its default is "
          f"{show_path(QUICK_OUTPUT_DIR)}/), or delete that directory first")
    shutil.rmtree(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, MARKER_FILE), "w", encoding="utf-8") as f:
    f.write(f"Made by {PROGRAM}; the next {PROGRAM} run with this --output-dir deletes this "
            "directory (unless it is given --keep; a --quick run never deletes a full demo's)."
            f"\n{PROFILE_LINE}{profile}\n")
  return output_dir
