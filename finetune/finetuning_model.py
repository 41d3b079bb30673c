"""The fine-tuning model: the shared discriminator encoder plus one head per task."""

import tensorflow as tf

from finetune import task as task_lib
from model import modeling


def bert_config_from(config):
  """The encoder config that `config` (a Finetuning- or PretrainingConfig) describes."""
  return modeling.BertConfig.from_dict(config.encoder_hparams())


class FinetuningModel(tf.Module):
  """`electra/...` encoder + `task_specific/<task>/...` heads.

  The loss follows the original: the SUM over the batch of each example's loss for its own task
  (padding records carry task_id = number of tasks and contribute nothing).
  """

  def __init__(self, config, tasks, compute_dtype=tf.float32):
    super().__init__(name=None)
    self.bert_config = bert_config_from(config)
    self.tasks = list(tasks)
    self.encoder = modeling.BertModel(self.bert_config, "electra", config.embedding_size,
                                      compute_dtype=compute_dtype)
    self.heads = [task.make_head(self.bert_config.hidden_size) for task in self.tasks]

  def all_variables(self):
    """{TF1 checkpoint name: variable} (the Trainer's model protocol)."""
    return modeling.named_variables(self)

  @property
  def trainable_variables(self):
    return self.all_variables()

  def _encode(self, features, training):
    return self.encoder(features["input_ids"], features["input_mask"], features["segment_ids"],
                        training=training)

  # The objective, as the original's, SUMS the per-example losses over the batch; the progress
  # lines and TensorBoard show it under this name, and each task's per-example mean as
  # "<task>_loss".
  LOSS_LABEL = "loss_sum_over_batch"

  def loss(self, features, training=True):
    hidden = self._encode(features, training)
    total = tf.constant(0.0)
    metrics = {}
    for task, head in zip(self.tasks, self.heads):
      in_task = tf.cast(tf.equal(features["task_id"], task.task_id), tf.float32)
      losses = head.loss(hidden, task_lib.own(task.name, features), training)
      task_loss = tf.reduce_sum(losses * in_task)
      metrics[f"{task.name}_loss"] = task_loss / tf.maximum(tf.reduce_sum(in_task), 1.0)
      total += task_loss
    # Loss contract (docs/ARCHITECTURE.md): gradients are averaged over replicas, so a SUM over
    # the global batch is this replica's sum times the number of replicas.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return total * replicas, metrics

  def predict(self, features):
    hidden = self._encode(features, training=False)
    outputs = {"task_id": features["task_id"]}
    if "valid" in features:
      outputs["valid"] = features["valid"]
    for task, head in zip(self.tasks, self.heads):
      outputs.update(task_lib.namespaced(
          task.name, head.predict(hidden, task_lib.own(task.name, features))))
    return outputs

  def serving_outputs(self, task, input_ids, input_mask, segment_ids):
    """`task`'s serving outputs (plain names) on int32 [B, L] inputs alone."""
    head = self.heads[self.tasks.index(task)]
    # A head may need a minimum length (the QA beam takes the top beam_size positions): shorter
    # inputs are zero-padded before the encoder and its per-position outputs cut back after.
    length = tf.shape(input_ids)[1]
    padding = [[0, 0], [0, tf.maximum(getattr(head, "min_sequence_length", 1) - length, 0)]]
    features = {"input_ids": tf.pad(input_ids, padding), "input_mask": tf.pad(input_mask, padding),
                "segment_ids": tf.pad(segment_ids, padding)}
    outputs = head.serving_outputs(self._encode(features, training=False), features)
    for key in getattr(head, "per_position_outputs", ()):
      outputs[key] = outputs[key][:, :length]
    return outputs
