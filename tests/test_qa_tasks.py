"""Reading and featurisation of SQuAD-format Chinese QA data (finetune/qa/tasks.py,
features.py)."""

import json
import pathlib
import random

import numpy as np
import pytest

from configure_finetuning import FinetuningConfig
from finetune.qa import features
from finetune.qa import reading
from finetune.qa import tasks
from model import tokenization

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Multi-character pieces, so some latin doc tokens become several wordpieces.
EXTRA_PIECES = ["nex", "##on", "hello", "world", "20", "##18", "##xon"]
# Not in any vocabulary written here: a doc token containing it becomes [UNK].
UNKNOWN_CHAR = "☃"

# Two mentions of Nexon: the question's answer_start points at the SECOND one.
CONTEXT_1 = ("《泡泡堂》由韩国Nexon开发。2018年 Nexon 再次授予盛大网络运营权，"
             "玩家说Hello World很好玩。")
CONTEXT_2 = "北京是中国的首都，人口约2000万。"
MISSING_ANSWER = "东京"


def squad_fixture():
  second_nexon = CONTEXT_1.index("Nexon", CONTEXT_1.index("Nexon") + 1)
  return {"version": "v1.0", "data": [{"paragraphs": [
      {"context": CONTEXT_1, "qas": [
          {"id": "Q1", "question": "2018年谁授予运营权？",
           "answers": [{"text": "Nexon", "answer_start": second_nexon}]},
          {"id": "Q2", "question": "玩家说什么？",
           "answers": [{"text": "Hello World", "answer_start": CONTEXT_1.index("Hello")},
                       {"text": "Hello World很好玩", "answer_start": CONTEXT_1.index("Hello")}]},
          {"id": "Q3", "question": "哪一年？",  # answer_start off by one: realigned
           "answers": [{"text": "2018", "answer_start": CONTEXT_1.index("2018") + 1}]},
      ]},
      {"context": CONTEXT_2, "qas": [
          {"id": "Q4", "question": "首都是哪里？",
           "answers": [{"text": "北京", "answer_start": 0}]},
          {"id": "Q5", "question": "日本首都？",  # not in the context at all
           "answers": [{"text": MISSING_ANSWER, "answer_start": 3}]},
      ]},
  ]}]}


def write_vocab(path, texts):
  """A tiny vocabulary: every char of `texts` (latin chars also as ## pieces) + a few words."""
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  chars = {char for text in texts for token in basic.tokenize(text) for char in token}
  chars.discard(UNKNOWN_CHAR)
  pieces = sorted(chars) + ["##" + char for char in sorted(chars)
                            if not tokenization.is_chinese_char(ord(char))]
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(SPECIALS + EXTRA_PIECES + pieces) + "\n")
  return str(path)


def make_config(data_dir, task_name="cmrc2018", **overrides):
  values = dict(max_seq_length=64, max_query_length=64, doc_stride=128, n_best_size=20,
                max_answer_length=30, beam_size=20, joint_prediction=True,
                answerable_classifier=True, task_names=[task_name])
  values.update(overrides)
  return FinetuningConfig("electra-test", str(data_dir), **values)


def make_task(tmp_path, dataset=None, splits=("train", "dev"), task_class=tasks.CMRC2018,
              **overrides):
  """A task over `dataset` (default: the fixture) written as each of `splits`."""
  dataset = squad_fixture() if dataset is None else dataset
  config = make_config(tmp_path / "data", task_class.NAME, **overrides)
  task_dir = pathlib.Path(config.raw_data_dir(task_class.NAME))
  task_dir.mkdir(parents=True, exist_ok=True)
  for split in splits:
    (task_dir / (split + ".json")).write_text(json.dumps(dataset, ensure_ascii=False),
                                              encoding="utf-8")
  texts = [paragraph["context"] + qa["question"]
           + "".join(a["text"] for a in qa.get("answers", []))
           for article in dataset["data"] for paragraph in article["paragraphs"]
           for qa in paragraph["qas"]]
  config.vocab_file = write_vocab(tmp_path / "vocab.txt", texts)
  return task_class(config, tokenization.FullTokenizer(config.vocab_file, True))


