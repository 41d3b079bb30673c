"""Turns per-window span scores into one answer text per question, and scores the answers.

For each question the candidates of all its windows are pooled. A candidate (start, end) is
dropped when either end is outside the window's document part (this covers [CLS], the query,
the [SEP]s, padding and positions past the sequence), when the start token is not in its
max-context window, when end < start, or when it is longer than max_answer_length wordpieces.
Score = start score + end score (log-probs of the joint head, raw logits of the plain head, as
in the original). The best n_best_size distinct texts form the n-best list.

Answer text: the original rebuilt it from doc tokens joined by spaces and aligned it with the
wordpieces through BasicTokenizer (`get_final_text`); for Chinese, joining with spaces inserts
spaces that are not in the context. Every wordpiece here knows its character span in the context
(`features.Wordpieces`), so the answer is the exact slice context[first char : last char]: no
spurious spaces between CJK characters, the real spacing between latin words, original case.

All validity checks and scores are computed for every candidate of every window at once with
numpy; only the final walk down each question's sorted candidates is a Python loop, and it stops
after n_best_size distinct texts.
"""

import json
import logging
import os

import numpy as np

from finetune import task as task_lib
from util import fileio

logger = logging.getLogger(__name__)

JOINT_KEYS = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index")
PLAIN_KEYS = ("start_logits", "end_logits")


def candidate_grid(outputs, n_best_size):
  """(starts, ends, scores), each [N, A, B]: every (start, end) pair the head proposes.

  Joint head: start beam i with its own end beam j. Plain head: the n_best_size best starts
  crossed with the n_best_size best ends of each window.
  """
  if all(key in outputs for key in JOINT_KEYS):
    ends = np.asarray(outputs["end_top_index"], np.int64)
    starts = np.broadcast_to(np.asarray(outputs["start_top_index"], np.int64)[:, :, None],
                             ends.shape)
    scores = (np.asarray(outputs["start_top_log_probs"], np.float64)[:, :, None]
              + np.asarray(outputs["end_top_log_probs"], np.float64))
    return starts, ends, scores
  if all(key in outputs for key in PLAIN_KEYS):
    start_logits = np.asarray(outputs["start_logits"], np.float64)
    end_logits = np.asarray(outputs["end_logits"], np.float64)
    k = min(n_best_size, start_logits.shape[1])
    top_starts, top_ends = _top_k(start_logits, k), _top_k(end_logits, k)
    shape = (len(start_logits), k, k)
    scores = (np.take_along_axis(start_logits, top_starts, 1)[:, :, None]
              + np.take_along_axis(end_logits, top_ends, 1)[:, None, :])
    return (np.broadcast_to(top_starts[:, :, None], shape),
            np.broadcast_to(top_ends[:, None, :], shape), scores)
  raise KeyError(f"QA outputs need either {', '.join(JOINT_KEYS)} or {', '.join(PLAIN_KEYS)}; "
                 f"got {', '.join(sorted(outputs))}")


def _top_k(values, k):
  """Indices of the k largest entries of each row, best first (a partial sort: L >> k)."""
  top = np.argpartition(-values, k - 1, axis=1)[:, :k]
  order = np.argsort(-np.take_along_axis(values, top, 1), axis=1, kind="stable")
  return np.take_along_axis(top, order, 1)


WINDOW_KEYS = ("example_index", "span_index", "query_offset", "doc_start", "doc_length",
               "base", "piece_base")


def window_arrays(features):
  """What post-processing needs of a split's QAFeatures (indexed by eid), as int32 arrays.

  Per window (eid): example_index, span_index, query_offset, doc_start, doc_length, and the
  offsets of its wordpieces in the concatenated per-wordpiece arrays: `base` into best_window
  (the window in which each piece of the example has the most context; one run per example)
  and `piece_base` into char_starts / char_ends (each piece's span in the context; one run per
  context, which questions share). Small enough to keep beside cached records.
  """
  columns = {key: [] for key in WINDOW_KEYS}
  best_window, char_starts, char_ends = [], [], []
  bases, piece_bases = {}, {}
  n_best, n_pieces = 0, 0  # running lengths of the concatenations
  for feature in features:
    if feature.example_index not in bases:
      bases[feature.example_index] = n_best
      best_window.append(feature.max_context_window)
      n_best += len(feature.max_context_window)
    pieces = feature.wordpieces
    if id(pieces) not in piece_bases:
      piece_bases[id(pieces)] = n_pieces
      char_starts.append(pieces.char_starts)
      char_ends.append(pieces.char_ends)
      n_pieces += len(pieces.char_starts)
    for key in WINDOW_KEYS[:5]:
      columns[key].append(getattr(feature, key))
    columns["base"].append(bases[feature.example_index])
    columns["piece_base"].append(piece_bases[id(pieces)])
  arrays = {key: np.asarray(values, np.int32) for key, values in columns.items()}
  for key, runs in (("best_window", best_window), ("char_starts", char_starts),
                    ("char_ends", char_ends)):
    arrays[key] = np.concatenate(runs).astype(np.int32) if runs else np.zeros(0, np.int32)
  return arrays


