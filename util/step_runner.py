"""The step runner: a model's distributed train / evaluate / predict steps as tf.functions.

The training controller (util/training.py: the loop, checkpoints, progress) drives a
StepRunner, as Orbit's Controller drives a trainer in TF Model Garden. The runner knows the
strategy, the model, the optimizer and the device policy (what to XLA-compile, how to feed the
data); it knows nothing of steps counted towards a goal, checkpoints or logs.
"""

import contextlib

import tensorflow as tf

from model import fused_ops
from model import modeling
from util import device_options
from util import utils


class DynamicLossScale(tf.Module):
  """Loss scaling for float16: halve the scale on overflow (and skip that step), double it
  after `growth_steps` finite steps in a row. Its variables are checkpointed with the model's
  (`modeling.named_variables` names them)."""

  def __init__(self, initial_scale=2.0 ** 15, growth_steps=2000):
    super().__init__(name=None)
    self.growth_steps = growth_steps
    self.scale = tf.Variable(initial_scale, dtype=tf.float32, trainable=False,
                             name="loss_scale/current_loss_scale")
    self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                  name="loss_scale/good_steps")

  def can_decrease(self):
    return self.scale > 1.0

  def update(self, grads_finite):
    """Called in cross-replica context; every replica saw the same all-reduced gradients."""
    good_steps = tf.where(grads_finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
    grow = good_steps >= self.growth_steps
    grown = tf.where(tf.math.is_finite(self.scale * 2.0), self.scale * 2.0, self.scale)
    scale = tf.where(grads_finite, tf.where(grow, grown, self.scale),
                     tf.maximum(self.scale / 2.0, 1.0))
    self.scale.assign(scale)
    self.good_steps.assign(tf.where(grow, tf.zeros_like(good_steps), good_steps))


class StepRunner:
  """Builds and runs the train, evaluation and prediction steps of one model and optimizer.

  Args: as util/training.Trainer's of the same names (its docstring says what jit_compile does).

  With one replica, the optimizer update (global-norm clipping and AdamW over every variable)
  is one XLA-compiled function as well: element-wise work that TensorFlow would otherwise run as
  some ten kernels per variable.
  """

  def __init__(self, strategy, model, optimizer, *, jit_compile=False,
               mixed_precision="float32", initial_loss_scale=2.0 ** 15):
    self.strategy = strategy
    self.model = model
    self.optimizer = optimizer
    precision = device_options.precision_name(mixed_precision)
    self.trainable = as_named(model.trainable_variables)
    with strategy.scope():
      if optimizer.iterations is None:
        optimizer.build(self.trainable)
      self.loss_scale = (DynamicLossScale(initial_loss_scale)
                         if precision == "float16" else None)
    self._single_cpu_replica = _is_single_cpu_replica(strategy)
    self.jit_forward_backward = _compile_whole_step(jit_compile, strategy)
    # autograph=False: the model, its losses and the optimizer are straight-line TensorFlow code
    # (no Python `if` or `for` on tensors), so autograph's source rewriting of them is pure
    # start-up cost: some 290 functions rewritten, 4-8 s of each run's first step on 2 busy cores.
    # Only the training loop below, with its tf.range loop and break, needs autograph.
    self._forward_backward = tf.function(self._forward_backward_fn,
                                         jit_compile=self.jit_forward_backward, autograph=False)
    # Compiling the update needs every variable on one device: one replica, one worker.
    self.jit_update = strategy.num_replicas_in_sync == 1
    self._update = tf.function(self._update_fn, jit_compile=self.jit_update, autograph=False)
    self._all_finite = tf.function(_all_finite_fn, jit_compile=True, autograph=False)
    self._train_loop = tf.function(self._train_loop_fn)
    self._gather_steps = {}

  def variables(self):
    """{name: variable} of everything a resumable checkpoint holds: the model's variables, the
    optimizer's slots and step, and the loss scale."""
    named = dict(as_named(self.model.all_variables()))
    extra = dict(self.optimizer.slot_variables())
    extra.update(self.loss_scale_variables())
    for name, variable in extra.items():
      if name in named and named[name] is not variable:
        raise ValueError(f"Two different variables are named '{name}'")
      named[name] = variable
    return named

  def loss_scale_variables(self):
    return modeling.named_variables(self.loss_scale) if self.loss_scale is not None else {}

  # --------------------------------------------------------------------------------------------
  # Training.

  def train(self, iterator, num_steps):
    """Runs `num_steps` training steps in one loop call; returns their outputs as NumPy values:
    sums over the steps of `loss`, `metrics` {name: value}, `steps`, `examples` and `skipped`
    (float16 overflows), plus `ok` and `last_loss` of the last step run. The loop stops at the
    first step whose loss or gradients are not finite (`ok` False), without applying it."""
    outputs = self._train_loop(iterator, tf.constant(num_steps, tf.int32))
    return tf.nest.map_structure(lambda t: t.numpy(), outputs)

  def _train_loop_fn(self, iterator, num_steps):
    """`num_steps` steps in one tf.function call; stops early at the first diverged step.

    The first step runs before the loop so the loop's accumulators get their structure (the
    metric names) from it; both call sites share one traced forward/backward function.
    """
    totals = self._train_step(next(iterator))
    for _ in tf.range(num_steps - 1):
      if not totals["ok"]:
        break
      totals = _accumulate(totals, self._train_step(next(iterator)))
    return totals

  def _train_step(self, features):
    """One step in cross-replica context: gradients, then the update if everything is finite."""
    strategy = self.strategy
    grads, loss, metrics, examples, grads_finite = strategy.run(
        self._replica_gradients, args=(features,))
    mean = tf.distribute.ReduceOp.MEAN
    loss = strategy.reduce(mean, loss, axis=None)
    metrics = {name: strategy.reduce(mean, value, axis=None) for name, value in metrics.items()}
    examples = strategy.reduce(tf.distribute.ReduceOp.SUM, examples, axis=None)
    # All-reduced gradients are the same on every replica, so any replica's flag will do.
    grads_finite = strategy.experimental_local_results(grads_finite)[0]
    loss_finite = tf.math.is_finite(loss)
    # tf.cond in cross-replica context: the optimizer's merge_call may not sit inside a cond
    # built in replica context.
    tf.cond(grads_finite & loss_finite,
            lambda: self._apply(grads), lambda: tf.constant(False))
    if self.loss_scale is not None:
      ok = loss_finite & (grads_finite | self.loss_scale.can_decrease())
      self.loss_scale.update(grads_finite)
    else:
      ok = loss_finite & grads_finite
    return {"loss": loss, "metrics": metrics, "steps": tf.constant(1, tf.int64),
            "examples": tf.cast(examples, tf.int64), "ok": ok, "last_loss": loss,
            "skipped": tf.cast(tf.logical_not(grads_finite), tf.int64)}

  def _apply(self, grads):
    self._update(grads)
    return tf.constant(True)

  def _update_fn(self, grads):
    def apply_on_replica(replica_grads):
      self.optimizer.apply_gradients(
          [(replica_grads[name], self.trainable[name]) for name in sorted(replica_grads)])
    self.strategy.run(apply_on_replica, args=(grads,))
    return tf.constant(True)

  def _replica_gradients(self, features):
    """Per replica: loss, metrics and the MEAN of the gradients over all replicas."""
    # This replica's copy, as a tensor: the XLA-compiled function needs no distributed variable.
    scale = (tf.convert_to_tensor(self.loss_scale.scale) if self.loss_scale is not None
             else None)
    loss, metrics, grads = self._forward_backward(features, scale)
    names = sorted(grads)
    reduced = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.MEAN, [grads[name] for name in names])
    if scale is not None:
      reduced = [g / scale for g in reduced]
    finite = self._all_finite(reduced)
    examples = tf.shape(tf.nest.flatten(features)[0])[0]
    metrics = {name: tf.cast(value, tf.float32) for name, value in metrics.items()}
    return dict(zip(names, reduced)), loss, metrics, examples, finite

  def _forward_backward_fn(self, features, loss_scale):
    """Loss, metrics and local gradients {name: dense tensor}; XLA-compiled with jit_compile."""
    # A step that XLA compiles as a whole takes the model's fused pieces as plain ops.
    def inline():
      return (fused_ops.inline_fused_ops() if self.jit_forward_backward
              else contextlib.nullcontext())
    with inline(), tf.GradientTape() as tape:
      loss, metrics = self.model.loss(features, training=True)
      loss = tf.cast(loss, tf.float32)
      scaled_loss = loss * loss_scale if loss_scale is not None else loss
    with inline():
      grads = tape.gradient(scaled_loss, self.trainable)
    unused = sorted(name for name, grad in grads.items() if grad is None)
    if unused:  # Logged while tracing, i.e. once.
      utils.log(f"No gradient for {len(unused)} trainable variables: {', '.join(unused[:10])}")
    # Embedding gradients arrive as IndexedSlices; the update densifies them anyway.
    return loss, metrics, {name: tf.convert_to_tensor(grad)
                           for name, grad in grads.items() if grad is not None}

  # --------------------------------------------------------------------------------------------
  # Evaluation and prediction.

  def gathered_batches(self, input_fn, fn, num_steps=None):
    """Yields `fn(features)` of every global batch as {name: np.ndarray}, gathered from all
    replicas along axis 0 in input order; stops when the data ends or after `num_steps`."""
    dataset = self.distribute(input_fn)
    gather_step = self._gather_step(fn)
    for index, features in enumerate(dataset):
      if num_steps is not None and index >= num_steps:
        break
      yield tf.nest.map_structure(lambda t: t.numpy(), gather_step(features))

  def distribute(self, input_fn):
    """The dataset of `input_fn`, distributed over the strategy's replicas.

    With a single replica on a CPU, where the input pipeline and the step share the cores, the
    plain tf.data dataset is used instead, without autotuning. Both the distributed iterator's
    per-batch work and the autotuner's background thread compete with the step for the cores
    (an ELECTRA-small prediction step on 2 cores: 0.28 -> 0.22 s), and deleting an autotuned
    iterator waits for that thread's next wake-up (up to 3 s at the end of a prediction pass).
    """
    if not self._single_cpu_replica:
      return self.strategy.distribute_datasets_from_function(input_fn)
    options = tf.data.Options()
    options.autotune.enabled = False
    return input_fn(tf.distribute.InputContext()).with_options(options)

  def _gather_step(self, fn):
    """A tf.function running `fn` on every replica and gathering the outputs along axis 0."""
    key = getattr(fn, "__name__", id(fn))
    if key not in self._gather_steps:
      def replica_fn(features):
        return tf.nest.map_structure(lambda t: t[tf.newaxis] if t.shape.rank == 0 else t,
                                     fn(features))

      def step(features):
        outputs = self.strategy.run(replica_fn, args=(features,))
        return tf.nest.map_structure(lambda t: self.strategy.gather(t, axis=0), outputs)
      # The last batch is usually smaller: generalise its shape instead of retracing again.
      self._gather_steps[key] = tf.function(step, reduce_retracing=True, autograph=False)
    return self._gather_steps[key]


