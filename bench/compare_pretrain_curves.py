"""Training dynamics of run_pretraining.py against an independent PyTorch/transformers peer.

Runs the same small ELECTRA pre-training set-up (docs/PEER_PRETRAINING.md) in this project
(run_pretraining.py) and in bench/peer_pretrain_curves.py, one seed after the other with one
thread each, and compares the curves at steps 100, 200, ... (train MLM / disc loss window means,
held-out masked-LM accuracy, MLM loss, disc loss, disc AUC).

    .venv/bin/python bench/compare_pretrain_curves.py ours --seeds 1 2 3
    .venv/bin/python bench/compare_pretrain_curves.py peer --seeds 1 2 3   # uses /tmp/peer-venv
    .venv/bin/python bench/compare_pretrain_curves.py summarize

Raw histories and the summary go to bench/results/peer_pretrain/.
"""

import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "peer_pretrain")
DATA = "/work/runs/mini"
RUNS = "/work/runs/peer"
PEER_PYTHON = "/tmp/peer-venv/bin/python"
NPZ = os.path.join(RUNS, "mini_data.npz")

NUM_STEPS = 1000
EVAL_EVERY = 100
LOG_EVERY = 10

HPARAMS = {
    "model_size": "small",
    "model_hparam_overrides": {"hidden_size": 128, "num_hidden_layers": 2,
                               "num_attention_heads": 2, "intermediate_size": 512},
    "embedding_size": 128, "vocab_size": 5342, "generator_hidden_size": 0.5,
    "max_seq_length": 128, "train_batch_size": 32, "eval_batch_size": 32,
    "learning_rate": 0.001, "num_warmup_steps": 100, "num_train_steps": NUM_STEPS,
    "save_checkpoints_steps": EVAL_EVERY, "iterations_per_loop": 10,
    "log_every_steps": LOG_EVERY, "do_eval": True, "eval_at_checkpoints": True,
    "mixed_precision": "float32", "max_predictions_per_seq": 19,
}

EVAL_KEYS = ("masked_lm_accuracy", "masked_lm_loss", "disc_loss", "disc_auc", "disc_accuracy",
             "disc_precision", "disc_recall")
TRAIN_KEYS = ("mlm_loss", "disc_loss")


def one_thread_env():
  env = dict(os.environ)
  env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1",
             MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
  return env


# ----------------------------------------------------------------------------------------------
# Our side.

TRAIN_LINE = re.compile(r"step (\d+)/\d+ .*?: (.*)$")


def parse_train_log(path):
  """{step: {name: window mean}} from run_pretraining.py's 'step N/T (...): a = 1, b = 2' lines."""
  rows = {}
  with open(path, errors="replace") as f:
    for line in f:
      m = TRAIN_LINE.search(line.strip())
      if not m or "steps/s" not in line:
        continue
      values = {}
      for item in m.group(2).split(", "):
        if " = " in item:
          name, value = item.split(" = ", 1)
          try:
            values[name.strip()] = float(value.split()[0])
          except ValueError:
            pass
      rows[int(m.group(1))] = values
  return rows


