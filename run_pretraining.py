"""Pre-trains an ELECTRA generator + discriminator on TFRecords of build_pretraining_dataset.py.

    python run_pretraining.py --data-dir DATA --model-name electra_small_zh \\
        --hparams '{"model_size": "small", "vocab_size": 21128}'

Reads DATA/pretrain_tfrecords/pretrain_data.tfrecord* and DATA/vocab.txt; writes checkpoints
(`model.ckpt-<step>`, TF1 variable names with adam slots and global_step, loadable by the
original code), TensorBoard summaries and the generator/discriminator configs to
DATA/models/<model-name>. Re-running the same command resumes from the newest checkpoint.

With do_eval the model is evaluated with the original's metrics on the held-out shards
(pretrain_eval.tfrecord*, written by build_pretraining_dataset.py --eval-fraction), or, if there
are none, on the training shards as the original did. The metrics go to
DATA/models/<model-name>/results/unsup_results.{txt,json} and to TensorBoard (model_dir/eval);
with eval_at_checkpoints every checkpoint written while training is evaluated too, each one a
row of results/unsup_results_history.jsonl. Unlike the original, do_train and do_eval may both
be set (training runs first).
"""

import json
import os

import configure_pretraining  # No TensorFlow: --help stays fast.
from util import cli

PROGRAM = "run_pretraining.py"


def parse_args(argv=None):
  parser = cli.hparams_parser(
      PROGRAM, "Pre-train ELECTRA (replaced token detection) on TFRecord data.",
      configure_pretraining.PretrainingConfig, config_file="configure_pretraining.py",
      params_example="params/pretrain_small.json",
      data_dir_help="Directory with pretrain_tfrecords/, vocab.txt and models/",
      model_name_help="Name of the model; checkpoints go to DATA_DIR/models/MODEL_NAME",
      hparams_example="'{\"model_size\": \"base\"}'")
  return parser.parse_args(argv)


if __name__ == "__main__":
  parse_args()  # --help and flag errors answer before TensorFlow's slow, chatty import.

# pylint: disable=wrong-import-position
import tensorflow as tf

from model import optimization
from pretrain import electra_model
from pretrain import metrics as metrics_lib
from pretrain import pretrain_data
from util import checkpoint as checkpoint_lib
from util import fileio
from util import run_lock
from util import step_runner
from util import training
from util import utils
# pylint: enable=wrong-import-position


def fail(message):
  cli.fail(PROGRAM, message)


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
      init_checkpoint=config.init_checkpoint,
      jit_compile=config.jit_compile, mixed_precision=config.mixed_precision)


CONFIG_CHANGES_FILE = "pretrain_config_changes.jsonl"


def write_model_configs(config, model, global_step=0):
  """BertConfig JSONs of both networks, so the checkpoints can be rebuilt without the hparams
  (written by the chief). A run resumed with other hyper-parameters says which, and appends
  them to pretrain_config_changes.jsonl, since pretrain_config.json keeps only the newest."""
  utils.mkdir(config.model_dir)
  for name, bert_config in (("discriminator", model.disc_config),
                            ("generator", model.gen_config)):
    path = os.path.join(config.model_dir, f"{name}_config.json")
    with fileio.open_file(path, "w") as f:
      f.write(bert_config.to_json_string())
  config_path = os.path.join(config.model_dir, "pretrain_config.json")
  if global_step > 0:
    record_config_changes(config, config_path, global_step)
  utils.write_json(config.to_dict(), config_path)


def record_config_changes(config, config_path, global_step):
  if not fileio.exists(config_path):
    return
  try:
    with fileio.open_file(config_path) as f:
      previous = json.load(f)
  except ValueError:
    return  # Unreadable: it is rewritten below, and there is nothing to compare.
  current = config.to_dict()
  # A key the older file lacks is a hyper-parameter added to the code since the run started.
  # New hyper-parameters default to the behaviour from before them, so only another value is
  # a change.
  defaults = type(config)(config.model_name, config.data_dir).to_dict()
  changed = {key: [previous.get(key), value] for key, value in sorted(current.items())
             if previous.get(key, defaults.get(key)) != value}
  if not changed:
    return
  utils.warning(f"Resuming at step {global_step} with changed hyper-parameters: " + ", ".join(
      f"{key} {old!r} -> {new!r}" for key, (old, new) in changed.items()))
  path = os.path.join(config.model_dir, CONFIG_CHANGES_FILE)
  rows = ""
  if fileio.exists(path):
    with fileio.open_file(path) as f:
      rows = f.read()
  row = json.dumps({"global_step": global_step, "changed": changed}, sort_keys=True)
  utils.write_text(path, rows + row + "\n", atomic=True)


def train(config, trainer, evaluator=None):
  utils.heading(f"Training {config.model_name} to step {config.num_train_steps}")
  if training.is_chief(trainer.strategy):
    write_model_configs(config, trainer.model, trainer.global_step)
  after_save = evaluator if config.do_eval and config.eval_at_checkpoints else None
  try:
    result = trainer.train(config.num_train_steps, after_save=after_save)
  except training.NonFiniteLossError as e:
    fail(str(e))
  utils.log(f"Training finished at step {result['global_step']}")
  return result


