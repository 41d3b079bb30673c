"""bench/bench_train_step.py measures the pre-training model a run's hyper-parameters describe
(--pretrain-hparams), so a CPU recipe's step can be timed at several batch sizes."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
TINY = {"model_hparam_overrides": {"num_hidden_layers": 1, "hidden_size": 32,
                                   "num_attention_heads": 1, "intermediate_size": 64},
        "embedding_size": 32, "vocab_size": 200}


def run_bench(tmp_path, *args):
  peak = tmp_path / "peak.json"
  peak.write_text(json.dumps({"peak_gflops": {"float32": 80.0, "bfloat16": 75.0}}))
  scratch = tmp_path / "tmp"  # the bench's temporary directory, to see what it leaves behind
  scratch.mkdir()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(scratch))
  return subprocess.run([sys.executable, str(REPO / "bench" / "bench_train_step.py"),
                         "--what", "pretrain", "--precision", "float32", "--steps", "1",
                         "--repeats", "1", "--peak-json", str(peak), *args],
                        capture_output=True, text=True, env=env, timeout=300, check=False)


def test_times_the_model_of_a_params_file_at_the_batch_size_asked(tmp_path):
  params = tmp_path / "tiny.json"
  params.write_text(json.dumps(TINY))
  result = run_bench(tmp_path, "--batch-size", "3", "--seq-length", "16",
                     "--pretrain-hparams", str(params))
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.loads(result.stdout)
  step = report["results"]["pretrain/float32"]
  assert step["examples_per_s"] > 0  # both figures are rounded from the same step time
  assert abs(step["tokens_per_s"] - step["examples_per_s"] * 16) < 0.5
  assert report["settings"]["pretrain_hparams"] == TINY
  assert report["settings"]["batch_size"] == 3 and report["settings"]["model"] != (
      "electra-small (hidden 256, 12 layers, embedding 128)")
  leftovers = [p.name for p in (tmp_path / "tmp").iterdir()
               if not p.name.startswith("__autograph_generated_file")]
  assert leftovers == []  # the configs' and trainer's directories are removed at exit


def test_an_unknown_hyper_parameter_is_a_one_line_usage_error(tmp_path):
  result = run_bench(tmp_path, "--pretrain-hparams", json.dumps(dict(TINY, no_such_key=1)))
  assert result.returncode == 2 and result.stdout == ""
  assert result.stderr.strip().splitlines()[-1] == (
      "bench_train_step.py: error: Unknown hyper-parameter 'no_such_key'")
