"""The character classes of BERT's tokenizer: per-character predicates and compiled tables.

The predicates (`is_whitespace`, `is_control`, `is_punctuation`, `is_chinese_char`) are the
definitions. `CharTables` compiles them once per process into a translation table and regex
character classes (about 0.05 s), so that model/tokenization.py can clean and split whole lines
in C code instead of asking the predicates char by char; the tests compare both on every code
point.

What lives where: here the classes of characters; model/tokenization.py the tokenizers that use
them (and re-exports the predicates, part of BERT's tokenization API).
"""

import bisect
import itertools
import re
import unicodedata

# BERT's "CJK Unified Ideographs" blocks (inclusive). Hangul, kana etc. are deliberately absent:
# they are written with spaces, so BERT treats them like any other letters.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# ASCII chars that are not letters or digits count as punctuation, although some ("$", "^",
# "`", ...) are symbols (category S*) in Unicode.
_ASCII_PUNCT_RANGES = ((33, 47), (58, 64), (91, 96), (123, 126))

# Planes 4-13 hold no assigned character up to Unicode 16.0 (category Cn) and planes 15-16 are
# private use (Co): all of their code points are dropped by cleaning and none is whitespace,
# punctuation or a mark, so the tables drop them as whole ranges instead of visiting them one
# by one. Skipping them makes building the tables 3x faster (0.16 -> 0.05 s), which is a third
# of the start-up of build_pretraining_dataset.py's workers. For a newer Unicode version every
# code point is visited.
_LAST_CHECKED_UNICODE = (16, 0)
_EMPTY_PLANES = tuple(range(4, 14)) + (15, 16)


# ---------------------------------------------------------------------------------------------
# Per-character predicates: the definitions that everything else is derived from.


def is_whitespace(char):
  """Space, tab, newline, CR and category Zs count as whitespace (mapped to a space)."""
  if char in (" ", "\t", "\n", "\r"):
    return True
  return unicodedata.category(char) == "Zs"


def is_control(char):
  """Any category C* (Cc, Cf, Cn, Co, Cs), except tab/newline/CR which are whitespace (these
  chars are dropped), as the original ELECTRA tokenizer."""
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char).startswith("C")


def is_punctuation(char):
  """Non-alphanumeric ASCII, or any char of a Unicode punctuation category (P*)."""
  cp = ord(char)
  if any(low <= cp <= high for low, high in _ASCII_PUNCT_RANGES):
    return True
  return unicodedata.category(char).startswith("P")


def is_chinese_char(cp):
  """Whether code point `cp` is in one of BERT's CJK ideograph blocks."""
  return any(low <= cp <= high for low, high in CJK_RANGES)


# ---------------------------------------------------------------------------------------------
# Precomputed tables (built once per process, on first use).


def _char_class(codepoints):
  """A regex character class body matching exactly `codepoints` (sorted ints)."""
  parts = []
  for _, run in itertools.groupby(enumerate(codepoints), lambda pair: pair[1] - pair[0]):
    run = [cp for _, cp in run]
    # \UXXXXXXXX escapes never need further escaping inside a class.
    if len(run) == 1:
      parts.append(f"\\U{run[0]:08X}")
    else:
      parts.append(f"\\U{run[0]:08X}-\\U{run[-1]:08X}")
  return "".join(parts)


