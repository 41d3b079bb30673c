"""Span-extraction QA tasks on SQuAD-v1-format Chinese data (CMRC 2018, DRCD).

Reading (contexts cut into doc tokens, gold spans, examples) is in finetune/qa/reading.py; the
featurisation helpers (wordpieces with character offsets, windows, `QAFeature`) in
finetune/qa/features.py.

Featurisation. Standard sliding windows `[CLS] query [SEP] doc-window [SEP]`. The original
encoded a feature id as 1000 * example_id + window_index, which collided / went missing at
prediction time (ymcui/Chinese-ELECTRA#50, #72: `KeyError` while writing predictions). Here each
feature of a split gets the next integer of a running counter as `<task>_eid`, and the task
keeps a Python-side record (`QAFeature`) of what that id means, so post-processing can map
every model output back to its question and window.

Outputs (`write_outputs`, with write_test_outputs, for the first n_writes_test trials):
`results/<tasks>_qa/<task>_<split>_preds.json` ({question id: answer}) and `..._nbest.json`
under the original's names, holding the latest such trial's; in a run of several trials also
each trial's own `<task>_<split>_<trial>_preds.json` / `_nbest.json`, so the predictions behind
every line of the results table (and its max) are kept. Scoring itself writes nothing.
"""

import json
import logging
import os

from finetune import task as task_lib
from finetune.qa import features as qa_features
from finetune.qa import postprocess
from finetune.qa import prediction
from finetune.qa import reading
from util import fileio

logger = logging.getLogger(__name__)

SPLIT_FILES = {"train": ("train.json",), "dev": ("dev.json",), "test": ("test.json", "eval.json")}


def load_squad_json(path):
  """The parsed file; invalid JSON or UTF-8 is a ValueError naming the file and line."""
  try:
    return json.loads(fileio.read_bytes(path).decode("utf-8-sig"))
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: not valid UTF-8 (byte {e.start + 1}: {e.reason})") from None
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}, line {e.lineno}, column {e.colno}: invalid JSON "
                     f"({e.msg})") from None


def _refuse_partly_answered(path, split, stats):
  """Scoring needs answers for every question of a split that has any (the CMRC scorer refuses
  the file otherwise): say so before training rather than after it."""
  if split == "train" or not 0 < stats.unanswered < stats.questions:
    return
  more = stats.unanswered - len(stats.unanswered_ids)
  shown = ", ".join(map(str, stats.unanswered_ids)) + (f" and {more} more" if more else "")
  raise ValueError(f"{path}: {stats.unanswered} of {stats.questions} {split} questions have no "
                   f"answers ({shown}); the {split} score needs answers for every question "
                   "(remove those questions, or add answers)")