class Evaluator:
  """Evaluates the trainer's model; called at the end and, optionally, after each checkpoint.

  Every evaluation masks and samples the same way (the model's eval randomness is reset), so the
  points of a curve differ only by the weights.
  """

  def __init__(self, config, trainer):
    self.config = config
    self.trainer = trainer
    self.chief = training.is_chief(trainer.strategy)  # Every worker evaluates, one writes.
    self.held_out = pretrain_data.has_held_out_data(config)
    self.input_fn = pretrain_data.get_input_fn(config, is_training=False)
    self.writer = None
    self.last_step = None  # the step of the latest evaluation
    self.eval_mask_prob = config.masking(training=False)[0]
    # Steps an earlier run already put on TensorBoard's eval curve are not written again.
    self.steps_on_tensorboard = set(history_steps(config, self.eval_mask_prob))
    if not self.held_out:
      utils.log("No held-out shards (pretrain_eval.tfrecord*): evaluating on the TRAINING "
                "data, as the original. Build the data with --eval-fraction for held-out "
                "metrics.")

  def __call__(self, step=None):
    trainer = self.trainer
    data = "held-out data" if self.held_out else "training data"
    utils.log(f"Evaluating {self.config.model_name} at step {trainer.global_step} on {data}")
    trainer.model.reset_eval_randomness()
    outputs = trainer.evaluate(self.input_fn, num_steps=self.config.num_eval_steps)
    if not outputs:
      fail(f"no evaluation batch: the eval data has fewer than eval_batch_size "
           f"({self.config.eval_batch_size}) examples")
    results = metrics_lib.aggregate_eval_metrics([outputs])
    if "disc_examples" in outputs:
      results["eval_examples"] = int(outputs["disc_examples"].sum())
    results["held_out"] = self.held_out
    results["eval_mask_prob"] = self.eval_mask_prob
    results["global_step"] = trainer.global_step
    if self.chief:
      write_results(self.config, results)
      self._write_summaries(results)
    self.last_step = trainer.global_step
    return results

  def _write_summaries(self, results):
    if results["global_step"] in self.steps_on_tensorboard:
      return
    self.steps_on_tensorboard.add(results["global_step"])
    if self.writer is None:
      # An evaluation at another rate than training's is another curve.
      rate = self.eval_mask_prob
      curve = "eval" if rate == self.config.mask_prob else f"eval_mask_{rate:g}"
      self.writer = tf.summary.create_file_writer(os.path.join(self.config.model_dir, curve))
    with self.writer.as_default(step=results["global_step"]):
      for name, value in results.items():
        if isinstance(value, float):
          tf.summary.scalar(name, value)
    self.writer.flush()


def check_something_to_evaluate(config):
  """Eval-only runs need weights; checked before the Trainer creates files in model_dir."""
  if config.do_train:
    return
  if not (tf.train.latest_checkpoint(config.model_dir)
          or config.init_checkpoint):
    fail(f"nothing to evaluate: no checkpoint in {config.model_dir} and no init_checkpoint")


def check_data(config):
  """Before anything is built: the shards exist and hold examples, and summary.json (written by
  build_pretraining_dataset.py) agrees with max_seq_length and the vocabulary."""
  try:
    files = pretrain_data.list_input_files(config.pretrain_tfrecords)
  except FileNotFoundError as e:
    fail(str(e))
  if not sum(tf.io.gfile.stat(path).length for path in files):
    fail(f"the pre-training data is empty: {len(files)} file(s) of 0 bytes matching "
         f"{config.pretrain_tfrecords}; rebuild it from a non-empty corpus")
  if config.do_eval and pretrain_data.has_held_out_data(config):
    files = files + pretrain_data.list_input_files(config.pretrain_eval_tfrecords)
  try:  # A damaged shard would otherwise fail mid-training with a DataLossError naming no file.
    pretrain_data.check_input_files(files)
  except pretrain_data.CorruptDataError as e:
    fail(str(e))
  summary_path = os.path.join(os.path.dirname(files[0]), "summary.json")
  if not tf.io.gfile.exists(summary_path):
    return
  try:
    summary = utils.load_json(summary_path)
  except ValueError as e:
    fail(f"{summary_path} is not valid JSON ({e})")
  check_data_summary(config, summary, summary_path)


def check_data_summary(config, summary, summary_path):
  if summary.get("examples") == 0:
    fail(f"the pre-training data is empty: {summary_path} records 0 examples")
  built_length = summary.get("settings", {}).get("max_seq_length")
  if built_length is not None and built_length != config.max_seq_length:
    fail(f"the data was built with max_seq_length {built_length} ({summary_path}) but "
         f"max_seq_length is {config.max_seq_length}: set \"max_seq_length\": {built_length} "
         f"or rebuild the data")
  built_vocab = summary.get("vocab_sha256")
  if built_vocab and tf.io.gfile.exists(config.vocab_file):
    if fileio.sha256(config.vocab_file) != built_vocab:
      fail(f"{config.vocab_file} is not the vocabulary the data was built with (vocab_sha256 "
           f"in {summary_path} differs); use that vocabulary or rebuild the data")



