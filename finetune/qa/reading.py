"""Reading SQuAD-v1-format Chinese QA data (CMRC 2018, DRCD) into examples.

The original ELECTRA reader split the context on whitespace only, so an unspaced
Chinese paragraph became ONE doc token and `answer_start` was effectively ignored: the gold span
was the first match of the answer anywhere in that token (ymcui/Chinese-ELECTRA#25). Here the
context is cut the way BERT's BasicTokenizer cuts text: every CJK character and every
punctuation character is a doc token of its own, whitespace separates tokens, and the remaining
runs (latin words, numbers) stay whole. Every doc token keeps its character span in the context,
so the gold span is exactly the doc tokens covering [answer_start, answer_start + len(text)),
and post-processing can slice the original context (spaces between latin words included).
"""

import dataclasses
import functools
import logging

import numpy as np

from finetune import task as task_lib
from model import tokenization

logger = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class DocTokens:
  """A context cut into doc tokens, shared by all questions about that context."""
  context: str
  tokens: list  # the doc tokens (substrings of `context`)
  starts: np.ndarray  # char offset where each doc token starts
  ends: np.ndarray  # char offset just after each doc token
  char_to_word_offset: list  # per context char: its doc token (whitespace: the one before)
  wordpieces: object = None  # features.Wordpieces, filled in by the task on first featurisation


@functools.lru_cache(maxsize=None)  # text reuses few distinct chars; the predicates are slow
def _char_kind(char):
  """'space' (separator, also the chars the tokenizer drops: NUL, U+FFFD, controls), 'single'
  (a CJK or punctuation char, always a token of its own) or 'run' (part of a latin word or a
  number)."""
  if (char.isspace() or char in "\x00\ufffd" or tokenization.is_whitespace(char)
      or tokenization.is_control(char)):
    return "space"
  if tokenization.is_chinese_char(ord(char)) or tokenization.is_punctuation(char):
    return "single"
  return "run"


def split_context(context):
  """Cuts `context` into doc tokens; see the module docstring for the rule."""
  tokens, starts, ends, char_to_word_offset = [], [], [], []
  run_start = None  # start of the latin/digit run being collected, if any

  def close_run(end):
    nonlocal run_start
    if run_start is not None:
      tokens.append(context[run_start:end])
      starts.append(run_start)
      ends.append(end)
      run_start = None

  for index, char in enumerate(context):
    kind = _char_kind(char)
    if kind != "run":
      close_run(index)
    if kind == "single":
      tokens.append(char)
      starts.append(index)
      ends.append(index + 1)
    elif kind == "run" and run_start is None:
      run_start = index
    # A run char belongs to the token that will be appended when the run closes.
    char_to_word_offset.append(len(tokens) if kind == "run" else max(len(tokens) - 1, 0))
  close_run(len(context))
  return DocTokens(context, tokens, np.asarray(starts, np.int64), np.asarray(ends, np.int64),
                   char_to_word_offset)


class QAExample(task_lib.Example):
  """One question about one context. `start_position` / `end_position` are doc-token indices
  of the gold answer (answers[0], or the first answer that could be located), or None."""

  def __init__(self, task_name, eid, split, qas_id, question_text, doc, orig_answer_text,
               start_position, end_position, answer_texts):
    super().__init__(task_name, eid)
    self.split = split
    self.qas_id = qas_id
    self.question_text = question_text
    self.doc = doc
    self.orig_answer_text = orig_answer_text
    self.start_position = start_position
    self.end_position = end_position
    self.answer_texts = answer_texts

  @property
  def doc_tokens(self):
    return self.doc.tokens

  @property
  def context(self):
    return self.doc.context

  def __repr__(self):
    return (f"QAExample({self.qas_id}, {self.question_text!r}, "
            f"answer={self.orig_answer_text!r}, span={self.start_position}-{self.end_position})")


SHOWN_IDS = 5  # ids of questions without answers kept for messages


