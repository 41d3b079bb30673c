"""Accuracy scorer for the classification tasks (plain numpy, no scikit-learn / SciPy)."""

import numpy as np

from finetune import task as task_lib


class AccuracyScorer:
  """Accumulates accuracy (%) and mean per-example loss over numpy batches."""

  def __init__(self):
    self._n_correct = 0
    self._n_scored = 0
    self._loss_sum = 0.0
    self.predictions = {}  # eid -> predicted label index, for writing outputs

  def update(self, outputs):
    """`outputs`: dict of [B] arrays with keys loss, predictions, label_ids (+ eid, valid)."""
    predictions = np.asarray(outputs["predictions"]).reshape(-1)
    mask = task_lib.real_rows(outputs)  # Padding records (valid == 0) fill the last batch.
    predictions = predictions[mask]
    labels = np.asarray(outputs["label_ids"]).reshape(-1)[mask]
    losses = np.asarray(outputs["loss"], dtype=np.float64).reshape(-1)[mask]
    self._n_correct += int(np.sum(predictions == labels))
    self._n_scored += int(predictions.shape[0])
    self._loss_sum += float(np.sum(losses))
    if "eid" in outputs:
      eids = np.asarray(outputs["eid"]).reshape(-1)[mask]
      self.predictions.update(zip(eids.tolist(), predictions.tolist()))

  @property
  def n_scored(self):
    return self._n_scored

  def get_loss(self):
    return self._loss_sum / max(self._n_scored, 1)

  def get_results(self):
    if self._n_scored == 0:
      raise ValueError("AccuracyScorer: no examples were scored")
    return {"accuracy": 100.0 * self._n_correct / self._n_scored, "loss": self.get_loss()}

  def results_str(self):
    return " - ".join(f"{key}: {value:.2f}" for key, value in self.get_results().items())