class _WindowTable:
  """The windows behind the output rows (`eids`), with the split's per-wordpiece arrays."""

  def __init__(self, arrays, eids):
    if not isinstance(arrays, dict):  # QAFeatures
      arrays = window_arrays(arrays)
    eids = np.asarray(eids, np.int64)
    for key in WINDOW_KEYS:
      setattr(self, key, arrays[key][eids].astype(np.int64))
    for key in ("best_window", "char_starts", "char_ends"):
      setattr(self, key, arrays[key])

  def doc_piece(self, positions):
    """(inside, index of the doc wordpiece in its example) of window positions [N, ...]."""
    expand = (slice(None),) + (None,) * (positions.ndim - 1)
    relative = positions - self.query_offset[expand]
    inside = (relative >= 0) & (relative < self.doc_length[expand])
    return inside, np.where(inside, self.doc_start[expand] + relative, 0)


def valid_candidates(table, starts, ends, scores, max_answer_length):
  """Flat arrays (example index, score, char start, char end) of the allowed candidates."""
  start_inside, start_piece = table.doc_piece(starts)
  end_inside, end_piece = table.doc_piece(ends)
  expand = (slice(None), None, None)
  valid = (start_inside & end_inside & (ends >= starts)
           & (ends - starts + 1 <= max_answer_length))
  # Only a start in its max-context window counts (the same token in an overlapping window
  # would be a duplicate with less context).
  if len(table.best_window):  # else no window holds a doc piece, and nothing is valid
    best_window = table.best_window[np.where(valid, table.base[expand] + start_piece, 0)]
    valid &= best_window == table.span_index[expand]
  rows = np.nonzero(valid)[0]
  piece_base = table.piece_base[expand]
  return (table.example_index[rows], scores[valid],
          table.char_starts[(piece_base + start_piece)[valid]],
          table.char_ends[(piece_base + end_piece)[valid]])


def _softmax(scores):
  if not scores:
    return []
  values = np.exp(np.asarray(scores) - max(scores))
  return (values / values.sum()).tolist()


def _nbest_for_example(context, scores, char_starts, char_ends, n_best_size):
  """The best distinct texts from one example's candidates, sorted best first."""
  entries, seen = [], set()
  for score, start, end in zip(scores.tolist(), char_starts.tolist(), char_ends.tolist()):
    text = context[start:end]
    if text in seen:
      continue
    seen.add(text)
    entries.append({"text": text, "score": score, "char_start": start, "char_end": end})
    if len(entries) >= n_best_size:
      break
  for entry, probability in zip(entries, _softmax([e["score"] for e in entries])):
    entry["probability"] = probability
  return entries


def predict_answers(examples, windows, eids, outputs, n_best_size, max_answer_length):
  """Answers for ALL `examples` from model outputs of some of their windows.

  examples: QAExamples indexed by example index (`.qas_id`, `.context`).
  windows: `window_arrays` of the split (`QATask.window_arrays(split)`), or its QAFeatures
    indexed by eid.
  eids: [N] eid of each output row; outputs: arrays with N rows (`JOINT_KEYS` or `PLAIN_KEYS`).
  Returns ({qas_id: text}, {qas_id: n-best list}); a question without any allowed candidate
  (or without outputs) gets "" and an empty n-best list.
  """
  eids = np.asarray(eids, np.int64)
  predictions, nbest = {}, {}
  if len(eids):
    starts, ends, scores = candidate_grid(outputs, n_best_size)
    table = _WindowTable(windows, eids)
    example_index, scores, char_starts, char_ends = valid_candidates(
        table, starts, ends, scores, max_answer_length)
    order = np.lexsort((-scores, example_index))  # by example, best first
    example_index, scores = example_index[order], scores[order]
    char_starts, char_ends = char_starts[order], char_ends[order]
    present, first = np.unique(example_index, return_index=True)
    bounds = dict(zip(present.tolist(), zip(first.tolist(), first[1:].tolist() + [len(order)])))
  else:
    bounds = {}
  for index, example in enumerate(examples):
    entries = []
    if index in bounds:
      lo, hi = bounds[index]
      entries = _nbest_for_example(example.context, scores[lo:hi], char_starts[lo:hi],
                                   char_ends[lo:hi], n_best_size)
    predictions[example.qas_id] = entries[0]["text"] if entries else ""
    nbest[example.qas_id] = entries
  return predictions, nbest


def _write_json(path, obj, indent=None):
  fileio.makedirs(fileio.parent(path))
  with fileio.open_file(path, "w") as f:
    # dumps + one write: json.dump streams through the pure-Python encoder, ~10x slower.
    f.write(json.dumps(obj, ensure_ascii=False, indent=indent))


def _has_answers(dataset):
  return any(qa.get("answers") for article in dataset["data"]
             for paragraph in article["paragraphs"] for qa in paragraph["qas"])


