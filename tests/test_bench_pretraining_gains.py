"""bench/bench_pretraining_gains.py: what each arm's run is asked for, and what is read back."""

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
