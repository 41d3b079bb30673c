"""Tagging (named-entity recognition) tasks: People's Daily NER and any set in the same format.

Data: `<raw_data_dir>/{train,dev,test}.txt`, i.e. DATA/finetuning_data/<task>/train.txt etc.,
one token (character) and its tag a line, a blank line between sentences (see
finetune/tagging/reading.py). Tags may be written in BIO, BIOES or BMES; they are read as spans
and re-written in the task's own scheme, so e.g. a BMES set can train a BIOES task and a BIOES
set a BIO one. A tag of an unknown entity type is a one-line error naming the file and line.

Features, as the original ELECTRA's tagging task: each word (character) is tokenized on its
own, its label goes to its FIRST sub-token (label_weights 1); the other sub-tokens, [CLS],
[SEP] and padding get label_weights 0 and count neither in the loss nor in scoring. A sentence
with more tokens than max_seq_length - 2 is SPLIT (not truncated) into pieces that each fit,
cut after punctuation where possible; the pieces train as separate rows and are put back
together for scoring (counted in one warning a split, and as "split_sentences" in the results
JSON). Unlike the original, segment_ids are 0 (a single text, as the classification tasks).

A new tagging set is a subclass naming its entity types and scheme plus a registry entry in
finetune/task_builder.py, e.g.

    class MSRANER(TaggingTask):
      NAME = "msra_ner"
      ENTITY_TYPES = ("PER", "LOC", "ORG")

Outputs. With write_test_outputs, each scored split's predicted entities go to
<model>/test_predictions/<task>_<split>_<trial>_predictions.jsonl, a JSON line a sentence
{"id", "text", "entities": [{"text", "type", "char_start", "char_end"}]} with
text[char_start:char_end] == the entity's text. predict.py takes raw text (a text a line, or
{"text", "id"} JSON lines; every non-whitespace character is a word) and gives the same
entities, offsets into the input line.
"""

import os

from finetune import raw_inputs
from finetune import task as task_lib
from finetune.tagging import reading
from finetune.tagging import scorer as scorer_lib
from finetune.tagging import spans as spans_lib
from util import fileio
from util import utils

# A long sentence is cut after one of these when one lies in the second half of the piece.
CUT_AFTER = frozenset("，。！？；：、,.!?;:")
OUTPUT_KEYS = ("eid", "word_offset", "label_weights", "predictions")


class TaggingExample(task_lib.Example):
  """A sentence: its words (characters), their tags (None for raw text), and where each word
  starts in `text`."""

  def __init__(self, task_name, eid, words, tags, text=None, char_offsets=None):
    super().__init__(task_name, eid)
    self.words = list(words)
    self.tags = tags
    if text is None:  # words of a data file: the text is their concatenation
      text = "".join(self.words)
      char_offsets = [0]
      for word in self.words[:-1]:
        char_offsets.append(char_offsets[-1] + len(word))
    self.text = text
    self.char_offsets = char_offsets

  @classmethod
  def from_text(cls, task_name, eid, text):
    """Raw text: every non-whitespace character is a word."""
    offsets = [i for i, char in enumerate(text) if not char.isspace()]
    return cls(task_name, eid, [text[i] for i in offsets], None, text, offsets)

  def entities(self, tags):
    """[{"text", "type", "char_start", "char_end"}] of word-level `tags` (label strings)."""
    entities = []
    for kind, start, end in spans_lib.extract_spans(tags):
      char_start = self.char_offsets[start]
      char_end = self.char_offsets[end - 1] + len(self.words[end - 1])
      entities.append({"text": self.text[char_start:char_end], "type": kind,
                       "char_start": char_start, "char_end": char_end})
    return entities


def piece_bounds(words, token_counts, room):
  """[(start, end)] word ranges covering the sentence, each of at most `room` tokens (a single
  longer word stands alone), cut after punctuation in the second half of a piece if possible."""
  bounds, start = [], 0
  while start < len(words):
    end, used = start, 0
    while end < len(words) and used + token_counts[end] <= room:
      used += token_counts[end]
      end += 1
    if end == start:
      end += 1
    elif end < len(words):
      middle = start + (end - start) // 2
      end = next((cut for cut in range(end, middle, -1) if words[cut - 1] in CUT_AFTER), end)
    bounds.append((start, end))
    start = end
  return bounds


