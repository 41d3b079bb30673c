# -*- coding: utf-8 -*-
"""CMRC 2018 / DRCD evaluation, scoring like the official CMRC 2018 script (v5/v6).

Pure Python 3 standard library. The official script calls ``nltk.word_tokenize`` on the
non-Chinese parts of an answer; this module carries its own emulation of that tokenizer
(a Punkt-style sentence split followed by NLTK's improved Treebank word tokenizer), so no
NLTK or punkt data is needed. See ``word_tokenize`` for what is emulated and where it can
differ.

Scoring, per question (all answers and the prediction are lower-cased and stripped):
  * F1: both sides are cut by ``mixed_segmentation`` with punctuation removed; the longest
    common *contiguous* run of segments gives precision over the prediction's segments and
    recall over the reference's; the best reference counts.
  * EM: 1 if the prediction equals any reference once the punctuation set is deleted.
  * A question without a prediction scores 0 and is counted in SKIP (and in TOTAL).
  * A question without reference answers (no `answers` field, or an empty list) makes the whole
    file an error naming those question ids. The official script cannot score such a file
    either: a missing field is a KeyError there, an empty list a ValueError (the max of no
    scores) as soon as the question has a prediction. Counting such a question as answered
    wrongly would lower the score silently.

Usage: python cmrc2018_drcd_evaluate.py DATASET PREDICTIONS [--output FILE]
"""

import argparse
import json
import re
import sys
from collections import OrderedDict

from finetune.qa.word_tokenize import word_tokenize
from util import fileio

# The official punctuation list, entry for entry. It is tested one character at a time,
# so the two-character entry "……" can never match: a lone "…" is NOT punctuation here.
# ASCII . , ! ? ( ) " ' are not in it either.
PUNCTUATION_ENTRIES = frozenset([
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
])

# The official script's notion of a Chinese character: the CJK Unified Ideographs block
# only up to U+9FA5 (extension blocks and compatibility ideographs are not included).
_CJK_CHAR = re.compile("[\u4e00-\u9fa5]")


# --------------------------------------------------------------------------------------
# Segmentation and per-question scores.
# --------------------------------------------------------------------------------------

def _normalize(text):
  # str() as in the official script, so non-string predictions (numbers) still score.
  return str(text).lower().strip()


def _is_cut_char(char):
  return char in PUNCTUATION_ENTRIES or _CJK_CHAR.match(char) is not None


def mixed_segmentation(text, remove_punc=False):
  """Every CJK or punctuation char is a segment; other runs are word-tokenized."""
  segments, pending = [], ""
  for char in _normalize(text):
    if remove_punc and char in PUNCTUATION_ENTRIES:
      continue
    if _is_cut_char(char):
      if pending:
        segments.extend(word_tokenize(pending))
        pending = ""
      segments.append(char)
    else:
      pending += char
  if pending:
    segments.extend(word_tokenize(pending))
  return segments


def remove_punctuation(text):
  """Lower-cased, stripped text without the official punctuation characters."""
  return "".join(c for c in _normalize(text) if c not in PUNCTUATION_ENTRIES)


def longest_common_run(first, second):
  """Length of the longest contiguous run of equal items shared by two sequences."""
  best = 0
  previous = [0] * (len(second) + 1)
  for item in first:
    current = [0] * (len(second) + 1)
    for j, other in enumerate(second):
      if item == other:
        current[j + 1] = previous[j] + 1
        best = max(best, current[j + 1])
    previous = current
  return best


def f1_score(answers, prediction):
  """Best segment-overlap F1 of `prediction` against any of `answers` (0..1)."""
  prediction_segments = mixed_segmentation(prediction, remove_punc=True)
  best = 0
  for answer in answers:
    answer_segments = mixed_segmentation(answer, remove_punc=True)
    overlap = longest_common_run(answer_segments, prediction_segments)
    if overlap == 0:
      continue
    # Same arithmetic as the official script, so sums agree to the last bit.
    precision = 1.0 * overlap / len(prediction_segments)
    recall = 1.0 * overlap / len(answer_segments)
    best = max(best, (2 * precision * recall) / (precision + recall))
  return best


def em_score(answers, prediction):
  """1 if `prediction` equals any answer after punctuation removal, else 0."""
  cleaned = remove_punctuation(prediction)
  return int(any(remove_punctuation(answer) == cleaned for answer in answers))


# --------------------------------------------------------------------------------------
# Datasets, totals and the command line.
# --------------------------------------------------------------------------------------

def _answer_text(answer):
  return answer["text"] if isinstance(answer, dict) else answer


