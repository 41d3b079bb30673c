"""Span-level precision, recall and F1 of a tagging task (plain numpy).

The model predicts a label for every token; only a word's first sub-token counts (its
label_weights entry is 1), so a row's word-level tags are its tokens where the weight is 1. A
sentence longer than max_seq_length comes in several rows (pieces) with the same eid, each
saying at which word it starts (word_offset); the pieces are put back together before spans are
extracted, so every sentence is scored whole.
"""

import collections

import numpy as np

from finetune.tagging import spans as spans_lib


def word_labels(rows):
  """{eid: word-level label ids [n_words]} (a dict of int arrays) from rows holding eid,
  word_offset, label_weights and the per-token ids under `key`, for every key but those three."""
  pieces = collections.defaultdict(list)
  keys = [key for key in rows if key not in ("eid", "word_offset", "label_weights")]
  weights = np.asarray(rows["label_weights"]).astype(bool)
  for row, (eid, offset) in enumerate(zip(np.asarray(rows["eid"]).reshape(-1),
                                          np.asarray(rows["word_offset"]).reshape(-1))):
    mask = weights[row]
    pieces[int(eid)].append((int(offset), {key: np.asarray(rows[key])[row][mask]
                                           for key in keys}))
  return {eid: {key: np.concatenate([values[key] for _, values in sorted(
      parts, key=lambda part: part[0])]) for key in keys} for eid, parts in pieces.items()}


class SpanScorer:
  """Accumulates a split's rows; scores exact (type, start, end) spans, micro-averaged, and
  F1 per entity type. `sentences` ({eid: predicted label ids}) is kept for writing outputs."""

  def __init__(self, label_list, entity_types):
    self.label_list = list(label_list)
    self.entity_types = list(entity_types)
    self._rows = collections.defaultdict(list)
    self._loss_sum = 0.0
    self._n_rows = 0
    self.sentences = {}

  def update(self, rows):
    """`rows`: numpy arrays of this task's valid rows: predictions, label_ids and label_weights
    [B, L]; eid, word_offset and loss [B]."""
    losses = np.asarray(rows["loss"], dtype=np.float64).reshape(-1)
    self._loss_sum += float(losses.sum())
    self._n_rows += losses.shape[0]
    for key in ("eid", "word_offset", "label_weights", "predictions", "label_ids"):
      self._rows[key].append(np.asarray(rows[key]))

  def _tags(self, ids):
    return [self.label_list[int(i)] for i in ids]

  def get_results(self):
    if not self._n_rows:
      raise ValueError("SpanScorer: no examples were scored")
    rows = {key: np.concatenate(values) for key, values in self._rows.items()}
    counts = collections.Counter()
    for eid, labels in word_labels(rows).items():
      self.sentences[eid] = labels["predictions"]
      gold = spans_lib.extract_spans(self._tags(labels["label_ids"]))
      predicted = spans_lib.extract_spans(self._tags(labels["predictions"]))
      for kind in [None] + self.entity_types:  # None: all types
        counts[kind] += np.array(spans_lib.span_counts(
            [span for span in gold if kind in (None, span[0])],
            [span for span in predicted if kind in (None, span[0])]))
    precision, recall, f1 = spans_lib.precision_recall_f1(*counts[None])
    results = {"precision": precision, "recall": recall, "f1": f1}
    for kind in self.entity_types:
      results[f"f1_{kind}"] = spans_lib.precision_recall_f1(*counts[kind])[2]
    results["loss"] = self._loss_sum / self._n_rows
    return results
