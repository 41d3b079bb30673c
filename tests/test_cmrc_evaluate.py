"""CMRC 2018 / DRCD scorer on hand-made cases whose numbers are worked out in the comments.

Reminder of the rules used below: text is lower-cased and stripped; every CJK character is a
segment; the official punctuation set (- : _ * ^ / \\ ~ ` + = and full-width ，。：？！“”；’《》·、
「」（）－～『』) is dropped for F1/EM; other runs go through the word tokenizer. F1 uses the
longest common CONTIGUOUS run L of segments: P = L/|pred|, R = L/|answer|, F1 = 2PR/(P+R).
"""

import json
import os
import subprocess
import sys

import pytest

import cmrc2018_drcd_evaluate as cmrc

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "cmrc2018_drcd_evaluate.py")


def squad_dataset(answers_by_id):
  """A one-paragraph SQuAD-style dataset with the given {id: [answer texts]}."""
  qas = [{"id": qid, "question": "?", "answers": [{"text": a, "answer_start": 0} for a in answers]}
         for qid, answers in answers_by_id.items()]
  return {"version": "v1.0", "data": [{"paragraphs": [{"id": "P", "context": "", "qas": qas}]}]}


def score_one(answers, prediction):
  """(F1, EM) in percent for a single question."""
  result = cmrc.evaluate(squad_dataset({"q": answers}), {"q": prediction})
  return result["F1"], result["EM"]


# --- single-question scores ------------------------------------------------------------

def test_exact_match_scores_full():
  assert score_one(["踢爆"], "踢爆") == (100.0, 100.0)


def test_partial_chinese_overlap():
  # answer 北 京 大 学 (4), prediction 北 京 (2): L = 2, P = 1, R = 1/2 -> F1 = 2/3.
  assert score_one(["北京大学"], "北京") == (pytest.approx(200 / 3), 0.0)
  # 南京长江大桥 vs 长江大桥通车: L = 4 (长江大桥) of 6 and 6 -> P = R = F1 = 2/3.
  assert score_one(["南京长江大桥"], "长江大桥通车")[0] == pytest.approx(200 / 3)


def test_overlap_must_be_contiguous():
  # 甲乙丙丁 vs 甲丙丁: the common subsequence has 3, but the longest common RUN is 丙丁 = 2.
  # P = 2/3, R = 2/4 -> F1 = 2 * (1/3) / (7/6) = 4/7.
  assert score_one(["甲乙丙丁"], "甲丙丁")[0] == pytest.approx(400 / 7)


def test_official_punctuation_is_ignored():
  # 《》 and ， are in the set: both sides reduce to the same segments and the same text.
  assert score_one(["《红楼梦》"], "红楼梦") == (100.0, 100.0)
  assert score_one(["北京，上海"], "北京上海") == (100.0, 100.0)
  assert score_one(["「北京」"], "北京") == (100.0, 100.0)
  # A prediction made only of punctuation has no segments and no text left: 0 / 0.
  assert score_one(["北京"], "。，") == (0.0, 0.0)


def test_ascii_punctuation_outside_the_set_counts():
  # "!" is not in the set: 你 好 ! (3) vs 你 好 (2): P = 1, R = 2/3 -> F1 = 0.8; no EM.
  assert score_one(["你好!"], "你好") == (pytest.approx(80.0), 0.0)


def test_double_ellipsis_entry_never_matches_single_chars():
  # "……" is a two-character entry, so each "…" survives; the run "……" is one token.
  # 等 等 …… (3) vs 等 等 (2): F1 = 0.8, and the texts differ for EM.
  assert score_one(["等等……"], "等等") == (pytest.approx(80.0), 0.0)


def test_em_dash_is_not_official_punctuation():
  # "—" is not in the set and (NLTK 3.10) each dash is its own token: 北 京 — — 上 海 (6)
  # vs 北 京 上 海 (4): L = 2, P = 1/2, R = 1/3 -> F1 = (1/3) / (5/6) = 0.4.
  assert score_one(["北京——上海"], "北京上海") == (pytest.approx(40.0), 0.0)


def test_english_word_inside_chinese_answer():
  # NBA球员 -> nba 球 员 (3); prediction nba (1): P = 1, R = 1/3 -> F1 = 0.5.
  assert score_one(["NBA球员"], "nba") == (pytest.approx(50.0), 0.0)
  # Case is ignored, for EM too.
  assert score_one(["NBA球员"], "nba球员") == (100.0, 100.0)
  # michael jordan (2 words) vs jordan (1): F1 = 2 * 1 * 1/2 / (3/2) = 2/3.
  assert score_one(["Michael Jordan"], "Jordan")[0] == pytest.approx(200 / 3)


