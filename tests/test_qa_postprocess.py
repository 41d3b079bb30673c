"""N-best post-processing and the QA scorer (finetune/qa/postprocess.py)."""

import json

import numpy as np
import pytest

from finetune.qa import cmrc2018_drcd_evaluate
from finetune.qa import postprocess
from tests.test_qa_tasks import CONTEXT_1, make_task

BEAM = 4
LOW = -30.0  # log-prob of filler beams


def dev_records(task):
  """(examples by qas_id, records of each qas_id) after featurising the dev split."""
  examples = task.get_examples("dev")
  records = task.get_features("dev")
  by_id = {example.qas_id: example for example in examples}
  windows = {example.qas_id: [r for r in records if r.example_index == example.eid]
             for example in examples}
  return by_id, windows


def window_position(record, char_start=None, char_end=None):
  """Position in `record`'s window of the wordpiece starting at char_start (or ending at
  char_end), or None if that wordpiece is not in this window."""
  pieces = record.wordpieces
  chars = pieces.char_starts if char_start is not None else pieces.char_ends
  target = char_start if char_start is not None else char_end
  for index in np.nonzero(chars == target)[0]:
    if record.doc_start <= index < record.doc_start + record.doc_length:
      return int(index - record.doc_start + record.query_offset)
  return None


def span_positions(record, context, text, occurrence=0):
  """Window positions (start, end) of the `occurrence`-th appearance of `text`."""
  start = -1
  for _ in range(occurrence + 1):
    start = context.index(text, start + 1)
  return (window_position(record, char_start=start),
          window_position(record, char_end=start + len(text)))


def joint_outputs(n_rows):
  """Joint-head outputs whose every beam points at [CLS] (never a valid candidate)."""
  return {"start_top_log_probs": np.full((n_rows, BEAM), LOW),
          "start_top_index": np.zeros((n_rows, BEAM), np.int64),
          "end_top_log_probs": np.full((n_rows, BEAM, BEAM), LOW),
          "end_top_index": np.zeros((n_rows, BEAM, BEAM), np.int64)}


def set_beam(outputs, row, beam, start, start_log_prob, ends):
  """Start beam `beam` of `row` = `start`, followed by end beams [(end, log-prob), ...]."""
  outputs["start_top_index"][row, beam] = start
  outputs["start_top_log_probs"][row, beam] = start_log_prob
  for j, (end, log_prob) in enumerate(ends):
    outputs["end_top_index"][row, beam, j] = end
    outputs["end_top_log_probs"][row, beam, j] = log_prob


def predict(task, eids, outputs, n_best_size=20, max_answer_length=30):
  return postprocess.predict_answers(task.get_examples("dev"), task.get_features("dev"), eids,
                                     outputs, n_best_size, max_answer_length)


def test_joint_beams_skip_invalid_candidates_and_honour_answer_start(tmp_path):
  task = make_task(tmp_path, max_seq_length=96)
  examples, windows = dev_records(task)
  (record,) = windows["Q1"]
  first = span_positions(record, CONTEXT_1, "Nexon", 0)
  second = span_positions(record, CONTEXT_1, "Nexon", 1)
  outputs = joint_outputs(1)
  # Better-scored but invalid: [CLS] start, end before start, end in the padding, a query
  # token start, and a span longer than max_answer_length (5 wordpieces).
  set_beam(outputs, 0, 0, 0, -0.01, [(second[1], -0.01)])
  set_beam(outputs, 0, 1, second[0], -0.1, [(second[0] - 1, -0.01), (95, -0.02),
                                            (second[1] + 4, -0.03), (second[1], -2.0)])
  set_beam(outputs, 0, 2, 2, -0.2, [(first[1], -0.01)])
  set_beam(outputs, 0, 3, first[0], -0.5, [(first[1], -3.0)])
  predictions, nbest = predict(task, [record.eid], outputs, max_answer_length=5)
  assert predictions["Q1"] == "Nexon"
  best = nbest["Q1"][0]
  assert best["char_start"] == CONTEXT_1.index("Nexon", CONTEXT_1.index("Nexon") + 1)
  assert best["score"] == pytest.approx(-2.1)
  assert [entry["text"] for entry in nbest["Q1"]] == ["Nexon"]  # both spans read "Nexon"


