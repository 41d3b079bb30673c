"""A tiny regression model and data for the training-loop tests: a `tf.Module` with TF1-style
names that follows the Trainer's model protocol, its input functions, and helpers."""

import time

import numpy as np
import tensorflow as tf

import configure_pretraining
from model import optimization
from util import training

NUM_EXAMPLES = 64
GLOBAL_BATCH = 8


class TinyRegressor(tf.Module):
  """A one-hidden-layer MLP with TF1-style names, implementing the Trainer's model protocol."""

  def __init__(self, in_dim=4, hidden=8, seed=0, scope="tiny"):
    super().__init__(name=None)
    rng = np.random.RandomState(seed)  # The same seed gives the same weights in every process.
    self._trainable = {
        f"{scope}/dense/kernel": rng.normal(0, 0.5, [in_dim, hidden]),
        f"{scope}/dense/bias": np.zeros([hidden]),
        f"{scope}/output/kernel": rng.normal(0, 0.5, [hidden, 1]),
        f"{scope}/output/bias": np.zeros([1])}
    self._trainable = {name: tf.Variable(value.astype(np.float32), name=name)
                       for name, value in self._trainable.items()}
    # Non-trainable state, to check that checkpoints hold more than the trained variables.
    self.scale = tf.Variable(1.0, trainable=False, name=f"{scope}/output_scale")
    self.scope = scope

  @property
  def trainable_variables(self):
    return dict(self._trainable)

  def all_variables(self):
    return dict(self._trainable, **{f"{self.scope}/output_scale": self.scale})

  def __call__(self, x):
    v = self._trainable
    hidden = tf.nn.relu(x @ v[f"{self.scope}/dense/kernel"] + v[f"{self.scope}/dense/bias"])
    output = hidden @ v[f"{self.scope}/output/kernel"] + v[f"{self.scope}/output/bias"]
    return output[:, 0] * self.scale

  def loss(self, features, training):
    del training  # No dropout.
    predictions = self(features["x"])
    loss = tf.reduce_mean(tf.square(predictions - features["y"]))
    return loss, {"mean_prediction": tf.reduce_mean(predictions)}

  def predict(self, features):
    return {"prediction": self(features["x"]), "id": features["id"]}

  def eval_metrics(self, features):
    errors = tf.square(self(features["x"]) - features["y"])
    return {"squared_error": errors, "id": features["id"], "batch_size": tf.size(errors)}


def regression_data(nan_at=None):
  """y = x . w_true; example `nan_at` (if given) has a NaN target, so its loss is NaN."""
  rng = np.random.RandomState(1)
  x = rng.normal(size=[NUM_EXAMPLES, 4]).astype(np.float32)
  y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32)).astype(np.float32)
  if nan_at is not None:
    y[nan_at] = np.nan
  return {"x": x, "y": y, "id": np.arange(NUM_EXAMPLES, dtype=np.int64)}


def train_input_fn(nan_at=None, sleep_secs=0.0):
  def input_fn(input_context):
    dataset = tf.data.Dataset.from_tensor_slices(regression_data(nan_at))
    dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if sleep_secs:  # Slows training down so that a test can kill it midway.
      dataset = dataset.map(lambda f: _sleep_then(f, sleep_secs))
    batch = input_context.get_per_replica_batch_size(GLOBAL_BATCH)
    return dataset.repeat().batch(batch, drop_remainder=True)
  return input_fn


def _sleep_then(features, secs):
  done = tf.py_function(lambda: time.sleep(secs) or True, [], tf.bool)
  with tf.control_dependencies([done]):
    return {name: tf.identity(value) for name, value in features.items()}


def eval_input_fn(batch_size=4):
  def input_fn(input_context):
    del input_context
    return tf.data.Dataset.from_tensor_slices(regression_data()).batch(batch_size)
  return input_fn


def make_trainer(strategy, model_dir, input_fn=None, learning_rate=0.05, **kwargs):
  with strategy.scope():
    model = TinyRegressor()
    optimizer = optimization.AdamWeightDecay(lambda step: tf.constant(learning_rate))
  return training.Trainer(strategy, model, optimizer, input_fn or train_input_fn(), model_dir,
                          **kwargs)


def one_device():
  return tf.distribute.OneDeviceStrategy("/cpu:0")


def full_data_loss(model):
  data = regression_data()
  return float(tf.reduce_mean(tf.square(model(data["x"]) - data["y"])))


def variables_as_numpy(trainer):
  return {name: tf.convert_to_tensor(v).numpy()
          for name, v in trainer.checkpoint_variables().items()}


def run_config(strategy):
  """A real run config choosing `strategy` (set directly: "bogus" must reach get_strategy)."""
  config = configure_pretraining.PretrainingConfig("MODEL_NAME", "DATA_DIR")
  config.strategy = strategy
  return config
