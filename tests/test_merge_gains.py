"""bench/merge_gains.py: runs of the gains bench joined into one table (more seeds, more tasks)."""

import json

import pytest

from bench import merge_gains

SETTINGS = {"max_seq_length": 128, "num_train_epochs": 10, "learning_rate": 3e-4}


def arm(scores, test_scores=None, note=None, **hparams):
  part = {"scores": scores, "mean": sum(scores) / len(scores),
          "command": ["python", "run_finetuning.py", "--hparams",
                      json.dumps(dict(SETTINGS, num_trials=len(scores), **hparams))]}
  if test_scores:
    part.update(test_scores=test_scores, test_mean=sum(test_scores) / len(test_scores))
  if note:
    part["note"] = note
  return part


def write_report(path, tasks):
  path.write_text("| a progress table |\n" + json.dumps(
      {"bench": "pretraining_gains", "model_dir": "m", "trials": 5, "tasks": tasks}) + "\n",
                  encoding="utf-8")
  return str(path)


def test_more_seeds_join_the_scores_and_recompute_the_gain(tmp_path):
  first = write_report(tmp_path / "three.json", {"waimai": {
      "pretrained": arm([89.0, 90.0, 91.0], [87.0, 88.0, 89.0], note="stopped after 3 of 5"),
      "scratch": arm([88.0, 89.0, 90.0], [85.0, 86.0, 87.0]), "naive_bayes_dev": 87.4}})
  second = write_report(tmp_path / "two.json", {"waimai": {
      "pretrained": arm([92.0, 93.0], [90.0, 91.0], seed=4),
      "scratch": arm([86.0, 87.0], [84.0, 85.0], seed=4), "naive_bayes_dev": 87.4}})
  merged = merge_gains.merge([first, second])
  row = merged["tasks"]["waimai"]
  assert row["pretrained"]["scores"] == [89.0, 90.0, 91.0, 92.0, 93.0]
  assert row["pretrained"]["seeds"] == [1, 2, 3, 4, 5] and merged["trials"] == 5
  assert (row["pretrained"]["min"], row["pretrained"]["max"]) == (89.0, 93.0)
  assert row["gain_mean"] == pytest.approx(91.0 - 88.0)
  assert row["test_gain_mean"] == pytest.approx(89.0 - 85.4)
  assert row["naive_bayes_dev"] == 87.4
  assert len(row["scratch"]["commands"]) == 2
  assert row["pretrained"]["notes"] == ["three.json: stopped after 3 of 5"]
  # A merged table merges again (its seeds are its own), here with another task.
  again = write_report(tmp_path / "merged.json", merged["tasks"])
  ner = write_report(tmp_path / "ner.json", {"peoples_daily_ner": {
      "pretrained": arm([30.0, 32.0]), "scratch": arm([8.0, 10.0])}})
  both = merge_gains.merge([again, ner])
  assert list(both["tasks"]) == ["waimai", "peoples_daily_ner"] and both["trials"] == 2
  assert both["tasks"]["waimai"]["pretrained"]["seeds"] == [1, 2, 3, 4, 5]
  assert both["tasks"]["peoples_daily_ner"]["gain_mean"] == pytest.approx(22.0)
  assert "test_gain_mean" not in both["tasks"]["peoples_daily_ner"]


def test_runs_that_cannot_be_one_table_are_refused_in_one_line(tmp_path, capsys):
  base = write_report(tmp_path / "a.json", {"chnsenticorp": {"pretrained": arm([80.0, 81.0])}})
  same_seeds = write_report(tmp_path / "b.json",
                            {"chnsenticorp": {"pretrained": arm([82.0], seed=2)}})
  other_epochs = write_report(tmp_path / "c.json", {"chnsenticorp": {
      "pretrained": arm([82.0], seed=3, num_train_epochs=3)}})
  (tmp_path / "d.json").write_text("Traceback ...\n", encoding="utf-8")
  for paths, message in (([base, same_seeds], "count some seed twice"),
                         ([base, other_epochs], "ran other settings"),
                         ([base, str(tmp_path / "d.json")], "not the bench's JSON report"),
                         ([base, str(tmp_path / "missing.json")], "No such file")):
    with pytest.raises(SystemExit) as error:
      merge_gains.main(paths)
    assert str(error.value).startswith("merge_gains.py: ") and message in str(error.value)
    assert "\n" not in str(error.value)
  assert capsys.readouterr().out == ""
