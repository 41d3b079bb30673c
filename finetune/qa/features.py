"""Featurisation helpers of the span-extraction QA tasks: WordPiece tokenisation of a context's
doc tokens with character offsets, the answer-span narrowing, sliding doc windows with their
max-context scores, and `QAFeature`, what one feature id means."""

import dataclasses

import numpy as np

@dataclasses.dataclass(eq=False)
class Wordpieces:
  """The WordPiece tokenisation of one context's doc tokens."""
  tokens: list
  ids: list
  tok_to_orig_index: np.ndarray  # wordpiece -> doc token
  orig_to_tok_index: np.ndarray  # doc token -> its first wordpiece; one extra entry at the end
  char_starts: np.ndarray  # wordpiece -> char span in the context (the whole doc token when
  char_ends: np.ndarray  # the pieces cannot be aligned to characters, e.g. [UNK])


def piece_char_offsets(token, pieces):
  """Char spans of `pieces` relative to the start of `token`, as (starts, ends) lists.

  Exact when the pieces (without "##") spell the token with the same length; otherwise
  (lower-casing changed the length, [UNK]) every piece gets the whole token, which is what the
  original's text alignment fell back to.
  """
  lengths = [len(piece) - 2 if i and piece.startswith("##") else len(piece)
             for i, piece in enumerate(pieces)]
  if len(pieces) == 1 or sum(lengths) != len(token):
    return [0] * len(pieces), [len(token)] * len(pieces)
  starts = [sum(lengths[:i]) for i in range(len(pieces))]
  return starts, [start + length for start, length in zip(starts, lengths)]


def tokenize_doc(doc, tokenize, convert_tokens_to_ids):
  """Wordpieces of every doc token. `tokenize(token)` returns (pieces, relative char starts,
  relative char ends) and is memoised by the caller."""
  tokens, tok_to_orig, orig_to_tok, char_starts, char_ends = [], [], [], [], []
  for index, (token, token_start) in enumerate(zip(doc.tokens, doc.starts.tolist())):
    orig_to_tok.append(len(tokens))
    pieces, starts, ends = tokenize(token)
    tokens.extend(pieces)
    tok_to_orig.extend([index] * len(pieces))
    char_starts.extend([token_start + start for start in starts])
    char_ends.extend([token_start + end for end in ends])
  orig_to_tok.append(len(tokens))
  return Wordpieces(tokens, convert_tokens_to_ids(tokens), np.asarray(tok_to_orig, np.int64),
                    np.asarray(orig_to_tok, np.int64), np.asarray(char_starts, np.int64),
                    np.asarray(char_ends, np.int64))


def improve_answer_span(doc_pieces, start, end, answer_pieces):
  """Narrows wordpiece span [start, end] to the sub-span that equals the tokenised answer,
  e.g. when the answer is "1895" but the covering doc token "1895s" gives more pieces."""
  for new_start in range(start, end + 1):
    for new_end in range(end, new_start - 1, -1):
      if doc_pieces[new_start:new_end + 1] == answer_pieces:
        return new_start, new_end
  return start, end


def doc_windows(n_pieces, max_tokens_for_doc, doc_stride):
  """(start, length) sliding windows over `n_pieces` wordpieces, the last one reaching the end."""
  windows = []
  start = 0
  while True:
    length = min(n_pieces - start, max_tokens_for_doc)
    windows.append((start, length))
    if start + length >= n_pieces:
      return windows
    start += min(length, doc_stride)


def max_context_windows(n_pieces, windows):
  """For each wordpiece, the window in which it has the most context on both sides.

  score = min(left context, right context) + 0.01 * window length; on ties the earlier window
  wins. A token appears in several windows only when they overlap, and its prediction is taken
  from this window alone.
  """
  best_window = np.full(n_pieces, -1, np.int64)
  best_score = np.full(n_pieces, -np.inf)
  for index, (start, length) in enumerate(windows):
    positions = np.arange(start, start + length)
    score = np.minimum(positions - start, start + length - 1 - positions) + 0.01 * length
    better = score > best_score[start:start + length]
    best_score[start:start + length][better] = score[better]
    best_window[start:start + length][better] = index
  return best_window


@dataclasses.dataclass(eq=False)
class QAFeature:
  """What one `<task>_eid` means: one window of one example.

  Window position p (0 = [CLS]) holds doc wordpiece `doc_start + p - query_offset` when
  query_offset <= p < query_offset + doc_length. The per-position views the original kept
  (tokens, token_to_orig_map, token_is_max_context) are derived on demand, so that memory stays
  proportional to the documents, not to features x max_seq_length.
  """
  eid: int
  example_index: int
  span_index: int
  query_tokens: list
  doc_start: int
  doc_length: int
  wordpieces: Wordpieces
  max_context_window: np.ndarray  # per doc wordpiece of the example: its best window

  @property
  def query_offset(self):
    return len(self.query_tokens) + 2

  @property
  def tokens(self):
    doc = self.wordpieces.tokens[self.doc_start:self.doc_start + self.doc_length]
    return ["[CLS]"] + list(self.query_tokens) + ["[SEP]"] + doc + ["[SEP]"]

  @property
  def token_to_orig_map(self):
    return {self.query_offset + i: int(self.wordpieces.tok_to_orig_index[self.doc_start + i])
            for i in range(self.doc_length)}

  @property
  def token_is_max_context(self):
    window = self.max_context_window[self.doc_start:self.doc_start + self.doc_length]
    return {self.query_offset + i: bool(window[i] == self.span_index)
            for i in range(self.doc_length)}