def test_answer_is_the_exact_context_slice(tmp_path):
  task = make_task(tmp_path, max_seq_length=96)
  examples, windows = dev_records(task)
  records = windows["Q2"] + windows["Q4"]
  outputs = joint_outputs(2)
  start, end = span_positions(records[0], CONTEXT_1, "Hello World")
  set_beam(outputs, 0, 0, start, -0.1, [(end, -0.1)])
  start, end = span_positions(records[1], examples["Q4"].context, "北京")
  set_beam(outputs, 1, 0, start, -0.1, [(end, -0.1)])
  predictions, _ = predict(task, [r.eid for r in records], outputs)
  # Original case and the real space between latin words; no spaces between CJK chars.
  assert predictions["Q2"] == "Hello World"
  assert predictions["Q4"] == "北京"


def test_start_outside_its_max_context_window_is_skipped(tmp_path):
  task = make_task(tmp_path, max_seq_length=24, doc_stride=3)
  _, windows = dev_records(task)
  records = windows["Q1"]
  assert len(records) >= 3
  # A window position whose token has more context in another window of the same question.
  bad, position = next((record, position) for record in records
                       for position, is_max in record.token_is_max_context.items()
                       if not is_max)
  piece = bad.doc_start + position - bad.query_offset
  good = records[bad.max_context_window[piece]]
  good_position = piece - good.doc_start + good.query_offset
  assert good.token_is_max_context[good_position]
  expected = CONTEXT_1[bad.wordpieces.char_starts[piece]:bad.wordpieces.char_ends[piece]]

  outputs = joint_outputs(2)
  set_beam(outputs, 0, 0, position, -0.1, [(position, -0.1)])
  predictions, _ = predict(task, [bad.eid, good.eid], outputs)
  assert predictions["Q1"] == ""  # the only candidate starts outside its max context
  # The same token proposed (with a worse score) in its max-context window is taken.
  set_beam(outputs, 1, 0, good_position, -1.0, [(good_position, -1.0)])
  predictions, nbest = predict(task, [bad.eid, good.eid], outputs)
  assert predictions["Q1"] == expected
  assert [entry["score"] for entry in nbest["Q1"]] == [-2.0]


def test_plain_logits_respect_max_answer_length(tmp_path):
  task = make_task(tmp_path, max_seq_length=96)
  examples, windows = dev_records(task)
  (record,) = windows["Q2"]
  start, _ = span_positions(record, CONTEXT_1, "玩家说Hello World")
  start_logits = np.zeros((1, 96))
  end_logits = np.zeros((1, 96))
  start_logits[0, 0] = 9.0  # [CLS] is the best start but never allowed
  start_logits[0, start] = 8.0
  end_logits[0, start + 4] = 7.0  # length 5: one too long
  end_logits[0, start + 3] = 6.0  # length 4 == max_answer_length
  outputs = {"start_logits": start_logits, "end_logits": end_logits}
  predictions, nbest = predict(task, [record.eid], outputs, n_best_size=2, max_answer_length=4)
  assert predictions["Q2"] == "玩家说Hello"
  # Top-2 starts x top-2 ends: the only allowed pair.
  assert [entry["score"] for entry in nbest["Q2"]] == pytest.approx([14.0])


def test_every_question_gets_a_prediction(tmp_path):
  task = make_task(tmp_path, max_seq_length=96)
  examples, windows = dev_records(task)
  # Q1 has only invalid beams, Q2..Q5 have no outputs at all.
  predictions, nbest = predict(task, [windows["Q1"][0].eid], joint_outputs(1))
  assert predictions == {qas_id: "" for qas_id in examples}
  assert nbest == {qas_id: [] for qas_id in examples}
  predictions, _ = predict(task, [], {})
  assert list(predictions) == list(examples)


