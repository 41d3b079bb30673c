"""Parsing batches of tf.train.Examples whose features are fixed-length integer lists."""

import tensorflow as tf


def parse_int_features(serialized, shapes):
  """{name: int32 tensor [batch, *shape]} from a batch of serialized tf.train.Examples.

  `serialized` is a [batch] string tensor and `shapes` maps each feature name to its fixed
  shape (a list of ints; [] for a scalar). The whole batch is parsed at once: one parse_example
  op is much cheaper than a parse_single_example per record. Examples store int64; the models
  (and TPUs and XLA) want int32.
  """
  spec = {name: tf.io.FixedLenFeature(list(shape), tf.int64) for name, shape in shapes.items()}
  parsed = tf.io.parse_example(serialized, spec)
  return {name: tf.cast(value, tf.int32) for name, value in parsed.items()}