def doc_token_text(example, first, last):
  """The context slice covered by doc tokens first..last."""
  return example.context[example.doc.starts[first]:example.doc.ends[last]]


# ---------------------------------------------------------------------------------------------
# Reading


def test_split_context_cuts_cjk_and_punctuation_but_keeps_latin_and_digit_runs():
  context = "韩国Nexon开发，2018年 Hello  World!\u200b好"
  doc = reading.split_context(context)
  assert doc.tokens == ["韩", "国", "Nexon", "开", "发", "，", "2018", "年", "Hello", "World",
                        "!", "好"]
  for token, start, end in zip(doc.tokens, doc.starts, doc.ends):
    assert context[start:end] == token
  assert len(doc.char_to_word_offset) == len(context)
  assert doc.char_to_word_offset[context.index("x")] == 2  # inside "Nexon"
  # Whitespace (and the dropped zero-width space) belongs to the token before it.
  assert doc.char_to_word_offset[context.index("  ")] == 8
  assert doc.char_to_word_offset[context.index("\u200b")] == 10


def test_answer_start_is_honoured_when_the_answer_also_occurs_earlier(tmp_path):
  task = make_task(tmp_path)
  example = task.get_examples("train")[0]
  assert example.qas_id == "Q1"
  first, second = [i for i, token in enumerate(example.doc_tokens) if token == "Nexon"]
  assert (example.start_position, example.end_position) == (second, second)
  assert example.orig_answer_text == "Nexon"
  assert example.answer_texts == ["Nexon"]


def test_multi_word_answer_span_and_all_answer_texts_kept(tmp_path):
  example = task_examples_by_id(make_task(tmp_path), "dev")["Q2"]
  assert doc_token_text(example, example.start_position, example.end_position) == "Hello World"
  assert example.answer_texts == ["Hello World", "Hello World很好玩"]


def test_wrong_answer_start_falls_back_to_the_text_and_is_counted(tmp_path):
  task = make_task(tmp_path)
  example = task_examples_by_id(task, "train")["Q3"]
  assert doc_token_text(example, example.start_position, example.end_position) == "2018"
  _, stats = reading.read_squad_examples(squad_fixture(), "cmrc2018", "train", True)
  assert stats.realigned == 1 and stats.unfindable == 1 and stats.questions == 5


def test_locate_answer_prefers_the_occurrence_nearest_the_given_offset():
  context = "甲乙丙甲乙丙甲乙丙"
  assert reading.locate_answer(context, "甲乙", 3) == (3, False)
  assert reading.locate_answer(context, "甲乙", 5) == (6, True)
  assert reading.locate_answer(context, "甲乙", 1) == (0, True)
  assert reading.locate_answer(context, "丁", 0) == (None, False)


def test_unfindable_answers_are_skipped_for_training_but_kept_for_evaluation(tmp_path):
  task = make_task(tmp_path)
  train_ids = [example.qas_id for example in task.get_examples("train")]
  dev = task_examples_by_id(task, "dev")
  assert train_ids == ["Q1", "Q2", "Q3", "Q4"]
  assert list(dev) == ["Q1", "Q2", "Q3", "Q4", "Q5"]
  assert dev["Q5"].start_position is None and dev["Q5"].answer_texts == [MISSING_ANSWER]
  assert [example.eid for example in task.get_examples("dev")] == [0, 1, 2, 3, 4]


def fixture_without_answers(question_ids):
  dataset = squad_fixture()
  for paragraph in dataset["data"][0]["paragraphs"]:
    for qa in paragraph["qas"]:
      if qa["id"] in question_ids:
        del qa["answers"]
  return dataset


