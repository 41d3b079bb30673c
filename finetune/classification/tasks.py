"""Chinese sentence(-pair) classification tasks: ChnSentiCorp, LCQMC, BQ Corpus and XNLI.

Each task reads `<raw_data_dir>/<split>.tsv` (tab separated, no quoting, first line a header);
the "test" split falls back to `eval.tsv`, the name the Chinese-ELECTRA code used. Columns are
taken at the positions the original used, unless the header names the columns (e.g. the ERNIE
release of ChnSentiCorp has "qid label text_a" in dev/test), in which case the names win.

Rows that cannot be turned into a correct example (wrong column count, unknown label, empty
text) are skipped and reported once per file; a file without a single usable row is an error.
"""

import dataclasses
import logging
import os

import numpy as np

from finetune import raw_inputs
from finetune import task as task_lib
from finetune.classification import scorer as scorer_lib
from util import fileio
from util import utils

_logger = logging.getLogger(__name__)

# How many bad rows are quoted in the once-per-file warning.
_BAD_ROWS_QUOTED = 3


class ClassificationExample(task_lib.Example):
  def __init__(self, task_name, eid, text_a, text_b, label):
    super().__init__(task_name, eid)
    self.text_a = text_a
    self.text_b = text_b  # None for single-sentence tasks
    self.label = label


@dataclasses.dataclass(frozen=True)
class TsvLayout:
  """Where the fields of one row are; `names` are the header names that override positions."""
  text_a: int
  text_b: int | None
  label: int
  names: tuple = ()  # (text_a, text_b or None, label) header names
  language: int | None = None  # XNLI-1.0: rows whose "language" column is not "zh" are skipped

  def resolve(self, header):
    """Uses the header's positions when it names every column of this layout."""
    lowered = [name.strip().lower() for name in header]
    wanted = [name for name in self.names if name]
    if not wanted or not all(name in lowered for name in wanted):
      return self
    text_a, text_b, label = (lowered.index(n) if n else None for n in self.names)
    return dataclasses.replace(self, text_a=text_a, text_b=text_b, label=label)

  def max_index(self):
    return max(i for i in (self.text_a, self.text_b, self.label, self.language) if i is not None)


class _BadRow(Exception):
  """A row that cannot become an example; the message says why."""


def _read_lines(path):
  """The file's lines as text; a line that is not UTF-8 is a ValueError naming file and line."""
  data = fileio.read_bytes(path)
  lines = []
  for line_number, raw in enumerate(data.splitlines(), start=1):
    try:
      # utf-8-sig: a byte-order mark would otherwise become part of the first header name.
      lines.append(raw.decode("utf-8-sig" if line_number == 1 else "utf-8"))
    except UnicodeDecodeError as e:
      raise ValueError(f"{path}, line {line_number}: not valid UTF-8 (byte {e.start + 1}: "
                       f"{e.reason}); convert the file to UTF-8 (e.g. iconv -f GBK)") from None
  return lines


def read_tsv(path):
  """Returns (header, [(line_number, fields)]) of a headed TSV file; blank lines are ignored."""
  header, rows = None, []
  for line_number, line in enumerate(_read_lines(path), start=1):
    if header is None:
      header = line.lstrip("\ufeff").split("\t")
    elif line.strip():
      rows.append((line_number, line.split("\t")))
  return header or [], rows


