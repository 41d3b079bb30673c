"""Tests of the Chinese classification tasks, their scorer and the task registry."""

import logging

import numpy as np
import pytest

from configure_finetuning import FinetuningConfig
from finetune import task_builder
from finetune.classification import scorer as scorer_lib
from finetune.classification import tasks
from model import tokenization

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("好不错你是谁我很差他她们吗")
XNLI_HEADER = ("language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\t"
               "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tpromptID\tpairID")


def xnli_row(language, label, premise, hypothesis):
  return f"{language}\t{label}\t(x)\t(y)\t(x)\t(y)\t{premise}\t{hypothesis}\t1\t2"


@pytest.fixture
def data_dir(tmp_path):
  (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
  return tmp_path


def make_config(data_dir, task_names, **kwargs):
  return FinetuningConfig("electra-small", str(data_dir), task_names=task_names, **kwargs)


def write_split(data_dir, task, split, lines):
  task_dir = data_dir / "finetuning_data" / task
  task_dir.mkdir(parents=True, exist_ok=True)
  (task_dir / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(data_dir, name, **kwargs):
  config = make_config(data_dir, [name], **kwargs)
  return task_builder.get_tasks(config)[0]


# ---- readers ----

def test_chnsenticorp_reads_label_then_text(data_dir):
  write_split(data_dir, "chnsenticorp", "train", ["label\ttext_a", "1\t很好", "0\t很差"])
  examples = build(data_dir, "chnsenticorp").get_examples("train")
  assert [(e.label, e.text_a, e.text_b) for e in examples] == [("1", "很好", None),
                                                               ("0", "很差", None)]
  assert [e.eid for e in examples] == [0, 1]


def test_chnsenticorp_header_names_override_positions(data_dir):
  # The ERNIE release's dev/test files have an extra leading qid column.
  write_split(data_dir, "chnsenticorp", "dev", ["qid\tlabel\ttext_a", "7\t1\t不错"])
  (example,) = build(data_dir, "chnsenticorp").get_examples("dev")
  assert (example.label, example.text_a) == ("1", "不错")


@pytest.mark.parametrize("name", ["lcqmc", "bqcorpus"])
def test_pair_tasks_read_a_b_label(data_dir, name):
  write_split(data_dir, name, "dev", ["text_a\ttext_b\tlabel", "你是谁\t我是谁\t0"])
  (example,) = build(data_dir, name).get_examples("dev")
  assert (example.text_a, example.text_b, example.label) == ("你是谁", "我是谁", "0")


def test_xnli_train_layout_maps_contradictory(data_dir):
  write_split(data_dir, "xnli", "train", ["premise\thypo\tlabel", "他好\t她好\tcontradictory",
                                          "他好\t他好\tentailment"])
  examples = build(data_dir, "xnli").get_examples("train")
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      ("他好", "她好", "contradiction"), ("他好", "他好", "entailment")]


def test_xnli_dev_layout_keeps_only_chinese(data_dir, caplog):
  write_split(data_dir, "xnli", "dev", [
      XNLI_HEADER, xnli_row("zh", "contradiction", "他好", "她差"),
      xnli_row("en", "neutral", "he", "she"), xnli_row("zh", "neutral", "我很好", "你好")])
  task = build(data_dir, "xnli")
  with caplog.at_level(logging.INFO):
    examples = task.get_examples("dev")
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      ("他好", "她差", "contradiction"), ("我很好", "你好", "neutral")]
  assert "skipped 1 rows" in caplog.text and "not zh" in caplog.text
  assert task.label_list.index("contradiction") == 0


def test_xnli_test_layout_without_language_filter_column(data_dir):
  header = "\t".join(["lang_missing", "gold_label", "a", "b", "c", "d", "sentence1_x", "s2_x"])
  write_split(data_dir, "xnli", "test", [header, "\t".join(
      ["en", "entailment", "", "", "", "", "他好", "她好"])])
  (example,) = build(data_dir, "xnli").get_examples("test")
  assert (example.text_a, example.text_b, example.label) == ("他好", "她好", "entailment")


def test_xnli_file_too_narrow_for_its_layout(data_dir):
  write_split(data_dir, "xnli", "dev", ["premise\thypo\tlabel", "他\t她\tneutral"])
  with pytest.raises(ValueError, match="layout needs column 7"):
    build(data_dir, "xnli").get_examples("dev")


