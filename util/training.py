"""The estimator's train / evaluate / predict contract on tf.function and tf.distribute.

Two layers, as Orbit's in TF Model Garden: `Trainer` here is the controller (the loop towards a
step goal, checkpoints, progress and summaries); util/step_runner.StepRunner builds and runs the
distributed steps it calls.

Model protocol. A model is a tf.Module created under `strategy.scope()` with:
  - `model.trainable_variables`: dict {checkpoint name: tf.Variable} of the trained variables
    (a property overriding tf.Module's tuple);
  - `model.all_variables()`: dict {checkpoint name: tf.Variable} of every variable the model
    owns, trainable or not (what checkpoints hold besides the optimizer's slots);
  - `model.loss(features, training) -> (loss, metrics)`: on one replica's batch, a float32
    scalar loss and a dict {name: scalar} of metrics to log. The loss estimates the GLOBAL-batch
    loss from this shard (docs/ARCHITECTURE.md): gradients are MEAN-all-reduced over replicas,
    so a per-example mean needs nothing more, while a sum over the batch must be multiplied by
    `tf.distribute.get_strategy().num_replicas_in_sync`;
  - `model.predict(features) -> {name: tensor [batch, ...]}`;
  - optionally `model.eval_metrics(features) -> {name: tensor}` (scalars or [batch, ...]) used
    by `evaluate` instead of `predict`.
`features` is whatever one element of the input function's dataset is (usually a dict).

Input functions have the signature `input_fn(input_context) -> tf.data.Dataset` of PER-REPLICA
batches (`input_context.get_per_replica_batch_size(global_batch_size)`); they run once per
worker and should shard by `input_context.input_pipeline_id` when there are several workers.

Trainer API:
    with strategy.scope():
      model = MyModel(...)
      optimizer = optimization.AdamWeightDecay(...)
    trainer = Trainer(strategy, model, optimizer, train_input_fn, model_dir, ...)
    metrics = trainer.train(num_train_steps)       # trains UNTIL global_step == num_train_steps
    trainer.run_steps(n)                           # n more steps, no logs or checkpoints
    outputs = trainer.evaluate(eval_input_fn, num_steps=None)  # {name: np.ndarray}
    for batch in trainer.predict(test_input_fn): ...           # {name: np.ndarray} per batch
"""

import os

import numpy as np
import tensorflow as tf

from util import checkpoint as checkpoint_lib
from util import step_runner
from util import utils
# Re-exported: the scripts reach the strategy and the step runner's pieces through this module.
from util.step_runner import DynamicLossScale  # noqa: F401
from util.strategy import (barrier, get_strategy, is_chief, num_workers,  # noqa: F401
                           set_precision, set_seed)


# Longest wait for a progress line, whatever log_every_steps and iterations_per_loop are.
PROGRESS_SECS = 60.0


class NonFiniteLossError(FloatingPointError):
  """Training diverged: the loss (or, without loss scaling, a gradient) became NaN or Inf."""