def test_training_questions_without_answers_are_counted_and_warned_once(tmp_path, caplog):
  task = make_task(tmp_path, dataset=fixture_without_answers({"Q1", "Q2"}), splits=("train",))
  with caplog.at_level("INFO"):
    ids = [example.qas_id for example in task.get_examples("train")]
    task.forget_split("train")
    task.get_examples("train")
  assert ids == ["Q3", "Q4"]
  assert task.data_stats["train"] == {"questions": 5, "questions_without_answers": 2,
                                      "answers_realigned": 1, "answers_not_found": 1}
  warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(warnings) == 1
  assert "3 of 5 questions dropped from training (2 without answers, 1 whose" in warnings[0]


def test_realigned_answers_alone_are_not_a_warning(tmp_path, caplog):
  dataset = squad_fixture()
  del dataset["data"][0]["paragraphs"][1]["qas"][1]  # Q5, whose answer is not in the context
  task = make_task(tmp_path, dataset=dataset, splits=("dev",))
  with caplog.at_level("INFO"):
    task.get_examples("dev")
  assert not [r for r in caplog.records if r.levelname == "WARNING"]
  assert any("1 of 4 answers realigned" in r.getMessage() for r in caplog.records)


def test_dev_split_partly_without_answers_is_refused_before_training(tmp_path):
  task = make_task(tmp_path, dataset=fixture_without_answers({"Q2", "Q4"}), splits=("dev",))
  with pytest.raises(ValueError, match=r"dev.json: 2 of 5 dev questions have no answers "
                     r"\(Q2, Q4\)"):
    task.get_examples("dev")


def test_test_split_falls_back_to_eval_json(tmp_path):
  task = make_task(tmp_path, splits=("eval",), task_class=tasks.DRCD)
  assert task.name == "drcd"
  assert task.data_path("test").endswith("eval.json")
  assert len(task.get_examples("test")) == 5


def test_missing_split_file_raises_file_not_found_naming_the_path(tmp_path):
  task = make_task(tmp_path, splits=("train",))
  with pytest.raises(FileNotFoundError, match="cmrc2018.dev.json"):
    task.get_examples("dev")


def task_examples_by_id(task, split):
  return {example.qas_id: example for example in task.get_examples(split)}


# ---------------------------------------------------------------------------------------------
# Featurisation


def test_feature_specs_and_feature_layout(tmp_path):
  task = make_task(tmp_path, max_seq_length=48)
  assert [spec.name for spec in task.feature_specs()] == [
      "cmrc2018_eid", "cmrc2018_start_positions", "cmrc2018_end_positions",
      "cmrc2018_is_impossible"]
  example = task.get_examples("dev")[1]
  feature = task.featurize(example, is_training=False)[0]
  record = task.get_features("dev")[feature["cmrc2018_eid"]]
  n_real = sum(feature["input_mask"])
  assert len(feature["input_ids"]) == len(feature["segment_ids"]) == 48
  assert task.tokenizer.convert_ids_to_tokens(feature["input_ids"][:n_real]) == record.tokens
  query = task.tokenizer.tokenize(example.question_text)
  assert record.tokens[:len(query) + 2] == ["[CLS]"] + query + ["[SEP]"]
  assert record.tokens[-1] == "[SEP]" and feature["input_ids"][n_real:] == [0] * (48 - n_real)
  assert feature["segment_ids"][:n_real] == [0] * (len(query) + 2) + [1] * (n_real - len(query)
                                                                            - 2)
  assert feature["task_id"] == 0 and feature["cmrc2018_is_impossible"] == 0


def test_gold_labels_point_at_the_answer_text(tmp_path):
  task = make_task(tmp_path)
  for example in task.get_examples("train"):
    (feature,) = task.featurize(example, is_training=True)
    record = task.get_features("train")[feature["cmrc2018_eid"]]
    start, end = feature["cmrc2018_start_positions"], feature["cmrc2018_end_positions"]
    pieces = record.wordpieces
    first = record.doc_start + start - record.query_offset
    last = record.doc_start + end - record.query_offset
    assert example.context[pieces.char_starts[first]:pieces.char_ends[last]] == (
        example.orig_answer_text)


