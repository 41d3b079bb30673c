"""Pre-training evaluation metrics as additive per-batch sums, aggregated in numpy.

Each batch yields sums (counts, weighted sums, per-threshold confusion counts) that simply add up
over batches and replicas; `aggregate_eval_metrics` turns their totals into the original's
metrics (masked_lm_accuracy, masked_lm_loss, sampled_masked_lm_accuracy, disc_loss, disc_auc,
disc_accuracy, disc_precision, disc_recall) with tf.compat.v1.metrics semantics.
"""

import numpy as np
import tensorflow as tf

# tf.compat.v1.metrics.auc defaults: 200 thresholds, ROC curve, trapezoidal rule.
NUM_AUC_THRESHOLDS = 200
_AUC_EPSILON = 1e-7


def auc_thresholds(num_thresholds=NUM_AUC_THRESHOLDS):
  """Evenly spaced in (0, 1) plus just below 0 and just above 1, as tf.metrics.auc."""
  inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
  return np.array([-_AUC_EPSILON] + inner + [1.0 + _AUC_EPSILON], np.float32)


def confusion_at_thresholds(labels, scores, num_thresholds=NUM_AUC_THRESHOLDS):
  """{auc_tp, auc_fp, auc_tn, auc_fn}: [T] counts with "positive" meaning score > threshold."""
  labels = tf.reshape(tf.cast(labels, tf.bool), [-1, 1])
  scores = tf.reshape(tf.cast(scores, tf.float32), [-1, 1])
  predicted = scores > tf.constant(auc_thresholds(num_thresholds))[tf.newaxis, :]

  def count(condition):
    return tf.reduce_sum(tf.cast(condition, tf.float32), axis=0)

  return {"auc_tp": count(labels & predicted), "auc_fp": count(~labels & predicted),
          "auc_tn": count(~labels & ~predicted), "auc_fn": count(labels & ~predicted)}


def mlm_sums(masked_lm_ids, masked_lm_weights, mlm_preds, mlm_losses, sampled_ids=None):
  """Additive statistics of the generator over one batch; all arguments are [B, N] per slot."""
  weights = tf.cast(masked_lm_weights, tf.float32)

  def weighted_hits(predicted_ids):
    return tf.reduce_sum(weights * tf.cast(tf.equal(predicted_ids, masked_lm_ids), tf.float32))

  sums = {"mlm_weight": tf.reduce_sum(weights), "mlm_correct": weighted_hits(mlm_preds),
          "mlm_loss_sum": tf.reduce_sum(weights * tf.cast(mlm_losses, tf.float32))}
  if sampled_ids is not None:
    sums["sampled_correct"] = weighted_hits(sampled_ids)
  return sums


def disc_sums(input_mask, disc_labels, disc_probs, disc_preds, disc_example_losses):
  """Additive statistics of the discriminator over one batch.

  Token tensors are [B, L]; disc_example_losses [B] holds each example's mean token loss, which
  the original's disc_loss metric averages over examples.
  """
  token_mask = tf.cast(input_mask, tf.float32)
  labels = tf.cast(disc_labels, tf.float32)
  preds = tf.cast(disc_preds, tf.float32)
  correct = tf.cast(tf.equal(labels, preds), tf.float32)
  sums = {
      "disc_examples": tf.cast(tf.size(disc_example_losses), tf.float32),
      "disc_loss_sum": tf.reduce_sum(disc_example_losses),
      "disc_tokens": tf.reduce_sum(token_mask),
      "disc_correct": tf.reduce_sum(correct * token_mask),
      "disc_predicted_fake": tf.reduce_sum(preds * token_mask),
      "disc_actual_fake": tf.reduce_sum(labels * token_mask),
      "disc_true_fake": tf.reduce_sum(labels * preds * token_mask),
  }
  # As the original, AUC is taken over every position with labels and probabilities zeroed on
  # padding: padding counts as confidently-real tokens (this inflates AUC a little, but keeps
  # the numbers comparable with the original's).
  sums.update(confusion_at_thresholds(labels * token_mask,
                                      tf.cast(disc_probs, tf.float32) * token_mask))
  return sums


def _safe_divide(numerator, denominator):
  """tf.metrics semantics: 0 when nothing was counted."""
  return float(numerator / denominator) if denominator > 0 else 0.0


def roc_auc_from_counts(tp, fp, tn, fn):
  """Trapezoidal area under the ROC curve from per-threshold counts (tf.metrics.auc's formula)."""
  tp, fp, tn, fn = (np.asarray(x, np.float64) for x in (tp, fp, tn, fn))
  true_positive_rate = (tp + _AUC_EPSILON) / (tp + fn + _AUC_EPSILON)
  false_positive_rate = fp / (fp + tn + _AUC_EPSILON)
  widths = false_positive_rate[:-1] - false_positive_rate[1:]
  heights = (true_positive_rate[:-1] + true_positive_rate[1:]) / 2.0
  return float(np.sum(widths * heights))


def total_sums(batch_sums_list):
  """Element-wise totals of per-batch sum dicts (numpy arrays or tensors).

  A dict may also stack several batches along a leading axis (as `PretrainingModel.eval_metrics`
  and the Trainer's evaluate return them: "mlm_weight" of shape [rows]); those rows are summed.
  """
  totals = {}
  for sums in batch_sums_list:
    stacked = np.ndim(sums["mlm_weight"]) == 1
    for key, value in sums.items():
      value = np.asarray(value, np.float64)
      if stacked:
        value = value.sum(axis=0)
      totals[key] = totals.get(key, 0.0) + value
  return totals


def aggregate_eval_metrics(batch_sums_list):
  """Final metrics from the per-batch sums of a whole evaluation (missing parts are skipped)."""
  t = total_sums(batch_sums_list)
  results = {
      "masked_lm_accuracy": _safe_divide(t["mlm_correct"], t["mlm_weight"]),
      "masked_lm_loss": _safe_divide(t["mlm_loss_sum"], t["mlm_weight"]),
  }
  if "sampled_correct" in t:
    results["sampled_masked_lm_accuracy"] = _safe_divide(t["sampled_correct"], t["mlm_weight"])
  if "disc_tokens" not in t:
    return results
  results.update({
      "disc_loss": _safe_divide(t["disc_loss_sum"], t["disc_examples"]),
      "disc_auc": roc_auc_from_counts(t["auc_tp"], t["auc_fp"], t["auc_tn"], t["auc_fn"]),
      "disc_accuracy": _safe_divide(t["disc_correct"], t["disc_tokens"]),
      "disc_precision": _safe_divide(t["disc_true_fake"], t["disc_predicted_fake"]),
      "disc_recall": _safe_divide(t["disc_true_fake"], t["disc_actual_fake"]),
  })
  return results
