"""Span-extraction head: start logits, end logits conditioned on the start (joint prediction,
beam search at inference) and an answerable classifier, as the original QA head.

Variables under `task_specific/<task>/`: `dense` (start), `qa_hidden` + `dense_1` (end, joint) or
`dense_1` (end, independent), then `dense_2` + `dense_3` for the answerable classifier.

The joint end network applies `qa_hidden` to concat(start_vector, token_vector). That dense layer
is split into its start half and token half, so the token half is computed once per sequence
instead of once per beam entry: the same maths with 1/beam of the work and memory.
"""

import tensorflow as tf

from model import modeling

QA_HIDDEN_SIZE = 512
OUTSIDE_ANSWER_PENALTY = 1000.0


class QAHead(tf.Module):

  def __init__(self, task_name, hidden_size, config):
    super().__init__(name=None)
    self.task_name = task_name
    self.hidden_size = hidden_size
    self.beam_size = config.beam_size
    self.joint_prediction = config.joint_prediction
    self.answerable_classifier = config.answerable_classifier
    self.answerable_uses_start_logits = config.answerable_uses_start_logits
    self.answerable_weight = config.answerable_weight
    scope = f"task_specific/{task_name}"
    dense = lambda name, n_in, n_out, act=None: modeling.Dense(
        f"{scope}/{name}", n_in, n_out, modeling.glorot_uniform, activation=act)
    self.start_dense = dense("dense", hidden_size, 1)
    if self.joint_prediction:
      self.qa_hidden = dense("qa_hidden", 2 * hidden_size, QA_HIDDEN_SIZE)
      self.end_dense = dense("dense_1", QA_HIDDEN_SIZE, 1)
    else:
      self.end_dense = dense("dense_1", hidden_size, 1)
    if self.answerable_classifier:
      if self.answerable_uses_start_logits:
        self.answerable_hidden = dense("dense_2", 2 * hidden_size, QA_HIDDEN_SIZE,
                                       modeling.gelu)
        self.answerable_dense = dense("dense_3", QA_HIDDEN_SIZE, 1)
      else:
        self.answerable_dense = dense("dense_2", hidden_size, 1)

  # -- pieces ------------------------------------------------------------------------------------

  @staticmethod
  def _answer_mask(features):
    """1 on context tokens and on [CLS] (position 0), 0 elsewhere."""
    mask = tf.cast(features["input_mask"], tf.float32) * tf.cast(features["segment_ids"],
                                                                   tf.float32)
    return mask + tf.one_hot(0, tf.shape(mask)[1])

  def _start_logits(self, hidden, answer_mask):
    logits = tf.cast(tf.squeeze(self.start_dense(hidden), -1), tf.float32)
    return logits - OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)

  def _joint_end_logits(self, hidden, start_vectors):
    """hidden [B, L, H], start_vectors [B, K, H] -> end logits [B, K, L] (unmasked)."""
    kernel = tf.cast(self.qa_hidden.kernel, hidden.dtype)
    bias = tf.cast(self.qa_hidden.bias, hidden.dtype)
    start_part = tf.einsum("bkh,hd->bkd", start_vectors, kernel[:self.hidden_size])
    token_part = tf.einsum("blh,hd->bld", hidden, kernel[self.hidden_size:])
    inner = modeling.gelu(start_part[:, :, tf.newaxis, :] + token_part[:, tf.newaxis] + bias)
    return tf.cast(tf.squeeze(self.end_dense(inner), -1), tf.float32)

  def _answerable_logit(self, hidden, start_logits):
    if self.answerable_uses_start_logits:
      start_probs = tf.cast(tf.nn.softmax(start_logits), hidden.dtype)
      start_vector = tf.einsum("bl,blh->bh", start_probs, hidden)
      inner = self.answerable_hidden(tf.concat([start_vector, hidden[:, 0]], axis=-1))
    else:
      inner = hidden[:, 0]
    return tf.cast(tf.squeeze(self.answerable_dense(inner), -1), tf.float32)

  # -- training and inference --------------------------------------------------------------------

  def loss(self, hidden, features, training):
    """Per-example loss [B]: mean of start/end cross-entropies (+ weighted answerable loss)."""
    del training  # The original QA head has no dropout of its own.
    name = self.task_name
    answer_mask = self._answer_mask(features)
    start_logits = self._start_logits(hidden, answer_mask)
    starts = features[f"{name}_start_positions"]
    if self.joint_prediction:
      gold_start = tf.gather(hidden, starts, batch_dims=1)[:, tf.newaxis]
      end_logits = self._joint_end_logits(hidden, gold_start)[:, 0]
    else:
      end_logits = tf.cast(tf.squeeze(self.end_dense(hidden), -1), tf.float32)
    end_logits -= OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits
    losses = (xent(labels=starts, logits=start_logits)
              + xent(labels=features[f"{name}_end_positions"], logits=end_logits)) / 2.0
    if self.answerable_classifier:
      losses += self.answerable_weight * tf.nn.sigmoid_cross_entropy_with_logits(
          labels=tf.cast(features[f"{name}_is_impossible"], tf.float32),
          logits=self._answerable_logit(hidden, start_logits))
    return losses

  def predict(self, hidden, features):
    name = self.task_name
    answer_mask = self._answer_mask(features)
    start_logits = self._start_logits(hidden, answer_mask)
    outputs = {f"{name}_eid": features[f"{name}_eid"]}
    if self.joint_prediction:
      beam = min(self.beam_size, hidden.shape[1] or self.beam_size)
      start_log_probs = tf.nn.log_softmax(start_logits)
      start_top_log_probs, start_top_index = tf.nn.top_k(start_log_probs, k=beam)
      start_vectors = tf.gather(hidden, start_top_index, batch_dims=1)
      end_logits = self._joint_end_logits(hidden, start_vectors)
      end_logits -= OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)[:, tf.newaxis]
      end_top_log_probs, end_top_index = tf.nn.top_k(tf.nn.log_softmax(end_logits), k=beam)
      outputs.update({f"{name}_start_top_log_probs": start_top_log_probs,
                      f"{name}_start_top_index": start_top_index,
                      f"{name}_end_top_log_probs": end_top_log_probs,
                      f"{name}_end_top_index": end_top_index})
    else:
      end_logits = tf.cast(tf.squeeze(self.end_dense(hidden), -1), tf.float32)
      end_logits -= OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)
      outputs.update({f"{name}_start_logits": start_logits, f"{name}_end_logits": end_logits})
    if self.answerable_classifier:
      outputs[f"{name}_answerable_logit"] = self._answerable_logit(hidden, start_logits)
    return outputs
