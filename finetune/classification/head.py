"""Classification head: dropout on the [CLS] vector, then one dense layer to the labels."""

import tensorflow as tf

from model import modeling

# The original applies dropout with keep probability 0.9 to the [CLS] vector while training.
CLS_DROPOUT = 0.1


class ClassificationHead(tf.Module):
  """`task_specific/<task>/dense` [H, n_labels] (Glorot init, as tf.layers' default)."""

  def __init__(self, task_name, hidden_size, num_labels):
    super().__init__(name=None)
    self.task_name = task_name
    self.dense = modeling.Dense(f"task_specific/{task_name}/dense", hidden_size, num_labels,
                                modeling.glorot_uniform)

  def logits(self, sequence_output, training):
    cls = modeling.dropout(sequence_output[:, 0], CLS_DROPOUT, training)
    return tf.cast(self.dense(cls), tf.float32)

  def loss(self, sequence_output, features, training):
    """Per-example softmax cross-entropy [B]."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=features["label_ids"], logits=self.logits(sequence_output, training))

  def predict(self, sequence_output, features):
    logits = self.logits(sequence_output, training=False)
    labels = features["label_ids"]
    return {
        "logits": logits,
        "probabilities": tf.nn.softmax(logits),
        "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32),
        "loss": tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
        "label_ids": labels,
        "eid": features["eid"],
    }

  def serving_outputs(self, sequence_output, features):
    """`logits` and `probabilities` [B, n_labels]."""
    del features  # The [CLS] vector is all the head reads.
    logits = self.logits(sequence_output, training=False)
    return {"logits": logits, "probabilities": tf.nn.softmax(logits)}