def check_model(config, trainer):
  """The model fits its inputs and the checkpoint it will start from, before anything is
  written: a wrong size or vocabulary is one line, not a model directory left behind."""
  positions = trainer.model.disc_config.max_position_embeddings
  if config.max_seq_length > positions:
    fail(f"max_seq_length {config.max_seq_length} is longer than the model's "
         f"max_position_embeddings ({positions}); set \"max_seq_length\" to at most {positions}")
  resumes = not config.debug and tf.io.gfile.exists(config.model_dir) and (
      checkpoint_lib.CheckpointManager(config.model_dir).latest())
  if not config.init_checkpoint or resumes:
    return
  try:
    checkpoint_lib.check_compatible(config.init_checkpoint,
                                    step_runner.as_named(trainer.model.all_variables()))
  except (FileNotFoundError, ValueError) as e:
    fail(str(e))


def clean_model_dir(config):
  """Called by the chief holding the lock: debug runs start afresh; killed runs' temporaries
  go."""
  if config.debug and config.do_train:  # As the original: debug runs always start afresh.
    for path in tf.io.gfile.glob(os.path.join(config.model_dir, "*")):
      if os.path.basename(path) == run_lock.LOCK_FILE:
        continue
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      else:
        tf.io.gfile.remove(path)
  removed = checkpoint_lib.CheckpointManager(config.model_dir).remove_temporaries()
  if removed:
    utils.log(f"Removed {len(removed)} temporary file(s) of an interrupted run from "
              f"{config.model_dir}")


def restore(trainer):
  """Resumes from model_dir or initialises from init_checkpoint, failing with one line."""
  try:
    trainer.restore_or_initialize()
  except (FileNotFoundError, ValueError) as e:  # A wrong path, model size or vocabulary.
    fail(str(e))


def write_results(config, results):
  """The latest results to unsup_results.{txt,json}; every result, by step, to the history."""
  line = " - ".join(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}"
                    for name, value in sorted(results.items()))
  utils.log(line)
  utils.mkdir_for(config.results_txt)
  with fileio.open_file(config.results_txt, "w") as f:
    f.write(line + "\n")
  utils.write_json(results, config.results_json)
  _append_history(config, results)


def read_history(path):
  """The rows of results/unsup_results_history.jsonl ([] if there is none)."""
  if not tf.io.gfile.exists(path):
    return []
  with tf.io.gfile.GFile(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _same_rate(row, eval_mask_prob, config):
  """Whether a history row was evaluated at this masking rate (a row written before the rate
  was recorded was evaluated at the training rate)."""
  return row.get("eval_mask_prob", config.mask_prob) == eval_mask_prob


def history_steps(config, eval_mask_prob):
  """The steps of the history's evaluations at this masking rate."""
  try:
    return [row.get("global_step") for row in read_history(config.results_history)
            if _same_rate(row, eval_mask_prob, config)]
  except ValueError:  # A damaged history is rewritten by the next evaluation.
    return []


def _append_history(config, results):
  """Rows of earlier evaluations at the same masking rate and at later or equal steps (a
  restarted run) are replaced; evaluations at other rates are kept."""
  rate = results["eval_mask_prob"]
  rows = [row for row in read_history(config.results_history)
          if row.get("global_step", -1) < results["global_step"]
          or not _same_rate(row, rate, config)]
  rows.append(results)
  text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
  utils.write_text(config.results_history, text, atomic=True)


def load_config(argv=None):
  return cli.config_from_args(PROGRAM, configure_pretraining.PretrainingConfig, parse_args(argv))


def main(argv=None):
  utils.setup_logging()
  config = load_config(argv)
  try:
    with run_lock.private_tempdir():  # autograph's generated modules go with the run
      run(config)
  except run_lock.LockError as e:
    fail(str(e))
  except (OSError, tf.errors.OpError) as e:  # Disk full, read-only directory, corrupt data.
    fail(utils.describe_error(e))


def run(config):
  if not (config.do_train or config.do_eval):
    fail("nothing to do: set do_train and/or do_eval")
  check_something_to_evaluate(config)
  check_data(config)
  strategy = training.get_strategy(config)
  training.set_seed(config.seed)
  try:  # Builds the model and its input pipeline; writes nothing.
    trainer = build_trainer(config, strategy)
  except (FileNotFoundError, ValueError) as e:  # No TFRecords, bad vocabulary or init ckpt.
    fail(str(e))
  check_model(config, trainer)
  chief = training.is_chief(strategy)
  with run_lock.hold(config.model_dir, PROGRAM, enabled=chief):
    if chief:
      clean_model_dir(config)
    training.barrier(strategy)  # No worker reads model_dir before the chief cleaned it.
    restore(trainer)
    evaluator = Evaluator(config, trainer) if config.do_eval else None
    if config.do_train:
      train(config, trainer, evaluator)
    if config.do_eval and evaluator.last_step != trainer.global_step:
      utils.heading(f"Evaluating {config.model_name} at step {trainer.global_step}")
      evaluator()


if __name__ == "__main__":
  main()
