"""WordPiece tokenization with BERT's `FullTokenizer` behaviour, plus a fast bulk path.

The behaviour (what tokens come out) is exactly that of the BERT / ELECTRA reference tokenizer:

1. Clean: drop NUL, U+FFFD and "control" characters: every category starting with C (Cc, Cf,
   Cn unassigned, Co private use, Cs surrogates) except tab, newline and carriage return, as
   ELECTRA's and Chinese-ELECTRA's tokenizers do (BERT's drops only Cc/Cf; private-use
   characters, which GBK-converted Chinese text carries, became [UNK] there); map whitespace
   (space, tab, newline, CR, category Zs) to a plain space.
2. Put spaces around every CJK ideograph (BERT's ranges, see `is_chinese_char`).
3. Split on whitespace (Python's `str.split`).
4. Per word, when lower-casing: `str.lower`, then NFD and drop combining marks (category Mn).
5. Split each word on punctuation (every punctuation char becomes its own token).
6. WordPiece: greedy longest-match-first against the vocabulary, continuation pieces prefixed
   with `##`; a word that cannot be fully segmented, or is longer than 200 chars, is `[UNK]`.

How it is made fast without changing the result. The per-character predicates are compiled
once per process into a translation table and regex character classes (`tables()` of
model/char_classes.py, where the predicates live).
Steps 1-3 then run as C code over the whole text (`str.translate` only when a line needs
cleaning, regex splitting), and steps 4-6 only ever look inside one whitespace-free "unit", so a
unit's output is a pure function of the unit that `FullTokenizer` memoises. Better still, CJK
chars and most punctuation are a token on their own whatever their neighbours, so they are
looked up char by char in a table (C-level `map` over the string), and only the "words" between
them (digit runs, Latin words) go through the word memo. A typical Chinese line needs one regex
match and one dict lookup per char. Each shortcut is justified where it is taken.

The vocabulary is treated as read-only after the tokenizer is built.
"""

import collections
import itertools
import re
import unicodedata

# The predicates are part of BERT's tokenization API; their home is model/char_classes.py.
from model.char_classes import (  # pylint: disable=unused-import
    CJK_RANGES, is_chinese_char, is_control, is_punctuation, is_whitespace, tables)
from util import fileio


def convert_to_unicode(text):
  """Returns `text` as str; bytes are decoded as UTF-8, dropping invalid bytes."""
  if isinstance(text, str):
    return text
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  raise ValueError(f"Unsupported string type: {type(text)}")


def printable_text(text):
  """Text suitable for print / logging (in Python 3 simply the str)."""
  return convert_to_unicode(text)


def load_vocab(vocab_file):
  """Reads a vocabulary file (one token per line) into an OrderedDict token -> line index.

  Lines are split on "\\n" only and stripped of surrounding whitespace, like BERT's loader: a
  blank line is the token "", and a repeated token keeps the index of its last occurrence.
  """
  vocab = collections.OrderedDict()
  # fileio imports TensorFlow only for a remote path (it would cost seconds in every worker).
  with fileio.open_file(vocab_file, "rb") as reader:
    for index, line in enumerate(reader):
      vocab[convert_to_unicode(line).strip()] = index
  return vocab


# The special tokens each kind of work needs. Whatever tokenizes text (the pre-training data
# builder, fine-tuning, prediction) puts [CLS] and [SEP] around every example and falls back to
# [UNK]; pre-training (run_pretraining.py, on data already built) masks with [MASK] and never
# masks [CLS] / [SEP]; an exported tokenizer also names [PAD] (padding is id 0 everywhere,
# whatever token that is).
REQUIRED_TOKENS = {
    "pre-training data": ("[UNK]", "[CLS]", "[SEP]"),
    "pre-training": ("[CLS]", "[SEP]", "[MASK]"),
    "fine-tuning": ("[UNK]", "[CLS]", "[SEP]"),
    "export": ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
}


class VocabularyError(ValueError):
  """A vocabulary file that cannot be used; the message is one line naming the file."""