class Trainer:
  """The controller: trains, checkpoints, evaluates and predicts one model under one strategy.

  Its util/step_runner.StepRunner builds and runs the distributed steps; the Trainer owns the
  loop around them: restoring and saving checkpoints (util/checkpoint.py) on schedule, the
  progress lines and ETA, TensorBoard summaries and the after_save hook.

  Args:
    strategy: the tf.distribute strategy the model and optimizer were created under.
    model: see the model protocol in the module docstring.
    optimizer: `model/optimization.AdamWeightDecay` (or anything with its interface); built
      under the strategy's scope if `optimizer.iterations` is still None.
    input_fn: training input function, `input_fn(input_context) -> tf.data.Dataset`.
    model_dir: checkpoints (`model.ckpt-<step>`) and TensorBoard summaries go here.
    steps_per_loop: training steps per tf.function call (fewer host round trips).
    save_checkpoints_steps / keep_checkpoint_max / log_every_steps: as the estimator's.
    init_checkpoint: used by name (`init_from_checkpoint`) when model_dir has no checkpoint.
    jit_compile: XLA-compile each replica's forward and backward pass where that is faster:
      True (or "auto") compiles it on GPUs and TPUs but not on CPUs, where a whole-step XLA
      compile measured slower than TensorFlow's oneDNN GEMMs plus the model's own XLA-fused
      element-wise pieces (model/fused_ops.py): float32 fine-tuning step of ELECTRA-small
      1.85 s vs 0.93 s, and XLA's CPU dots have no bfloat16 speed-up (about 230 vs 470
      GFLOP/s); see bench/README.md. "always" compiles it everywhere; False never does.
    mixed_precision: "float16" turns on dynamic loss scaling; other values need nothing here.
  """

  def __init__(self, strategy, model, optimizer, input_fn, model_dir, *, steps_per_loop=1,
               save_checkpoints_steps=1000, keep_checkpoint_max=5, log_every_steps=100,
               init_checkpoint=None, jit_compile=False, mixed_precision="float32",
               initial_loss_scale=2.0 ** 15):
    self.strategy = strategy
    self.model = model
    self.optimizer = optimizer
    self.model_dir = model_dir
    self.steps_per_loop = max(1, int(steps_per_loop))
    self.save_checkpoints_steps = max(1, int(save_checkpoints_steps))
    self.log_every_steps = max(1, int(log_every_steps))
    self.init_checkpoint = init_checkpoint
    self._steps = step_runner.StepRunner(strategy, model, optimizer, jit_compile=jit_compile,
                                         mixed_precision=mixed_precision,
                                         initial_loss_scale=initial_loss_scale)
    self._loss_scale = self._steps.loss_scale
    self._is_chief = is_chief(strategy)
    # Loop lengths must agree between workers (every step is a collective): no timing in them.
    self._timed_loops = num_workers(strategy) == 1
    self._saved_step = None  # The newest checkpoint's step this run wrote or resumed from.
    self._manager = checkpoint_lib.CheckpointManager(model_dir, keep_checkpoint_max)
    self._writer = None  # Created with the first point: a run that logs nothing leaves none.
    # input_fn may be None for a Trainer that only evaluates or predicts.
    self._train_dataset = self._steps.distribute(input_fn) if input_fn is not None else None
    self._train_iterator = None
    self._initialized = False

  @property
  def summary_writer(self):
    """The TensorBoard writer of model_dir (the chief's; a no-op one on the other workers)."""
    if self._writer is None:
      self._writer = (tf.summary.create_file_writer(self.model_dir) if self._is_chief
                      else tf.summary.create_noop_writer())
    return self._writer

  def _flush_summaries(self):
    if self._writer is not None:
      self._writer.flush()

  @property
  def jit_forward_backward(self):
    return self._steps.jit_forward_backward

  @property
  def jit_update(self):
    return self._steps.jit_update

  # --------------------------------------------------------------------------------------------
  # Variables and checkpoints.

  @property
  def global_step(self):
    return int(self.optimizer.iterations.numpy())

  def checkpoint_variables(self):
    """{name: variable} of everything a resumable checkpoint holds."""
    return self._steps.variables()

  def restore_or_initialize(self):
    """Resumes from model_dir's newest loadable checkpoint, else initialises from
    init_checkpoint.

    Newer checkpoints that cannot be loaded are skipped with one line saying why; if there are
    checkpoints but none loads, CheckpointError (never a silent restart from step 0). Runs once
    per Trainer; returns the global step.
    """
    if not self._initialized:
      resumed, skipped = self._resume_newest_loadable()
      if skipped:
        utils.warning(f"Skipped {len(skipped)} newer checkpoint(s) that cannot be loaded: "
                      + "; ".join(skipped))
      if resumed:
        if self._is_chief:  # The state file names what we resumed from, orphans go.
          self._manager.make_newest(resumed)
        utils.log(f"Resumed from {resumed} at step {self.global_step}")
        self._saved_step = self.global_step
      elif skipped:
        raise checkpoint_lib.CheckpointError(
            f"No loadable checkpoint in {self.model_dir} ({'; '.join(skipped)}); move these "
            f"files away to start afresh")
      elif self.init_checkpoint:
        checkpoint_lib.init_from_checkpoint(self.init_checkpoint,
                                            step_runner.as_named(self.model.all_variables()))
      self._initialized = True
    return self.global_step

  def _resume_newest_loadable(self):
    """(prefix restored or None, ["name (why skipped)", ...])."""
    skipped = []
    for prefix, problem in self._manager.loadable_candidates():
      if problem is None:
        try:
          self._restore(prefix)
          return prefix, skipped
        except checkpoint_lib.CheckpointError as e:  # Corrupt bytes: try the next older one.
          problem = str(e)
      skipped.append(f"{os.path.basename(prefix)} ({problem})")
    return None, skipped

  def _restore(self, prefix):
    required = self.checkpoint_variables()
    optional = self._steps.loss_scale_variables()
    for name in optional:
      required.pop(name)
    checkpoint_lib.restore(prefix, required)
    # A float32 run's checkpoint has no loss scale; resuming it in float16 starts afresh.
    checkpoint_lib.restore(prefix, optional, allow_missing=True)

  def _save_and_notify(self, after_save):
    """Saves; runs `after_save(step)` if given and returns the seconds it took."""
    self.save()
    self._saved_step = self.global_step
    if after_save is None:
      return 0.0
    timer = utils.Timer()
    after_save(self.global_step)
    return timer.elapsed()

  def save(self):
    """Writes model.ckpt-<global_step> (on the chief only); returns its prefix or None."""
    if not self._is_chief:
      return None
    prefix = self._manager.save(self.checkpoint_variables(), self.global_step)
    utils.log(f"Saved checkpoint {prefix}")
    return prefix

  # --------------------------------------------------------------------------------------------
  # Training.

  def train(self, num_steps, after_save=None):
    """Trains until global_step reaches `num_steps` (a total, like the estimator's max_steps).

    `after_save(step)`, if given, is called after every checkpoint written (e.g. to evaluate it).
    Returns the metrics averaged over the last logging window plus `global_step`. Raises
    NonFiniteLossError, without saving, if the loss becomes NaN or Inf.
    """
    step = self._start_training()
    progress = _Progress(step, num_steps, getattr(self.model, "LOSS_LABEL", "loss"))
    metrics, previous_step = {}, step
    while step < num_steps:
      outputs = self._run_loop(self._chunk_size(step, num_steps, progress))
      step = self.global_step
      progress.add(outputs)
      if progress.should_log(step, self.log_every_steps) or step >= num_steps:
        metrics = self._log(progress, step)
      # float16 steps skipped on overflow do not advance the step: save each step only once.
      if step % self.save_checkpoints_steps == 0 and step != previous_step:
        # Evaluation time is left out of steps/s and the ETA.
        progress.exclude(self._save_and_notify(after_save))
      previous_step = step
    # Decided from this run's own saves, not the state file another worker may be writing.
    if self._saved_step != step:
      self._save_and_notify(after_save)  # The final step, unless it fell on a boundary.
    self._flush_summaries()
    return dict(metrics, global_step=step)

  def run_steps(self, num_steps):
    """Runs `num_steps` training steps in one loop call, without logging or checkpoints (for
    benchmarks and warm-up); returns the loop's summed outputs as NumPy values."""
    self._start_training()
    return self._run_loop(num_steps)

  def _start_training(self):
    """Restores (once) and opens the training data's iterator (once); returns the step."""
    if self._train_dataset is None:
      raise ValueError("This Trainer was built without a training input_fn")
    step = self.restore_or_initialize()
    if self._train_iterator is None:
      self._train_iterator = iter(self._train_dataset)
    return step

  def _chunk_size(self, step, num_steps, progress):
    """Steps in the next loop call: stops at num_steps, checkpoint and logging boundaries (so
    a progress line comes every log_every_steps whatever steps_per_loop is). The first call
    runs one step, so that the first line (and TensorBoard point) comes as soon as the step is
    compiled; later calls end in time for a line at least every PROGRESS_SECS."""
    if progress.steps_done == 0:
      return 1
    to_checkpoint = self.save_checkpoints_steps - step % self.save_checkpoints_steps
    to_log = self.log_every_steps - step % self.log_every_steps
    due = progress.steps_until_due() if self._timed_loops else self.steps_per_loop
    return min(self.steps_per_loop, num_steps - step, to_checkpoint, to_log, due)

  def _run_loop(self, num_steps):
    outputs = self._steps.train(self._train_iterator, num_steps)
    if not outputs["ok"]:
      self._raise_diverged(outputs)
    return outputs

  def _raise_diverged(self, outputs):
    # The failing step's update was not applied, so it is the step after global_step.
    bad_step = self.global_step + 1
    what = (f"the loss is {outputs['last_loss']}" if not np.isfinite(outputs["last_loss"])
            else f"the gradients are not finite (loss {outputs['last_loss']})")
    latest = self._manager.latest()
    kept = (f"the newest checkpoint, {latest}, is intact" if latest
            else "there is no earlier checkpoint")
    self._flush_summaries()
    raise NonFiniteLossError(
        f"Training diverged at step {bad_step}: {what}. Stopped without applying that update "
        f"or writing a checkpoint; {kept}. Lower the learning rate or check the input data "
        f"before resuming.")

  def _log(self, progress, step):
    metrics, line = progress.report(step)
    learning_rate = float(self.optimizer.learning_rate_fn(self.optimizer.iterations))
    utils.log(line)
    with self.summary_writer.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(name, value)
      tf.summary.scalar("learning_rate", learning_rate)
      if self._loss_scale is not None:
        tf.summary.scalar("loss_scale", self._loss_scale.scale.numpy())
    return {name: value for name, value in metrics.items() if "/sec" not in name}

  # --------------------------------------------------------------------------------------------
  # Evaluation and prediction.

  def evaluate(self, input_fn, num_steps=None):
    """Runs `model.eval_metrics` (else `model.predict`) over the data.

    Returns {name: np.ndarray}: every batch's outputs from all replicas, concatenated along
    axis 0 in input order (scalar outputs give one row per replica and batch). The caller
    aggregates. Runs until the data ends or after `num_steps` global batches.
    """
    fn = getattr(self.model, "eval_metrics", None) or self.model.predict
    batches = list(self._gathered_batches(input_fn, fn, num_steps))
    if not batches:
      return {}
    return {name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]}

  def predict(self, input_fn, num_steps=None):
    """Yields `model.predict` outputs per global batch as {name: np.ndarray}, in input order.

    With several workers every worker must see the same number of batches: gathering across
    workers is a collective.
    """
    yield from self._gathered_batches(input_fn, self.model.predict, num_steps)

  def _gathered_batches(self, input_fn, fn, num_steps):
    self.restore_or_initialize()
    yield from self._steps.gathered_batches(input_fn, fn, num_steps)


