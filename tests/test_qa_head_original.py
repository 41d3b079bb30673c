"""The QA head's answerable classifier computes the original's formula on the original's layout.

The original (`qa_tasks.py`, answerable_uses_start_logits) feeds dense_2 with
concat([CLS] vector, sum_l softmax(start_logits)_l * h_l) and dense_3 with gelu(dense_2(.)):
a checkpoint it fine-tuned must give the same answerable logit here. The expected value below is
computed with NumPy from that formula alone, with the weights stored under the original's names.
"""

import math

import numpy as np
import tensorflow as tf

import configure_finetuning
from finetune.qa.head import QAHead
from model import modeling

H, L, INNER = 8, 7, 512
TASK = "cmrc2018"


def make_head(**overrides):
  values = dict(task_names=[TASK], beam_size=3, joint_prediction=True,
                answerable_classifier=True, answerable_uses_start_logits=True,
                answerable_weight=0.5)
  values.update(overrides)
  config = configure_finetuning.FinetuningConfig("electra-small", "unused-data-dir", **values)
  return QAHead(TASK, H, config)


def original_layout_weights(rng):
  """{original checkpoint name: value}; the two halves of dense_2's kernel differ in scale so
  that swapping them would change the logit by far more than the tolerance."""
  scope = f"task_specific/{TASK}"
  kernel_2 = np.concatenate([rng.normal(0, 0.3, [H, INNER]), rng.normal(0, 0.05, [H, INNER])])
  return {
      f"{scope}/dense/kernel": rng.normal(0, 1.0, [H, 1]),
      f"{scope}/dense/bias": rng.normal(0, 0.1, [1]),
      f"{scope}/dense_2/kernel": kernel_2,
      f"{scope}/dense_2/bias": rng.normal(0, 0.1, [INNER]),
      f"{scope}/dense_3/kernel": rng.normal(0, 0.2, [INNER, 1]),
      f"{scope}/dense_3/bias": rng.normal(0, 0.1, [1]),
  }


def features():
  input_mask = np.array([[1] * 6 + [0], [1] * 7])
  segment_ids = np.array([[0, 0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1, 1]])
  return {"input_mask": input_mask, "segment_ids": segment_ids,
          "start_positions": np.array([3, 0]), "end_positions": np.array([4, 0]),
          "is_impossible": np.array([0, 1]), "eid": np.array([0, 1])}


def gelu(x):
  erf = np.vectorize(math.erf)
  return x * 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def original_answerable_logit(weights, hidden, feats):
  """qa_tasks.py's answerable branch, written out in NumPy."""
  scope = f"task_specific/{TASK}"
  w = lambda name: weights[f"{scope}/{name}"]
  answer_mask = feats["input_mask"] * feats["segment_ids"]
  answer_mask[:, 0] += 1  # [CLS] may be an answer (no answer)
  start_logits = (hidden @ w("dense/kernel"))[..., 0] + w("dense/bias")[0]
  start_logits = start_logits - 1000.0 * (1 - answer_mask)
  start_p = np.exp(start_logits - start_logits.max(-1, keepdims=True))
  start_p /= start_p.sum(-1, keepdims=True)
  start_feature = (start_p[..., None] * hidden).sum(1)
  final_repr = np.concatenate([hidden[:, 0], start_feature], -1)
  inner = gelu(final_repr @ w("dense_2/kernel") + w("dense_2/bias"))
  return (inner @ w("dense_3/kernel"))[:, 0] + w("dense_3/bias")[0]


def load(head, weights):
  variables = modeling.named_variables(head)
  for name, value in weights.items():
    assert variables[name].shape.as_list() == list(value.shape), name
    variables[name].assign(value.astype(np.float32))


def test_answerable_logit_is_the_originals_on_its_layout():
  rng = np.random.default_rng(0)
  head = make_head()
  weights = original_layout_weights(rng)
  load(head, weights)
  hidden = rng.normal(0, 1.0, [2, L, H])
  feats = features()
  tf_feats = {key: tf.constant(value, tf.int32) for key, value in feats.items()}
  got = head.predict(tf.constant(hidden, tf.float32), tf_feats)["answerable_logit"].numpy()
  expected = original_answerable_logit(weights, hidden, feats)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  # The halves swapped (the layout a [start, CLS] head would read) give another logit.
  swapped = dict(weights)
  kernel = weights[f"task_specific/{TASK}/dense_2/kernel"]
  swapped[f"task_specific/{TASK}/dense_2/kernel"] = np.concatenate([kernel[H:], kernel[:H]])
  assert np.abs(original_answerable_logit(swapped, hidden, feats) - expected).max() > 1e-2


def test_loss_adds_the_weighted_sigmoid_loss_of_that_logit():
  rng = np.random.default_rng(1)
  weights = original_layout_weights(rng)
  hidden = rng.normal(0, 1.0, [2, L, H])
  feats = features()
  tf_feats = {key: tf.constant(value, tf.int32) for key, value in feats.items()}
  losses = {}
  for answerable_weight in (0.0, 0.5):
    head = make_head(answerable_weight=answerable_weight)
    load(head, weights)
    # The end network's variables are not part of the answerable branch: same values in both.
    for name, variable in modeling.named_variables(head).items():
      if name not in weights:
        variable.assign(np.full(variable.shape, 0.01, np.float32))
    losses[answerable_weight] = head.loss(tf.constant(hidden, tf.float32), tf_feats,
                                          training=False).numpy()
  logit = original_answerable_logit(weights, hidden, feats)
  label = feats["is_impossible"]
  sigmoid_xent = np.maximum(logit, 0) - logit * label + np.log1p(np.exp(-np.abs(logit)))
  np.testing.assert_allclose(losses[0.5] - losses[0.0], 0.5 * sigmoid_xent, rtol=1e-4,
                             atol=1e-4)
