"""The pre-training data builder: empty corpora, non-UTF-8 lines, the vocabulary fingerprint,
disk errors and the leftovers of killed builds."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

import build_pretraining_dataset as bpd
from tests.test_build_pretraining_dataset import write_vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(tmp_path, corpus_bytes, extra=()):
  corpus = tmp_path / "corpus"
  corpus.mkdir(exist_ok=True)
  (corpus / "a.txt").write_bytes(corpus_bytes)
  vocab = write_vocab(tmp_path / "vocab.txt")
  out = tmp_path / "out"
  return bpd.main(["--corpus-dir", str(corpus), "--vocab-file", vocab, "--output-dir", str(out),
                   "--num-processes", "1", "--quiet", *extra]), out


def test_empty_or_blank_corpus_is_an_error_and_writes_nothing(tmp_path, capsys):
  for text in (b"", b"\n\n  \n"):
    status, out = build(tmp_path, text)
    assert status != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no text" in err[0]
    assert not out.exists()
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]


def test_summary_has_the_vocab_fingerprint_and_counts_bad_utf8(tmp_path, capsys):
  good = "d1 s1 w1 w2\nd1 s2 w3\n\nd2 s1 w4\n".encode("utf-8")
  status, out = build(tmp_path, good + "d3 s1 中文\n".encode("gbk") + b"d4 s1 w5\n")
  assert status == 0
  summary = json.loads((out / "summary.json").read_text())
  vocab = (tmp_path / "vocab.txt").read_bytes()
  assert summary["vocab_sha256"] == hashlib.sha256(vocab).hexdigest()
  assert summary["undecodable_lines"] == 1
  warning = [line for line in capsys.readouterr().err.splitlines() if "UTF-8" in line]
  assert len(warning) == 1 and "a.txt, line 5" in warning[0]


def test_stale_temporary_directory_of_a_dead_build_is_removed(tmp_path):
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  stale = tmp_path / f"out.tmp-{int(dead.stdout)}"
  (stale / "parts").mkdir(parents=True)
  status, out = build(tmp_path, b"d1 s1 w1 w2\nd1 s2 w3\n")
  assert status == 0 and out.exists() and not stale.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_is_one_line(tmp_path):
  parent = tmp_path / "ro"
  parent.mkdir()
  corpus = tmp_path / "c.txt"
  corpus.write_text("d1 s1 w1\nd1 s2 w2\n", encoding="utf-8")
  os.chmod(parent, 0o555)
  try:
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "build_pretraining_dataset.py"), "--corpus-files",
         str(corpus), "--vocab-file", write_vocab(tmp_path / "vocab.txt"), "--output-dir",
         str(parent / "out"), "--num-processes", "1", "--quiet"],
        capture_output=True, text=True, cwd=REPO, check=False)
  finally:
    os.chmod(parent, 0o755)
  lines = result.stderr.strip().splitlines()
  assert result.returncode != 0 and len(lines) == 1, result.stderr
  assert "Permission denied" in lines[0] and str(parent) in lines[0]


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
  from pretrain import unit_worker  # pylint: disable=import-outside-toplevel
  real = unit_worker._write_part  # pylint: disable=protected-access

  def full(part_path, records):
    real(part_path, records)
    raise OSError(28, "No space left on device", part_path)
  monkeypatch.setattr(unit_worker, "_write_part", full)
  status, out = build(tmp_path, b"d1 s1 w1 w2\nd1 s2 w3\n")
  err = capsys.readouterr().err.strip().splitlines()
  assert status != 0 and len(err) == 1 and "No space left on device" in err[0], err
  assert not out.exists() and not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