def check_vocab(vocab_file, purpose):
  """The vocabulary of `vocab_file` as `load_vocab` reads it, after checking that it is usable
  for `purpose` (a key of REQUIRED_TOKENS): not empty, no token twice (a repeated token would
  silently take the id of its last line), and every special token the purpose needs.

  Raises VocabularyError naming the file (and the line of a repeated token).
  """
  vocab, first_line = collections.OrderedDict(), {}
  try:
    with fileio.open_file(vocab_file, "rb") as reader:
      for index, line in enumerate(reader):
        token = convert_to_unicode(line).strip()
        if token in first_line:
          shown = repr(token) if token else "'' (a blank line)"
          raise VocabularyError(f"{vocab_file}: line {index + 1}: the token {shown} is already "
                                f"on line {first_line[token]}; every token must be unique")
        first_line[token] = index + 1
        vocab[token] = index
  except OSError as e:
    raise VocabularyError(f"{vocab_file}: cannot read the vocabulary "
                          f"({getattr(e, 'strerror', None) or e})") from None
  if not vocab:
    raise VocabularyError(f"{vocab_file}: the vocabulary is empty")
  missing = [token for token in REQUIRED_TOKENS[purpose] if token not in vocab]
  if missing:
    raise VocabularyError(f"{vocab_file}: the vocabulary lacks {', '.join(missing)}, which "
                          f"{purpose} needs ({', '.join(REQUIRED_TOKENS[purpose])})")
  return vocab


def convert_by_vocab(vocab, items):
  """Maps each item through `vocab` (a KeyError for an unknown item, as in BERT)."""
  return [vocab[item] for item in items]


def whitespace_tokenize(text):
  """Strips and splits `text` on whitespace."""
  return text.split()


# ---------------------------------------------------------------------------------------------
# Steps 1-3 on whole lines, with the compiled character classes.


def clean_text(text):
  """Step 1: drops NUL / U+FFFD / control chars and maps whitespace to a space."""
  char_tables = tables()
  if _is_astral_free(text):
    if char_tables.needs_clean_bmp(text):  # most lines need nothing; skip the copy
      return char_tables.drop_bmp("", text).translate(char_tables.space_map)
    return text
  return char_tables.drop_bmp("", char_tables.drop_astral("", text)).translate(
      char_tables.space_map)


def _is_astral_free(text):
  """Whether every character of `text` is in plane 0 (one C-level pass)."""
  return not text or max(text) <= "\uffff"


def split_units(text):
  """Steps 1-3: the whitespace-separated tokens of the cleaned, CJK-spaced text."""
  return tables().find_units(clean_text(text))


# ---------------------------------------------------------------------------------------------
# The three tokenizer classes.


class BasicTokenizer:
  """Cleaning, CJK splitting, whitespace splitting, lower-casing and punctuation splitting."""

  def __init__(self, do_lower_case=True):
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    """Tokenizes a piece of text into words and punctuation (no WordPiece)."""
    output = []
    for unit in split_units(convert_to_unicode(text)):
      output.extend(self.split_unit(unit))
    return output

  def split_unit(self, unit):
    """Steps 4-5 for one whitespace-free unit, e.g. "Hello," -> ["hello", ","]."""
    if self.do_lower_case:
      unit = self._run_strip_accents(unit.lower())
    # BERT re-splits on whitespace after this step; lower()/NFD cannot create whitespace in
    # cleaned text, but the re-split is kept so the equivalence does not depend on that.
    return " ".join(self._run_split_on_punc(unit)).split()

  @staticmethod
  def _run_strip_accents(text):
    """NFD-decomposes and removes combining marks (category Mn)."""
    if text.isascii():  # ASCII is already NFD and has no marks
      return text
    return tables().drop_marks("", unicodedata.normalize("NFD", text))

  @staticmethod
  def _run_split_on_punc(text):
    """Splits text so that every punctuation char is a token of its own."""
    return tables().split_punct(text)


class WordpieceTokenizer:
  """Greedy longest-match-first WordPiece segmentation of whitespace-separated words."""

  def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word
    self._longest = 0
    self._longest_for_size = -1

  def tokenize(self, text):
    """E.g. "unaffable" -> ["un", "##aff", "##able"] with a suitable vocabulary."""
    output = []
    for word in whitespace_tokenize(convert_to_unicode(text)):
      output.extend(self.tokenize_word(word))
    return output

  def _longest_token(self):
    # No match can be longer than the longest vocabulary entry, so the greedy search may
    # start there instead of at the end of a long word (same result, far fewer slices).
    if self._longest_for_size != len(self.vocab):
      self._longest = max((len(token) for token in self.vocab), default=0)
      self._longest_for_size = len(self.vocab)
    return self._longest

  def tokenize_word(self, word):
    """WordPiece pieces of one whitespace-free word, or [unk_token]."""
    length = len(word)
    if length > self.max_input_chars_per_word:
      return [self.unk_token]
    vocab = self.vocab
    longest = self._longest_token()
    pieces = []
    start = 0
    while start < length:
      end = min(length, start + longest)
      while start < end:
        piece = word[start:end] if start == 0 else "##" + word[start:end]
        if piece in vocab:
          break
        end -= 1
      else:  # no prefix of the remainder is in the vocabulary
        return [self.unk_token]
      pieces.append(piece)
      start = end
    return pieces