class TsvClassificationTask(task_lib.Task):
  """A classification task read from TSV files; subclasses give the name, labels and layout."""

  NAME = None
  LABELS = ("0", "1")
  LABEL_SYNONYMS = {}  # other spellings of a label in the data -> the label in LABELS
  # Sentence-pair tasks whose label does not depend on the order of the two sentences
  # (paraphrase): with double_unordered, training sees every pair in both orders.
  UNORDERED_PAIRS = False

  def __init__(self, config, tokenizer):
    super().__init__(config, self.NAME, tokenizer)
    self.label_list = list(self.LABELS)
    self.data_stats = {}  # split -> counts of rows read and skipped (into the results JSON)

  def layout(self, split):
    raise NotImplementedError

  # ---- reading ----

  def input_files(self, split):
    """The file `split` is read from (for cache fingerprints); FileNotFoundError if missing."""
    data_dir = self.config.raw_data_dir(self.name)
    path = os.path.join(data_dir, f"{split}.tsv")
    if fileio.exists(path):
      return [path]
    if split == "test":
      fallback = os.path.join(data_dir, "eval.tsv")
      if fileio.exists(fallback):
        return [fallback]
      raise FileNotFoundError(f"{self.name}: no test data, expected {path} (or {fallback})")
    raise FileNotFoundError(f"{self.name}: no {split} data, expected {path}")

  def get_examples(self, split):
    path = self.input_files(split)[0]
    header, rows = read_tsv(path)
    if not header or not rows:
      raise ValueError(f"{self.name}: {path} is empty" if not header else
                       f"{self.name}: {path} has a header but no data rows")
    layout = self.layout(split).resolve(header)
    if len(header) <= layout.max_index():
      raise ValueError(
          f"{self.name}: {path} has {len(header)} columns but the {split} layout needs "
          f"column {layout.max_index()} (header: {header})")
    examples, bad, other_language = [], [], 0
    for line_number, fields in rows:
      if self._is_other_language(fields, header, layout):
        other_language += 1
        continue
      try:
        examples.append(self._make_example(fields, len(header), layout, eid=line_number - 2))
      except _BadRow as e:
        bad.append(f"line {line_number}: {e}")
    if split not in self.data_stats:  # once, though a run reads a split twice (check, records)
      self._report(path, len(rows), bad, other_language)
    self.data_stats[split] = {"rows": len(rows), "skipped_bad_rows": len(bad),
                              "skipped_other_language": other_language}
    if not examples:
      raise ValueError(f"{self.name}: no usable rows in {path} ({len(rows)} data rows, "
                       f"{len(bad)} bad, {other_language} not in Chinese)")
    if split == "train" and self.UNORDERED_PAIRS and self.config.double_unordered:
      examples += self._swapped(examples)
    return examples

  def _swapped(self, examples):
    """Each pair with its sentences swapped, under new ids (after the last original one), as
    the original's double_unordered does for its paraphrase tasks."""
    offset = max(example.eid for example in examples) + 1
    return [ClassificationExample(self.name, offset + i, example.text_b, example.text_a,
                                  example.label) for i, example in enumerate(examples)]

  @staticmethod
  def _is_other_language(fields, header, layout):
    has_language = (layout.language is not None and
                    header[layout.language].strip().lower() == "language")
    return (has_language and len(fields) > layout.language and
            fields[layout.language].strip() != "zh")

  def _make_example(self, fields, n_columns, layout, eid):
    if len(fields) != n_columns:
      raise _BadRow(f"expected {n_columns} columns, got {len(fields)}")
    label = fields[layout.label].strip()
    label = self.LABEL_SYNONYMS.get(label, label)
    if label not in self.label_list:
      raise _BadRow(f"unknown label {fields[layout.label]!r} (labels: {self.label_list})")
    text_a = fields[layout.text_a]
    text_b = fields[layout.text_b] if layout.text_b is not None else None
    if not text_a.strip() or (text_b is not None and not text_b.strip()):
      raise _BadRow("empty text")
    return ClassificationExample(self.name, eid, text_a, text_b, label)

  def _report(self, path, n_rows, bad, other_language):
    if other_language:
      _logger.info("%s: skipped %d rows of %s whose language is not zh",
                   self.name, other_language, path)
    if bad:
      _logger.warning("%s: skipped %d bad rows of %d in %s (%s%s)", self.name, len(bad), n_rows,
                      path, "; ".join(bad[:_BAD_ROWS_QUOTED]),
                      "; ..." if len(bad) > _BAD_ROWS_QUOTED else "")

  # ---- features ----

  def plain_feature_specs(self):
    return [task_lib.FeatureSpec("eid", ()), task_lib.FeatureSpec("label_ids", ())]

  def _token_ids(self, text):
    fast = getattr(self.tokenizer, "tokenize_to_ids", None)
    if fast is not None:
      return list(fast(text))
    return self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(text))

  def plain_features(self, example, is_training):
    """One feature dict: [CLS] a [SEP] (b [SEP]), zero-padded to max_seq_length."""
    max_len = self.config.max_seq_length
    ids_a = self._token_ids(example.text_a)
    ids_b = self._token_ids(example.text_b) if example.text_b is not None else None
    room = max_len - (3 if ids_b is not None else 2)
    excess = len(ids_a) + len(ids_b or ()) - room
    self.truncated += excess > 0
    self.truncated_tokens += max(excess, 0)
    if ids_b is not None:
      truncate_pair(ids_a, ids_b, max_len - 3)  # room for [CLS] and two [SEP]
    else:
      del ids_a[max_len - 2:]  # room for [CLS] and [SEP]
    cls_id, sep_id = self.tokenizer.vocab["[CLS]"], self.tokenizer.vocab["[SEP]"]
    input_ids = [cls_id] + ids_a + [sep_id]
    segment_ids = [0] * len(input_ids)
    if ids_b is not None:
      input_ids += ids_b + [sep_id]
      segment_ids += [1] * (len(ids_b) + 1)
    padding = [0] * (max_len - len(input_ids))
    return [{
        "input_ids": input_ids + padding,
        "input_mask": [1] * len(input_ids) + padding,
        "segment_ids": segment_ids + padding,
        "eid": example.eid,
        "label_ids": self.label_list.index(example.label),
    }]

  # ---- model, scoring, outputs ----

  def make_head(self, hidden_size):
    # pylint: disable-next=import-outside-toplevel (TensorFlow)
    from finetune.classification.head import ClassificationHead
    return ClassificationHead(self.name, hidden_size, len(self.label_list))

  def get_scorer(self, split):
    return scorer_lib.AccuracyScorer()

  def metrics(self):
    return [task_lib.Metric("accuracy", "accuracy"), task_lib.Metric("loss", "loss", "lower")]

  def write_outputs(self, scorer, split, trial):
    """{eid: predicted label} as JSON for the first n_writes_test trials (write_test_outputs)."""
    config = self.config
    if not (config.write_test_outputs and trial <= config.n_writes_test):
      return
    path = os.path.splitext(config.test_predictions(self.name, split, trial))[0] + ".json"
    labels = {int(eid): self.label_list[index] for eid, index in scorer.predictions.items()}
    utils.write_json(labels, path)
    _logger.info("Wrote %d %s %s predictions to %s", len(labels), self.name, split, path)

  def serving_info(self):
    return {"task_type": "classification", "labels": list(self.label_list),
            "input_format": "[CLS] text_a [SEP] (text_b [SEP], segment 1), zero-padded"}

  # ---- raw inputs (predict.py) ----

  @property
  def is_pair_task(self):
    return self.layout("test").text_b is not None

  def read_raw_inputs(self, text):
    """[(id, (text_a, text_b or None))]: one text a line (two tab-separated texts for pair
    tasks), or a JSON object {"text_a"/"text", "text_b", "id"}; ids default to line numbers."""
    inputs = []
    for line_number, line in raw_inputs.numbered_lines(text):
      if line.lstrip().startswith("{"):
        inputs.append(self._json_input(line, line_number))
      elif self.is_pair_task:
        fields = line.split("\t")
        if len(fields) != 2 or not all(field.strip() for field in fields):
          raise raw_inputs.InputError(
              f"line {line_number}: {self.name} needs two non-empty texts separated by one tab, "
              f"got {len(fields)} field(s)")
        inputs.append((line_number, (fields[0], fields[1])))
      else:
        inputs.append((line_number, (line, None)))
    return inputs

  def _json_input(self, line, line_number):
    value = raw_inputs.json_object(line, line_number)
    key = "text_a" if "text_a" in value else "text"
    text_a = raw_inputs.text_field(value, key, line_number)
    text_b = raw_inputs.text_field(value, "text_b", line_number, required=self.is_pair_task)
    if text_b is not None and not self.is_pair_task:
      raise raw_inputs.InputError(f"line {line_number}: {self.name} classifies single texts, "
                                  f"but the line has a \"text_b\"")
    return value.get("id", line_number), (text_a, text_b)

  def predict_raw(self, predictor, texts):
    """For each (text_a, text_b or None): {"label", "probability", "probabilities" (label ->
    probability, in label order), "logits"}."""
    dummy_label = self.label_list[0]  # Only fills label_ids, which prediction ignores.
    features = []
    for index, (text_a, text_b) in enumerate(texts):
      example = ClassificationExample(self.name, index, text_a, text_b, dummy_label)
      features.extend(self.featurize(example, is_training=False))
    outputs = predictor.run(features, ["probabilities", "logits"], trim=True)
    results = []
    for probabilities, logits in zip(outputs["probabilities"], outputs["logits"]):
      best = int(np.argmax(probabilities))
      results.append({
          "label": self.label_list[best],
          "probability": float(probabilities[best]),
          "probabilities": {label: float(p) for label, p in zip(self.label_list, probabilities)},
          "logits": [float(x) for x in logits],
      })
    return results

  def output_header(self, output_format):
    if output_format == "json":
      return None
    return raw_inputs.tsv_line(["id", "label", "probability"] + self.label_list)

  def output_lines(self, ids, results, output_format, top_k=None):
    del top_k  # One label per input.
    for item_id, result in zip(ids, results):
      if output_format == "json":
        yield raw_inputs.json_line({"id": item_id, "label": result["label"],
                                    "probability": result["probability"],
                                    "probabilities": result["probabilities"]})
      else:
        probabilities = [f"{result['probabilities'][label]:.6f}" for label in self.label_list]
        yield raw_inputs.tsv_line([item_id, result["label"], f"{result['probability']:.6f}"]
                                  + probabilities)