def test_decimals_and_thousands_stay_single_tokens():
  # 3.14米 -> 3.14 米. Prediction 3.14: P = 1, R = 1/2 -> 2/3. Prediction 3米 -> 3 米:
  # only 米 is shared, P = R = 1/2 -> 0.5.
  assert score_one(["3.14米"], "3.14")[0] == pytest.approx(200 / 3)
  assert score_one(["3.14米"], "3米")[0] == pytest.approx(50.0)
  # "1,000" is one token (a comma before a digit is not split); "1000" differs from it.
  # 1,000 元 vs 1000 元: L = 1 -> 0.5; the texts differ, so no EM.
  assert score_one(["1,000元"], "1000元") == (pytest.approx(50.0), 0.0)


def test_sentence_final_period_is_split_off():
  # "2.5." -> 2.5 . (the final period is a token), answer 2.5 (1): P = 1/2, R = 1 -> 2/3.
  assert score_one(["2.5"], "2.5.")[0] == pytest.approx(200 / 3)


def test_percent_sign_is_its_own_token():
  # 50% -> 50 % (2) vs 50 (1): 2/3.
  assert score_one(["50%"], "50")[0] == pytest.approx(200 / 3)


def test_contractions_are_split_like_treebank():
  # don't stop -> do n't stop (3) vs do n't (2): P = 1, R = 2/3 -> 0.8.
  assert score_one(["don't stop"], "don't")[0] == pytest.approx(80.0)
  # it's -> it 's (2) vs it (1) -> 2/3; cannot -> can not (2) vs can -> 2/3.
  assert score_one(["it's"], "it")[0] == pytest.approx(200 / 3)
  assert score_one(["cannot"], "can")[0] == pytest.approx(200 / 3)


def test_best_reference_counts():
  # 北京大学 gives 2/3, 北京 gives 1: the maximum wins, and EM matches the second one.
  assert score_one(["北京大学", "北京"], "北京") == (100.0, 100.0)
  # 北京大学 -> 2/3, 清华 -> 0: max is 2/3.
  assert score_one(["清华", "北京大学"], "北京")[0] == pytest.approx(200 / 3)


def test_empty_prediction_scores_zero():
  assert score_one(["北京"], "") == (0.0, 0.0)
  assert score_one(["北京"], "   ") == (0.0, 0.0)


def test_non_string_prediction_is_stringified():
  # 1990 -> "1990" (1 segment) vs 1990 年 (2): 2/3.
  assert score_one(["1990年"], 1990)[0] == pytest.approx(200 / 3)


def test_questions_without_answers_refuse_the_file_naming_them():
  # Half the questions lack answers and every prediction is right: scoring them as wrong
  # answers would report 50; the official script stops (KeyError / max of an empty list).
  dataset = squad_dataset({"a": ["北京"], "b": [], "c": ["上海"]})
  del dataset["data"][0]["paragraphs"][0]["qas"][2]["answers"]
  with pytest.raises(ValueError, match=r"2 of 3 dataset questions .*: b, c;"):
    cmrc.evaluate(dataset, {"a": "北京", "b": "x", "c": "上海"})
  with pytest.raises(ValueError, match="1 of 1"):
    score_one([], "北京")


def test_refusal_names_the_first_ids_and_counts_the_rest():
  dataset = squad_dataset({f"q{i}": [] for i in range(8)})
  with pytest.raises(ValueError, match=r"q0, q1, q2, q3, q4 and 3 more;"):
    cmrc.evaluate(dataset, {})


# --- totals -------------------------------------------------------------------------------

def test_missing_predictions_count_as_zero_and_skip():
  dataset = squad_dataset({"a": ["北京"], "b": ["上海"]})
  result = cmrc.evaluate(dataset, {"a": "北京"})
  # One of two questions fully right, the other unanswered: 50 / 50.
  assert result == {"AVERAGE": 50.0, "F1": 50.0, "EM": 50.0, "TOTAL": 2, "SKIP": 1}


def test_averages_over_questions():
  dataset = squad_dataset({"a": ["北京大学"], "b": ["上海"], "c": ["广州"]})
  result = cmrc.evaluate(dataset, {"a": "北京", "b": "上海", "c": "深圳"})
  # F1 = (2/3 + 1 + 0) / 3 = 5/9; EM = 1/3; AVERAGE = (5/9 + 3/9) / 2 = 4/9.
  assert result["F1"] == pytest.approx(500 / 9)
  assert result["EM"] == pytest.approx(100 / 3)
  assert result["AVERAGE"] == pytest.approx(400 / 9)
  assert (result["TOTAL"], result["SKIP"]) == (3, 0)


def test_original_cmrc_format():
  # Original release: a list of contexts, query_id, answers as plain strings.
  dataset = [{"context_id": "C1", "context_text": "北京大学位于北京。",
              "qas": [{"query_id": "C1_Q0", "query_text": "?", "answers": ["北京大学", "北大"]},
                      {"query_id": "C1_Q1", "query_text": "?", "answers": ["北京"]}]}]
  result = cmrc.evaluate(dataset, {"C1_Q0": "北京大学", "C1_Q1": "北京市"})
  # Q0 exact; Q1: 北 京 vs 北 京 市 -> P = 2/3, R = 1 -> 0.8, no EM.
  assert result["F1"] == pytest.approx((100 + 80) / 2)
  assert result["EM"] == pytest.approx(50.0)
  assert (result["TOTAL"], result["SKIP"]) == (2, 0)


