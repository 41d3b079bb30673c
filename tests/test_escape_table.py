"""bench/escape_table.py: escape points read from held-out histories."""

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))

import escape_table  # noqa: E402  pylint: disable=wrong-import-position


def write_run(results_dir, name, accuracies, change, electra=True):
  run_dir = results_dir / name
  run_dir.mkdir(parents=True)
  with open(run_dir / "unsup_results_history.jsonl", "w", encoding="utf-8") as f:
    for step, accuracy in accuracies:
      record = {"global_step": step, "masked_lm_accuracy": accuracy, "masked_lm_loss": 5.0}
      if electra:
        record.update(disc_auc=0.6, disc_recall=0.1)
      f.write(json.dumps(record) + "\n")
  (run_dir / "change.txt").write_text(change + "\n", encoding="utf-8")


def table(capsys, *argv):
  """bench/escape_table.py's output for these arguments."""
  escape_table.main([str(arg) for arg in argv])
  return capsys.readouterr().out


def test_escape_is_the_first_evaluation_at_the_threshold(tmp_path, capsys):
  # Step 500 appears twice, as after a resume: the later record counts.
  write_run(tmp_path, "A", [(250, 0.17), (500, 0.26), (500, 0.2), (750, 0.25), (1000, 0.31)],
            "base")
  write_run(tmp_path, "D", [(250, 0.07), (500, 0.18)], "masked LM alone", electra=False)
  out = table(capsys, tmp_path)
  assert "| A | base | step 750 (0.250) | 1000: 0.310, 5.00, 0.600, 0.100 |" in out
  assert "| D | masked LM alone | none by step 500 | 500: 0.180, 5.00, -, - |" in out
  assert "| 250 | 0.170 / 0.600 | 0.070 / - |" in out
  assert "| 1000 | 0.310 / 0.600 |  |" in out


def test_runs_compare_at_one_masking_rate(tmp_path, capsys):
  write_run(tmp_path, "M", [(500, 0.20), (1000, 0.30)], "base")
  write_run(tmp_path, "O", [(500, 0.18), (1000, 0.27)], "25% masked")
  (tmp_path / "O" / "hp.json").write_text(json.dumps({"mask_prob": 0.25}), encoding="utf-8")
  # O's checkpoints evaluated again at 0.15 afterwards, and one row of its history at 0.15 too.
  rows = [{"global_step": 500, "masked_lm_accuracy": 0.21, "masked_lm_loss": 5.0,
           "eval_mask_prob": 0.15, "disc_auc": 0.6, "disc_recall": 0.1}]
  (tmp_path / "O" / "held_out_at_mask_0.15.jsonl").write_text(
      "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
  with open(tmp_path / "O" / "unsup_results_history.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps(dict(rows[0], global_step=1000, masked_lm_accuracy=0.33)) + "\n")
  own = table(capsys, tmp_path)
  assert "| O | 25% masked | step 1000 (0.270) |" in own  # its own rate, the 0.15 rows left out
  common = table(capsys, tmp_path, "--eval-mask-prob", "0.15")
  assert "| M | base | step 1000 (0.300) |" in common
  assert "| O | 25% masked | step 1000 (0.330) |" in common
  assert "| 500 | 0.200 / 0.600 | 0.210 / 0.600 |" in common
  with pytest.raises(SystemExit, match="at masking rate 0.4"):
    escape_table.main([str(tmp_path), "--eval-mask-prob", "0.4"])


def test_an_empty_directory_is_a_one_line_error(tmp_path):
  with pytest.raises(SystemExit, match="no <run>/unsup_results_history.jsonl"):
    escape_table.main([str(tmp_path)])


def write_attention(results_dir, run, step, neighbours, cosine):
  path = results_dir / "attention" / run / f"step{step}.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  heads = [{"neighbours": n, "entropy": 1.0} for n in neighbours]
  stats = {"discriminator": {"cls_cosine": cosine, "layers": [heads, [{"neighbours": 0.9}]]}}
  path.write_text(json.dumps(stats), encoding="utf-8")


def test_attention_table_takes_the_most_local_first_layer_head(tmp_path, capsys):
  write_run(tmp_path, "M", [(250, 0.17), (500, 0.2)], "lr 1e-3")
  write_attention(tmp_path, "M", 250, [0.05, 0.04], 0.99)
  write_attention(tmp_path, "M", 500, [0.12, 0.61], 0.97)
  (tmp_path / "attention" / "M" / "notes.json").write_text("{}", encoding="utf-8")
  out = table(capsys, tmp_path)
  assert "| step | M layer-0 neighbours / [CLS] cosine |" in out
  assert "| 250 | 0.05 / 0.99 |" in out and "| 500 | 0.61 / 0.97 |" in out


def test_runs_of_different_batch_sizes_compare_in_tokens(tmp_path, capsys):
  write_run(tmp_path, "O", [(250, 0.20), (500, 0.26)], "batch 128")
  write_run(tmp_path, "U", [(500, 0.21), (1000, 0.27)], "batch 64")
  write_run(tmp_path, "X", [(500, 0.30)], "sizes not recorded")
  for name, batch in (("O", 128), ("U", 64)):
    (tmp_path / name / "hp.json").write_text(
        json.dumps({"train_batch_size": batch, "max_seq_length": 128}), encoding="utf-8")
  out = table(capsys, tmp_path)
  assert "| O | batch 128 | step 500 (0.260), 8.2 M tokens |" in out
  assert "| U | batch 64 | step 1000 (0.270), 8.2 M tokens |" in out
  assert "| X | sizes not recorded | step 500 (0.300) |" in out
  assert "| 1000 |  | 0.270 / 0.600 |  |" in out
  out = table(capsys, tmp_path, "--by-tokens")
  assert "| M tokens | O MLM acc / AUC | U MLM acc / AUC |" in out  # X: no sizes, left out
  assert "| 4.1 | 0.200 / 0.600 | 0.210 / 0.600 |" in out
  assert "| 8.2 | 0.260 / 0.600 | 0.270 / 0.600 |" in out