def test_test_split_falls_back_to_eval_tsv(data_dir):
  write_split(data_dir, "lcqmc", "eval", ["text_a\ttext_b\tlabel", "你好\t你好\t1"])
  task = build(data_dir, "lcqmc")
  assert task.input_files("test")[0].endswith("eval.tsv")
  assert task.get_examples("test")[0].label == "1"


def test_missing_file_names_expected_path(data_dir):
  task = build(data_dir, "bqcorpus")
  expected = str(data_dir / "finetuning_data" / "bqcorpus" / "dev.tsv")
  with pytest.raises(FileNotFoundError, match=expected):
    task.get_examples("dev")
  with pytest.raises(FileNotFoundError, match="eval.tsv"):
    task.get_examples("test")


def test_bad_rows_are_counted_and_skipped(data_dir, caplog):
  write_split(data_dir, "lcqmc", "train", [
      "text_a\ttext_b\tlabel",
      "你好\t你好\t1",
      "你好\t你\t好\t1",  # a tab inside the text: wrong column count
      "你好\t你好\t2",  # unknown label
      "\t你好\t0",  # empty text
      "",  # blank lines are not rows
      "我好\t你好\t0",
  ])
  task = build(data_dir, "lcqmc", double_unordered=False)
  with caplog.at_level(logging.WARNING):
    examples = task.get_examples("train")
    assert len(task.get_examples("train")) == 2  # a run reads the split again for its records
  assert [(e.text_a, e.label, e.eid) for e in examples] == [("你好", "1", 0), ("我好", "0", 5)]
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1  # once per file and run
  assert "skipped 3 bad rows of 5" in warnings[0]
  assert "expected 3 columns, got 4" in warnings[0] and "unknown label '2'" in warnings[0]


def test_file_with_only_bad_rows_is_an_error(data_dir):
  write_split(data_dir, "chnsenticorp", "train", ["label\ttext_a", "positive\t很好"])
  with pytest.raises(ValueError, match="no usable rows"):
    build(data_dir, "chnsenticorp").get_examples("train")


# ---- featurize ----

def test_featurize_single_sentence_cuts_and_pads(data_dir):
  task = build(data_dir, "chnsenticorp", max_seq_length=6)
  example = tasks.ClassificationExample("chnsenticorp", 4, "你好你好你好", None, "1")
  (feature,) = task.featurize(example, is_training=True)
  vocab = task.tokenizer.vocab
  assert feature["input_ids"] == [vocab[t] for t in ["[CLS]", "你", "好", "你", "好", "[SEP]"]]
  assert feature["input_mask"] == [1] * 6 and feature["segment_ids"] == [0] * 6
  assert (feature["task_id"], feature["chnsenticorp_eid"], feature["chnsenticorp_label_ids"]) == (
      0, 4, 1)


def test_featurize_pair_truncates_longest_first_and_pads(data_dir):
  task = build(data_dir, "lcqmc", max_seq_length=10)
  example = tasks.ClassificationExample("lcqmc", 0, "你好吗", "我很好他很好", "0")
  (feature,) = task.featurize(example, is_training=False)
  tokens = task.tokenizer.convert_ids_to_tokens(
      [i for i, m in zip(feature["input_ids"], feature["input_mask"]) if m])
  # 3 + 6 tokens > 10 - 3: the longer second text loses 2 tokens.
  assert tokens == ["[CLS]", "你", "好", "吗", "[SEP]", "我", "很", "好", "他", "[SEP]"]
  assert feature["segment_ids"] == [0] * 5 + [1] * 5

  short = tasks.ClassificationExample("lcqmc", 1, "你", "我", "1")
  (padded,) = task.featurize(short, is_training=False)
  assert padded["input_mask"] == [1] * 5 + [0] * 5
  assert padded["segment_ids"] == [0, 0, 0, 1, 1] + [0] * 5
  assert padded["input_ids"][5:] == [0] * 5


def test_truncate_pair_prefers_the_second_on_ties():
  a, b = [1, 2, 3], [4, 5, 6]
  tasks.truncate_pair(a, b, 4)
  assert (a, b) == ([1, 2], [4, 5])