class _Progress:
  """Averages loop outputs over a logging window and formats the estimator-style log line."""

  def __init__(self, start_step, total_steps, loss_label="loss"):
    self.start_step = start_step
    self.total_steps = total_steps
    self.loss_label = loss_label
    self.run_timer = utils.Timer()
    # The ETA comes from the speed after the first loop call, which includes tracing and XLA
    # compilation (a start-up that made the first ETAs several times too long).
    self.steady_timer, self.steady_start_step = None, None
    self.steps_done = 0
    self.last_logged_step = start_step
    self.lines = 0
    self.since_last_line = utils.Timer()
    self._reset_window(start_step)

  def _reset_window(self, step):
    self.window_timer = utils.Timer()
    self.window_start_step = step
    self.sums, self.steps, self.examples, self.skipped = {}, 0, 0, 0

  def add(self, outputs):
    values = dict(outputs["metrics"], **{self.loss_label: outputs["loss"]})
    for name, value in values.items():
      self.sums[name] = self.sums.get(name, 0.0) + float(value)
    self.steps += int(outputs["steps"])
    self.steps_done += int(outputs["steps"])
    if self.steady_timer is None:
      self.steady_timer = utils.Timer()
      self.steady_start_step = self.start_step + self.steps_done
    self.examples += int(outputs["examples"])
    self.skipped += int(outputs["skipped"])

  def exclude(self, seconds):
    """Leaves `seconds` of other work (evaluation) out of the rates and the ETA."""
    for timer in (self.run_timer, self.window_timer, self.steady_timer):
      if timer is not None:
        timer.start += seconds

  def should_log(self, step, every):
    """At every log_every_steps boundary, after the first loop call, and when the last line is
    PROGRESS_SECS old."""
    return (step // every > self.last_logged_step // every or self.lines == 0
            or self.since_last_line.elapsed() >= PROGRESS_SECS)

  def steps_until_due(self):
    """At the steady speed, the steps that fit before the next line is PROGRESS_SECS late."""
    rate = self.steady_rate()
    if not rate:
      return 1
    return max(1, int(rate * (PROGRESS_SECS - self.since_last_line.elapsed())))

  def steady_rate(self):
    """Steps/s since the end of the first loop call (None before the second)."""
    steps = self.start_step + self.steps_done - (self.steady_start_step or 0)
    if self.steady_timer is None or steps <= 0:
      return None
    return steps / max(self.steady_timer.elapsed(), 1e-9)

  def report(self, step):
    """({name: window mean} plus throughput, the log line); starts a new window."""
    secs = max(self.window_timer.elapsed(), 1e-9)
    metrics = {name: total / max(self.steps, 1) for name, total in self.sums.items()}
    metrics["global_step/sec"] = self.steps / secs
    metrics["examples/sec"] = self.examples / secs
    elapsed = self.run_timer.elapsed()
    rate = (step - self.start_step) / elapsed if elapsed > 0 else 0.0
    steady_steps = step - self.steady_start_step if self.steady_timer is not None else 0
    if steady_steps > 0:
      rate = steady_steps / max(self.steady_timer.elapsed(), 1e-9)
    eta = (self.total_steps - step) / rate if rate > 0 else 0.0
    # The first line follows the start-up alone (one step, traced and compiled): no speed to go
    # by yet, and an estimate from it would be hours off.
    eta_text = (utils.secs_to_str(eta) if steady_steps > 0 or step >= self.total_steps
                else "after the next line")
    values = ", ".join(f"{name} = {value:.4g}" for name, value in sorted(metrics.items())
                       if "/sec" not in name)
    skipped = f", {self.skipped} steps skipped (float16 overflow)" if self.skipped else ""
    line = (f"step {step}/{self.total_steps} ({100.0 * step / max(self.total_steps, 1):.1f}%), "
            f"{metrics['global_step/sec']:.2f} steps/s, {metrics['examples/sec']:.1f} examples/s, "
            f"elapsed {utils.secs_to_str(elapsed)}, ETA {eta_text}: "
            f"{values}{skipped}")
    self.last_logged_step = step
    self.lines += 1
    self.since_last_line.reset()
    self._reset_window(step)
    return metrics, line
