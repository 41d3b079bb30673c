"""A deliberately plain, character-by-character WordPiece tokenizer (BERT's algorithm).

It is the yardstick for `model.tokenization`: the tests check that the fast tokenizer gives the
same tokens on random text, and the benchmark measures the speed-up over it. It is written for
obviousness, not speed, and shares no code with `model.tokenization`, so a mistake in the fast
tables cannot hide in both.
"""

import unicodedata


def _is_cjk(char):
  cp = ord(char)
  return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
          or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F
          or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
          or 0x2F800 <= cp <= 0x2FA1F)


def _is_whitespace(char):
  return char in (" ", "\t", "\n", "\r") or unicodedata.category(char) == "Zs"


def _is_control(char):
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char).startswith("C")  # ELECTRA's rule: every C* category


def _is_punctuation(char):
  cp = ord(char)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


def _clean(text):
  out = []
  for char in text:
    if ord(char) == 0 or ord(char) == 0xFFFD or _is_control(char):
      continue
    out.append(" " if _is_whitespace(char) else char)
  return "".join(out)


def _space_cjk(text):
  out = []
  for char in text:
    if _is_cjk(char):
      out.append(" " + char + " ")
    else:
      out.append(char)
  return "".join(out)


def _strip_accents(word):
  out = []
  for char in unicodedata.normalize("NFD", word):
    if unicodedata.category(char) != "Mn":
      out.append(char)
  return "".join(out)


def _split_punctuation(word):
  pieces = []
  current = ""
  for char in word:
    if _is_punctuation(char):
      if current:
        pieces.append(current)
        current = ""
      pieces.append(char)
    else:
      current += char
  if current:
    pieces.append(current)
  return pieces


def basic_tokenize(text, do_lower_case=True):
  """Words and punctuation of `text` after cleaning, CJK spacing and lower-casing."""
  words = []
  for word in _space_cjk(_clean(text)).split():
    if do_lower_case:
      word = _strip_accents(word.lower())
    words.extend(_split_punctuation(word))
  return " ".join(words).split()


def wordpiece_tokenize(word, vocab, unk_token="[UNK]", max_chars=200):
  """Greedy longest-match-first pieces of one word: every end position is tried."""
  if len(word) > max_chars:
    return [unk_token]
  pieces = []
  start = 0
  while start < len(word):
    match = None
    for end in range(len(word), start, -1):
      candidate = word[start:end]
      if start > 0:
        candidate = "##" + candidate
      if candidate in vocab:
        match = candidate
        break
    if match is None:
      return [unk_token]
    pieces.append(match)
    start += len(match) - (2 if start > 0 else 0)
  return pieces


def tokenize(text, vocab, do_lower_case=True):
  """The full pipeline: basic tokenization, then WordPiece on every word."""
  tokens = []
  for word in basic_tokenize(text, do_lower_case):
    tokens.extend(wordpiece_tokenize(word, vocab))
  return tokens


def tokenize_to_ids(text, vocab, do_lower_case=True):
  return [vocab[token] for token in tokenize(text, vocab, do_lower_case)]