class QATask(task_lib.Task):
  """A SQuAD-v1-style extractive QA task (every question answerable); subclasses give NAME."""

  NAME = None

  def __init__(self, config, tokenizer):
    super().__init__(config, self.NAME, tokenizer)
    self._examples = {}  # split -> list of QAExample
    self._datasets = {}  # split -> the raw json (the scorer hands it to the evaluator)
    self._features = {}  # split -> list of QAFeature, indexed by eid
    self._windows = {}  # split -> postprocess.window_arrays, e.g. read beside cached records
    self._first_eid = {}  # (split, example eid) -> eid of its first feature
    self._piece_cache = {}  # doc token -> wordpieces + offsets; Chinese repeats tokens a lot
    self.data_stats = {}  # split -> counts of questions and answer problems (results JSON)

  # -- reading -------------------------------------------------------------------------------

  def data_path(self, split):
    """The json file of `split`; "test" also accepts the Chinese code's name "eval.json"."""
    if split not in SPLIT_FILES:
      raise ValueError(f"Unknown split {split!r} for task {self.name}")
    directory = self.config.raw_data_dir(self.name)
    candidates = [os.path.join(directory, name) for name in SPLIT_FILES[split]]
    for path in candidates:
      if fileio.exists(path):
        return path
    raise FileNotFoundError(
        f"No {split} data for task {self.name}: {' or '.join(candidates)} does not exist")

  def input_files(self, split):
    """The files `split` is read from (the preprocessor fingerprints them for its cache)."""
    return [self.data_path(split)]

  def get_dataset_json(self, split):
    if split not in self._datasets:
      self._datasets[split] = load_squad_json(self.data_path(split))
    return self._datasets[split]

  def get_examples(self, split):
    """The split's QAExamples; the same objects on every call (the scorer relies on that)."""
    if split not in self._examples:
      path = self.data_path(split)
      try:
        examples, stats = reading.read_squad_examples(
            self.get_dataset_json(split), self.name, split, is_training=split == "train")
      except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not in SQuAD format ({type(e).__name__}: {e}); expected "
                         f"{{\"data\": [{{\"paragraphs\": "
                         f"[{{\"context\", \"qas\"}}]}}]}}") from None
      if not examples:
        raise ValueError(f"{path}: no usable questions ({stats.questions} questions, "
                         f"{stats.unanswered} without answers, {stats.unfindable} answers not "
                         "found in their context)")
      _refuse_partly_answered(path, split, stats)
      self._examples[split] = examples
      self._report(path, split, stats)
    return self._examples[split]

  def _report(self, path, split, stats):
    """Counts for the results JSON; one line per split (a run may read a split twice)."""
    if split in self.data_stats:
      return
    self.data_stats[split] = {"questions": stats.questions,
                              "questions_without_answers": stats.unanswered,
                              "answers_realigned": stats.realigned,
                              "answers_not_found": stats.unfindable}
    where = f"{self.name} {split}"
    if split == "train" and (stats.unanswered or stats.unfindable):
      logger.warning("%s: %d of %d questions dropped from training (%d without answers, %d "
                     "whose answer is not in its context); %d answers realigned to another "
                     "occurrence (%s)", where, stats.unanswered + stats.unfindable,
                     stats.questions, stats.unanswered, stats.unfindable, stats.realigned, path)
    elif stats.unfindable:
      logger.warning("%s: %d of %d answers not found in their context (scored against the gold "
                     "text), %d realigned to another occurrence (%s)", where, stats.unfindable,
                     stats.questions, stats.realigned, path)
    elif stats.realigned:
      logger.info("%s: %d of %d answers realigned to another occurrence of their text (%s)",
                  where, stats.realigned, stats.questions, path)

  # -- featurisation -------------------------------------------------------------------------

  def plain_feature_specs(self):
    return [task_lib.FeatureSpec(name, ())
            for name in ("eid", "start_positions", "end_positions", "is_impossible")]

  def _tokenize_doc_token(self, token):
    """(wordpieces, relative char starts, relative char ends) of one doc token, memoised."""
    result = self._piece_cache.get(token)
    if result is None:
      pieces = list(self.tokenizer.tokenize(token))
      offsets = qa_features.piece_char_offsets(token, pieces)
      result = self._piece_cache[token] = (pieces,) + offsets
    return result

  def _doc_wordpieces(self, doc):
    if doc.wordpieces is None:
      doc.wordpieces = qa_features.tokenize_doc(doc, self._tokenize_doc_token,
                                                self.tokenizer.convert_tokens_to_ids)
    return doc.wordpieces

  def _gold_wordpiece_span(self, example, pieces):
    """The answer as wordpiece indices (start, end) of the whole document, or None."""
    if example.start_position is None:
      return None
    start = int(pieces.orig_to_tok_index[example.start_position])
    end = int(pieces.orig_to_tok_index[example.end_position + 1]) - 1
    if end < start:  # the answer's doc tokens produced no wordpieces at all
      return None
    answer_pieces = self.tokenizer.tokenize(example.orig_answer_text)
    return qa_features.improve_answer_span(pieces.tokens, start, end, answer_pieces)

  def plain_features(self, example, is_training):
    """Feature dicts for all windows of `example`.

    Start/end labels are filled whenever the example's answer was located (also outside
    training, which lets a dev loss be computed); a window that does not contain the whole
    answer points at [CLS] (0, 0). Featurising the same example again reuses its eids, so eids
    depend only on the order in which examples are first featurised.
    """
    del is_training  # the features are the same; training just never sees unlocated answers
    registry = self._features.setdefault(example.split, [])
    first_eid = self._first_eid.get((example.split, example.eid))
    is_new = first_eid is None
    if is_new:
      first_eid = self._first_eid[(example.split, example.eid)] = len(registry)
    features, records = self._make_features(example, first_eid)
    if is_new:
      registry.extend(records)
    return features

  def _make_features(self, example, first_eid):
    """(feature dicts, QAFeature records) for `example`, numbered from `first_eid`."""
    config = self.config
    query_tokens = self.tokenizer.tokenize(example.question_text)
    excess = len(query_tokens) - config.max_query_length
    self.truncated += excess > 0
    self.truncated_tokens += max(excess, 0)
    query_tokens = query_tokens[:config.max_query_length]
    max_tokens_for_doc = config.max_seq_length - len(query_tokens) - 3
    if max_tokens_for_doc <= 0:
      raise ValueError("max_seq_length %d leaves no room for the document after a %d-token "
                       "query" % (config.max_seq_length, len(query_tokens)))
    pieces = self._doc_wordpieces(example.doc)
    windows = qa_features.doc_windows(len(pieces.tokens), max_tokens_for_doc, config.doc_stride)
    best_window = qa_features.max_context_windows(len(pieces.tokens), windows)
    gold = self._gold_wordpiece_span(example, pieces)

    vocab = self.tokenizer.vocab
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    prefix = [cls_id] + self.tokenizer.convert_tokens_to_ids(query_tokens) + [sep_id]
    query_offset = len(prefix)
    features, records = [], []
    for span_index, (doc_start, doc_length) in enumerate(windows):
      eid = first_eid + span_index
      records.append(qa_features.QAFeature(eid, example.eid, span_index, query_tokens,
                                           doc_start, doc_length, pieces, best_window))
      input_ids = prefix + pieces.ids[doc_start:doc_start + doc_length] + [sep_id]
      n_pad = config.max_seq_length - len(input_ids)
      start_label, end_label = 0, 0
      if gold is not None and doc_start <= gold[0] and gold[1] < doc_start + doc_length:
        start_label = gold[0] - doc_start + query_offset
        end_label = gold[1] - doc_start + query_offset
      features.append({
          "input_ids": input_ids + [0] * n_pad,
          "input_mask": [1] * len(input_ids) + [0] * n_pad,
          "segment_ids": [0] * query_offset + [1] * (doc_length + 1) + [0] * n_pad,
          "eid": eid,
          "start_positions": start_label,
          "end_positions": end_label,
          "is_impossible": 0,  # SQuAD v1 style: every question has an answer
      })
    return features, records

  def get_features(self, split):
    """QAFeatures of `split` indexed by eid. If this process has not featurised the split yet
    (e.g. the records came from an earlier run's cache), the examples are featurised now, in
    order, which gives the same eids as the run that wrote the records."""
    if not self._features.get(split):
      for example in self.get_examples(split):
        self.featurize(example, is_training=False)
    return self._features[split]

  def window_arrays(self, split):
    """What post-processing needs of `split`'s windows (`postprocess.window_arrays`): kept
    beside the cached records, so a split read from the cache is not featurised again."""
    if split not in self._windows:
      self._windows[split] = postprocess.window_arrays(self.get_features(split))
    return self._windows[split]

  def sidecar_arrays(self, split):
    return self.window_arrays(split)

  def load_sidecar_arrays(self, split, arrays):
    self._windows[split] = arrays

  def forget_split(self, split):
    """Drops what this task holds for `split` (examples, json, feature records), e.g. before
    featurising a new set of prediction inputs under the same split name."""
    self._examples.pop(split, None)
    self._datasets.pop(split, None)
    self._features.pop(split, None)
    self._windows.pop(split, None)
    for key in [key for key in self._first_eid if key[0] == split]:
      del self._first_eid[key]

  def cache_settings(self):
    return {"doc_stride": self.config.doc_stride,
            "max_query_length": self.config.max_query_length}

  def truncation_description(self):
    return "questions", f"max_query_length {self.config.max_query_length}"

  # -- model, scoring, outputs ---------------------------------------------------------------

  def make_head(self, hidden_size):
    from finetune.qa.head import QAHead  # pylint: disable=import-outside-toplevel (TensorFlow)
    return QAHead(self.name, hidden_size, self.config)

  def get_scorer(self, split="dev"):
    return postprocess.QAScorer(self.config, self, split)

  def metrics(self):
    # The labels of the CMRC 2018 / DRCD evaluation script.
    return [task_lib.Metric("em", "EM"), task_lib.Metric("f1", "F1"),
            task_lib.Metric("average", "AVERAGE"), task_lib.Metric("total", "TOTAL", None),
            task_lib.Metric("skip", "SKIP", None)]

  def write_outputs(self, scorer, split, trial):
    """With write_test_outputs, for the first n_writes_test trials: the predictions and n-best
    files under the original's names, `results/<tasks>_qa/<task>_<split>_preds.json` and
    `..._nbest.json` (the latest such trial's), and, when the run has several trials, this
    trial's own copies `<task>_<split>_<trial>_preds.json` / `_nbest.json`, so that the
    predictions behind every line of the results table stay."""
    del split  # The scorer knows its split.
    config = self.config
    if not (config.write_test_outputs and trial <= config.n_writes_test):
      return
    scorer.write_predictions()
    if config.num_trials != 1:
      scorer.write_predictions(trial)

  def serving_info(self):
    config = self.config
    return {"task_type": "qa",
            "input_format": "[CLS] question [SEP] context window [SEP] (segment 1 from the "
                            "context), zero-padded",
            "max_query_length": config.max_query_length, "doc_stride": config.doc_stride,
            "joint_prediction": config.joint_prediction, "beam_size": config.beam_size,
            "answerable_classifier": config.answerable_classifier,
            "n_best_size": config.n_best_size,
            "max_answer_length": self.config.max_answer_length}

  # -- raw inputs (predict.py) ---------------------------------------------------------------

  default_output_format = "json"

  def read_raw_inputs(self, text):
    return prediction.read_inputs(text)

  def predict_raw(self, predictor, raw_inputs):
    return prediction.answer(self, predictor, raw_inputs)

  def output_header(self, output_format):
    return prediction.TSV_HEADER if output_format == "tsv" else None

  def output_lines(self, ids, results, output_format, top_k=None):
    return prediction.output_lines(ids, results, output_format, top_k)


class CMRC2018(QATask):
  """CMRC 2018 (simplified Chinese, Wikipedia)."""
  NAME = "cmrc2018"


class DRCD(QATask):
  """DRCD (traditional Chinese, Wikipedia)."""
  NAME = "drcd"
