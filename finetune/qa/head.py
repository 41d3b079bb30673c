"""Span-extraction head: start logits, end logits conditioned on the start (joint prediction,
beam search at inference) and an answerable classifier, as the original QA head.

Variables under `task_specific/<task>/`: `dense` (start), `qa_hidden` + `dense_1` (end, joint) or
`dense_1` (end, independent), then `dense_2` + `dense_3` for the answerable classifier, which
reads concat([CLS] vector, start-weighted vector) in that order, as the original (`qa_tasks.py`),
so a QA checkpoint fine-tuned by the original code loads with its `dense_2` kernel's halves where
this head expects them.

The joint end network applies `qa_hidden` to concat(start_vector, token_vector). That dense layer
is split into its start half and token half, so the token half is computed once per sequence
instead of once per beam entry: the same maths with 1/beam of the work and memory.
"""

import tensorflow as tf

from model import fused_ops
from model import modeling

QA_HIDDEN_SIZE = 512
OUTSIDE_ANSWER_PENALTY = 1000.0


def _end_logits(start_part, token_part, bias, end_kernel, end_bias):
  """gelu(start_part[b, k] + token_part[b, l] + bias) . end_kernel + end_bias -> [B, K, L],
  float32 (computed in float32 from inputs in the compute dtype).

  One XLA-fused function: at inference the [B, K, L, 512] inner activations (K = beam size 20,
  L = 512: 168M values, 671 MB in float32 per batch of 32) are reduced as they are produced
  instead of being written out, GELU'd and read back by a [.., 512] x [512, 1] product.
  """
  width = bias.shape[0]
  chunks = width // 32 if width % 32 == 0 else 1
  # [.., width] as [.., chunks, 32]: reductions of at most 32 values, which XLA's CPU backend
  # fuses with the GELU that produces them (a longer one it first splits, materialising the
  # product); and a reduction rather than a matrix product, which could not fuse either.
  start_part = tf.reshape(tf.cast(start_part, tf.float32), tf.concat(
      [tf.shape(start_part)[:2], [1, chunks, width // chunks]], 0))
  token_part = tf.reshape(tf.cast(token_part, tf.float32), tf.concat(
      [tf.shape(token_part)[:1], [1], tf.shape(token_part)[1:2], [chunks, width // chunks]], 0))
  bias = tf.reshape(bias, [chunks, width // chunks])
  end_kernel = tf.reshape(end_kernel, [chunks, width // chunks])
  inner = modeling.gelu(start_part + token_part + bias)  # [B, K, L, chunks, width / chunks]
  partial = tf.reduce_sum(inner * end_kernel, axis=-1)
  return tf.reduce_sum(partial, axis=-1) + end_bias[0]


_END_LOGITS = fused_ops.Fused(_end_logits)


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
    # Serving (FinetuningModel.serving_outputs): the beam needs beam_size positions.
    self.min_sequence_length = self.beam_size if self.joint_prediction else 1
    self.per_position_outputs = ("start_logits", "end_logits")
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
    start_part = modeling.matmul_last_axis(start_vectors, kernel[:self.hidden_size])
    token_part = modeling.matmul_last_axis(hidden, kernel[self.hidden_size:])
    return _END_LOGITS(start_part, token_part, tf.convert_to_tensor(self.qa_hidden.bias),
                       tf.convert_to_tensor(self.end_dense.kernel),
                       tf.convert_to_tensor(self.end_dense.bias))

  def _answerable_logit(self, hidden, start_logits):
    if self.answerable_uses_start_logits:
      start_probs = tf.cast(tf.nn.softmax(start_logits), hidden.dtype)
      start_vector = tf.einsum("bl,blh->bh", start_probs, hidden)
      inner = self.answerable_hidden(tf.concat([hidden[:, 0], start_vector], axis=-1))
    else:
      inner = hidden[:, 0]
    return tf.cast(tf.squeeze(self.answerable_dense(inner), -1), tf.float32)

  # -- training and inference --------------------------------------------------------------------

  def loss(self, hidden, features, training):
    """Per-example loss [B]: mean of start/end cross-entropies (+ weighted answerable loss)."""
    del training  # The original QA head has no dropout of its own.
    answer_mask = self._answer_mask(features)
    start_logits = self._start_logits(hidden, answer_mask)
    starts = features["start_positions"]
    if self.joint_prediction:
      gold_start = tf.gather(hidden, starts, batch_dims=1)[:, tf.newaxis]
      end_logits = self._joint_end_logits(hidden, gold_start)[:, 0]
    else:
      end_logits = tf.cast(tf.squeeze(self.end_dense(hidden), -1), tf.float32)
    end_logits -= OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)
    xent = tf.nn.sparse_softmax_cross_entropy_with_logits
    losses = (xent(labels=starts, logits=start_logits)
              + xent(labels=features["end_positions"], logits=end_logits)) / 2.0
    if self.answerable_classifier:
      losses += self.answerable_weight * tf.nn.sigmoid_cross_entropy_with_logits(
          labels=tf.cast(features["is_impossible"], tf.float32),
          logits=self._answerable_logit(hidden, start_logits))
    return losses

  def predict(self, hidden, features):
    answer_mask = self._answer_mask(features)
    start_logits = self._start_logits(hidden, answer_mask)
    outputs = {"eid": features["eid"]}
    if self.joint_prediction:
      outputs.update(self._beams(hidden, start_logits, answer_mask))
    else:
      end_logits = tf.cast(tf.squeeze(self.end_dense(hidden), -1), tf.float32)
      end_logits -= OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)
      outputs.update({"start_logits": start_logits, "end_logits": end_logits})
    if self.answerable_classifier:
      outputs["answerable_logit"] = self._answerable_logit(hidden, start_logits)
    return outputs

  def _beams(self, hidden, start_logits, answer_mask):
    """The joint head's beam search: the `beam` best starts and, for each, the best ends."""
    beam = min(self.beam_size, hidden.shape[1] or self.beam_size)
    start_top_log_probs, start_top_index = tf.nn.top_k(tf.nn.log_softmax(start_logits), k=beam)
    start_vectors = tf.gather(hidden, start_top_index, batch_dims=1)
    end_logits = self._joint_end_logits(hidden, start_vectors)
    end_logits -= OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)[:, tf.newaxis]
    end_top_log_probs, end_top_index = tf.nn.top_k(tf.nn.log_softmax(end_logits), k=beam)
    return {"start_top_log_probs": start_top_log_probs, "start_top_index": start_top_index,
            "end_top_log_probs": end_top_log_probs, "end_top_index": end_top_index}

  def serving_outputs(self, hidden, features):
    """`start_logits` [B, L] (masked to the context and [CLS]) and `end_logits` [B, L] -- for
    the joint head, the end logits given the best start -- plus the head's own outputs: the
    joint head's beams `start_top_log_probs` / `start_top_index` [B, K] and
    `end_top_log_probs` / `end_top_index` [B, K, K]; `answerable_logit` [B] with the answerable
    classifier. `features` holds only input_ids, input_mask and segment_ids."""
    batch_size = tf.shape(features["input_ids"])[:1]
    outputs = self.predict(hidden, dict(features, eid=tf.zeros(batch_size, tf.int32)))
    del outputs["eid"]
    if self.joint_prediction:
      # The head's own pieces, so that these logits are exactly the ones its beams come from.
      answer_mask = self._answer_mask(features)
      start_logits = self._start_logits(hidden, answer_mask)
      best_start = tf.argmax(start_logits, axis=-1, output_type=tf.int32)[:, tf.newaxis]
      start_vector = tf.gather(hidden, best_start, batch_dims=1)
      end_logits = self._joint_end_logits(hidden, start_vector)[:, 0]
      outputs["start_logits"] = start_logits
      outputs["end_logits"] = end_logits - OUTSIDE_ANSWER_PENALTY * (1.0 - answer_mask)
    return outputs
