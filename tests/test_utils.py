"""util/utils.py: durations, JSON and text files (local and remote), and no TensorFlow import."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from util import fileio
from util import utils

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_format_duration():
  assert utils.format_duration(0) == "0:00"
  assert utils.format_duration(59.6) == "1:00"
  assert utils.format_duration(3599) == "59:59"
  assert utils.format_duration(3600 + 62) == "1:01:02"
  assert utils.format_duration(-5) == "0:00"
  assert utils.secs_to_str is utils.format_duration


def test_json_round_trip_and_options(tmp_path):
  path = str(tmp_path / "new" / "dir" / "a.json")
  utils.write_json({"b": 1, "a": "中文"}, path)
  text = (tmp_path / "new" / "dir" / "a.json").read_text(encoding="utf-8")
  assert text == '{\n  "a": "中文",\n  "b": 1\n}\n'
  assert utils.load_json(path) == {"a": "中文", "b": 1}
  utils.write_json({"b": 1, "a": 2}, path, indent=None, sort_keys=False, atomic=True)
  assert (tmp_path / "new" / "dir" / "a.json").read_text(encoding="utf-8") == '{"b": 1, "a": 2}\n'
  assert os.listdir(tmp_path / "new" / "dir") == ["a.json"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
  path = tmp_path / "r.json"
  path.write_text("old")
  with pytest.raises(TypeError):
    utils.write_text(str(path), object(), atomic=True)  # write() refuses a non-string
  assert path.read_text() == "old" and os.listdir(tmp_path) == ["r.json"]


def test_remote_paths():
  path = f"ram://utils-{uuid.uuid4().hex[:8]}/out/a.json"
  utils.write_json({"x": [1, 2]}, path, atomic=True)
  utils.write_json({"x": [3]}, path, atomic=True)
  assert utils.load_json(path) == {"x": [3]}
  assert fileio.listdir(fileio.parent(path)) == ["a.json"]


def test_imports_no_tensorflow():
  code = "import sys; from util import utils; print(json.dumps('tensorflow' in sys.modules))"
  output = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=True).stdout
  assert json.loads(output) is False
