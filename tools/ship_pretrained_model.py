"""Packs a pre-trained model for shipping: its weights without the optimizer's, with its recipe.

    python tools/ship_pretrained_model.py --model-dir DATA/models/mini \\
        --corpus ../shared/data/peoples_daily_1998_01.txt \\
        ../shared/data/online_shopping_reviews_9cats.txt --output sample_data/models/electra-mini

As in the released checkpoints, every variable of the pre-training model is kept (generator,
discriminator and their heads) and the optimizer's slots are left out, which makes the
checkpoint about a third of its size. So the shipped model can be fine-tuned, pre-trained
further, exported with its generator and scored by bench/cross_replacements.py.
`--discriminator-only` keeps only what fine-tuning reads (`electra/*`). The
output directory gets, as a released model's does, `model.ckpt-<step>.{index,data-*}`, the
`checkpoint` state file and `vocab.txt`, plus `discriminator_config.json`,
`pretrain_config.json` and `MODEL_CARD.json`: the step, the seed, the held-out metrics at that
step, SHA-256 fingerprints of the corpus, the vocabulary and the dataset's summary.json, and the
commands that reproduce it.

    python tools/ship_pretrained_model.py --gains-only --output sample_data/models/electra-mini \
        --gains bench/results/.../gains.json bench/results/.../gains_longer.json

rewrites only the card's fine-tuning gains of a shipped model (e.g. after more seeds were run),
which needs neither the pre-training directory nor the corpus.
"""

import argparse
import json
import os
import shutil
import sys

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import run_pretraining  # noqa: E402  pylint: disable=wrong-import-position
from bench import bench_pretraining_gains  # noqa: E402  pylint: disable=wrong-import-position
from util import checkpoint as checkpoint_lib  # noqa: E402  pylint: disable=wrong-import-position
from util import fileio  # noqa: E402  pylint: disable=wrong-import-position

DISCRIMINATOR_PREFIX = "electra/"
OPTIMIZER_SLOTS = ("/adam_m", "/adam_v")


def shipped_names(checkpoint_names, discriminator_only=False):
  """The checkpoint's variables a shipped model keeps: global_step and all the weights but the
  optimizer's slots (with discriminator_only, only the encoder that fine-tuning reads)."""
  def kept(name):
    if name == "global_step":
      return True
    if name.endswith(OPTIMIZER_SLOTS):
      return False
    return name.startswith(DISCRIMINATOR_PREFIX) or not discriminator_only
  return sorted(filter(kept, checkpoint_names))



def held_out_rows(model_dir, step):
  """The held-out evaluations of `step` from the run's history: the training run's first, then
  any at other masking rates (eval-only runs afterwards)."""
  path = os.path.join(model_dir, "results", "unsup_results_history.jsonl")
  return [row for row in run_pretraining.read_history(path) if row["global_step"] == step]


# What a gains summary keeps of the fine-tuning hyper-parameters each task ran with.
GAINS_SETTINGS = ("max_seq_length", "num_train_epochs", "learning_rate", "train_batch_size",
                  "layerwise_lr_decay", "mixed_precision", "model_hparam_overrides")
ARM_STATS = ("mean", "min", "max", "scores", "test_mean", "test_min", "test_max", "test_scores",
             "note", "seeds", "notes")


def gains_summary(path):
  """{trials, tasks: {task: {settings, <arm>: {mean, min, max, scores[, test_*]}, gain_mean,
  ...}}} from the gains bench's last JSON line; settings are the pre-trained arm's fine-tuning
  hyper-parameters (both arms share them), so tables at different settings stay apart."""
  report = bench_pretraining_gains.read_report(path)
  summary = {}
  for task, row in report["tasks"].items():
    summary[task] = {"settings": arm_settings(row.get("pretrained", {}))}
    summary[task].update({arm: {key: row[arm][key] for key in ARM_STATS if key in row[arm]}
                          for arm in ("pretrained", "scratch") if arm in row})
    for key in ("gain_mean", "test_gain_mean", "naive_bayes_dev"):
      if key in row:
        summary[task][key] = row[key]
  return {"trials": report["trials"], "tasks": summary}


def arm_settings(arm):
  """The GAINS_SETTINGS in the --hparams of the arm's run_finetuning.py command (if recorded;
  of its first part in a table that bench/merge_gains.py joined, whose parts share them)."""
  hparams = bench_pretraining_gains.arm_command_hparams(arm)
  return {key: hparams[key] for key in GAINS_SETTINGS if key in hparams}


def write_card(model_dir, card):
  """MODEL_CARD.json, written beside and then moved over the old one (never half-written)."""
  path = os.path.join(model_dir, "MODEL_CARD.json")
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(card, f, indent=2)
    f.write("\n")
  os.replace(path + ".tmp", path)