def test_query_is_cut_to_max_query_length(tmp_path):
  task = make_task(tmp_path, max_query_length=3)
  feature = task.featurize(task.get_examples("dev")[0], is_training=False)[0]
  record = task.get_features("dev")[feature["cmrc2018_eid"]]
  assert len(record.query_tokens) == 3 and record.query_offset == 5
  assert feature["segment_ids"][:6] == [0, 0, 0, 0, 0, 1]


def test_too_short_max_seq_length_is_an_error(tmp_path):
  task = make_task(tmp_path, max_seq_length=8, max_query_length=8)
  with pytest.raises(ValueError, match="no room"):
    task.featurize(task.get_examples("dev")[0], is_training=False)


def test_improve_answer_span_narrows_to_the_tokenized_answer():
  pieces = ["在", "20", "##18", "##s", "年"]
  assert features.improve_answer_span(pieces, 1, 3, ["20", "##18"]) == (1, 2)
  assert features.improve_answer_span(pieces, 1, 3, ["19"]) == (1, 3)


def test_piece_char_offsets_exact_or_whole_token():
  assert features.piece_char_offsets("Nexon", ["nex", "##on"]) == ([0, 3], [3, 5])
  assert features.piece_char_offsets("Nexon", ["[UNK]"]) == ([0], [5])
  # Lower-casing "İ" makes two chars, so the pieces cannot be aligned: whole token each.
  assert features.piece_char_offsets("İx", ["i", "##̇", "##x"]) == ([0, 0, 0], [2, 2, 2])


def test_max_context_prefers_the_most_centred_window():
  windows = features.doc_windows(10, max_tokens_for_doc=6, doc_stride=2)
  assert windows == [(0, 6), (2, 6), (4, 6)]
  best = features.max_context_windows(10, windows)
  # Token 3: min(3, 2) in window 0, min(1, 4) in window 1 -> window 0 (2 > 1). Token 4: window 1
  # has min(2, 3) = 2, window 0 min(4, 1) = 1, window 2 min(0, 5) = 0.
  assert best.tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
  # Token 2 of [0, 4) and [1, 5): min(2, 1) vs min(1, 2), same length -> the earlier window.
  assert features.max_context_windows(5, [(0, 4), (1, 4)]).tolist() == [0, 0, 0, 1, 1]


def test_refeaturizing_reuses_eids_and_a_fresh_task_reproduces_them(tmp_path):
  task = make_task(tmp_path, max_seq_length=24, doc_stride=4)
  examples = task.get_examples("dev")
  first = [[f["cmrc2018_eid"] for f in task.featurize(e, False)] for e in examples]
  again = [[f["cmrc2018_eid"] for f in task.featurize(e, False)] for e in examples]
  flat = [eid for eids in first for eid in eids]
  assert first == again and flat == list(range(len(flat))) and len(flat) > len(examples)
  fresh = make_task(tmp_path, max_seq_length=24, doc_stride=4)
  records = fresh.get_features("dev")  # featurises everything, in order
  assert [(r.example_index, r.span_index) for r in records] == [
      (example.eid, span) for example, eids in zip(examples, first) for span in range(len(eids))]


# -- round trip over many random documents with many windows ----------------------------------

CJK_POOL = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可"
LATIN_POOL = ["Nexon", "hello", "World", "2018", "GHz", "x" + UNKNOWN_CHAR + "y", "NPC", "42"]
PUNCT_POOL = ["，", "。", "（", "）", "-", "%", "、"]


def random_context(rng):
  parts = []
  for _ in range(rng.randint(20, 90)):
    kind = rng.random()
    if kind < 0.6:
      parts.append(rng.choice(CJK_POOL))
    elif kind < 0.8:
      parts.append(rng.choice(["", " "]) + rng.choice(LATIN_POOL) + rng.choice(["", " ", "  "]))
    else:
      parts.append(rng.choice(PUNCT_POOL))
  return "".join(parts).strip()


