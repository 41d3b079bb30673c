"""Tagging: span extraction (BIO / BIOES, malformed sequences), the one-token-a-line reader,
first-sub-token featurisation, long-sentence pieces, the span F1 scorer and the head."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from configure_finetuning import FinetuningConfig
from finetune import task_builder
from finetune.tagging import head as head_lib
from finetune.tagging import reading
from finetune.tagging import scorer as scorer_lib
from finetune.tagging import spans
from finetune.tagging import tasks as tasks_lib
from model import modeling

# Each character once: a repeated token is a vocabulary error (民 occurs twice in the text).
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
         + list(dict.fromkeys("江泽民在北京人民大会堂讲话，。我们")) + ["ab", "##cd"])
NAME = "peoples_daily_ner"


@pytest.fixture
def data_dir(tmp_path):
  (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
  return tmp_path


def write_split(data_dir, split, text):
  task_dir = data_dir / "finetuning_data" / NAME
  task_dir.mkdir(parents=True, exist_ok=True)
  path = task_dir / f"{split}.txt"
  path.write_text(text, encoding="utf-8")
  return path


def make_task(data_dir, **kwargs):
  config = FinetuningConfig("electra-small", str(data_dir), task_names=[NAME], **kwargs)
  return task_builder.get_tasks(config)[0]


def lines(*sentences):
  return "".join("".join(f"{c} {t}\n" for c, t in zip(chars, tags.split())) + "\n"
                 for chars, tags in sentences)


SENTENCE = ("江泽民在北京", "B-PER I-PER I-PER O B-LOC I-LOC")


# ---- spans ----

@pytest.mark.parametrize("tags, expected", [
    ("B-PER I-PER O B-LOC", [("PER", 0, 2), ("LOC", 3, 4)]),
    ("B-PER B-PER", [("PER", 0, 1), ("PER", 1, 2)]),
    ("O I-PER I-PER O", [("PER", 1, 3)]),  # I- without B- starts a span
    ("B-PER I-LOC I-LOC", [("PER", 0, 1), ("LOC", 1, 3)]),  # a type change ends it
    ("I-ORG", [("ORG", 0, 1)]),
    ("O O", []),
    ("", []),
])
def test_bio_spans(tags, expected):
  assert spans.extract_spans(tags.split()) == expected


@pytest.mark.parametrize("tags, expected", [
    ("S-PER B-LOC I-LOC E-LOC O", [("PER", 0, 1), ("LOC", 1, 4)]),
    ("B-ORG E-ORG E-ORG", [("ORG", 0, 2), ("ORG", 2, 3)]),  # E after E starts anew
    ("B-ORG I-ORG O", [("ORG", 0, 2)]),  # no E-: the span ends at O
    ("E-LOC S-LOC", [("LOC", 0, 1), ("LOC", 1, 2)]),
    ("B-PER M-PER E-PER", [("PER", 0, 3)]),  # BMES: M is I
])
def test_bioes_spans(tags, expected):
  assert spans.extract_spans(tags.split()) == expected


@pytest.mark.parametrize("scheme, expected", [
    ("BIO", "B-PER I-PER O B-LOC"), ("BIOES", "B-PER E-PER O S-LOC")])
def test_spans_to_tags_round_trip(scheme, expected):
  found = [("PER", 0, 2), ("LOC", 3, 4)]
  tags = spans.spans_to_tags(found, 4, scheme)
  assert tags == expected.split()
  assert spans.extract_spans(tags) == found


def test_bad_tags_and_labels():
  with pytest.raises(ValueError, match="neither O nor"):
    spans.parse_tag("PER")
  assert spans.label_list(["PER"], "BIOES") == ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
  with pytest.raises(ValueError, match="unknown tagging scheme"):
    spans.label_list(["PER"], "IOB2")


def test_precision_recall_f1_in_percent():
  assert spans.precision_recall_f1(*spans.span_counts(
      [("PER", 0, 2), ("LOC", 3, 4)], [("PER", 0, 2), ("LOC", 3, 5)])) == (50.0, 50.0, 50.0)
  assert spans.precision_recall_f1(0, 0, 0) == (0.0, 0.0, 0.0)


# ---- reader ----

def test_reader_splits_sentences_and_names_lines(tmp_path):
  path = tmp_path / "train.txt"
  path.write_text("-DOCSTART- O\n\n江 B-PER\n泽\tI-PER\n\n\n北 x y B-LOC\n", encoding="utf-8")
  sentences = reading.read_sentences(str(path))
  assert [(s.first_line, s.words, s.tags) for s in sentences] == [
      (3, ["江", "泽"], ["B-PER", "I-PER"]), (7, ["北"], ["B-LOC"])]
  path.write_text("江 B-PER\n泽\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"train.txt, line 2: expected a token and its tag"):
    reading.read_sentences(str(path))
  path.write_bytes("江 O\n".encode() + b"\xff O\n")
  with pytest.raises(ValueError, match=r"train.txt, line 2: not valid UTF-8"):
    reading.read_sentences(str(path))


def test_task_rewrites_tags_in_its_scheme_and_checks_types(data_dir):
  write_split(data_dir, "train", lines(("江泽民在北京", "B-PER M-PER E-PER O S-LOC O")))
  task = make_task(data_dir)
  (example,) = task.get_examples("train")
  assert example.tags == "B-PER I-PER I-PER O B-LOC O".split()
  path = write_split(data_dir, "dev", lines(SENTENCE, ("我们", "O B-GPE")))
  with pytest.raises(ValueError, match=rf"{path}, line 9: entity type 'GPE'"):
    task.get_examples("dev")
  with pytest.raises(FileNotFoundError, match="no test data, expected .*test.txt"):
    task.input_files("test")


# ---- features ----

def test_label_on_the_first_sub_token_only(data_dir):
  write_split(data_dir, "train", "江 B-PER\nabcd I-PER\n在 O\n\n")
  task = make_task(data_dir, max_seq_length=8)
  (feature,) = task.plain_features(task.get_examples("train")[0], is_training=True)
  vocab = task.tokenizer.vocab
  ids = [vocab[t] for t in ["[CLS]", "江", "ab", "##cd", "在", "[SEP]"]] + [0, 0]
  labels = task.label_list
  assert feature["input_ids"] == ids
  assert feature["input_mask"] == [1] * 6 + [0, 0]
  assert feature["segment_ids"] == [0] * 8
  assert feature["label_weights"] == [0, 1, 1, 0, 1, 0, 0, 0]
  assert feature["label_ids"] == [0, labels.index("B-PER"), labels.index("I-PER"), 0,
                                  labels.index("O"), 0, 0, 0]
  assert (feature["eid"], feature["word_offset"]) == (0, 0)
  assert {spec.name for spec in task.plain_feature_specs()} == {
      "eid", "word_offset", "label_ids", "label_weights"}
  (record,) = task.featurize(task.get_examples("train")[0], is_training=True)
  assert record[f"{NAME}_label_weights"] == feature["label_weights"]
  assert record["task_id"] == 0


def test_long_sentences_are_split_after_punctuation_and_counted(data_dir, caplog):
  chars = "江泽民在北京，人民大会堂讲话。"
  tags = "B-PER I-PER I-PER O B-LOC I-LOC O B-LOC I-LOC I-LOC I-LOC I-LOC O O O"
  write_split(data_dir, "train", lines((chars, tags), SENTENCE))
  task = make_task(data_dir, max_seq_length=12)  # room for 10 tokens
  with caplog.at_level(logging.WARNING):
    examples = task.get_examples("train")
  assert "1 of 2 sentences longer than max_seq_length 12 are split" in caplog.text
  assert task.data_stats["train"] == {"sentences": 2, "split_sentences": 1}
  features = task.plain_features(examples[0], is_training=True)
  assert [f["word_offset"] for f in features] == [0, 7]  # cut after "，", not mid-entity
  assert [sum(f["label_weights"]) for f in features] == [7, 8]
  assert task.truncated == 0


def test_piece_bounds_cover_every_word():
  words = list("一二三四五六七")
  assert tasks_lib.piece_bounds(words, [1] * 7, 3) == [(0, 3), (3, 6), (6, 7)]
  assert tasks_lib.piece_bounds(words[:3], [1, 5, 1], 2) == [(0, 1), (1, 2), (2, 3)]


# ---- scorer ----

def rows(task, eid, offset, gold, predicted, loss=1.0, width=8):
  """One row of predicted outputs with one token per word after [CLS]."""
  n = len(gold.split())
  pad = lambda values: [0] + values + [0] * (width - 1 - len(values))
  ids = lambda tags: pad([task.label_list.index(t) for t in tags.split()])
  return {"eid": np.array([eid]), "word_offset": np.array([offset]),
          "label_weights": np.array([pad([1] * n)]), "loss": np.array([loss]),
          "label_ids": np.array([ids(gold)]), "predictions": np.array([ids(predicted)])}


def test_scorer_joins_pieces_and_scores_spans(data_dir):
  task = make_task(data_dir)
  scorer = task.get_scorer("dev")
  # Sentence 0 comes in two pieces with one LOC across the cut; both are right.
  scorer.update(rows(task, 0, 2, "I-LOC O", "I-LOC O", loss=3.0))
  scorer.update(rows(task, 0, 0, "B-PER B-LOC", "B-PER B-LOC"))
  scorer.update(rows(task, 1, 0, "B-ORG I-ORG O B-PER", "B-ORG O O I-PER", loss=2.0))
  results = scorer.get_results()
  # gold: PER, LOC, ORG, PER; predicted: PER, LOC, ORG (wrong end), PER (from a bare I-)
  assert results["precision"] == pytest.approx(75.0)
  assert results["recall"] == pytest.approx(75.0)
  assert results["f1"] == pytest.approx(75.0)
  assert (results["f1_PER"], results["f1_LOC"], results["f1_ORG"]) == (100.0, 100.0, 0.0)
  assert results["loss"] == pytest.approx(2.0)
  assert scorer.sentences[0].tolist() == [task.label_list.index(t)
                                          for t in "B-PER B-LOC I-LOC O".split()]


def test_scorer_without_rows_raises(data_dir):
  with pytest.raises(ValueError, match="no examples"):
    make_task(data_dir).get_scorer("dev").get_results()


def test_entities_carry_char_offsets_into_the_raw_text(data_dir):
  example = tasks_lib.TaggingExample.from_text(NAME, 0, " 江 泽民在北京 ")
  assert example.words == list("江泽民在北京")
  entities = example.entities("B-PER I-PER I-PER O B-LOC I-LOC".split())
  assert entities == [{"text": "江 泽民", "type": "PER", "char_start": 1, "char_end": 5},
                      {"text": "北京", "type": "LOC", "char_start": 6, "char_end": 8}]


def test_raw_inputs_plain_and_json_lines(data_dir):
  task = make_task(data_dir)
  text = "江泽民在北京\n\n" + json.dumps({"text": "我们", "id": "x"}, ensure_ascii=False) + "\n"
  assert task.read_raw_inputs(text) == [(1, "江泽民在北京"), ("x", "我们")]
  with pytest.raises(ValueError, match="line 2: \"text\" must be a non-empty string"):
    task.read_raw_inputs("我们\n{\"id\": 3}\n")
  lines_out = list(task.output_lines([1, 2], [
      {"entities": [{"text": "北京", "type": "LOC", "char_start": 4, "char_end": 6}]},
      {"entities": []}], "tsv"))
  assert task.output_header("tsv") == "id\ttype\tchar_start\tchar_end\ttext"
  assert lines_out == ["1\tLOC\t4\t6\t北京", "2\t\t\t\t"]


# ---- head ----

def test_head_names_shapes_and_masked_loss(data_dir):
  task = make_task(data_dir, max_seq_length=5)
  head = task.make_head(8)
  assert {n: v.shape.as_list() for n, v in modeling.named_variables(head).items()} == {
      f"task_specific/{NAME}/dense/kernel": [8, 7], f"task_specific/{NAME}/dense/bias": [7]}
  tf.random.set_seed(0)
  hidden = tf.random.normal([2, 5, 8])
  features = {"label_ids": tf.constant([[0, 1, 2, 0, 0], [0, 3, 0, 0, 0]]),
              "label_weights": tf.constant([[0, 1, 1, 0, 0], [0, 1, 0, 0, 0]]),
              "word_offset": tf.constant([0, 0]), "eid": tf.constant([4, 5])}
  loss = head.loss(hidden, features, training=True)
  logits = head.logits(hidden).numpy()
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  want = [-(log_p[0, 1, 1] + log_p[0, 2, 2]), -log_p[1, 1, 3]]
  np.testing.assert_allclose(loss.numpy(), want, rtol=1e-5)
  predicted = head.predict(hidden, features)
  assert predicted["predictions"].shape == (2, 5)
  np.testing.assert_allclose(predicted["loss"].numpy(), want, rtol=1e-5)
  assert predicted["eid"].numpy().tolist() == [4, 5]
  served = head.serving_outputs(hidden, {})
  assert served["probabilities"].shape == (2, 5, 7)
  assert isinstance(head, head_lib.TaggingHead)
  assert task.serving_info()["labels"][:3] == ["O", "B-PER", "I-PER"]


def test_scorer_word_labels_sorts_pieces():
  got = scorer_lib.word_labels({
      "eid": np.array([3, 3]), "word_offset": np.array([1, 0]),
      "label_weights": np.array([[0, 1, 0], [0, 1, 0]]),
      "predictions": np.array([[0, 5, 0], [0, 6, 0]])})
  assert got[3]["predictions"].tolist() == [6, 5]


def test_write_outputs_gives_entities_per_sentence(data_dir):
  write_split(data_dir, "dev", lines(SENTENCE, ("我们", "O O")))
  task = make_task(data_dir, write_test_outputs=True, n_writes_test=1)
  examples = task.get_examples("dev")
  scorer = task.get_scorer("dev")
  for example in examples:
    tags = " ".join(example.tags)
    scorer.update(rows(task, example.eid, 0, tags, tags))
  assert scorer.get_results()["f1"] == 100.0
  task.write_outputs(scorer, "dev", trial=2)  # only the first n_writes_test trials write
  assert not os.path.exists(task.outputs_path("dev", 2))
  task.write_outputs(scorer, "dev", trial=1)
  with open(task.outputs_path("dev", 1), encoding="utf-8") as f:
    written = [json.loads(line) for line in f]
  assert written == [
      {"id": 0, "text": "江泽民在北京", "entities": [
          {"text": "江泽民", "type": "PER", "char_start": 0, "char_end": 3},
          {"text": "北京", "type": "LOC", "char_start": 4, "char_end": 6}]},
      {"id": 1, "text": "我们", "entities": []}]


def test_a_word_longer_than_a_piece_loses_its_tail_and_is_counted(data_dir):
  write_split(data_dir, "train", "江 B-PER\nabcd I-PER\n\n")
  task = make_task(data_dir, max_seq_length=3)  # room for one token
  features = task.plain_features(task.get_examples("train")[0], is_training=True)
  vocab = task.tokenizer.vocab
  assert [f["input_ids"] for f in features] == [
      [vocab["[CLS]"], vocab["江"], vocab["[SEP]"]], [vocab["[CLS]"], vocab["ab"], vocab["[SEP]"]]]
  assert [f["word_offset"] for f in features] == [0, 1]
  assert task.truncated == 1
  assert task.truncation_description()[0] == "sentences"
  assert task.cache_settings() == {f"{NAME}_labels": task.label_list}
