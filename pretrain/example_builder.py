"""The pre-training example algorithm: tokenized sentences -> `[CLS] A [SEP] B [SEP]` examples.

It follows the original ELECTRA builder: tokenized sentences are accumulated until their length
reaches a target length (usually `max_seq_length`) or a document ends; the sentences are then
split into segment A and B, truncated and wrapped as `[CLS] A [SEP] B [SEP]`. The original
Chinese-ELECTRA release puts almost every sentence into A (google-research/electra#20); the
corrected rule is the default and the old one is kept behind `legacy_segment_bug`.

What lives where:
- here: `ExampleBuilder` (segment rules, truncation, target lengths), `iter_segments` (text
  lines -> (A, B) token-id pairs), `make_features` and `build_examples` (feature dicts, for tests
  and demos);
- `pretrain/tfrecord_encoding.py`: the bytes of the tf.train.Example records and TFRecord files;
- `pretrain/unit_worker.py`: the examples of one unit of the corpus, in a worker process;
- `pretrain/dataset_writer.py`: the multi-process build of the shards
  (`build_pretraining_dataset.py` is its command line).

Pure Python: no TensorFlow, no numpy.
"""

import random

# Segment A's target length when an example is meant to have a single segment.
SINGLE_SEGMENT_TARGET = 100000


class ExampleBuilder:
  """Accumulates tokenized sentences and turns them into (segment A, segment B) pairs.

  `add_sentence` / `end_document` return a pair of token-id lists (B may be empty) when an
  example is complete, else None. The random draws happen in the same places and order as
  in the original builder, so one seeded `rng` gives one reproducible example stream.
  """

  def __init__(self, max_seq_length, rng, legacy_segment_bug=False):
    if max_seq_length < 5:
      raise ValueError(f"max_seq_length must be at least 5, got {int(max_seq_length)}")
    self.max_seq_length = max_seq_length
    self.legacy_segment_bug = legacy_segment_bug
    self._rng = rng
    self._sentences = []
    self._length = 0
    self._target_length = max_seq_length
    self.tokens_added = 0  # before truncation, for the statistics

  def add_sentence(self, token_ids):
    """Adds one sentence; returns an example once the target length is reached."""
    self._sentences.append(token_ids)
    self._length += len(token_ids)
    self.tokens_added += len(token_ids)
    if self._length >= self._target_length:
      return self._create_example()
    return None

  def end_document(self):
    """A document boundary: flushes the sentences collected so far, if any."""
    if self._length:
      return self._create_example()
    return None

  def _create_example(self):
    # The draws, in order: single segment or not, the segment rule's coin flips, the next
    # target length.
    first, second = self._split_segments()
    first, second = truncate_segments(first, second, self.max_seq_length)
    self._sentences = []
    self._length = 0
    self._target_length = self._next_target_length()
    return first, second

  def _split_segments(self):
    """Distributes the collected sentences over segment A and segment B."""
    rng = self._rng
    if rng.random() < 0.1:
      # Sometimes a single segment, like the inputs of classification tasks.
      first_target = SINGLE_SEGMENT_TARGET
    else:
      first_target = (self._target_length - 3) // 2  # room for [CLS] and two [SEP]
    goes_first = _goes_first_legacy if self.legacy_segment_bug else _goes_first
    first, second = [], []
    for sentence in self._sentences:
      if goes_first(first, second, sentence, first_target, rng):
        first.extend(sentence)
      else:
        second.extend(sentence)
    return first, second

  def _next_target_length(self):
    """Occasionally a shorter example, so the model also sees short inputs."""
    rng = self._rng
    if rng.random() < 0.05:
      return rng.randint(5, self.max_seq_length)
    return self.max_seq_length


def truncate_segments(first, second, max_seq_length):
  """Cuts A, then B, so that `[CLS] A [SEP] (B [SEP])` fits in `max_seq_length` tokens."""
  first = first[:max_seq_length - 2]
  second = second[:max(0, max_seq_length - len(first) - 3)]
  return first, second


def _goes_first(first, second, sentence, first_target, rng):
  """Corrected rule: A while it is empty or still fits; at the border a coin flip, once."""
  return (not first or len(first) + len(sentence) < first_target or
          (not second and len(first) < first_target and rng.random() < 0.5))


def _goes_first_legacy(first, second, sentence, first_target, rng):
  """Chinese-ELECTRA's condition: any sentence after a non-empty A also goes to A.

  B only gets the leading sentences that are each too long for the empty A.
  """
  return (bool(first) or len(first) + len(sentence) < first_target or
          (bool(second) and len(first) < first_target and rng.random() < 0.5))


def iter_segments(lines, tokenize, builder, blanks_separate_docs=True):
  """Yields the (A, B) pairs built from text lines; the end of `lines` ends a document."""
  for line in lines:
    line = line.strip()
    if line:
      token_ids = tokenize(line)
      if token_ids:  # a line of dropped characters adds nothing
        example = builder.add_sentence(token_ids)
        if example is not None:
          yield example
    elif blanks_separate_docs:
      example = builder.end_document()
      if example is not None:
        yield example
  example = builder.end_document()
  if example is not None:
    yield example


def make_features(first, second, cls_id, sep_id, max_seq_length):
  """The feature lists of one example: `[CLS] A [SEP] (B [SEP])`, zero-padded."""
  input_ids = [cls_id] + list(first) + [sep_id]
  segment_ids = [0] * len(input_ids)
  if second:
    input_ids += list(second) + [sep_id]
    segment_ids += [1] * (len(second) + 1)
  padding = [0] * (max_seq_length - len(input_ids))
  return {
      "input_ids": input_ids + padding,
      "input_mask": [1] * len(input_ids) + padding,
      "segment_ids": segment_ids + padding,
  }


def build_examples(lines,
                   tokenizer,
                   max_seq_length=128,
                   seed=0,
                   blanks_separate_docs=True,
                   legacy_segment_bug=False):
  """Yields feature dicts (see `make_features`) for text lines, for tests and demos.

  `tokenizer` needs `tokenize_to_ids` and `vocab`. The file-writing path uses the same
  `ExampleBuilder`, but seeds one generator per unit (`unit_worker.unit_seed`), so its
  examples are not the ones `random.Random(seed)` gives here.
  """
  builder = ExampleBuilder(max_seq_length, random.Random(seed), legacy_segment_bug)
  cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
  for first, second in iter_segments(lines, tokenizer.tokenize_to_ids, builder,
                                     blanks_separate_docs):
    yield make_features(first, second, cls_id, sep_id, max_seq_length)