def run_ours(seed):
  data_dir = os.path.join(RUNS, f"ours_seed{seed}")
  os.makedirs(data_dir, exist_ok=True)
  for name in ("vocab.txt", "pretrain_tfrecords"):
    link = os.path.join(data_dir, name)
    if not os.path.lexists(link):
      os.symlink(os.path.join(DATA, name), link)
  model_name = f"peer_cmp_seed{seed}"
  hparams = dict(HPARAMS, seed=seed)
  log_path = os.path.join(data_dir, "train.log")
  cmd = [sys.executable, os.path.join(ROOT, "run_pretraining.py"), "--data-dir", data_dir,
         "--model-name", model_name, "--hparams", json.dumps(hparams)]
  print("+", " ".join(cmd), flush=True)
  start = time.time()
  with open(log_path, "w") as log:
    rc = subprocess.call(cmd, cwd=ROOT, env=one_thread_env(), stdout=log, stderr=subprocess.STDOUT)
  wall = time.time() - start
  print(f"ours seed {seed}: rc {rc}, {wall:.0f}s", flush=True)
  if rc:
    raise SystemExit(f"run_pretraining.py failed for seed {seed}; see {log_path}")
  model_dir = os.path.join(data_dir, "models", model_name)
  history = []
  with open(os.path.join(model_dir, "results", "unsup_results_history.jsonl")) as f:
    history = [json.loads(line) for line in f if line.strip()]
  with open(os.path.join(model_dir, "discriminator_config.json")) as f:
    disc_config = json.load(f)
  with open(os.path.join(model_dir, "generator_config.json")) as f:
    gen_config = json.load(f)
  out = {"impl": "ours", "seed": seed, "wall_s": wall, "command": cmd,
         "discriminator_config": disc_config, "generator_config": gen_config,
         "train": {str(k): v for k, v in sorted(parse_train_log(log_path).items())},
         "eval": {str(row["global_step"]): row for row in history}}
  os.makedirs(RESULTS, exist_ok=True)
  with open(os.path.join(RESULTS, f"ours_seed{seed}.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)


# ----------------------------------------------------------------------------------------------
# Peer side.

def ensure_npz():
  if os.path.exists(NPZ):
    return
  os.makedirs(RUNS, exist_ok=True)
  cmd = [sys.executable, os.path.join(ROOT, "bench", "tfrecords_to_npz.py"), "--data-dir", DATA,
         "--out", NPZ]
  print("+", " ".join(cmd), flush=True)
  subprocess.check_call(cmd, cwd=ROOT, env=one_thread_env())


def run_peer(seed):
  ensure_npz()
  out_path = os.path.join(RESULTS, f"peer_seed{seed}.json")
  os.makedirs(RESULTS, exist_ok=True)
  cmd = [PEER_PYTHON, os.path.join(ROOT, "bench", "peer_pretrain_curves.py"), "--data", NPZ,
         "--vocab", os.path.join(DATA, "vocab.txt"), "--seed", str(seed),
         "--num-steps", str(NUM_STEPS), "--out", out_path]
  print("+", " ".join(cmd), flush=True)
  start = time.time()
  log_path = os.path.join(RUNS, f"peer_seed{seed}.log")
  with open(log_path, "w") as log:
    rc = subprocess.call(cmd, cwd=ROOT, env=one_thread_env(), stdout=log, stderr=subprocess.STDOUT)
  print(f"peer seed {seed}: rc {rc}, {time.time() - start:.0f}s", flush=True)
  if rc:
    raise SystemExit(f"peer failed for seed {seed}; see {log_path}")


# ----------------------------------------------------------------------------------------------
# Summary.

# Absolute floor of the agreement tolerance, per metric: with 3 seeds the sample std is itself
# uncertain by ~50%, and a std that happens to come out tiny must not turn sampling noise of the
# same size into a "disagreement". The floors are about one standard error of each quantity from
# the finite data: a train window is 10 batches x 32 x ~18 masked tokens (~5.8k MLM targets,
# ~41k disc targets); the held-out pass is 704 examples (~12.6k MLM targets, ~90k disc tokens).
ABS_TOL = {
    "train_mlm_loss": 0.05, "train_disc_loss": 0.01,
    "eval_masked_lm_accuracy": 0.005, "eval_masked_lm_loss": 0.03,
    "eval_disc_loss": 0.005, "eval_disc_auc": 0.005,
}


# Reported but not part of the verdict: disc accuracy is ~1 - (share of replaced tokens), which
# depends on each implementation's own eval masks (binomial SE over ~82k tokens ~0.0011).
INFO_TOL = {"eval_disc_accuracy": 0.002}


def load_runs(impl):
  runs = []
  for path in sorted(glob.glob(os.path.join(RESULTS, f"{impl}_seed*.json"))):
    with open(path) as f:
      runs.append(json.load(f))
  return runs


def series(run, step):
  row = {}
  train = run["train"].get(str(step), {})
  for key in TRAIN_KEYS:
    if key in train:
      row[f"train_{key}"] = train[key]
  ev = run["eval"].get(str(step), {})
  for key in EVAL_KEYS:
    if key in ev:
      row[f"eval_{key}"] = ev[key]
  return row


def summarize():
  ours, peer = load_runs("ours"), load_runs("peer")
  steps = list(range(EVAL_EVERY, NUM_STEPS + 1, EVAL_EVERY))
  table = []
  all_agree = True
  for step in steps:
    for metric in list(ABS_TOL) + ["eval_disc_accuracy"]:
      a = [series(r, step).get(metric) for r in ours]
      b = [series(r, step).get(metric) for r in peer]
      a = [x for x in a if x is not None]
      b = [x for x in b if x is not None]
      if not a or not b:
        continue
      ma, mb = float(np.mean(a)), float(np.mean(b))
      sa = float(np.std(a, ddof=1)) if len(a) > 1 else 0.0
      sb = float(np.std(b, ddof=1)) if len(b) > 1 else 0.0
      pooled = math.sqrt((sa ** 2 + sb ** 2) / 2)
      tol = max(2 * pooled, ABS_TOL.get(metric, INFO_TOL.get(metric, 0.0)))
      agree = abs(ma - mb) <= tol
      if metric in ABS_TOL:
        all_agree &= agree
      table.append({"step": step, "metric": metric, "ours_mean": ma, "ours_std": sa,
                    "ours_n": len(a), "peer_mean": mb, "peer_std": sb, "peer_n": len(b),
                    "diff": ma - mb, "tolerance": tol, "agree": bool(agree)})
  plateau = plateau_rows(ours, peer)
  summary = {"plateau": plateau, "seeds_ours": [r["seed"] for r in ours],
             "seeds_peer": [r["seed"] for r in peer],
             "abs_tol": ABS_TOL, "all_agree": bool(all_agree), "rows": table,
             "wall_s": {"ours": [r.get("wall_s") for r in ours],
                        "peer": [r.get("wall_s") for r in peer]}}
  with open(os.path.join(RESULTS, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
  text = "\n".join([markdown_table(table), f"\nall agree: {all_agree}",
                    markdown_early(ours, peer), markdown_plateau(plateau)])
  with open(os.path.join(RESULTS, "summary.md"), "w") as f:
    f.write(text + "\n")
  print(text)
  return summary


def fmt(mean, std):
  return f"{mean:.4f} ± {std:.4f}"


def markdown_table(rows):
  metrics = ["train_mlm_loss", "train_disc_loss", "eval_masked_lm_accuracy",
             "eval_masked_lm_loss", "eval_disc_loss", "eval_disc_auc", "eval_disc_accuracy"]
  lines = []
  for metric in metrics:
    lines.append(f"\n**{metric}** (mean ± std over seeds; ok = |diff| <= tolerance)\n")
    lines.append("| step | ours | peer | diff | tol | ok |")
    lines.append("|---:|---:|---:|---:|---:|:--:|")
    for r in rows:
      if r["metric"] != metric:
        continue
      lines.append(f"| {r['step']} | {fmt(r['ours_mean'], r['ours_std'])} | "
                   f"{fmt(r['peer_mean'], r['peer_std'])} | {r['diff']:+.4f} | "
                   f"{r['tolerance']:.4f} | {'yes' if r['agree'] else 'NO'} |")
  return "\n".join(lines)


def fake_share(row):
  """Share of replaced tokens among input_mask tokens, from accuracy, precision and recall."""
  acc, prec, rec = row["disc_accuracy"], row["disc_precision"], row["disc_recall"]
  if rec <= 0 or prec <= 0:
    return 1.0 - acc  # nothing predicted fake (or nothing right): errors are the fakes
  true_fake = (1.0 - acc) / (1.0 / prec + 1.0 / rec - 2.0)
  return true_fake / rec


def binary_entropy(f):
  return -(f * math.log(f) + (1 - f) * math.log(1 - f)) if 0 < f < 1 else 0.0


def plateau_rows(ours, peer):
  """Per eval step and implementation: fake share f, the base-rate loss H(f) (what a
  discriminator that knows only f achieves), the token-level disc loss... and their gap."""
  rows = []
  steps = sorted({int(k) for runs in (ours, peer) for r in runs for k in r["eval"]})
  for step in steps:
    row = {"step": step}
    for impl, runs in (("ours", ours), ("peer", peer)):
      evs = [r["eval"][str(step)] for r in runs if str(step) in r["eval"]]
      if not evs:
        continue
      fs = [fake_share(e) for e in evs]
      row[f"{impl}_n"] = len(evs)
      row[f"{impl}_fake_share"] = float(np.mean(fs))
      row[f"{impl}_base_rate_loss"] = float(np.mean([binary_entropy(f) for f in fs]))
      for key in ("disc_loss", "disc_auc", "disc_recall", "masked_lm_loss",
                  "masked_lm_accuracy", "sampled_masked_lm_accuracy"):
        row[f"{impl}_{key}"] = float(np.mean([e[key] for e in evs]))
      for key in ("diag_marginal_kl", "diag_context_info", "diag_fake_log_unigram",
                  "diag_replaced_original_log_unigram"):
        if key in evs[0]:
          row[f"{impl}_{key}"] = float(np.mean([e[key] for e in evs]))
    rows.append(row)
  return rows


def markdown_plateau(rows):
  lines = ["\n**held-out discriminator vs. its base rate (means over seeds)**: f = share of "
           "replaced tokens, H(f) = loss of a discriminator that only knows f\n",
           "| step | impl | f | H(f) | disc loss | disc AUC | disc recall | MLM loss | MLM acc | "
           "sampled acc | KL(masked tokens ‖ gen marginal) | gen context info | log p_uni(fake) "
           "| log p_uni(orig) |",
           "|---:|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for row in rows:
    for impl in ("ours", "peer"):
      if f"{impl}_n" not in row:
        continue

      def g(key, fmt="{:.4f}"):
        value = row.get(f"{impl}_{key}")
        return fmt.format(value) if value is not None else "-"

      lines.append(f"| {row['step']} | {impl} | {g('fake_share')} | {g('base_rate_loss')} | "
                   f"{g('disc_loss')} | {g('disc_auc')} | {g('disc_recall')} | "
                   f"{g('masked_lm_loss')} | {g('masked_lm_accuracy')} | "
                   f"{g('sampled_masked_lm_accuracy')} | {g('diag_marginal_kl')} | "
                   f"{g('diag_context_info')} | {g('diag_fake_log_unigram', '{:.2f}')} | "
                   f"{g('diag_replaced_original_log_unigram', '{:.2f}')} |")
  return "\n".join(lines)


def markdown_early(ours, peer):
  steps = list(range(10, 201, 10)) + list(range(250, NUM_STEPS + 1, 50))
  lines = ["\n**training window means (10 steps each), mean over seeds**\n",
           "| step | ours mlm | peer mlm | ours disc | peer disc | ours disc acc | peer disc acc |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
  for step in steps:
    vals = []
    for key in ("mlm_loss", "disc_loss", "disc_accuracy"):
      for runs in (ours, peer):
        xs = [r["train"].get(str(step), {}).get(key) for r in runs]
        xs = [x for x in xs if x is not None]
        vals.append(f"{np.mean(xs):.4f}" if xs else "-")
    lines.append(f"| {step} | " + " | ".join(vals) + " |")
  return "\n".join(lines)


def batch_diversity(num_batches=200, batch_size=32, buffer=100, seed=0):
  """How topical training batches are under the two data orders: mean KL(batch unigram ||
  corpus unigram) for a full random permutation (the peer) and for run_pretraining.py's order
  (the 2 files interleaved record by record, then a 100-record shuffle buffer, as the original)."""
  d = np.load(NPZ)
  ids, mask = d["train_input_ids"], d["train_input_mask"]
  n, vocab = len(ids), int(ids.max()) + 1
  corpus = np.bincount(ids[mask > 0], minlength=vocab) + 1.0
  corpus /= corpus.sum()

  def kl(idx):
    q = np.bincount(ids[idx][mask[idx] > 0], minlength=vocab).astype(float)
    q /= q.sum()
    nz = q > 0
    return float((q[nz] * np.log(q[nz] / corpus[nz])).sum())

  rs = np.random.RandomState(seed)
  permuted = [kl(rs.permutation(n)[:batch_size]) for _ in range(num_batches)]
  # Records per file from the file sizes would be exact; the two shards are near halves.
  half = n // 2
  interleaved = np.empty(2 * half, int)
  interleaved[0::2], interleaved[1::2] = np.arange(half), np.arange(half, 2 * half)
  pool, order = [], []
  for x in interleaved:
    pool.append(x)
    if len(pool) == buffer:
      j = rs.randint(buffer)
      order.append(pool[j])
      pool[j] = pool[-1]
      pool.pop()
  ours = [kl(np.array(order[i * batch_size:(i + 1) * batch_size])) for i in range(num_batches)]
  result = {"random_permutation": float(np.mean(permuted)),
            "interleave_shuffle_buffer": float(np.mean(ours)), "num_batches": num_batches}
  print(json.dumps(result))
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("what", choices=["ours", "peer", "both", "summarize",
                                           "batch-diversity"])
  parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
  args = parser.parse_args()
  if args.what in ("ours", "both"):
    for seed in args.seeds:
      run_ours(seed)
  if args.what in ("peer", "both"):
    for seed in args.seeds:
      run_peer(seed)
  if args.what == "batch-diversity":
    batch_diversity()
  if args.what in ("summarize", "both"):
    summarize()


if __name__ == "__main__":
  main()