def test_predictions_must_be_an_object():
  with pytest.raises(ValueError):
    cmrc.evaluate(squad_dataset({"a": ["北京"]}), ["北京"])


# --- tokenizer emulation ------------------------------------------------------------------

@pytest.mark.parametrize("text,tokens", [
    # Abbreviation periods stay; sentence-final periods are split (sentence split first).
    ("mr. smith went. he came.", ["mr.", "smith", "went", ".", "he", "came", "."]),
    ("the u.s. army", ["the", "u.s.", "army"]),
    # Straight double quotes become `` and '' ; commas are split off words.
    ('"yes," he said', ["``", "yes", ",", "''", "he", "said"]),
    ("(ok) [a]", ["(", "ok", ")", "[", "a", "]"]),
    ("what?! no", ["what", "?", "!", "no"]),
    ("wait... ok", ["wait", "...", "ok"]),
    ("gonna wanna go", ["gon", "na", "wan", "na", "go"]),
    ("we're o'neil's", ["we", "'re", "o'neil", "'s"]),
    ("$3.88 & 10:30", ["$", "3.88", "&", "10:30"]),
])
def test_word_tokenize_follows_treebank_rules(text, tokens):
  assert cmrc.word_tokenize(text) == tokens


def test_mixed_segmentation_keeps_punctuation_unless_removed():
  assert cmrc.mixed_segmentation("《NBA》球员") == ["《", "nba", "》", "球", "员"]
  assert cmrc.mixed_segmentation("《NBA》球员", remove_punc=True) == ["nba", "球", "员"]


# --- command line -------------------------------------------------------------------------

def run_cli(*args):
  return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                        encoding="utf-8", timeout=60)


def write_json(path, obj):
  path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
  return str(path)


def test_cli_prints_official_json_and_writes_output(tmp_path):
  dataset = write_json(tmp_path / "dev.json", squad_dataset({"a": ["北京大学"], "b": ["上海"]}))
  predictions = write_json(tmp_path / "pred.json", {"a": "北京"})
  output = tmp_path / "result.json"
  proc = run_cli(dataset, predictions, "--output", str(output))
  assert proc.returncode == 0, proc.stderr
  # F1 = (2/3 + 0) / 2 = 33.333; EM = 0; AVERAGE = 16.667; "b" is unanswered.
  expected = ('{"AVERAGE": "16.667", "F1": "33.333", "EM": "0.000", "TOTAL": 2, "SKIP": 1, '
              '"FILE": %s}' % json.dumps(predictions))
  assert proc.stdout.strip() == expected
  assert output.read_text(encoding="utf-8").strip() == expected
  assert "Unanswered question: b" in proc.stderr


def test_cli_missing_file_exits_2(tmp_path):
  predictions = write_json(tmp_path / "pred.json", {})
  proc = run_cli(str(tmp_path / "absent.json"), predictions)
  assert proc.returncode == 2
  assert proc.stdout == ""
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and "absent.json" in lines[0]


def test_cli_bad_json_exits_2(tmp_path):
  dataset = write_json(tmp_path / "dev.json", squad_dataset({"a": ["北京"]}))
  bad = tmp_path / "pred.json"
  bad.write_text("{not json", encoding="utf-8")
  proc = run_cli(dataset, str(bad))
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and "not valid JSON" in lines[0]


def test_cli_malformed_dataset_exits_2(tmp_path):
  dataset = write_json(tmp_path / "dev.json", {"data": [{"paragraphs": [{"qas": [{}]}]}]})
  predictions = write_json(tmp_path / "pred.json", {})
  proc = run_cli(dataset, predictions)
  assert proc.returncode == 2
  assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_refuses_questions_without_answers_in_one_line(tmp_path):
  dataset = squad_dataset({"a": ["北京"], "b": ["上海"]})
  del dataset["data"][0]["paragraphs"][0]["qas"][1]["answers"]
  dataset_path = write_json(tmp_path / "dev.json", dataset)
  predictions = write_json(tmp_path / "pred.json", {"a": "北京", "b": "上海"})
  proc = run_cli(dataset_path, predictions)
  assert proc.returncode == 2 and proc.stdout == ""
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"error: {dataset_path}: 1 of 2")
  assert lines[0].endswith("add answers)")


def test_evaluate_files_reads_both_files(tmp_path):
  dataset = write_json(tmp_path / "dev.json", squad_dataset({"a": ["北京"]}))
  predictions = write_json(tmp_path / "pred.json", {"a": "北京"})
  assert cmrc.evaluate_files(dataset, predictions)["EM"] == 100.0
