"""Tagging head: one dense layer from every token's vector to the labels, as the original's
tagging task; only first sub-tokens (label_weights 1) count in the loss."""

import tensorflow as tf

from model import modeling


class TaggingHead(tf.Module):
  """A token classifier; its one variable scope is the original's."""

  def __init__(self, task_name, hidden_size, num_labels):
    super().__init__(name=None)
    # `task_specific/<task>/dense` [H, n_labels], Glorot-initialised as tf.layers.dense was.
    scope = f"task_specific/{task_name}/dense"
    self.dense = modeling.Dense(scope, hidden_size, num_labels, modeling.glorot_uniform)

  def logits(self, sequence_output):
    """[B, L, n_labels] (the original applies no dropout here)."""
    return tf.cast(self.dense(sequence_output), tf.float32)

  @staticmethod
  def _token_losses(logits, features):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=features["label_ids"], logits=logits) * tf.cast(features["label_weights"],
                                                                tf.float32)

  def loss(self, sequence_output, features, training):
    """Per-example loss [B]: the SUM of the labelled tokens' cross-entropies, as the original."""
    del training  # no dropout
    return tf.reduce_sum(self._token_losses(self.logits(sequence_output), features), axis=-1)

  def predict(self, sequence_output, features):
    logits = self.logits(sequence_output)
    return {
        "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32),
        "loss": tf.reduce_sum(self._token_losses(logits, features), axis=-1),
        "label_ids": features["label_ids"],
        "label_weights": features["label_weights"],
        "word_offset": features["word_offset"],
        "eid": features["eid"],
    }

  def serving_outputs(self, sequence_output, features):
    """Per token: logits and probabilities [B, L, n_labels], predictions [B, L]. The caller
    reads a word's label at its first sub-token."""
    del features
    logits = self.logits(sequence_output)
    return {"logits": logits, "probabilities": tf.nn.softmax(logits),
            "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32)}