def random_dataset(rng, n_paragraphs=40):
  """Answers are random runs of whole doc tokens; answer_start often has earlier duplicates."""
  paragraphs = []
  for p in range(n_paragraphs):
    context = random_context(rng)
    doc = reading.split_context(context)
    qas = []
    for q in range(3):
      first = rng.randrange(len(doc.tokens))
      last = min(len(doc.tokens) - 1, first + rng.randint(0, 5))
      start = int(doc.starts[first])
      qas.append({"id": f"P{int(p)}Q{int(q)}", "question": "".join(rng.sample(CJK_POOL, 4)),
                  "answers": [{"text": context[start:doc.ends[last]], "answer_start": start}]})
    paragraphs.append({"context": context, "qas": qas})
  return {"data": [{"paragraphs": paragraphs}]}


def gold_wordpiece_span(record, answer):
  """Independently of the reader: the wordpieces whose chars lie inside the json answer."""
  pieces = record.wordpieces
  answer_start = answer["answer_start"]
  answer_end = answer_start + len(answer["text"])
  inside = np.nonzero((pieces.char_starts >= answer_start) & (pieces.char_ends <= answer_end))[0]
  return inside[0], inside[-1]


@pytest.mark.parametrize("max_seq_length,doc_stride", [(24, 4), (32, 11), (40, 64)])
def test_featurize_round_trip_over_many_windows(tmp_path, max_seq_length, doc_stride):
  rng = random.Random(max_seq_length)
  dataset = random_dataset(rng)
  answers = {qa["id"]: qa["answers"][0] for paragraph in dataset["data"][0]["paragraphs"]
             for qa in paragraph["qas"]}
  task = make_task(tmp_path, dataset, max_seq_length=max_seq_length, max_query_length=5,
                   doc_stride=doc_stride)
  examples = task.get_examples("train")
  assert len(examples) == 120  # every answer locatable, so none skipped
  n_windows, n_labelled, n_repeated = [], 0, 0
  for example in examples:
    features = task.featurize(example, is_training=True)
    records = [task.get_features("train")[f["cmrc2018_eid"]] for f in features]
    n_windows.append(len(records))
    n_pieces = len(records[0].wordpieces.tokens)
    answer = answers[example.qas_id]
    gold = gold_wordpiece_span(records[0], answer)
    n_repeated += example.context.find(answer["text"]) < answer["answer_start"]
    covered = np.zeros(n_pieces, int)
    max_context = np.zeros(n_pieces, int)
    for feature, record in zip(features, records):
      doc_range = range(record.doc_start, record.doc_start + record.doc_length)
      covered[record.doc_start:record.doc_start + record.doc_length] += 1
      for position, is_max in record.token_is_max_context.items():
        max_context[record.doc_start + position - record.query_offset] += is_max
      assert sum(feature["input_mask"]) == record.query_offset + record.doc_length + 1
      start, end = feature["cmrc2018_start_positions"], feature["cmrc2018_end_positions"]
      if gold[0] in doc_range and gold[1] in doc_range:
        # Maps back to exactly the answer text, through doc tokens and through char offsets.
        orig = record.token_to_orig_map
        assert doc_token_text(example, orig[start], orig[end]) == example.orig_answer_text
        pieces = record.wordpieces
        doc_index = record.doc_start - record.query_offset
        assert example.context[pieces.char_starts[doc_index + start]:
                               pieces.char_ends[doc_index + end]] == example.orig_answer_text
        n_labelled += 1
      else:
        assert (start, end) == (0, 0)
    assert covered.min() >= 1  # the windows cover the whole document
    assert (max_context == 1).all()  # each wordpiece is max-context in exactly one window
  # (windows that do not overlap can split an answer, so not every example gets a label)
  assert max(n_windows) >= 3 and n_labelled >= len(examples) // 2
  assert n_repeated >= 5  # many answers also occur earlier than their answer_start