def iter_questions(dataset):
  """Yield (question id, [answer texts]) from SQuAD-style or original CMRC data; the list
  is None when the question has no `answers` field."""
  # SQuAD style: {"data": [{"paragraphs": [{"qas": [...]}]}]}; original CMRC 2018:
  # [{"context_id", "context_text", "qas": [{"query_id", "answers": [str, ...]}]}].
  documents = dataset["data"] if isinstance(dataset, dict) and "data" in dataset else dataset
  if not isinstance(documents, list):
    raise ValueError("dataset is neither SQuAD-style {'data': [...]} nor a list of contexts")
  for document in documents:
    paragraphs = document["paragraphs"] if "paragraphs" in document else [document]
    for paragraph in paragraphs:
      for question in paragraph.get("qas", []):
        question_id = question["id"] if "id" in question else question.get("query_id")
        if question_id is None:
          raise ValueError("dataset question without 'id' or 'query_id'")
        answers = question.get("answers")
        yield question_id, None if answers is None else [_answer_text(a) for a in answers]


SHOWN_IDS = 5  # question ids named in the error; the count says how many more there are


class UnscorableDataset(ValueError):
  """The dataset has questions without reference answers."""


def _refuse_unanswerable(questions):
  """ValueError naming the questions that have no reference answer to score against."""
  lacking = [question_id for question_id, answers in questions if not answers]
  if not lacking:
    return
  shown = ", ".join(str(question_id) for question_id in lacking[:SHOWN_IDS])
  more = f" and {len(lacking) - SHOWN_IDS} more" if len(lacking) > SHOWN_IDS else ""
  raise UnscorableDataset(f"{len(lacking)} of {len(questions)} dataset questions have no reference "
                   f"answers (no \"answers\" field or an empty list): {shown}{more}; a score "
                   "needs answers for every question (remove those questions, or add answers)")


def _score(dataset, predictions, on_missing=None):
  if not isinstance(predictions, dict):
    raise ValueError("predictions must be a JSON object {question_id: answer_text}")
  questions = list(iter_questions(dataset))
  _refuse_unanswerable(questions)
  f1_sum, em_sum, total, skipped = 0, 0, 0, 0
  for question_id, answers in questions:
    total += 1
    if question_id not in predictions:
      skipped += 1
      if on_missing:
        on_missing(question_id)
      continue
    prediction = str(predictions[question_id])
    f1_sum += f1_score(answers, prediction)
    em_sum += em_score(answers, prediction)
  # The official script divides by zero on an empty dataset; report zeros instead.
  f1 = 100.0 * f1_sum / total if total else 0.0
  em = 100.0 * em_sum / total if total else 0.0
  return OrderedDict([("AVERAGE", (em + f1) * 0.5), ("F1", f1), ("EM", em),
                      ("TOTAL", total), ("SKIP", skipped)])


def evaluate(dataset_json_obj, predictions_dict):
  """Scores as percentages: {"AVERAGE", "F1", "EM", "TOTAL", "SKIP"}."""
  return dict(_score(dataset_json_obj, predictions_dict))


def _load_json(path, what):
  try:
    return json.loads(fileio.read_bytes(path))
  except OSError as e:
    raise ValueError(f"cannot read {what} file {path}: {e.strerror or e}")
  except ValueError as e:  # JSON syntax errors and undecodable bytes
    raise ValueError(f"{what} file {path} is not valid JSON: {e}")


def evaluate_files(dataset_path, prediction_path):
  """evaluate() on a dataset JSON file and a predictions JSON file."""
  return evaluate(_load_json(dataset_path, "dataset"),
                  _load_json(prediction_path, "prediction"))


def _report_missing(question_id):
  sys.stderr.write(f"Unanswered question: {question_id}\n")


def main(argv=None):
  parser = argparse.ArgumentParser(description="Evaluation script for CMRC 2018 / DRCD")
  parser.add_argument("dataset_file", help="dataset JSON (SQuAD-style or original CMRC)")
  parser.add_argument("prediction_file", help="predictions JSON {question_id: text}")
  parser.add_argument("--output", help="also write the result JSON to this file")
  args = parser.parse_args(argv)
  try:
    dataset = _load_json(args.dataset_file, "dataset")
    predictions = _load_json(args.prediction_file, "prediction")
    scores = _score(dataset, predictions, on_missing=_report_missing)
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    message = e.args[0] if isinstance(e, ValueError) else f"malformed dataset ({e!r})"
    if isinstance(e, UnscorableDataset):
      message = f"{args.dataset_file}: {message}"
    sys.stderr.write(f"error: {message}\n")
    return 2
  # Same field order and formatting as the official script's output line.
  result = OrderedDict((key, f"{scores[key]:.3f}") for key in ("AVERAGE", "F1", "EM"))
  result["TOTAL"] = scores["TOTAL"]
  result["SKIP"] = scores["SKIP"]
  result["FILE"] = args.prediction_file
  line = json.dumps(result)
  print(line)
  if args.output:
    try:
      with fileio.open_file(args.output, "w") as f:
        f.write(line + "\n")
    except OSError as e:
      sys.stderr.write(f"error: cannot write {args.output}: {e.strerror or e}\n")
      return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