class _CharTable(dict):
  """char -> the one token (or id) of a char that is always a token on its own: a CJK char or a
  standalone punctuation char. Filled lazily; bounded by the number of such code points.
  """

  def __init__(self, lookup):
    super().__init__()
    self._lookup = lookup

  def __missing__(self, char):
    value = self[char] = self._lookup(char)
    return value


class FullTokenizer:
  """BasicTokenizer followed by WordpieceTokenizer, with memoised fast bulk paths.

  Fast path (`_run`): the cleaned text is cut into runs of single-token chars (CJK, standalone
  punctuation, spaces) and the "words" between them. Run chars are looked up one by one in a
  char table by C-level `map`; a word's output comes from a memo. Most Chinese lines are a
  single run. `cache_size` bounds each word memo; a full memo is emptied, which bounds memory on
  open-vocabulary text.
  """

  def __init__(self, vocab_file, do_lower_case=True, cache_size=100_000):
    self.vocab = load_vocab(vocab_file)
    self.inv_vocab = {index: token for token, index in self.vocab.items()}
    self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
    self._tables = tables()
    self._cache_size = cache_size
    self._token_cache = {}
    self._id_cache = {}
    self._char_tokens = _CharTable(self._char_token)
    self._char_ids = _CharTable(lambda char: self.vocab[self._char_tokens[char]])
    # Lower-casing a capital sigma looks at its neighbours, even across "." or "'", so text
    # with one must not be cut at punctuation first. U+2028/U+2029 separate words without
    # being cleaned to a space. Such (rare) text takes the unit-by-unit path.
    self._needs_units = re.compile(
        "[\u2028\u2029" + ("\u03a3" if do_lower_case else "") + "]").search

  def tokenize(self, text):
    """WordPiece tokens of `text`, identical to BERT's FullTokenizer.tokenize."""
    return self._run(text, self._char_tokens, self._token_cache, self._learn_tokens)

  def tokenize_to_ids(self, text):
    """Same as convert_tokens_to_ids(tokenize(text)), much faster."""
    # A KeyError (e.g. [UNK] missing from the vocabulary) is the one convert_tokens_to_ids
    # would raise.
    return self._run(text, self._char_ids, self._id_cache, self._learn_ids)

  def convert_tokens_to_ids(self, tokens):
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    return convert_by_vocab(self.inv_vocab, ids)

  def _run(self, text, chars, words, learn_word):
    """Outputs for `text` from the char table `chars` and the word memo `words`."""
    if not isinstance(text, str):
      text = convert_to_unicode(text)
    tables = self._tables
    if tables.is_plain(text) and not tables.has_unassigned_cjk(text):
      return list(map(chars.__getitem__, text.replace(" ", "") if " " in text else text))
    text = clean_text(text)
    if self._needs_units(text):
      return self._flatten(tables.find_units(text), words, learn_word)
    parts = tables.split_words(text)  # [run, word, run, word, ..., run]
    output = list(map(chars.__getitem__, parts[0].replace(" ", "")))
    for i in range(1, len(parts), 2):
      known = words.get(parts[i])
      output += known if known is not None else learn_word(parts[i])
      output += map(chars.__getitem__, parts[i + 1].replace(" ", ""))
    return output

  @staticmethod
  def _flatten(units, cache, learn):
    """Concatenated memoised outputs of `units`, learning the ones not yet seen."""
    return list(itertools.chain.from_iterable(
        cache[unit] if unit in cache else learn(unit) for unit in units))

  def _remember(self, cache, unit, value):
    if len(cache) >= self._cache_size:
      cache.clear()
    cache[unit] = value
    return value

  def _word_tokens(self, unit):
    tokens = []
    for word in self.basic_tokenizer.split_unit(unit):
      tokens.extend(self.wordpiece_tokenizer.tokenize_word(word))
    return tokens

  def _char_token(self, char):
    (token,) = self._word_tokens(char)  # a lone CJK / punctuation char is exactly one token
    return token

  def _learn_tokens(self, unit):
    return self._remember(self._token_cache, unit, tuple(self._word_tokens(unit)))

  def _learn_ids(self, unit):
    ids = tuple(self.convert_tokens_to_ids(self._word_tokens(unit)))
    return self._remember(self._id_cache, unit, ids)