class CharTables:
  """Translation table and compiled regexes equivalent to the per-character predicates."""

  def __init__(self):
    space_map = {}
    dropped = []
    spaces, punct, standalone_punct, marks = [], [], [], []
    # The tests compare these inlined predicates with a plain per-char reference on every code
    # point; calling is_control() etc. here would double the build time.
    for cp in code_points_to_visit():
      char = chr(cp)
      category = unicodedata.category(char)
      if cp == 0 or cp == 0xFFFD or (category[0] == "C" and char not in "\t\n\r"):
        dropped.append(cp)
      elif cp != 0x20 and (char in "\t\n\r" or category == "Zs"):
        space_map[cp] = " "
      if char.isspace():  # exactly the separators of str.split()
        spaces.append(cp)
      if category[0] == "P" or (cp < 128 and is_punctuation(char)):
        punct.append(cp)
        if _is_inert(char):
          standalone_punct.append(cp)
      if category == "Mn":
        marks.append(cp)
    cjk = "".join(f"\\U{first:08X}-\\U{last:08X}" for first, last in CJK_RANGES)
    space = _char_class(spaces)
    # Dropped: the visited code points, plus the skipped planes as whole ranges. The regexes
    # for planes 1-16 are kept apart: a character class with many ranges outside plane 0 is
    # scanned range by range for every character, which made cleaning 3x slower, and text
    # rarely holds such characters at all.
    astral = [cp for cp in dropped if cp > 0xFFFF]
    astral_class = _char_class(astral) + "".join(
        f"\\U{plane << 16:08X}-\\U{(plane << 16) | 0xFFFF:08X}"
        for plane in _skipped_planes())
    bmp_class = _char_class([cp for cp in dropped if cp <= 0xFFFF])
    self.space_map = space_map
    self.drop_bmp = re.compile(f"[{bmp_class}]+").sub
    self.drop_astral = re.compile(f"[{astral_class}]+").sub
    self.needs_clean_bmp = re.compile(
        f"[{bmp_class}{_char_class(sorted(space_map))}]").search
    # A unit is one CJK char or a maximal run of chars that are neither space nor CJK.
    self.find_units = re.compile(f"[{cjk}]|[^{space}{cjk}]+").findall
    # Split into [chars, word, chars, word, ..., chars]: "chars" runs hold only CJK chars,
    # standalone punctuation and spaces; each such char is one token whatever its context.
    standalone = cjk + _char_class(standalone_punct)
    self.split_words = re.compile(f"([^{standalone}{space}]+)").split
    # Text made only of such chars and plain spaces needs neither cleaning nor word handling,
    # unless it holds one of the CJK blocks' few unassigned code points (dropped by cleaning).
    self.is_plain = re.compile(f"[{standalone} ]*").fullmatch
    self.has_unassigned_cjk = re.compile(
        f"[{_char_class(_code_points_within(CJK_RANGES, dropped))}]").search
    # Punctuation chars alone, and maximal runs of everything else.
    punct_class = _char_class(punct)
    self.split_punct = re.compile(f"[{punct_class}]|[^{punct_class}]+").findall
    self.drop_marks = re.compile(f"[{_char_class(marks)}]+").sub


def _code_points_within(ranges, code_points):
  """The members of `code_points` (sorted ints) that lie in one of the inclusive `ranges`."""
  inside = []
  for low, high in ranges:
    inside += code_points[bisect.bisect_left(code_points, low):
                          bisect.bisect_right(code_points, high)]
  return sorted(inside)


def _skipped_planes():
  """The planes that hold only unassigned or private-use code points in the running Unicode
  version (none if it is newer than the one checked)."""
  version = tuple(int(part) for part in unicodedata.unidata_version.split(".")[:2])
  return () if version > _LAST_CHECKED_UNICODE else _EMPTY_PLANES


def code_points_to_visit():
  """Every code point, less the skipped planes."""
  skipped = _skipped_planes()
  return itertools.chain.from_iterable(
      range(plane << 16, (plane + 1) << 16) for plane in range(17) if plane not in skipped)


def _is_inert(char):
  """Whether lower-casing and NFD leave `char` alone and it blocks mark reordering.

  Cutting a word at such a punctuation char before lower-casing / accent stripping gives the
  same tokens as cutting after (BERT's order) - except around a capital sigma, whose lower
  case depends on its neighbours (see tokenization.FullTokenizer._needs_units).
  """
  return (char.lower() == char and unicodedata.normalize("NFD", char) == char
          and unicodedata.combining(char) == 0)


_TABLES = None


def tables():
  """The process's CharTables, built on first use."""
  global _TABLES  # pylint: disable=global-statement
  if _TABLES is None:
    _TABLES = CharTables()
  return _TABLES