def truncate_pair(tokens_a, tokens_b, max_length):
  """Shortens the longer list (b on ties) one token at a time until both fit, in place."""
  while len(tokens_a) + len(tokens_b) > max_length:
    longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    longer.pop()


class ChnSentiCorp(TsvClassificationTask):
  NAME = "chnsenticorp"

  def layout(self, split):
    return TsvLayout(text_a=1, text_b=None, label=0, names=("text_a", None, "label"))


class Waimai(ChnSentiCorp):
  """Food-delivery reviews (waimai_10k), split by tools/split_waimai.py into the ChnSentiCorp
  layout."""
  NAME = "waimai"


class LCQMC(TsvClassificationTask):
  NAME = "lcqmc"
  UNORDERED_PAIRS = True  # paraphrase: is sentence B the same question as A?

  def layout(self, split):
    return TsvLayout(text_a=0, text_b=1, label=2, names=("text_a", "text_b", "label"))


class BQCorpus(LCQMC):
  NAME = "bqcorpus"


class XNLI(TsvClassificationTask):
  """Train: XNLI-MT multinli.train.zh.tsv; dev/test: the XNLI-1.0 xnli.{dev,test}.tsv layout."""
  NAME = "xnli"
  # Index order as in the original ("contradictory", "entailment", "neutral").
  LABELS = ("contradiction", "entailment", "neutral")
  # XNLI-MT's train file says "contradictory", XNLI-1.0's gold labels say "contradiction".
  LABEL_SYNONYMS = {"contradictory": "contradiction"}

  def layout(self, split):
    if split == "train":
      return TsvLayout(text_a=0, text_b=1, label=2, names=("premise", "hypo", "label"))
    return TsvLayout(text_a=6, text_b=7, label=1, language=0,
                     names=("sentence1", "sentence2", "gold_label"))