def replace_gains(model_dir, gains_paths):
  """The card of the model shipped in `model_dir`, with its finetuning_gains made anew."""
  path = os.path.join(model_dir, "MODEL_CARD.json")
  try:
    with open(path, encoding="utf-8") as f:
      card = json.load(f)
    card["finetuning_gains"] = [gains_summary(gains) for gains in gains_paths]
  except (OSError, ValueError, KeyError) as error:
    sys.exit(f"ship_pretrained_model.py: {error}")
  write_card(model_dir, card)
  print(f"replaced the fine-tuning gains of {path} ({len(gains_paths)} table(s))")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model-dir", help="the pre-training model directory")
  parser.add_argument("--corpus", nargs="+", help="the corpus files it was pre-trained on")
  parser.add_argument("--output", required=True)
  parser.add_argument("--gains-only", action="store_true",
                      help="only replace the finetuning_gains of the card in --output (a model "
                           "shipped before) by --gains; the weights and the rest stay as they are")
  parser.add_argument("--gains", default=[], nargs="+",
                      help="bench/bench_pretraining_gains.py's JSON line(s) for this model, one "
                           "file per run of the bench (e.g. at different fine-tuning settings): "
                           "their per-task scores and settings go into the card, in this order")
  parser.add_argument("--discriminator-only", action="store_true",
                      help="keep only the discriminator's encoder (electra/*), which is all "
                           "fine-tuning reads, and leave out the generator and both heads")
  parser.add_argument("--training", default=None,
                      help="JSON of how the pre-training ran, for the card (machine, threads, "
                           "wall time)")
  args = parser.parse_args(argv)
  if args.gains_only:
    if not args.gains:
      parser.error("--gains-only needs --gains")
    replace_gains(args.output, args.gains)
    return
  if not args.model_dir or not args.corpus:
    parser.error("--model-dir and --corpus are required (unless --gains-only)")

  prefix = checkpoint_lib.resolve_checkpoint(args.model_dir)
  step = int(prefix.rsplit("-", 1)[1])
  reader = tf.train.load_checkpoint(prefix)
  names = shipped_names(reader.get_variable_to_shape_map(), args.discriminator_only)
  tensors = {name: reader.get_tensor(name) for name in names}
  model_names = [name for name in names if name != "global_step"]

  data_dir = os.path.dirname(os.path.dirname(os.path.abspath(args.model_dir)))
  with open(os.path.join(args.model_dir, "pretrain_config.json"), encoding="utf-8") as f:
    pretrain_config = json.load(f)
  summary_path = os.path.join(data_dir, "pretrain_tfrecords", "summary.json")

  if os.path.exists(args.output):
    shutil.rmtree(args.output)
  os.makedirs(args.output)
  checkpoint_lib.CheckpointManager(args.output).save(tensors, step)
  for name in ("discriminator_config.json", "pretrain_config.json"):
    shutil.copyfile(os.path.join(args.model_dir, name), os.path.join(args.output, name))
  shutil.copyfile(os.path.join(data_dir, "vocab.txt"), os.path.join(args.output, "vocab.txt"))
  held_out = held_out_rows(args.model_dir, step)
  card = {
      "step": step,
      "seed": pretrain_config["seed"],
      "variables": len(model_names),
      "parameters": int(sum(tensors[name].size for name in model_names)),
      "held_out_eval": next(iter(held_out), None),
      "held_out_eval_other_rates": held_out[1:],
      "fingerprints": {
          "corpus_sha256": {os.path.basename(path): fileio.sha256(path)
                            for path in args.corpus},
          "vocab_sha256": fileio.sha256(os.path.join(data_dir, "vocab.txt")),
          "dataset_summary_sha256": fileio.sha256(summary_path) if os.path.isfile(summary_path)
                                    else None,
      },
      "reproduce": [
          "python build_vocab.py --input CORPUS... --output D/vocab.txt --min-count 3",
          "python build_pretraining_dataset.py --corpus-files CORPUS... --vocab-file D/vocab.txt "
          "--output-dir D/pretrain_tfrecords --max-seq-length 128 --eval-fraction 0.05 --seed 0",
          "python run_pretraining.py --data-dir D --model-name mini --hparams pretrain_mini.json",
          "python tools/ship_pretrained_model.py --model-dir D/models/mini --corpus CORPUS... "
          "--output OUT",
      ],
  }
  if args.training:
    card["training"] = json.loads(args.training)
  if args.gains:
    card["finetuning_gains"] = [gains_summary(path) for path in args.gains]
  write_card(args.output, card)
  size = sum(os.path.getsize(os.path.join(args.output, name)) for name in os.listdir(args.output))
  print(f"wrote {len(model_names)} variables ({card['parameters']:,} parameters) of step {step} to "
        f"{args.output} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
  main()