def as_named(variables):
  """A {name: variable} dict; a list of variables is keyed by their checkpoint names."""
  if isinstance(variables, dict):
    return variables
  named = {}
  for variable in variables:
    name = modeling.checkpoint_name(variable)
    if name in named:
      raise ValueError(f"Two variables are named '{name}'; the model must return a dict")
    named[name] = variable
  return named


def _compile_whole_step(jit_compile, strategy):
  """Whether to XLA-compile the forward and backward pass as a whole (see Trainer's jit_compile).
  """
  if jit_compile not in (True, False, "auto", "always", "never"):
    raise ValueError(f"jit_compile must be 'auto', 'always', 'never', True or False, not "
                     f"{jit_compile!r}")
  if jit_compile == "always":
    return True
  if not jit_compile or jit_compile == "never":
    return False
  on_cpu = _on_cpu(strategy)
  if on_cpu:
    utils.log("jit_compile: the forward/backward pass runs on oneDNN with the model's XLA-fused "
              "element-wise pieces (faster than a whole-step XLA compile on CPU)")
  return not on_cpu


def _on_cpu(strategy):
  """Whether every replica of `strategy` runs on a CPU."""
  try:
    devices = strategy.extended.worker_devices
  except RuntimeError:  # The default strategy: ops go to the first GPU if there is one.
    devices = [device.name for device in tf.config.list_logical_devices()[-1:]]
  return all(tf.DeviceSpec.from_string(device).device_type == "CPU" for device in devices)


def _is_single_cpu_replica(strategy):
  """One replica, one worker, on a CPU."""
  return strategy.num_replicas_in_sync == 1 and _on_cpu(strategy)


def _all_finite_fn(tensors):
  """True if no element of `tensors` is NaN or infinite: one fused pass over the gradients."""
  return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def _accumulate(totals, step):
  """Sums of one loop call's step outputs; `last_loss` and `ok` describe the newest step."""
  return {"loss": totals["loss"] + step["loss"],
          "metrics": {name: totals["metrics"][name] + value
                      for name, value in step["metrics"].items()},
          "steps": totals["steps"] + 1, "examples": totals["examples"] + step["examples"],
          "ok": step["ok"], "last_loss": step["last_loss"],
          "skipped": totals["skipped"] + step["skipped"]}
