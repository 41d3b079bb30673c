"""Builds a character-level Chinese WordPiece vocabulary from plain-text files.

Layout (same indices as BERT's Chinese vocab): [PAD]=0, [unused1]..[unused99]=1..99, [UNK]=100,
[CLS]=101, [SEP]=102, [MASK]=103, then the corpus tokens by descending count, ties broken by the
token string, so the same corpus always gives the same file.

Corpus tokens come from the same BasicTokenizer that model/tokenization.py applies: each basic
token (a CJK char, a punctuation char, or another word such as "abc" or "１９９８") adds its first
char as a token and every following char as a "##" continuation ("a", "##b", "##c"). With
such a vocabulary every word of the corpus segments into known pieces, never [UNK] (unless
cut by --min-count / --vocab-size, or longer than WordPiece's 200-char limit).

Example:
  python build_vocab.py --input 'corpus/*.txt' --output vocab.txt --vocab-size 21128
"""

import argparse
import collections
import glob
import os
import sys
import tempfile

from model import tokenization

SPECIAL_TOKENS = (["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)]
                  + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"])


def count_words(lines, do_lower_case=True):
  """Counter of basic-tokenizer words over `lines` (str or bytes)."""
  basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  # Whitespace units repeat a lot (every CJK char is one), so split each distinct unit once.
  units = collections.Counter()
  for line in lines:
    units.update(tokenization.split_units(tokenization.convert_to_unicode(line)))
  words = collections.Counter()
  for unit, count in units.items():
    for word in basic.split_unit(unit):
      words[word] += count
  return words


def count_pieces(word_counts):
  """Counter of vocabulary candidates: first chars plainly, later chars as "##" forms."""
  pieces = collections.Counter()
  for word, count in word_counts.items():
    pieces[word[0]] += count
    for char in word[1:]:
      pieces["##" + char] += count
  return pieces


def select_tokens(piece_counts, vocab_size=None, min_count=1):
  """Special tokens, then pieces with count >= min_count, most frequent first, capped."""
  specials = set(SPECIAL_TOKENS)
  ranked = sorted((-count, piece) for piece, count in piece_counts.items()
                  if count >= min_count and piece not in specials)
  vocab = SPECIAL_TOKENS + [piece for _, piece in ranked]
  if vocab_size is not None:
    if vocab_size < len(SPECIAL_TOKENS):
      raise ValueError(f"vocab_size must be at least {len(SPECIAL_TOKENS)} (the special tokens), "
                       f"got {vocab_size}")
    vocab = vocab[:vocab_size]
  return vocab


def build_vocab(lines, vocab_size=None, min_count=1, do_lower_case=True):
  """The vocabulary (list of tokens, index = id) for the text `lines`."""
  pieces = count_pieces(count_words(lines, do_lower_case=do_lower_case))
  return select_tokens(pieces, vocab_size=vocab_size, min_count=min_count)


def write_vocab(tokens, path):
  """Writes one token per line; atomically, so readers never see a half-written file."""
  directory = os.path.dirname(os.path.abspath(path))
  handle, temp_path = tempfile.mkstemp(prefix=".vocab-", suffix=".tmp", dir=directory)
  try:
    with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as writer:
      writer.write("".join(token + "\n" for token in tokens))
    os.replace(temp_path, path)
  except BaseException:
    os.unlink(temp_path)
    raise


def expand_inputs(patterns):
  """Files named by `patterns` (paths or globs), in a stable order.

  Raises FileNotFoundError naming the first pattern that matches no file.
  """
  paths = []
  for pattern in patterns:
    if glob.has_magic(pattern):
      matches = sorted(glob.glob(pattern))
    else:
      matches = [pattern] if os.path.isfile(pattern) else []
    if not matches:
      raise FileNotFoundError(f"input file not found: {pattern}")
    paths.extend(matches)
  return paths


def read_lines(paths):
  """The text lines of `paths`, decoded strictly as UTF-8 (the tokenizer drops a BOM).

  Raises ValueError naming the file, line and byte offset of the first byte that is not UTF-8
  (a GBK corpus, say) or of a NUL byte (a binary file): reading such a file leniently would put
  mis-decoded characters into the vocabulary without a word.
  """
  for path in paths:
    with open(path, "rb") as reader:
      offset = 0
      for line_number, raw in enumerate(reader, 1):
        yield _decode_line(path, line_number, offset, raw)
        offset += len(raw)


def _decode_line(path, line_number, offset, raw):
  if b"\0" in raw:
    where = offset + raw.index(b"\0")
    raise ValueError(f"{path}: line {line_number}, byte {where}: a NUL byte; this looks like a "
                     "binary file, not UTF-8 text")
  try:
    return raw.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: line {line_number}, byte {offset + e.start}: not UTF-8 "
                     f"({e.reason}); convert the corpus to UTF-8 first (e.g. iconv -f GBK "
                     "-t UTF-8)") from None


def check_output_path(path):
  """ValueError unless `path` can be written: its directory exists and it is not a directory."""
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise ValueError(f"cannot write {path}: the directory {directory} does not exist")
  if os.path.isdir(path):
    raise ValueError(f"cannot write {path}: it is a directory")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description="Build a character-level Chinese WordPiece vocabulary (BERT layout: [PAD], "
                  "[unused1..99], [UNK], [CLS], [SEP], [MASK], then corpus tokens by frequency).")
  parser.add_argument("--input", nargs="+", required=True, metavar="PATH_OR_GLOB",
                      help="text files (or quoted globs) to count, one sentence per line")
  parser.add_argument("--output", required=True, help="vocabulary file to write")
  parser.add_argument("--vocab-size", type=int, default=None,
                      help="maximum number of tokens, special tokens included (default: all)")
  parser.add_argument("--min-count", type=int, default=1,
                      help="drop corpus tokens seen fewer times than this (default: 1)")
  parser.add_argument("--no-lower-case", dest="do_lower_case", action="store_false",
                      help="keep case and accents (must match the tokenizer's do_lower_case)")
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  try:
    check_output_path(args.output)
    paths = expand_inputs(args.input)
    tokens = build_vocab(read_lines(paths), vocab_size=args.vocab_size,
                         min_count=args.min_count, do_lower_case=args.do_lower_case)
    if len(tokens) == len(SPECIAL_TOKENS):
      raise ValueError(f"no text in {', '.join(paths)}: the vocabulary would hold only the "
                       f"{len(SPECIAL_TOKENS)} special tokens")
  except (OSError, ValueError) as error:
    # One line, no traceback: these are user errors (bad path, bad size), not bugs.
    print(f"build_vocab.py: error: {error}", file=sys.stderr)
    return 2
  write_vocab(tokens, args.output)
  num_special = len(SPECIAL_TOKENS)
  print(f"wrote {len(tokens)} tokens ({num_special} special + {len(tokens) - num_special} from "
        f"the corpus, {len(paths)} file(s)) to {args.output}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