def test_nbest_is_distinct_sorted_and_normalised(tmp_path):
  task = make_task(tmp_path, max_seq_length=96)
  _, windows = dev_records(task)
  (record,) = windows["Q2"]
  start, end = span_positions(record, CONTEXT_1, "Hello World")
  outputs = joint_outputs(1)
  set_beam(outputs, 0, 0, start, -0.5, [(end, -0.1), (end, -0.2), (start, -0.3), (end + 1, -4)])
  set_beam(outputs, 0, 1, start, -0.6, [(end, -0.1)])  # same span again
  predictions, nbest = predict(task, [record.eid], outputs, n_best_size=2)
  texts = [entry["text"] for entry in nbest["Q2"]]
  assert texts == ["Hello World", "Hello"]
  scores = [entry["score"] for entry in nbest["Q2"]]
  assert scores == pytest.approx([-0.6, -0.8])
  assert sum(entry["probability"] for entry in nbest["Q2"]) == pytest.approx(1.0)
  assert nbest["Q2"][0]["probability"] == pytest.approx(1 / (1 + np.exp(-0.2)))


def test_output_rows_may_come_in_any_order(tmp_path):
  task = make_task(tmp_path, max_seq_length=24, doc_stride=3)
  examples, windows = dev_records(task)
  records = task.get_features("dev")
  rng = np.random.default_rng(0)
  outputs = joint_outputs(len(records))
  for row in range(len(records)):
    outputs["start_top_index"][row] = rng.integers(0, 24, BEAM)
    outputs["end_top_index"][row] = rng.integers(0, 24, (BEAM, BEAM))
    outputs["start_top_log_probs"][row] = -rng.random(BEAM)
    outputs["end_top_log_probs"][row] = -rng.random((BEAM, BEAM))
  eids = [r.eid for r in records]
  expected = predict(task, eids, outputs)
  order = rng.permutation(len(records))
  shuffled = predict(task, np.array(eids)[order], {k: v[order] for k, v in outputs.items()})
  assert shuffled == expected
  assert sum(bool(text) for text in expected[0].values()) >= 3


# ---------------------------------------------------------------------------------------------
# QAScorer


@pytest.fixture
def fake_evaluator(monkeypatch):
  """Stands in for cmrc2018_drcd_evaluate; records what it is given."""
  calls = []

  def evaluate(dataset, predictions):
    calls.append((dataset, dict(predictions)))
    return {"AVERAGE": 75.0, "F1": 100.0, "EM": 50.0, "TOTAL": 5, "SKIP": 0}
  monkeypatch.setattr(cmrc2018_drcd_evaluate, "evaluate", evaluate)
  return calls


def prefixed_batch(task, records, outputs, **extra):
  batch = {"cmrc2018_" + key: value for key, value in outputs.items()}
  batch["cmrc2018_eid"] = np.array([r.eid for r in records])
  batch.update(extra)
  return batch


def test_scorer_collects_batches_writes_files_and_scores(tmp_path, fake_evaluator):
  task = make_task(tmp_path, max_seq_length=96)
  examples, windows = dev_records(task)
  records = [windows[q][0] for q in ("Q1", "Q2", "Q4")]
  outputs = joint_outputs(3)
  for row, (record, text) in enumerate(zip(records, ["Nexon", "Hello World", "北京"])):
    start, end = span_positions(record, examples[record_qas(examples, record)].context, text)
    set_beam(outputs, row, 0, start, -0.1, [(end, -0.1)])
  scorer = postprocess.QAScorer(task.config, task, "dev", output_dir=str(tmp_path / "qa"))
  first = {k: v[:2] for k, v in outputs.items()}
  scorer.update(prefixed_batch(task, records[:2], first))
  # Last batch padded to a full batch: padding rows carry eid 0 and valid 0 / task_id 1.
  last = {k: np.concatenate([v[2:], joint_outputs(1)[k]]) for k, v in outputs.items()}
  batch = prefixed_batch(task, records[2:], last, valid=np.array([1, 0]),
                         task_id=np.array([0, 1]))
  batch["cmrc2018_eid"] = np.array([records[2].eid, 0])
  scorer.update(batch)
  results = scorer.get_results()
  assert results == {"em": 50.0, "f1": 100.0, "average": 75.0, "total": 5, "skip": 0}
  dataset, predictions = fake_evaluator[0]
  assert dataset == task.get_dataset_json("dev")
  assert predictions == {"Q1": "Nexon", "Q2": "Hello World", "Q3": "", "Q4": "北京", "Q5": ""}
  assert not (tmp_path / "qa").exists()  # scoring writes nothing
  scorer.write_predictions()
  written = json.loads((tmp_path / "qa" / "cmrc2018_dev_preds.json").read_text("utf-8"))
  assert written == predictions
  nbest = json.loads((tmp_path / "qa" / "cmrc2018_dev_nbest.json").read_text("utf-8"))
  assert nbest["Q2"][0]["text"] == "Hello World" and nbest["Q3"] == []


