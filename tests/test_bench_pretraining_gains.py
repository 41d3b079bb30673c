"""bench/bench_pretraining_gains.py: what each arm's run is asked for, and what is read back."""

import json

import pytest

from bench import bench_pretraining_gains as gains


def trials(dev_scores, test_scores=None):
  splits = []
  for n, dev in enumerate(dev_scores):
    results = {"dev": {"accuracy": dev}}
    if test_scores:
      results["test"] = {"accuracy": test_scores[n]}
    splits.append({"trial": n + 1, "results": {"chnsenticorp": results}})
  return splits


def test_test_split_is_scored_only_when_asked(tmp_path):
  for arm in ("pretrained", "scratch"):
    assert gains.arm_hparams(arm, "chnsenticorp", 3, {}, str(tmp_path))["do_test"] is False
    hparams = gains.arm_hparams(arm, "chnsenticorp", 3, {"learning_rate": 1e-4}, str(tmp_path),
                                test=True)
    assert hparams["do_test"] is True and hparams["num_trials"] == 3
    assert hparams["learning_rate"] == 1e-4  # --hparams still apply to both arms


def test_split_stats_over_trials():
  out = trials([80.0, 84.0, 79.0], [70.0, 74.0, 75.0])
  dev = gains.split_stats(out, "chnsenticorp", "dev")
  assert dev["scores"] == [80.0, 84.0, 79.0]
  assert (dev["min"], dev["max"], dev["mean"]) == (79.0, 84.0, pytest.approx(81.0))
  test = gains.split_stats(out, "chnsenticorp", "test", prefix="test_")
  assert set(test) == {"test_scores", "test_max", "test_min", "test_mean", "test_std"}
  assert test["test_mean"] == pytest.approx(73.0)
  with pytest.raises(KeyError):  # a run without --test has no test scores to summarise
    gains.split_stats(trials([80.0]), "chnsenticorp", "test")


def write_results(data_dir, arm, trials_out):
  results = data_dir / "models" / arm / "results"
  results.mkdir(parents=True)
  (results / "chnsenticorp_results.json").write_text(json.dumps({"trials": trials_out}),
                                                     encoding="utf-8")


def test_a_run_stopped_early_is_summarised_over_its_finished_trials(tmp_path):
  out = [dict(trial, status="done") for trial in trials([80.0, 84.0], [70.0, 74.0])]
  out.append({"trial": 3, "seed": 3, "status": "interrupted"})
  write_results(tmp_path, "scratch", out)
  stats = gains.run_arm(str(tmp_path), "scratch", "chnsenticorp", 3, {}, str(tmp_path),
                        test=True, run=False)  # nothing is run: the finished trials are read
  assert stats["scores"] == [80.0, 84.0] and stats["test_mean"] == pytest.approx(72.0)
  assert stats["note"].startswith("stopped after 2 of 3 trials")
  assert "seconds" not in stats and "--hparams" in stats["command"]
  # All of them finished: no note. None finished, or no results: one line.
  assert "note" not in gains.summarize_arm(str(tmp_path), "scratch", "chnsenticorp", 2, False)
  write_results(tmp_path / "none", "scratch", out[2:])
  for data_dir in (tmp_path / "none", tmp_path / "missing"):
    with pytest.raises(SystemExit) as error:
      gains.summarize_arm(str(data_dir), "scratch", "chnsenticorp", 3, False)
    assert str(error.value).startswith("bench_pretraining_gains.py: ")
