"""Learning-rate schedule, layer-wise decay and the AdamW update against hand computations."""

import numpy as np
import pytest
import tensorflow as tf

from model import optimization


@pytest.mark.parametrize("step,expected", [
    (0, 0.0), (5, 1e-3 * 0.5 * 0.95), (10, 1e-3 * 0.9), (55, 1e-3 * 0.45), (100, 0.0), (150, 0.0)])
def test_linear_warmup_then_linear_decay(step, expected):
  lr = optimization.learning_rate(step, 1e-3, num_train_steps=100, num_warmup_steps=10)
  assert float(lr) == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_polynomial_power():
  lr = optimization.learning_rate(50, 1.0, num_train_steps=100, num_warmup_steps=0, power=2.0)
  assert float(lr) == pytest.approx(0.25)


NAMES = ["electra/embeddings/word_embeddings", "electra/embeddings_project/kernel",
         "electra/encoder/layer_0/output/dense/kernel",
         "electra/encoder/layer_11/attention/self/query/bias", "task_specific/xnli/dense/kernel"]


def test_layerwise_rates_corrected_by_default():
  rates = optimization.layerwise_lr_multipliers(NAMES, num_layers=12, decay=0.8)
  assert rates["task_specific/xnli/dense/kernel"] == 1.0
  assert rates["electra/encoder/layer_11/attention/self/query/bias"] == pytest.approx(0.8)
  assert rates["electra/encoder/layer_0/output/dense/kernel"] == pytest.approx(0.8 ** 12)
  assert rates["electra/embeddings/word_embeddings"] == pytest.approx(0.8 ** 13)
  assert rates["electra/embeddings_project/kernel"] == pytest.approx(0.8 ** 13)


def test_layerwise_rates_legacy_top_layer_quirk():
  rates = optimization.layerwise_lr_multipliers(NAMES, 12, 0.8, legacy_top_layer=True)
  # The original: 3e-4 for heads, 3e-4 * 0.8^2 for layer_11, 3e-4 * 0.8^14 for embeddings.
  assert rates["electra/encoder/layer_11/attention/self/query/bias"] == pytest.approx(0.8 ** 2)
  assert rates["electra/encoder/layer_0/output/dense/kernel"] == pytest.approx(0.8 ** 13)
  assert rates["electra/embeddings/word_embeddings"] == pytest.approx(0.8 ** 14)


def test_layerwise_rates_reject_unknown_variable():
  with pytest.raises(ValueError, match="generator_predictions"):
    optimization.layerwise_lr_multipliers(["generator_predictions/output_bias"], 12, 0.8)


def reference_adamw(params, grads_seq, lr_fn, wd, decays, clip=1.0, b1=0.9, b2=0.999, eps=1e-6):
  """The original update in NumPy: no bias correction, decoupled decay, global-norm clip."""
  params = {k: v.copy() for k, v in params.items()}
  m = {k: np.zeros_like(v) for k, v in params.items()}
  v2 = {k: np.zeros_like(v) for k, v in params.items()}
  for step, grads in enumerate(grads_seq):
    norm = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    scale = clip / max(norm, clip)
    for k in params:
      g = grads[k] * scale
      m[k] = b1 * m[k] + (1 - b1) * g
      v2[k] = b2 * v2[k] + (1 - b2) * g * g
      update = m[k] / (np.sqrt(v2[k]) + eps)
      if decays[k]:
        update += wd * params[k]
      params[k] -= lr_fn(step) * update
  return params


def test_adamw_matches_reference_with_clipping_and_decay_exclusion():
  rng = np.random.default_rng(0)
  init = {"a/kernel": rng.normal(size=(3, 2)).astype(np.float32),
          "a/bias": rng.normal(size=(2,)).astype(np.float32),
          "a/LayerNorm/gamma": rng.normal(size=(2,)).astype(np.float32)}
  grads_seq = [{k: (rng.normal(size=v.shape) * 3).astype(np.float32) for k, v in init.items()}
               for _ in range(3)]
  variables = {k: tf.Variable(v, name=k) for k, v in init.items()}
  lr_fn = lambda step: optimization.learning_rate(step, 0.1, 10, 2)
  opt = optimization.AdamWeightDecay(lr_fn, weight_decay_rate=0.01)
  opt.build(variables)
  for grads in grads_seq:
    opt.apply_gradients([(tf.constant(grads[k]), variables[k]) for k in variables])
  decays = {"a/kernel": True, "a/bias": False, "a/LayerNorm/gamma": False}
  want = reference_adamw(init, grads_seq, lambda s: float(lr_fn(s)), 0.01, decays)
  for k in init:
    np.testing.assert_allclose(variables[k].numpy(), want[k], rtol=1e-5, atol=1e-6)
  assert int(opt.iterations.numpy()) == 3


def test_lr_multipliers_scale_the_step():
  a = tf.Variable([1.0], name="x/kernel")
  b = tf.Variable([1.0], name="y/kernel")
  opt = optimization.AdamWeightDecay(lambda s: 0.1, lr_multipliers={"y/kernel": 0.5}, clip_norm=0)
  opt.build({"x/kernel": a, "y/kernel": b})
  opt.apply_gradients([(tf.constant([0.1]), a), (tf.constant([0.1]), b)])
  # First step without bias correction: m = 0.1 g, v = 0.001 g^2, update = m / (sqrt(v) + eps).
  step = 0.01 / (np.sqrt(1e-5) + 1e-6)
  np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [1 - 0.1 * step, 1 - 0.05 * step],
                             rtol=1e-4)


def test_slot_and_step_names():
  v = tf.Variable(tf.zeros([2]), name="electra/encoder/layer_0/output/dense/bias")
  opt = optimization.AdamWeightDecay(lambda s: 0.1)
  opt.build({"electra/encoder/layer_0/output/dense/bias": v})
  names = {n: var.name for n, var in opt.slot_variables().items()}
  assert names == {
      "global_step": "global_step:0",
      "electra/encoder/layer_0/output/dense/bias/adam_m":
          "electra/encoder/layer_0/output/dense/bias/adam_m:0",
      "electra/encoder/layer_0/output/dense/bias/adam_v":
          "electra/encoder/layer_0/output/dense/bias/adam_v:0"}


def test_sparse_gradients_from_gather_are_applied():
  table = tf.Variable(tf.ones([4, 2]), name="electra/embeddings/word_embeddings")
  opt = optimization.AdamWeightDecay(lambda s: 0.1, clip_norm=0)
  opt.build({"electra/embeddings/word_embeddings": table})
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.gather(table, [1, 1, 3]))
  opt.apply_gradients([(tape.gradient(loss, table), table)])
  moved = np.abs(table.numpy() - 1.0).sum(axis=1) > 0
  assert moved.tolist() == [False, True, False, True]


def test_update_under_tf_function_and_mirrored_strategy():
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  with strategy.scope():
    w = tf.Variable([2.0], name="w/kernel")
    opt = optimization.AdamWeightDecay(lambda s: 0.5, clip_norm=0)
    opt.build({"w/kernel": w})

  @tf.function
  def step():
    def replica_fn():
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w)
      grad = tf.distribute.get_replica_context().all_reduce("mean", tape.gradient(loss, w))
      opt.apply_gradients([(grad, w)])
    strategy.run(replica_fn)

  step()
  step()
  assert int(opt.iterations.numpy()) == 2
  assert w.numpy()[0] < 2.0
