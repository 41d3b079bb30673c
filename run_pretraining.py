"""Pre-trains an ELECTRA generator + discriminator on TFRecords of build_pretraining_dataset.py.

    python run_pretraining.py --data-dir DATA --model-name electra_small_zh \\
        --hparams '{"model_size": "small", "vocab_size": 21128}'

Reads DATA/pretrain_tfrecords/pretrain_data.tfrecord* and DATA/vocab.txt; writes checkpoints
(`model.ckpt-<step>`, TF1 variable names with adam slots and global_step, loadable by the
original code), TensorBoard summaries and the generator/discriminator configs to
DATA/models/<model-name>. Re-running the same command resumes from the newest checkpoint.
With do_eval the metrics go to DATA/models/<model-name>/results/unsup_results.{txt,json}.
Unlike the original, do_train and do_eval may both be set (training runs first).
"""

import argparse
import os
import sys

import tensorflow as tf

import configure_pretraining
from model import optimization
from pretrain import electra_model
from pretrain import metrics as metrics_lib
from pretrain import pretrain_data
from util import training
from util import utils

PROGRAM = "run_pretraining.py"


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description="Pre-train ELECTRA (replaced token detection) on TFRecord data.")
  parser.add_argument("--data-dir", help="Directory with pretrain_tfrecords/, vocab.txt and "
                      "models/ (may also be given as \"data_dir\" in --hparams).")
  parser.add_argument("--model-name", help="Name of the model; checkpoints go to "
                      "DATA_DIR/models/MODEL_NAME (may also be given in --hparams).")
  parser.add_argument("--hparams", default="{}",
                      help="Hyper-parameters as a JSON object string or a .json file (a bare "
                      "file name is also looked up in params/), e.g. '{\"model_size\": \"base\"}'.")
  return parser.parse_args(argv)


def fail(message):
  """Exits with one line on stderr (no traceback): for mistakes the user can fix."""
  sys.exit(f"{PROGRAM}: error: {message}")


def build_model_and_optimizer(config, strategy):
  with strategy.scope():
    model = electra_model.PretrainingModel(config)
    optimizer = optimization.AdamWeightDecay(
        lambda step: optimization.learning_rate(
            step, config.learning_rate, config.num_train_steps, config.num_warmup_steps,
            power=config.lr_decay_power),
        weight_decay_rate=config.weight_decay_rate)
  return model, optimizer


def build_trainer(config, strategy):
  model, optimizer = build_model_and_optimizer(config, strategy)
  return training.Trainer(
      strategy, model, optimizer, pretrain_data.get_input_fn(config, is_training=True),
      config.model_dir, steps_per_loop=config.iterations_per_loop,
      save_checkpoints_steps=config.save_checkpoints_steps,
      keep_checkpoint_max=config.keep_checkpoint_max, log_every_steps=config.log_every_steps,
      # Released checkpoints have no adam slots; the Trainer loads them by name regardless.
      init_checkpoint=getattr(config, "init_checkpoint", None),
      jit_compile=config.jit_compile, mixed_precision=config.mixed_precision)


def write_model_configs(config, model):
  """BertConfig JSONs of both networks, so the checkpoints can be rebuilt without the hparams."""
  utils.mkdir(config.model_dir)
  for name, bert_config in (("discriminator", model.disc_config),
                            ("generator", model.gen_config)):
    path = os.path.join(config.model_dir, f"{name}_config.json")
    with tf.io.gfile.GFile(path, "w") as f:
      f.write(bert_config.to_json_string())
  utils.write_json(config.to_dict(), os.path.join(config.model_dir, "pretrain_config.json"))


def train(config, trainer):
  utils.heading(f"Training {config.model_name} to step {config.num_train_steps}")
  write_model_configs(config, trainer.model)
  try:
    result = trainer.train(config.num_train_steps)
  except training.NonFiniteLossError as e:
    fail(str(e))
  utils.log(f"Training finished at step {result['global_step']}")
  return result


def evaluate(config, trainer):
  """Runs num_eval_steps batches; prints and writes the original's eval metrics."""
  utils.heading(f"Evaluating {config.model_name} at step {trainer.global_step}")
  outputs = trainer.evaluate(pretrain_data.get_input_fn(config, is_training=False),
                             num_steps=config.num_eval_steps)
  results = metrics_lib.aggregate_eval_metrics([outputs])
  results["global_step"] = trainer.global_step
  write_results(config, results)
  return results


def check_something_to_evaluate(config):
  """Eval-only runs need weights; checked before the Trainer creates files in model_dir."""
  if config.do_train:
    return
  if not (tf.train.latest_checkpoint(config.model_dir)
          or getattr(config, "init_checkpoint", None)):
    fail(f"nothing to evaluate: no checkpoint in {config.model_dir} and no init_checkpoint")


def restore(trainer):
  """Resumes from model_dir or initialises from init_checkpoint, failing with one line."""
  try:
    trainer.restore_or_initialize()
  except (FileNotFoundError, ValueError) as e:  # A wrong path, model size or vocabulary.
    fail(str(e))


def write_results(config, results):
  line = " - ".join(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}"
                    for name, value in sorted(results.items()))
  utils.log(line)
  utils.mkdir_for(config.results_txt)
  with tf.io.gfile.GFile(config.results_txt, "w") as f:
    f.write(line + "\n")
  utils.write_json(results, config.results_json)


def load_config(argv=None):
  try:
    return configure_pretraining.PretrainingConfig.from_args(parse_args(argv))
  except ValueError as e:  # Unknown or ill-typed hparams, bad JSON, missing files.
    fail(str(e))
  return None


def main(argv=None):
  config = load_config(argv)
  if not (config.do_train or config.do_eval):
    fail("nothing to do: set do_train and/or do_eval")
  strategy = training.get_strategy(config)
  training.set_seed(config.seed)
  if config.debug and config.do_train and tf.io.gfile.exists(config.model_dir):
    tf.io.gfile.rmtree(config.model_dir)  # As the original: debug runs always start afresh.
  check_something_to_evaluate(config)
  try:
    trainer = build_trainer(config, strategy)
  except (FileNotFoundError, ValueError) as e:  # No TFRecords, bad vocabulary or init ckpt.
    fail(str(e))
  restore(trainer)
  if config.do_train:
    train(config, trainer)
  if config.do_eval:
    evaluate(config, trainer)


if __name__ == "__main__":
  main()