@dataclasses.dataclass
class ReadStats:
  """Counts of answers that needed help or could not be located."""
  questions: int = 0
  unanswered: int = 0  # no answers at all (no "answers" field or an empty list)
  unanswered_ids: list = dataclasses.field(default_factory=list)  # the first few of them
  realigned: int = 0  # answer_start did not point at the answer text; another occurrence used
  unfindable: int = 0  # answer text not in the context at all


def locate_answer(context, text, answer_start):
  """Returns (char_start, realigned) for `text` in `context`, or (None, False).

  `answer_start` is honoured when the context really has `text` there. Otherwise the occurrence
  nearest to `answer_start` is used: the annotation errors seen in CMRC data are small offsets
  (off by one), and the nearest occurrence is the first one whenever the text occurs once.
  """
  if answer_start is not None and 0 <= answer_start and context.startswith(text, answer_start):
    return answer_start, False
  occurrences = []
  found = context.find(text)
  while found >= 0:
    occurrences.append(found)
    found = context.find(text, found + 1)
  if not occurrences:
    return None, False
  target = answer_start if answer_start is not None else 0
  return min(occurrences, key=lambda start: (abs(start - target), start)), True


def covering_doc_tokens(doc, char_start, char_end):
  """Indices (first, last) of the doc tokens overlapping [char_start, char_end), or None."""
  first = int(np.searchsorted(doc.ends, char_start, side="right"))  # first ending after start
  last = int(np.searchsorted(doc.starts, char_end, side="left")) - 1  # last starting before end
  if first > last:
    return None
  return first, last


def _gold_span(doc, answers, stats):
  """(text, first_token, last_token) of the first answer that can be located, else None."""
  for answer in answers:
    text = answer["text"]
    # Surrounding whitespace is not part of any doc token; trim it and shift the offset.
    stripped = text.strip()
    if not stripped:
      continue
    shift = len(text) - len(text.lstrip())
    answer_start = answer.get("answer_start")
    start, realigned = locate_answer(
        doc.context, stripped, None if answer_start is None else int(answer_start) + shift)
    if start is None:
      continue
    span = covering_doc_tokens(doc, start, start + len(stripped))
    if span is None:
      continue
    stats.realigned += realigned
    return stripped, span[0], span[1]
  stats.unfindable += 1
  return None


def make_example(task_name, eid, split, qas_id, question, context, answers=(), stats=None):
  """One QAExample: `question` about `context` (a string, or the DocTokens of one to share them
  between questions). The gold span is the first of `answers` (SQuAD answer dicts) that can be
  located; without answers (prediction inputs) the example has none. `stats` counts the
  answers that needed realigning or could not be found."""
  doc = context if isinstance(context, DocTokens) else split_context(context)
  stats = ReadStats() if stats is None else stats
  gold = _gold_span(doc, answers, stats) if answers else None
  text, start, end = gold if gold is not None else (None, None, None)
  return QAExample(task_name, eid, split, qas_id, question, doc, text, start, end,
                   [answer["text"] for answer in answers])


def read_squad_examples(dataset, task_name, split, is_training):
  """QAExamples of a SQuAD-format json object. Training drops questions without answers or
  whose answer cannot be located (there is nothing to learn from them), counting both; other
  splits keep every question."""
  examples = []
  stats = ReadStats()
  for article in dataset["data"]:
    for paragraph in article["paragraphs"]:
      doc = split_context(paragraph["context"])
      for qa in paragraph["qas"]:
        stats.questions += 1
        if not qa.get("answers"):
          stats.unanswered += 1
          if len(stats.unanswered_ids) < SHOWN_IDS:
            stats.unanswered_ids.append(qa["id"])
        example = make_example(task_name, len(examples), split, qa["id"], qa["question"], doc,
                               qa.get("answers", []), stats)
        if example.start_position is None and is_training:
          continue
        examples.append(example)
  logger.info("%s %s: %d questions, %d examples, %d without answers, %d answers realigned to "
              "the text, %d answers not found in their context%s", task_name, split,
              stats.questions, len(examples), stats.unanswered, stats.realigned,
              stats.unfindable, " (skipped)" if is_training else "")
  return examples, stats
