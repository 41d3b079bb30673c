"""AdamW as in the original BERT/ELECTRA code, its learning-rate schedule and layer-wise decay.

The original's AdamWeightDecayOptimizer differs from textbook Adam: there is no bias correction,
epsilon is 1e-6, and weight decay is decoupled (added to the update, not the loss) and skipped
for LayerNorm and bias parameters. Slots are named `<var>/adam_m` and `<var>/adam_v` so that our
checkpoints have the layout of the original's training checkpoints.
"""

import re

import tensorflow as tf

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate(step, base_lr, num_train_steps, num_warmup_steps, power=1.0):
  """Polynomial decay from base_lr to 0 over num_train_steps, times linear warmup."""
  step = tf.cast(step, tf.float32)
  total = tf.cast(max(num_train_steps, 1), tf.float32)
  decayed = base_lr * tf.pow(1.0 - tf.minimum(step, total) / total, power)
  if num_warmup_steps:
    decayed *= tf.minimum(1.0, step / float(num_warmup_steps))
  return decayed


def warmup_steps(num_train_steps, warmup_proportion, min_warmup_steps=0):
  """The original's warm-up length: max(num_train_steps * warmup_proportion, min_warmup_steps),
  NOT rounded (e.g. 12.3 for 123 steps at 0.1), so the warm-up factor step / warmup_steps is the
  original's at every step."""
  return max(num_train_steps * warmup_proportion, min_warmup_steps)


def _layer_depth(name, num_layers, head_depth):
  """Depth of a variable for layer-wise decay: 0 embeddings, i+1 layer i, head_depth task heads."""
  if "/embeddings/" in name or "/embeddings_project/" in name:
    return 0
  match = re.search(r"encoder/layer_(\d+)/", name)
  if match and int(match.group(1)) < num_layers:
    return int(match.group(1)) + 1
  if name.startswith("task_specific/") or "/task_specific/" in name:
    return head_depth
  raise ValueError(f"No layer-wise learning-rate depth for variable '{name}'")


def layerwise_lr_multipliers(variable_names, num_layers, decay, legacy_top_layer=False):
  """{name: multiplier} with multiplier = decay ** (head_depth - depth).

  Task heads sit directly above the top encoder layer (depth L + 1), so the top layer gets
  `decay` and the embeddings `decay ** (L + 1)`. The original put the heads at depth L + 2 (a
  slot left by the removed pooler, google-research/electra#51), giving the top layer decay ** 2;
  `legacy_top_layer=True` reproduces that.
  """
  head_depth = num_layers + 2 if legacy_top_layer else num_layers + 1
  return {name: decay ** (head_depth - _layer_depth(name, num_layers, head_depth))
          for name in variable_names}


class AdamWeightDecay(tf.Module):
  """AdamW without bias correction, with global-norm clipping and per-variable LR multipliers."""

  def __init__(self, learning_rate_fn, weight_decay_rate=0.0, beta_1=0.9, beta_2=0.999,
               epsilon=1e-6, exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
               lr_multipliers=None, clip_norm=1.0):
    super().__init__(name=None)
    self.learning_rate_fn = learning_rate_fn
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = tuple(exclude_from_weight_decay or ())
    self.lr_multipliers = dict(lr_multipliers or {})
    self.clip_norm = clip_norm
    self.iterations = None
    self._slots = {}  # variable name -> (m, v)
    self._names = {}  # id(variable) -> checkpoint name

  def build(self, named_variables):
    """Creates `global_step` and the slots; call under the strategy's scope."""
    self.iterations = tf.Variable(0, dtype=tf.int64, name="global_step", trainable=False)
    for name, variable in named_variables.items():
      self._names[id(variable)] = name
      self._slots[name] = (
          tf.Variable(tf.zeros(variable.shape), name=f"{name}/adam_m", trainable=False),
          tf.Variable(tf.zeros(variable.shape), name=f"{name}/adam_v", trainable=False))

  def slot_variables(self):
    """{checkpoint name: variable} of the slots and global_step."""
    slots = {"global_step": self.iterations}
    for name, (m, v) in self._slots.items():
      slots[f"{name}/adam_m"] = m
      slots[f"{name}/adam_v"] = v
    return slots

  def _decays(self, name):
    return self.weight_decay_rate > 0 and not any(
        pattern in name for pattern in self.exclude_from_weight_decay)

  def apply_gradients(self, grads_and_vars):
    """Applies already all-reduced gradients (replica or cross-replica context)."""
    pairs = [(tf.convert_to_tensor(g), v) for g, v in grads_and_vars if g is not None]
    grads = [g for g, _ in pairs]
    if self.clip_norm:
      grads, _ = tf.clip_by_global_norm(grads, self.clip_norm)
    pairs = list(zip(grads, [v for _, v in pairs]))
    if tf.distribute.in_cross_replica_context():
      return self._distributed_apply(tf.distribute.get_strategy(), pairs)
    return tf.distribute.get_replica_context().merge_call(self._distributed_apply, args=(pairs,))

  def _distributed_apply(self, strategy, grads_and_vars):
    base_lr = self.learning_rate_fn(self.iterations)
    updates = []
    for grad, variable in grads_and_vars:
      name = self._names[id(variable)]
      m, v = self._slots[name]
      lr = base_lr * self.lr_multipliers.get(name, 1.0)
      updates.append(strategy.extended.update(
          variable, self._update_one, args=(grad, m, v, lr, self._decays(name)), group=False))
    with tf.control_dependencies(tf.nest.flatten(updates)):
      return strategy.extended.update(self.iterations, lambda step: step.assign_add(1),
                                      group=True)

  def _update_one(self, variable, grad, m, v, lr, decays):
    next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
    next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
    update = next_m / (tf.sqrt(next_v) + self.epsilon)
    if decays:
      update += self.weight_decay_rate * variable
    return tf.group(m.assign(next_m), v.assign(next_v), variable.assign_sub(lr * update))