class QAScorer:
  """Collects the QA head's outputs for one split, writes predictions and scores them.

  Batches may name keys with or without the task prefix (`cmrc2018_eid` or `eid`, ...); rows
  are selected by `task.own_rows`. Rows with a negative eid are ignored; when an eid arrives
  twice the first row is kept. Answers are computed once, whoever asks first.

  Scoring needs no file. `write_predictions(trial)` writes `<task>_<split>_preds.json`
  ({qas_id: text}) and `..._nbest.json`, or `<task>_<split>_<trial>_preds.json` / `_nbest.json`
  for one trial of several, into output_dir; without output_dir,
  `config.qa_preds_file("<task>_<split>[_<trial>]")` names the predictions file, and when that
  is empty nothing is written.
  """

  def __init__(self, config, task, split="dev", output_dir=None):
    self.config = config
    self.task = task
    self.split = split
    self.output_dir = output_dir
    self._batches = []
    self._predictions = None  # (predictions, n-best), computed once from all updates
    self._written = set()  # the prediction paths written since the last update

  def update(self, outputs):
    """Adds one batch (dict of numpy arrays with a leading batch dimension). Rows of padding
    (valid == 0) or of another task (task_id) are dropped: their eid is a filler 0 that would
    shadow the real eid 0."""
    rows = task_lib.own_rows(self.task.name, self.task.task_id, outputs)
    if "eid" not in rows:
      raise KeyError(f"QA outputs have no {self.task.name}_eid / eid")
    kept = {key: rows[key] for key in JOINT_KEYS + PLAIN_KEYS if key in rows}
    self._batches.append((rows["eid"].astype(np.int64).reshape(-1), kept))
    self._predictions = None
    self._written = set()

  def collected(self):
    """(eids [N], outputs) of all updates, without padding rows and repeated eids."""
    if not self._batches:
      return np.zeros(0, np.int64), {}
    eids = np.concatenate([eids for eids, _ in self._batches])
    keys = set.intersection(*(set(outputs) for _, outputs in self._batches))
    outputs = {key: np.concatenate([batch[key] for _, batch in self._batches]) for key in keys}
    n_features = len(self.task.window_arrays(self.split)["example_index"])
    real = (eids >= 0) & (eids < n_features)
    if (eids >= n_features).any():
      logger.warning("%d output rows have eids unknown to %s %s (stale cached records?)",
                     int((eids >= n_features).sum()), self.task.name, self.split)
    _, first = np.unique(np.where(real, eids, -1), return_index=True)
    keep = np.zeros(len(eids), bool)
    keep[first] = True
    keep &= real
    return eids[keep], {key: value[keep] for key, value in outputs.items()}

  def prediction_paths(self, trial=None):
    """(predictions path, n-best path), or (None, None) when nothing should be written; with
    `trial`, the names of that trial's own copies."""
    stem = f"{self.task.name}_{self.split}" + ("" if trial is None else f"_{trial}")
    if self.output_dir:
      return (os.path.join(self.output_dir, stem + "_preds.json"),
              os.path.join(self.output_dir, stem + "_nbest.json"))
    path = self.config.qa_preds_file(stem)
    if not path:
      return None, None
    base = path[:-len("_preds.json")] if path.endswith("_preds.json") else (
        os.path.splitext(path)[0])
    return path, base + "_nbest.json"

  def predictions(self):
    """({qas_id: text}, {qas_id: n-best list}) for every question of the split."""
    if self._predictions is None:
      eids, outputs = self.collected()
      windows = self.task.window_arrays(self.split)
      n_windows = len(windows["example_index"])
      if n_windows > len(eids):
        logger.warning("%s %s: no outputs for %d of %d features", self.task.name, self.split,
                       n_windows - len(eids), n_windows)
      self._predictions = predict_answers(
          self.task.get_examples(self.split), windows, eids, outputs, self.config.n_best_size,
          self.config.max_answer_length)
    return self._predictions

  def write_predictions(self, trial=None):
    """Writes the predictions and n-best json files (once per name, see prediction_paths);
    returns {qas_id: text}."""
    predictions, nbest = self.predictions()
    preds_path, nbest_path = self.prediction_paths(trial)
    if preds_path and preds_path not in self._written:
      self._written.add(preds_path)
      _write_json(preds_path, predictions, indent=2)
      _write_json(nbest_path, nbest)  # large: kept compact
      logger.info("wrote %d predictions to %s", len(predictions), preds_path)
    return predictions

  def get_results(self):
    """CMRC 2018 / DRCD scores (percentages) of the predictions: {"em", "f1", "average",
    "total", "skip"}; only "total" when the split has no answers. Writes no file (the task's
    write_outputs does, as write_test_outputs asks)."""
    predictions, _ = self.predictions()
    dataset = self.task.get_dataset_json(self.split)
    if not _has_answers(dataset):
      return {"total": len(predictions)}
    from finetune.qa import cmrc2018_drcd_evaluate  # pylint: disable=import-outside-toplevel
    scores = cmrc2018_drcd_evaluate.evaluate(dataset, predictions)
    return {"em": float(scores["EM"]), "f1": float(scores["F1"]),
            "average": float(scores["AVERAGE"]), "total": int(scores["TOTAL"]),
            "skip": int(scores["SKIP"])}