class TaggingTask(task_lib.Task):
  """Token classification read from one-token-a-line files; subclasses name the entity types
  and the scheme."""

  NAME = None
  ENTITY_TYPES = ()
  SCHEME = "BIO"

  def __init__(self, config, tokenizer):
    super().__init__(config, self.NAME, tokenizer)
    self.label_list = spans_lib.label_list(self.ENTITY_TYPES, self.SCHEME)
    self._label_ids = {label: i for i, label in enumerate(self.label_list)}
    self.data_stats = {}  # split -> counts of sentences read and split (into the results JSON)
    self._examples = {}  # split -> the examples last read, for write_outputs

  # -- data --------------------------------------------------------------------------------------

  def input_files(self, split):
    path = os.path.join(self.config.raw_data_dir(self.name), f"{split}.txt")
    if not fileio.exists(path):
      raise FileNotFoundError(f"{self.name}: no {split} data, expected {path}")
    return [path]

  def get_examples(self, split):
    path = self.input_files(split)[0]
    sentences = reading.read_sentences(path)
    if not sentences:
      raise ValueError(f"{self.name}: {path} holds no tagged sentences")
    examples = [TaggingExample(self.name, eid, sentence.words, self._task_tags(path, sentence))
                for eid, sentence in enumerate(sentences)]
    n_split = sum(len(self._pieces(example)) > 1 for example in examples)
    if n_split and split not in self.data_stats:  # once, though runs read a split twice
      utils.warning(f"{self.name} {split}: {n_split} of {len(examples)} sentences longer than "
                    f"max_seq_length {self.config.max_seq_length} are split into pieces "
                    f"(scored whole)")
    self.data_stats[split] = {"sentences": len(examples), "split_sentences": n_split}
    self._examples[split] = examples
    return examples

  def _task_tags(self, path, sentence):
    """The sentence's tags checked and re-written in the task's scheme."""
    for position, tag in enumerate(sentence.tags):
      where = f"{path}, line {sentence.line_of(position)}"
      try:
        _, kind = spans_lib.parse_tag(tag)
      except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
      if kind is not None and kind not in self.ENTITY_TYPES:
        raise ValueError(f"{where}: entity type {kind!r} (tag {tag!r}) is not one of "
                         f"{self.name}'s types {', '.join(self.ENTITY_TYPES)}")
    spans = spans_lib.extract_spans(sentence.tags)
    return spans_lib.spans_to_tags(spans, len(sentence.words), self.SCHEME)

  # -- features ----------------------------------------------------------------------------------

  def plain_feature_specs(self):
    length = self.config.max_seq_length
    return [task_lib.FeatureSpec("eid", ()), task_lib.FeatureSpec("word_offset", ()),
            task_lib.FeatureSpec("label_ids", (length,)),
            task_lib.FeatureSpec("label_weights", (length,))]

  def cache_settings(self):
    return {f"{self.name}_labels": self.label_list}  # the label ids in the records

  def truncation_description(self):
    room = self.config.max_seq_length - 2
    return "sentences", f"{room} tokens (a word longer than that lost its tail)"

  def _word_ids(self, word):
    # A character the tokenizer drops (a control character) still needs a position.
    return list(self.tokenizer.tokenize_to_ids(word)) or [self.tokenizer.vocab["[UNK]"]]

  def _pieces(self, example, word_ids=None):
    word_ids = word_ids or [self._word_ids(word) for word in example.words]
    return piece_bounds(example.words, [len(ids) for ids in word_ids],
                        self.config.max_seq_length - 2)

  def plain_features(self, example, is_training):
    """One feature dict per piece of the sentence (usually one)."""
    word_ids = [self._word_ids(word) for word in example.words]
    room = self.config.max_seq_length - 2
    self.truncated += any(len(ids) > room for ids in word_ids)
    self.truncated_tokens += sum(max(len(ids) - room, 0) for ids in word_ids)
    return [self._piece_features(example, word_ids, start, end)
            for start, end in self._pieces(example, word_ids)]

  def _piece_features(self, example, word_ids, start, end):
    room = self.config.max_seq_length - 2
    input_ids, label_ids, label_weights = [], [], []
    for position in range(start, end):
      ids = word_ids[position]
      label = self._label_ids[example.tags[position]] if example.tags else 0
      input_ids += ids
      label_ids += [label] + [0] * (len(ids) - 1)
      label_weights += [1] + [0] * (len(ids) - 1)
    if len(input_ids) > room:  # one word with more sub-tokens than fit: its tail is cut
      del input_ids[room:], label_ids[room:], label_weights[room:]
    vocab = self.tokenizer.vocab
    input_ids = [vocab["[CLS]"]] + input_ids + [vocab["[SEP]"]]
    padding = [0] * (self.config.max_seq_length - len(input_ids))
    return {
        "input_ids": input_ids + padding,
        "input_mask": [1] * len(input_ids) + padding,
        "segment_ids": [0] * self.config.max_seq_length,
        "eid": example.eid,
        "word_offset": start,
        "label_ids": [0] + label_ids + [0] + padding,
        "label_weights": [0] + label_weights + [0] + padding,
    }

  # -- model, scoring and outputs ---------------------------------------------------------------

  def make_head(self, hidden_size):
    # Imported here so that reading and scoring need no TensorFlow.
    from finetune.tagging.head import TaggingHead  # pylint: disable=import-outside-toplevel
    return TaggingHead(self.name, hidden_size, len(self.label_list))

  def get_scorer(self, split):
    return scorer_lib.SpanScorer(self.label_list, self.ENTITY_TYPES)

  def metrics(self):
    return ([task_lib.Metric(name, name) for name in ("precision", "recall", "f1")]
            + [task_lib.Metric(f"f1_{kind}", f"f1_{kind}") for kind in self.ENTITY_TYPES]
            + [task_lib.Metric("loss", "loss", "lower")])

  def tags_of(self, label_ids):
    return [self.label_list[int(i)] for i in label_ids]

  def outputs_path(self, split, trial):
    """results of `split`: test_predictions/<task>_<split>_<trial>_predictions.jsonl."""
    stem = os.path.splitext(self.config.test_predictions(self.name, split, trial))[0]
    return stem + ".jsonl"

  def write_outputs(self, scorer, split, trial):
    """The predicted entities of every sentence, for the first n_writes_test trials
    (write_test_outputs)."""
    config = self.config
    if not (config.write_test_outputs and trial <= config.n_writes_test):
      return
    examples = self._examples.get(split) or self.get_examples(split)
    lines = []
    for example in examples:
      label_ids = scorer.sentences.get(example.eid, [])
      lines.append(raw_inputs.json_line({"id": example.eid, "text": example.text,
                                         "entities": example.entities(self.tags_of(label_ids))}))
    path = self.outputs_path(split, trial)
    utils.write_text(path, "\n".join(lines) + "\n", atomic=True)
    utils.log(f"Wrote the predicted entities of {len(lines)} {self.name} {split} sentences to "
              f"{path}")

  def serving_info(self):
    return {"task_type": "tagging", "labels": list(self.label_list), "scheme": self.SCHEME,
            "entity_types": list(self.ENTITY_TYPES),
            "input_format": "[CLS] text [SEP] (segment 0), zero-padded, each character "
                            "tokenized on its own; a character's label is the prediction at "
                            "its first sub-token"}

  # -- raw text (predict.py) ---------------------------------------------------------------------

  default_output_format = "json"

  def read_raw_inputs(self, text):
    """[(id, text)]: one text a line, or a JSON object {"text", "id"?} a line; ids default to
    the line number. Blank lines are skipped."""
    inputs = []
    for line_number, line in raw_inputs.numbered_lines(text):
      if line.lstrip().startswith("{"):
        value = raw_inputs.json_object(line, line_number)
        inputs.append((value.get("id", line_number),
                       raw_inputs.text_field(value, "text", line_number)))
      else:
        inputs.append((line_number, line))
    return inputs

  def predict_raw(self, predictor, texts):
    """{"entities": [...]} for each raw text, char offsets into that text."""
    examples = [TaggingExample.from_text(self.name, index, text)
                for index, text in enumerate(texts)]
    features = [feature for example in examples
                for feature in self.featurize(example, is_training=False)]
    outputs = predictor.run(features, list(OUTPUT_KEYS))
    labels = scorer_lib.word_labels(outputs) if features else {}
    return [{"entities": example.entities(self.tags_of(
        labels[example.eid]["predictions"] if example.eid in labels else []))}
            for example in examples]

  def output_header(self, output_format):
    return "id\ttype\tchar_start\tchar_end\ttext" if output_format == "tsv" else None

  def output_lines(self, ids, results, output_format, top_k=None):
    """JSON: {"id", "entities"} a text; TSV: a row per entity (an empty row for none)."""
    del top_k  # Every entity is output.
    for item_id, result in zip(ids, results):
      if output_format == "json":
        yield raw_inputs.json_line({"id": item_id, "entities": result["entities"]})
        continue
      rows = [[entity["type"], entity["char_start"], entity["char_end"], entity["text"]]
              for entity in result["entities"]] or [["", "", "", ""]]
      for row in rows:
        yield raw_inputs.tsv_line([item_id] + row)


class PeoplesDailyNER(TaggingTask):
  """People's Daily (January 1998) NER built by tools/make_peoples_daily_ner.py."""
  NAME = "peoples_daily_ner"
  ENTITY_TYPES = ("PER", "LOC", "ORG")
  SCHEME = "BIO"
