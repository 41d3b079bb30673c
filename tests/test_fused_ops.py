"""The encoder's fused pieces (model/fused_ops.py) against the same maths written as plain ops.

Each fused piece has a hand-written backward pass; these tests compare its outputs and every
gradient with TensorFlow's automatic differentiation of the plain formula, with the same
dropout mask (the hashed mask is a pure function of the shape, seed and rate).
"""

import numpy as np
import pytest
import tensorflow as tf

from model import fused_ops
from model import modeling

RATE = 0.25
SEED = tf.constant([1234, 5678], tf.int32)


def _keep(shape, rate):
  if rate == 0.0:
    return tf.ones(shape, tf.bool)
  return fused_ops._keep_mask(tf.constant(shape), SEED, rate)  # pylint: disable=protected-access


def _plain_dropout(x, rate):
  return tf.where(_keep(x.shape, rate), x / (1.0 - rate), tf.zeros_like(x))


def _plain_layer_norm(h, gamma, beta):
  mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
  return (h - mean) * tf.math.rsqrt(variance + fused_ops.LAYER_NORM_EPSILON) * gamma + beta


def _outputs_and_gradients(fn, inputs, upstream_seed=0):
  """fn(*inputs) and the gradient of sum(fn * random upstream) with respect to every input."""
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    y = fn(*inputs)
    upstream = tf.random.stateless_normal(y.shape, [upstream_seed, 1])
    objective = tf.reduce_sum(y * upstream)
  return y, tape.gradient(objective, inputs)


def _assert_same(fused, plain, inputs, atol=2e-5):
  y_fused, g_fused = _outputs_and_gradients(fused, inputs)
  y_plain, g_plain = _outputs_and_gradients(plain, inputs)
  np.testing.assert_allclose(y_fused.numpy(), y_plain.numpy(), atol=atol, rtol=1e-4)
  for index, (a, b) in enumerate(zip(g_fused, g_plain)):
    assert a is not None, f"no gradient for input {index}"
    np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), b.numpy(), atol=atol,
                               rtol=1e-4, err_msg=f"gradient of input {index}")


def _normal(shape, seed):
  return tf.random.stateless_normal(shape, [seed, 7])


@pytest.mark.parametrize("rate", [0.0, RATE])
def test_residual_layer_norm(rate):
  tokens, width = 24, 16
  inputs = [_normal([tokens, width], 1), _normal([width], 2), _normal([tokens, width], 3),
            1.0 + 0.1 * _normal([width], 4), _normal([width], 5)]
  op = fused_ops._residual_layer_norm_op(rate)  # pylint: disable=protected-access
  fused = lambda x, bias, residual, gamma, beta: op(x, bias, residual, gamma, beta, SEED)
  plain = lambda x, bias, residual, gamma, beta: _plain_layer_norm(
      _plain_dropout(x + bias, rate) + residual, gamma, beta)
  _assert_same(fused, plain, inputs)


def test_layer_norm():
  inputs = [_normal([3, 5, 16], 1), 1.0 + 0.1 * _normal([16], 2), _normal([16], 3)]
  fused = fused_ops.layer_norm  # pylint: disable=protected-access
  _assert_same(fused, _plain_layer_norm, inputs)


@pytest.mark.parametrize("rate", [0.0, RATE])
def test_attention_probs(rate):
  scores = 3.0 * _normal([2, 3, 8, 8], 1)
  mask = tf.constant([[1] * 8, [1] * 5 + [0] * 3], tf.float32)
  mask_adder = ((1.0 - mask) * modeling.ATTENTION_MASK_ADDER)[:, tf.newaxis, tf.newaxis, :]
  op = fused_ops._attention_probs_op(rate)  # pylint: disable=protected-access
  fused = lambda s: op(s, mask_adder, SEED)
  plain = lambda s: _plain_dropout(tf.nn.softmax(s + mask_adder, axis=-1), rate)
  _assert_same(fused, plain, [scores])


def test_bias_gelu():
  inputs = [2.0 * _normal([32, 24], 1), _normal([24], 2)]
  fused = lambda x, bias: modeling.bias_activation(x, bias, modeling.gelu)
  plain = lambda x, bias: modeling.gelu(x + bias)
  _assert_same(fused, plain, inputs)


def test_split_heads():
  batch, length, parts, heads, size = 2, 5, 3, 4, 8
  inputs = [_normal([batch, length, parts * heads * size], 1), _normal([parts * heads * size], 2)]
  fused = lambda x, bias: fused_ops.split_heads(x, bias, parts, heads)
  plain = lambda x, bias: tf.transpose(
      tf.reshape(x + bias, [batch, length, parts, heads, size]), [2, 0, 3, 1, 4])
  _assert_same(fused, plain, inputs)


def test_fused_dropout():
  op = fused_ops._dropout_op(RATE)  # pylint: disable=protected-access
  _assert_same(lambda x: op(x, SEED), lambda x: _plain_dropout(x, RATE), [_normal([40, 16], 1)])


def test_keep_mask_rate_and_independence():
  shape = tf.constant([1000, 1000])
  first = fused_ops._keep_mask(shape, SEED, 0.1).numpy()  # pylint: disable=protected-access
  second = fused_ops._keep_mask(  # pylint: disable=protected-access
      shape, tf.constant([1234, 5679]), 0.1).numpy()
  assert abs(first.mean() - 0.9) < 0.002
  # Two seeds give masks that agree only as often as independent ones would.
  assert abs((first == second).mean() - (0.9 ** 2 + 0.1 ** 2)) < 0.003


def test_bfloat16_conversions_match_tf_cast():
  values = tf.concat([_normal([10000], 1) * 100.0,
                      tf.constant([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 3.0e38])], 0)
  as_bfloat16 = fused_ops._from_float32(values, tf.bfloat16)  # pylint: disable=protected-access
  expected = tf.cast(values, tf.bfloat16)
  np.testing.assert_array_equal(tf.cast(as_bfloat16, tf.float32).numpy(),
                                tf.cast(expected, tf.float32).numpy())
  np.testing.assert_array_equal(
      fused_ops._to_float32(expected).numpy(),  # pylint: disable=protected-access
      tf.cast(expected, tf.float32).numpy())
