"""Fine-tuning heads: checkpoint names, the original's maths, and output shapes."""

import numpy as np
import tensorflow as tf

import configure_finetuning
from finetune.classification.head import ClassificationHead
from finetune.qa.head import QAHead
from model import modeling

H, L = 8, 6


def qa_config(**overrides):
  values = dict(task_names=["cmrc2018"], beam_size=3, joint_prediction=True,
                answerable_classifier=True, answerable_uses_start_logits=True,
                answerable_weight=0.5)
  values.update(overrides)
  return configure_finetuning.FinetuningConfig("electra-small", "unused-data-dir", **values)


def qa_features():
  return {"input_mask": tf.constant([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]),
          "segment_ids": tf.constant([[0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]]),
          "start_positions": tf.constant([2, 0]),
          "end_positions": tf.constant([3, 0]),
          "is_impossible": tf.constant([0, 0]),
          "eid": tf.constant([7, 8])}


def names_of(module):
  return {n: v.shape.as_list() for n, v in modeling.named_variables(module).items()}


def test_qa_head_names_match_the_original_joint_layout():
  names = names_of(QAHead("cmrc2018", H, qa_config()))
  assert names == {
      "task_specific/cmrc2018/dense/kernel": [H, 1], "task_specific/cmrc2018/dense/bias": [1],
      "task_specific/cmrc2018/qa_hidden/kernel": [2 * H, 512],
      "task_specific/cmrc2018/qa_hidden/bias": [512],
      "task_specific/cmrc2018/dense_1/kernel": [512, 1], "task_specific/cmrc2018/dense_1/bias": [1],
      "task_specific/cmrc2018/dense_2/kernel": [2 * H, 512],
      "task_specific/cmrc2018/dense_2/bias": [512],
      "task_specific/cmrc2018/dense_3/kernel": [512, 1], "task_specific/cmrc2018/dense_3/bias": [1]}


def test_split_qa_hidden_equals_dense_on_the_concatenation():
  tf.random.set_seed(0)
  head = QAHead("cmrc2018", H, qa_config())
  hidden = tf.random.normal([2, L, H])
  starts = tf.random.normal([2, 3, H])
  got = head._joint_end_logits(hidden, starts).numpy()
  concat = tf.concat([tf.tile(starts[:, :, None], [1, 1, L, 1]),
                      tf.tile(hidden[:, None], [1, 3, 1, 1])], axis=-1)
  want = tf.squeeze(head.end_dense(modeling.gelu(head.qa_hidden(concat))), -1).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_qa_predictions_only_point_into_context_or_cls():
  tf.random.set_seed(1)
  head = QAHead("cmrc2018", H, qa_config())
  features = qa_features()
  out = head.predict(tf.random.normal([2, L, H]), features)
  assert out["start_top_index"].shape == (2, 3)
  assert out["end_top_log_probs"].shape == (2, 3, 3)
  allowed = (features["input_mask"] * features["segment_ids"]).numpy()
  allowed[:, 0] = 1
  for b in range(2):
    for index in np.concatenate([out["start_top_index"][b].numpy().ravel(),
                                 out["end_top_index"][b].numpy().ravel()]):
      assert allowed[b, index] == 1
  # Beams are sorted log-probabilities.
  lp = out["start_top_log_probs"].numpy()
  assert (np.diff(lp, axis=1) <= 0).all() and (lp <= 0).all()


def test_qa_loss_is_half_start_plus_end_plus_weighted_answerable():
  tf.random.set_seed(2)
  head = QAHead("cmrc2018", H, qa_config(answerable_weight=0.0))
  features = qa_features()
  hidden = tf.random.normal([2, L, H])
  loss = head.loss(hidden, features, training=True).numpy()
  mask = head._answer_mask(features)
  start = head._start_logits(hidden, mask)
  gold = tf.gather(hidden, features["start_positions"], batch_dims=1)[:, None]
  end = head._joint_end_logits(hidden, gold)[:, 0] - 1000.0 * (1 - mask)
  xent = lambda logits, labels: -tf.nn.log_softmax(logits).numpy()[np.arange(2), labels]
  want = (xent(start, [2, 0]) + xent(end, [3, 0])) / 2
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  weighted = QAHead("drcd", H, qa_config())
  assert weighted.loss(hidden, {**features, **{k.replace("cmrc2018", "drcd"): v
                                               for k, v in features.items()}}, True).shape == (2,)


def test_independent_end_head_variant():
  head = QAHead("drcd", H, qa_config(joint_prediction=False, answerable_classifier=False))
  assert set(names_of(head)) == {"task_specific/drcd/dense/kernel", "task_specific/drcd/dense/bias",
                                 "task_specific/drcd/dense_1/kernel",
                                 "task_specific/drcd/dense_1/bias"}
  features = {k.replace("cmrc2018", "drcd"): v for k, v in qa_features().items()}
  out = head.predict(tf.random.normal([2, L, H]), features)
  assert out["start_logits"].shape == (2, L)


def test_classification_head_names_loss_and_predictions():
  tf.random.set_seed(3)
  head = ClassificationHead("xnli", H, 3)
  assert names_of(head) == {"task_specific/xnli/dense/kernel": [H, 3],
                            "task_specific/xnli/dense/bias": [3]}
  hidden = tf.random.normal([4, L, H])
  features = {"label_ids": tf.constant([0, 1, 2, 1]), "eid": tf.range(4)}
  loss = head.loss(hidden, features, training=False).numpy()
  out = head.predict(hidden, features)
  np.testing.assert_allclose(loss, out["loss"].numpy(), rtol=1e-6)
  np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-6)
  assert (out["predictions"].numpy() == out["logits"].numpy().argmax(-1)).all()