def test_task_id_follows_config_order(data_dir):
  config = make_config(data_dir, ["xnli", "lcqmc"])
  lcqmc = task_builder.get_tasks(config)[1]
  example = tasks.ClassificationExample("lcqmc", 0, "你", "我", "1")
  assert lcqmc.featurize(example, False)[0]["task_id"] == 1


def test_feature_specs_are_task_prefixed(data_dir):
  specs = build(data_dir, "bqcorpus").feature_specs()
  assert [(s.name, s.shape) for s in specs] == [("bqcorpus_eid", ()),
                                                ("bqcorpus_label_ids", ())]


# ---- scorer ----

def test_accuracy_scorer_skips_invalid_rows():
  scorer = scorer_lib.AccuracyScorer()
  scorer.update({"loss": np.array([0.5, 1.5, 9.0]), "predictions": np.array([1, 0, 1]),
                 "label_ids": np.array([1, 1, 1]), "eid": np.array([0, 1, 0]),
                 "valid": np.array([1, 1, 0])})
  scorer.update({"loss": np.array([1.0]), "predictions": np.array([2]),
                 "label_ids": np.array([2])})
  results = scorer.get_results()
  assert results["accuracy"] == pytest.approx(200 / 3)
  assert results["loss"] == pytest.approx(1.0)
  assert scorer.predictions == {0: 1, 1: 0}
  assert scorer.results_str() == "accuracy: 66.67 - loss: 1.00"


def test_accuracy_scorer_without_examples_raises():
  with pytest.raises(ValueError, match="no examples"):
    scorer_lib.AccuracyScorer().get_results()


# ---- registry ----

def test_registry_rejects_unknown_task_listing_known_ones(data_dir):
  with pytest.raises(ValueError, match="Unknown task.*'mnli'.*chnsenticorp.*cmrc2018"):
    task_builder.get_tasks(make_config(data_dir, ["mnli"]))


def test_registry_shares_one_tokenizer(data_dir):
  built = task_builder.get_tasks(make_config(data_dir, ["chnsenticorp", "xnli"]))
  assert [type(t) for t in built] == [tasks.ChnSentiCorp, tasks.XNLI]
  assert built[0].tokenizer is built[1].tokenizer
  assert isinstance(built[0].tokenizer, tokenization.FullTokenizer)
  assert task_builder.KNOWN_TASKS == ("bqcorpus", "chnsenticorp", "cmrc2018", "drcd", "lcqmc",
                                      "peoples_daily_ner", "waimai", "xnli")


@pytest.mark.parametrize("name", ["lcqmc", "bqcorpus"])
def test_double_unordered_trains_paraphrase_pairs_in_both_orders(data_dir, name):
  for split in ("train", "dev"):
    write_split(data_dir, name, split, ["text_a\ttext_b\tlabel", "你是谁\t我是谁\t0",
                                         "他好\t她好\t1"])
  doubled = build(data_dir, name).get_examples("train")
  assert [(e.text_a, e.text_b, e.label) for e in doubled] == [
      ("你是谁", "我是谁", "0"), ("他好", "她好", "1"), ("我是谁", "你是谁", "0"), ("她好", "他好", "1")]
  assert len({e.eid for e in doubled}) == 4
  assert len(build(data_dir, name).get_examples("dev")) == 2  # evaluation is not doubled
  assert len(build(data_dir, name, double_unordered=False).get_examples("train")) == 2


def test_double_unordered_leaves_ordered_pairs_alone(data_dir):
  write_split(data_dir, "xnli", "train", ["premise\thypo\tlabel", "他来了\t他在\tentailment"])
  assert len(build(data_dir, "xnli").get_examples("train")) == 1


def test_truncated_texts_are_counted_and_reported(data_dir, caplog):
  from finetune import preprocessing  # pylint: disable=import-outside-toplevel
  write_split(data_dir, "chnsenticorp", "train",
              ["label\ttext_a", "1\t" + "好" * 40, "0\t坏", "1\t" + "很好" * 30])
  task = build(data_dir, "chnsenticorp", max_seq_length=16)
  with caplog.at_level(logging.WARNING):
    for example in task.get_examples("train"):
      task.featurize(example, is_training=True)
    preprocessing._report_truncated(task, "train", 3)  # pylint: disable=protected-access
  assert task.data_stats["train"]["truncated"] == 2
  assert any("2 of 3 examples cut to max_seq_length 16" in r.getMessage() for r in caplog.records)