def record_qas(examples, record):
  return next(q for q, example in examples.items() if example.eid == record.example_index)


def test_scorer_in_a_fresh_process_refeaturizes_to_the_same_eids(tmp_path, fake_evaluator):
  writer = make_task(tmp_path, max_seq_length=24, doc_stride=3)
  examples, windows = dev_records(writer)
  record = windows["Q4"][-1]
  start, end = span_positions(record, examples["Q4"].context, "万")
  outputs = joint_outputs(1)
  set_beam(outputs, 0, 0, start, -0.1, [(end, -0.1)])
  # As when the records come from an earlier run's cache: this task never featurised.
  reader = make_task(tmp_path, max_seq_length=24, doc_stride=3)
  scorer = reader.get_scorer("dev")
  scorer.update({"eid": np.array([record.eid]), **outputs})
  assert scorer.write_predictions()["Q4"] == "万"


def test_prediction_paths_follow_config_qa_preds_file(tmp_path):
  task = make_task(tmp_path)
  task.config.qa_preds_file = lambda name: str(tmp_path / "qa" / (name + "_preds.json"))
  scorer = task.get_scorer("test")
  assert scorer.prediction_paths() == (str(tmp_path / "qa" / "cmrc2018_test_preds.json"),
                                       str(tmp_path / "qa" / "cmrc2018_test_nbest.json"))
  task.config.qa_preds_file = lambda name: None
  assert task.get_scorer("dev").prediction_paths() == (None, None)


def test_missing_outputs_are_reported(tmp_path):
  task = make_task(tmp_path)
  with pytest.raises(KeyError, match="start_top_log_probs"):
    predict(task, [0], {"start_top_index": np.zeros((1, 2), int)})
  with pytest.raises(KeyError, match="eid"):
    task.get_scorer("dev").update({"start_logits": np.zeros((1, 4))})


@pytest.mark.parametrize("num_trials", [1, 3])
def test_write_outputs_keeps_each_trials_predictions(tmp_path, num_trials):
  task = make_task(tmp_path, max_seq_length=96, write_test_outputs=True, n_writes_test=2,
                   num_trials=num_trials)
  qa_dir = tmp_path / "qa"
  task.config.qa_preds_file = lambda name: str(qa_dir / (name + "_preds.json"))
  examples, windows = dev_records(task)
  (record,) = windows["Q4"]
  answers = {1: "北京", 2: "中国"}
  for trial, text in answers.items():
    outputs = joint_outputs(1)
    start, end = span_positions(record, examples["Q4"].context, text)
    set_beam(outputs, 0, 0, start, -0.1, [(end, -0.1)])
    scorer = task.get_scorer("dev")
    scorer.update({"eid": np.array([record.eid]), **outputs})
    task.write_outputs(scorer, "dev", trial)
  read = lambda name: json.loads((qa_dir / name).read_text("utf-8"))
  assert read("cmrc2018_dev_preds.json")["Q4"] == "中国"  # the original's name: the latest trial
  if num_trials == 1:
    assert sorted(p.name for p in qa_dir.iterdir()) == ["cmrc2018_dev_nbest.json",
                                                       "cmrc2018_dev_preds.json"]
    return
  for trial, text in answers.items():
    assert read(f"cmrc2018_dev_{trial}_preds.json")["Q4"] == text
    assert read(f"cmrc2018_dev_{trial}_nbest.json")["Q4"][0]["text"] == text
  task.write_outputs(scorer, "dev", 3)  # beyond n_writes_test: nothing more
  assert not (qa_dir / "cmrc2018_dev_3_preds.json").exists()


def test_write_outputs_honours_write_test_outputs(tmp_path):
  task = make_task(tmp_path, max_seq_length=96, write_test_outputs=False)
  task.config.qa_preds_file = lambda name: str(tmp_path / "qa" / (name + "_preds.json"))
  scorer = task.get_scorer("dev")
  scorer.update({"eid": np.array([0]), **joint_outputs(1)})
  task.write_outputs(scorer, "dev", 1)
  assert not (tmp_path / "qa").exists()
