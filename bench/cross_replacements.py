"""Pre-trained discriminators scored on the same replaced tokens: those of one generator.

    python bench/cross_replacements.py --generator-model DATA/models/G \\
        --discriminator-models DATA/models/A DATA/models/B [--num-eval-steps 20] [--output FILE]

A pre-training run's held-out AUC measures its discriminator against its own generator, so two
runs with different generators cannot be compared by it: a weaker generator makes replacements
that are easier to spot. Here the generator of G masks and fills the held-out batches as G's
own evaluation does (same seed, same masking rate), and every listed discriminator classifies
the same tokens. G's own row is G's own evaluation of those batches (the tests check it in
float32); in bfloat16, rounding moves it a little between processes (run S of docs/LEARNING.md
section 13: AUC 0.8637 and 0.8647 here with one and two threads, 0.8627 and 0.8645 from two
run_pretraining.py evaluations of the same checkpoint).

Each model directory is a run_pretraining.py model directory (DATA/models/NAME, with
pretrain_config.json and a checkpoint of generator and discriminator) or a model packed with
its generator by tools/ship_pretrained_model.py (vocab.txt beside the checkpoint; give
--eval-data); all must share G's vocabulary. The batches are G's held-out shards
(DATA/pretrain_tfrecords/pretrain_eval.tfrecord*) unless --eval-data names other files. Prints
one row per discriminator (AUC, accuracy, precision, recall, loss, with the original's metric
definitions) after the generator's masked-LM accuracy on those masks; --output also writes them
as JSON.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAM = "cross_replacements.py"
CONFIG_FILE = "pretrain_config.json"
# Recorded paths that follow from where the model directory is now, not where it was written.
_PATH_KEYS = ("model_name", "data_dir", "model_dir", "results_txt", "results_json",
              "results_history", "pretrain_tfrecords", "pretrain_eval_tfrecords")
GENERATOR = "generator"  # the results' key of the generator's masked-LM metrics
NOT_DISCRIMINATORS = (GENERATOR, "batches", "eval_mask_prob")
DISC_METRICS = ("disc_auc", "disc_accuracy", "disc_precision", "disc_recall", "disc_loss")


def parse_args(argv):
  parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--generator-model", required=True,
                      help="model directory whose generator makes the replacements")
  parser.add_argument("--discriminator-models", required=True, nargs="+",
                      help="model directories whose discriminators are scored")
  parser.add_argument("--eval-data", help="TFRecord glob(s), comma-separated (default: the "
                      "generator's held-out shards)")
  parser.add_argument("--num-eval-steps", type=int,
                      help="batches to score (default: the generator's num_eval_steps)")
  parser.add_argument("--output", help="also write the results to this JSON file")
  args = parser.parse_args(argv)
  if args.num_eval_steps is not None and args.num_eval_steps < 1:
    parser.error("--num-eval-steps must be at least 1")
  return args


def load_config(model_dir):
  """The PretrainingConfig a model directory records, with its paths taken from where the
  directory is now: the directory itself as model_dir, DATA (two levels up) for the data."""
  import configure_pretraining  # pylint: disable=import-outside-toplevel
  model_dir = os.path.abspath(model_dir)
  path = os.path.join(model_dir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise ValueError(f"{model_dir}: no {CONFIG_FILE}; expected a run_pretraining.py model "
                     "directory")
  try:
    with open(path, encoding="utf-8") as f:
      recorded = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
  hparams = {key: value for key, value in recorded.items() if key not in _PATH_KEYS}
  data_dir = os.path.dirname(os.path.dirname(model_dir))
  beside = os.path.join(model_dir, "vocab.txt")  # a shipped model keeps its vocabulary there
  if os.path.isfile(beside):
    hparams["vocab_file"] = beside
  elif not os.path.isfile(hparams.get("vocab_file") or ""):
    hparams.pop("vocab_file", None)  # moved with its data directory: DATA/vocab.txt
  config = configure_pretraining.PretrainingConfig(os.path.basename(model_dir), data_dir,
                                                   **hparams)
  config.model_dir = model_dir  # DATA/models/NAME for a run; a shipped model may be anywhere
  if not config.electra_objective or config.uniform_generator:
    raise ValueError(f"{model_dir}: not an ELECTRA run with a trained generator and "
                     "discriminator (electra_objective false or uniform_generator true)")
  return config


def load_model(model_dir):
  """(config, PretrainingModel restored from the directory's latest checkpoint)."""
  from pretrain import electra_model  # pylint: disable=import-outside-toplevel
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  config = load_config(model_dir)
  model = electra_model.PretrainingModel(config)
  checkpoint_lib.restore(config.model_dir, model.all_variables())
  return config, model


def read_vocab(config):
  """The vocabulary's tokens in id order, parsed as training parses them."""
  from model import tokenization  # pylint: disable=import-outside-toplevel
  return list(tokenization.check_vocab(config.vocab_file, "pre-training"))


def check_same_vocab(generator_config, configs):
  vocab = read_vocab(generator_config)
  for config in configs:
    if config.vocab_size != generator_config.vocab_size or read_vocab(config) != vocab:
      raise ValueError(f"{config.model_dir}: its vocabulary ({config.vocab_file}, vocab_size "
                       f"{config.vocab_size}) is not the generator's ({generator_config.vocab_file}"
                       f", {generator_config.vocab_size}): token ids would not mean the same")


def score(generator, discriminators, dataset, num_steps):
  """{"generator": mlm metrics, name: disc metrics} over `num_steps` batches of `dataset`."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from pretrain import metrics as metrics_lib  # pylint: disable=import-outside-toplevel

  @tf.function
  def step(features):
    made = generator.replacements(features)
    masked, mlm = made["masked"], made["mlm"]
    mlm_sums = metrics_lib.mlm_sums(masked.masked_lm_ids, masked.masked_lm_weights,
                                    mlm["preds"], mlm["losses"], made["sampled_ids"])
    # The masked-LM sums ride along with every discriminator's: the aggregation needs them.
    return {GENERATOR: mlm_sums} | {name: mlm_sums | model.detection_sums(made)
                                    for name, model in discriminators.items()}

  generator.reset_eval_randomness()
  batches = [step(features) for features in dataset.take(num_steps)]
  if not batches:
    raise ValueError("no evaluation batch: the eval data has fewer examples than eval_batch_size")
  return {name: metrics_lib.aggregate_eval_metrics([b[name] for b in batches])
          for name in batches[0]} | {"batches": len(batches)}


def format_table(results, generator_name):
  gen = results[GENERATOR]
  lines = [f"replacements by {generator_name}'s generator on {results['batches']} batches: "
           f"masked-LM accuracy {gen['masked_lm_accuracy']:.4f}, sampled accuracy "
           f"{gen['sampled_masked_lm_accuracy']:.4f}",
           "| discriminator | " + " | ".join(m.replace("disc_", "") for m in DISC_METRICS) + " |",
           "| --- |" + " --- |" * len(DISC_METRICS)]
  for name, row in results.items():
    if name not in NOT_DISCRIMINATORS:
      lines.append(f"| {name} | " + " | ".join(f"{row[m]:.4f}" for m in DISC_METRICS) + " |")
  return "\n".join(lines)


def main(argv=None):
  args = parse_args(argv)
  from pretrain import pretrain_data  # pylint: disable=import-outside-toplevel
  from util import utils  # pylint: disable=import-outside-toplevel
  gen_config, generator = load_model(args.generator_model)
  discriminators = {}
  for model_dir in args.discriminator_models:
    name = os.path.basename(os.path.abspath(model_dir))
    if name in discriminators or name in NOT_DISCRIMINATORS:
      raise ValueError(f"{model_dir}: two discriminators named {name!r}; give distinct "
                       "directory names")
    discriminators[name] = (load_model(model_dir) if os.path.abspath(model_dir) !=
                            gen_config.model_dir else (gen_config, generator))
  check_same_vocab(gen_config, [config for config, _ in discriminators.values()])
  if args.eval_data:
    gen_config.pretrain_eval_tfrecords = args.eval_data
  dataset = pretrain_data.get_input_fn(gen_config, is_training=False)()
  results = score(generator, {name: model for name, (_, model) in discriminators.items()},
                  dataset, args.num_eval_steps or gen_config.num_eval_steps)
  results["eval_mask_prob"] = gen_config.masking(training=False)[0]
  print(format_table(results, gen_config.model_name))
  if args.output:
    utils.write_json({"generator_model": gen_config.model_dir, **results}, args.output,
                     atomic=True)
  return results


if __name__ == "__main__":
  try:
    main()
  except (ValueError, FileNotFoundError) as error:
    sys.exit(f"{PROGRAM}: error: {error}")
