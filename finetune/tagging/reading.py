"""Reader of the one-token-a-line tagging format of the common Chinese NER sets.

    中 B-ORG
    共 I-ORG
    中 I-ORG
    央 I-ORG
    总 O
    <blank line between sentences>

Each non-blank line holds a token (for the Chinese sets, one character) and its tag, separated
by whitespace (spaces or a tab); with more than two fields (CoNLL style) the first is the token
and the last the tag. Blank lines and CoNLL's "-DOCSTART-" lines end a sentence. The file is
UTF-8 (a byte-order mark is allowed); anything else is a one-line ValueError naming the file and
the line. This is the layout of MSRA, Weibo, Resume and People's Daily NER as they are usually
distributed (the Resume and Weibo sets' `*.char.bmes` files included).
"""

import dataclasses

from util import fileio

DOCSTART = "-DOCSTART-"


@dataclasses.dataclass
class TaggedSentence:
  """One sentence of a file: its tokens and their tags as written, and where it starts."""
  first_line: int
  words: list
  tags: list

  def line_of(self, position):
    """The file line of the token at `position` (a sentence's lines are consecutive)."""
    return self.first_line + position


def _decoded_lines(path):
  data = fileio.read_bytes(path)
  try:
    return data.decode("utf-8-sig").splitlines()
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise ValueError(f"{path}, line {line}: not valid UTF-8 ({e.reason}); convert the file to "
                     f"UTF-8 (e.g. iconv -f GBK)") from None


def read_sentences(path):
  """The file's sentences, in order; sentences without tokens are not returned."""
  sentences = []
  current = None
  for line_number, line in enumerate(_decoded_lines(path), start=1):
    fields = line.split()
    if not fields or fields[0] == DOCSTART:
      current = None
      continue
    if len(fields) < 2:
      raise ValueError(f"{path}, line {line_number}: expected a token and its tag separated by "
                       f"whitespace, got {line.strip()!r}")
    if current is None:
      current = TaggedSentence(line_number, [], [])
      sentences.append(current)
    current.words.append(fields[0])
    current.tags.append(fields[-1])
  return sentences


def format_sentences(sentences):
  """The file text of [(words, tags)]: "token tag" lines, a blank line after each sentence."""
  return "".join("".join(f"{word} {tag}\n" for word, tag in zip(words, tags)) + "\n"
                 for words, tags in sentences)
