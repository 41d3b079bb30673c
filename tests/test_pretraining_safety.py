"""run_pretraining.py checks before the first step: empty data, summary.json against the config,
one run per model directory (the lock), and one line for file-system errors."""

import hashlib
import json
import socket
import subprocess
import sys

import pytest

import run_pretraining
from tests.pretrain_fixtures import SEQ_LENGTH, write_vocab
from tests.test_run_pretraining import SCRIPT_HPARAMS
from util import run_lock


def argv(data_dir, **hparams):
  return ["--data-dir", str(data_dir), "--model-name", "tiny",
          "--hparams", json.dumps({**SCRIPT_HPARAMS, "num_train_steps": 1, **hparams})]


def fails_with(data_dir, capsys=None, **hparams):
  with pytest.raises(SystemExit) as raised:
    run_pretraining.main(argv(data_dir, **hparams))
  message = str(raised.value.code)
  assert message.startswith("run_pretraining.py: error:") and "\n" not in message
  return message


def write_summary(record_dir, **fields):
  summary = {"examples": 30, "settings": {"max_seq_length": SEQ_LENGTH}, **fields}
  path = record_dir / "pretrain_tfrecords" / "summary.json"
  path.write_text(json.dumps(summary), encoding="utf-8")


def test_empty_shards_are_an_error_not_a_hang(tmp_path):
  write_vocab(tmp_path)
  (tmp_path / "pretrain_tfrecords").mkdir()
  (tmp_path / "pretrain_tfrecords" / "pretrain_data.tfrecord-0-of-1").write_bytes(b"")
  assert "the pre-training data is empty" in fails_with(tmp_path)
  write_summary(tmp_path, examples=0)
  (tmp_path / "pretrain_tfrecords" / "pretrain_data.tfrecord-0-of-1").write_bytes(b"x")
  # One stray byte is not a record: the shard check names the file before the summary is read.
  assert "pretrain_data.tfrecord-0-of-1: record 1 (byte 0) is damaged" in fails_with(tmp_path)


def test_summary_json_max_seq_length_and_vocabulary_are_checked(record_dir):
  vocab = write_vocab(record_dir)
  write_summary(record_dir, settings={"max_seq_length": 512})
  message = fails_with(record_dir)
  assert "built with max_seq_length 512" in message and "summary.json" in message
  write_summary(record_dir, vocab_sha256="0" * 64)
  assert "is not the vocabulary the data was built with" in fails_with(record_dir)
  with open(vocab, "rb") as f:
    write_summary(record_dir, vocab_sha256=hashlib.sha256(f.read()).hexdigest())
  run_pretraining.main(argv(record_dir))
  assert not (record_dir / "models" / "tiny" / run_lock.LOCK_FILE).exists()  # released


def write_lock(model_dir, pid, host=None):
  model_dir.mkdir(parents=True, exist_ok=True)
  holder = {"host": host or socket.gethostname(), "pid": pid, "program": "run_pretraining.py",
            "time": 0}
  (model_dir / run_lock.LOCK_FILE).write_text(json.dumps(holder), encoding="utf-8")


def test_a_second_run_on_one_model_directory_refuses(record_dir):
  write_vocab(record_dir)
  model_dir = record_dir / "models" / "tiny"
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    write_lock(model_dir, holder.pid)
    message = fails_with(record_dir)
    assert "is in use by run_pretraining.py" in message and f"pid {holder.pid}" in message
    write_lock(model_dir, 1, host="another-host")
    assert "another-host" in fails_with(record_dir)
  finally:
    holder.kill()
    holder.wait()
  assert not list(model_dir.glob("model.ckpt-*"))


def test_stale_lock_of_a_dead_process_is_taken_over(record_dir, capsys):
  write_vocab(record_dir)
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  model_dir = record_dir / "models" / "tiny"
  write_lock(model_dir, int(dead.stdout))
  (model_dir / "model.ckpt-9.tmp-0a1b.data-00000-of-00001").write_bytes(b"junk")
  run_pretraining.main(argv(record_dir))
  out = capsys.readouterr().out
  assert "Taking over the stale lock" in out and "Removed 1 temporary file" in out
  assert (model_dir / "model.ckpt-1.index").exists()
  assert not list(model_dir.glob("*.tmp-*"))


def test_unwritable_model_directory_is_one_line(record_dir, monkeypatch):
  write_vocab(record_dir)

  def read_only(*args, **kwargs):
    raise OSError(30, "Read-only file system", str(record_dir / "models" / "tiny"))
  monkeypatch.setattr(run_lock, "acquire", read_only)
  message = fails_with(record_dir)
  assert "Read-only file system" in message and "models" in message
