"""group_by_length: training batches of similar lengths, trimmed to their longest sequence."""

import glob
import json

import numpy as np
import pytest
import tensorflow as tf

import configure_finetuning
import run_finetuning
from finetune import preprocessing
from util import example_parsing
from tests.test_run_finetuning import TINY, write_chnsenticorp, write_cmrc2018, write_vocab
from tests.test_tagging_end_to_end import NAME as NER, SENTENCES, tagged_lines

MAX_LEN = 64


def serialized_records(lengths):
  """One tf.train.Example per length: eid i, input_ids 1..n then zeros, mask to match."""
  records = []
  for eid, n in enumerate(lengths):
    ids = list(range(1, n + 1)) + [0] * (MAX_LEN - n)
    feature = {"eid": [eid], "input_ids": ids, "input_mask": [1] * n + [0] * (MAX_LEN - n)}
    records.append(preprocessing.make_tf_example(feature).SerializeToString())
  return tf.data.Dataset.from_tensor_slices(records)


def parse(serialized):
  return example_parsing.parse_int_features(
      serialized, {"eid": [], "input_ids": [MAX_LEN], "input_mask": [MAX_LEN]})


def grouped(lengths, batch_size, window, seed=5):
  dataset = preprocessing.length_grouped_batches(serialized_records(lengths), parse, batch_size,
                                                 window, seed)
  return [{name: value.numpy() for name, value in batch.items()} for batch in dataset]


def test_trim_padding_cuts_sequence_features_to_the_rounded_longest():
  mask = np.zeros([2, MAX_LEN], np.int32)
  mask[0, :5], mask[1, :17] = 1, 1
  features = {"input_mask": tf.constant(mask), "input_ids": tf.constant(mask * 7),
              "eid": tf.constant([3, 4])}
  trimmed = preprocessing.trim_padding(features)
  assert trimmed["input_mask"].shape == (2, 32)  # 17 rounded up to a multiple of 16
  assert trimmed["input_ids"].shape == (2, 32)
  np.testing.assert_array_equal(trimmed["input_ids"].numpy(), mask[:, :32] * 7)
  assert trimmed["eid"].numpy().tolist() == [3, 4]


def test_a_batch_without_real_tokens_keeps_one_multiple_and_no_batch_outgrows_max_length():
  empty = {"input_mask": tf.zeros([2, MAX_LEN], tf.int32)}
  assert preprocessing.trim_padding(empty)["input_mask"].shape == (2, preprocessing.TRIM_MULTIPLE)
  odd = {"input_mask": tf.ones([2, 20], tf.int32)}  # longer than the last multiple below 20
  assert preprocessing.trim_padding(odd)["input_mask"].shape == (2, 20)


def test_grouped_batches_hold_every_record_once_sorted_within_each_window():
  rng = np.random.default_rng(0)
  lengths = rng.integers(1, MAX_LEN + 1, size=48).tolist()
  batches = grouped(lengths, batch_size=4, window=6)
  assert len(batches) == 12
  eids = np.concatenate([b["eid"] for b in batches])
  assert sorted(eids.tolist()) == list(range(48))
  for window_start in (0, 24):  # each window of 24 records is cut into sorted batches
    in_window = [b for b in batches if b["eid"][0] // 24 == window_start // 24]
    assert all(set(b["eid"] // 24) == {window_start // 24} for b in in_window)
    spans = sorted((min(lengths[e] for e in b["eid"]), max(lengths[e] for e in b["eid"]))
                   for b in in_window)
    assert all(high <= next_low for (_, high), (next_low, _) in zip(spans, spans[1:]))
  for batch in batches:
    longest = max(lengths[e] for e in batch["eid"])
    assert batch["input_ids"].shape[1] == min(-(-longest // 16) * 16, MAX_LEN)
    for eid, row in zip(batch["eid"], batch["input_ids"]):
      assert row[:lengths[eid]].tolist() == list(range(1, lengths[eid] + 1))


def test_the_batch_order_is_shuffled_and_follows_the_seed():
  lengths = list(range(1, 41))  # already sorted: unshuffled batches would come in rising order
  order = [int(b["eid"][0]) for b in grouped(lengths, batch_size=4, window=10)]
  assert order != sorted(order)
  assert order == [int(b["eid"][0]) for b in grouped(lengths, batch_size=4, window=10)]
  assert order != [int(b["eid"][0]) for b in grouped(lengths, batch_size=4, window=10, seed=6)]


def test_window_1_keeps_each_batch_and_only_trims_it():
  lengths = [3, 40, 7, 12, 5, 9, 2, 30]
  batches = grouped(lengths, batch_size=4, window=1)
  assert [b["eid"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]
  assert [b["input_ids"].shape[1] for b in batches] == [48, 32]


def test_configuration_range_and_tpus():
  config = configure_finetuning.FinetuningConfig("m", "d", task_names=["chnsenticorp"],
                                                 group_by_length=50)
  assert config.group_by_length == 50
  assert configure_finetuning.FinetuningConfig("m", "d", task_names=["chnsenticorp"]
                                               ).group_by_length == 0
  with pytest.raises(ValueError, match="group_by_length"):
    configure_finetuning.FinetuningConfig("m", "d", task_names=["chnsenticorp"],
                                          group_by_length=-1)
  with pytest.raises(ValueError, match="TPU"):
    configure_finetuning.FinetuningConfig("m", "d", task_names=["chnsenticorp"],
                                          group_by_length=4, use_tpu=True)


# ---- end to end: run_finetuning.py on three kinds of task at once ----

@pytest.fixture()
def data_dir(tmp_path):
  model_dir = tmp_path / "models" / "tiny"
  model_dir.mkdir(parents=True)
  write_vocab(model_dir / "vocab.txt")
  write_chnsenticorp(tmp_path / "finetuning_data" / "chnsenticorp")
  write_cmrc2018(tmp_path / "finetuning_data" / "cmrc2018")
  ner_dir = tmp_path / "finetuning_data" / NER
  ner_dir.mkdir(parents=True)
  text = "".join(tagged_lines(*sentence) for sentence in SENTENCES)
  (ner_dir / "train.txt").write_text(text * 2, encoding="utf-8")
  (ner_dir / "dev.txt").write_text(text, encoding="utf-8")
  return tmp_path


def finetune(data_dir, group_by_length):
  """Three tasks in one model from random weights, without dropout; returns the trained
  variables."""
  overrides = dict(TINY["model_hparam_overrides"], hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0)
  hparams = dict(TINY, model_hparam_overrides=overrides, max_seq_length=MAX_LEN,
                 task_names=["chnsenticorp", "cmrc2018", NER], init_checkpoint=None,
                 num_train_epochs=2, do_test=False, group_by_length=group_by_length)
  run_finetuning.main(["--data-dir", str(data_dir), "--model-name", "tiny",
                       "--hparams", json.dumps(hparams)])
  [model_dir] = glob.glob(str(data_dir / "models" / "tiny" / "finetuning_models" / "*_model_1"))
  reader = tf.train.load_checkpoint(model_dir)
  variables = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
  return variables


def test_trimmed_batches_train_the_same_model_as_full_length_ones(data_dir):
  # Window 1: the same batches as without grouping, only shorter; the maths must not change.
  # (Longer windows run end to end in the quick demo, tests/test_demo.py.)
  full = finetune(data_dir, 0)
  trimmed = finetune(data_dir, 1)
  assert full["global_step"] == trimmed["global_step"] > 0
  for name, value in full.items():
    np.testing.assert_allclose(trimmed[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
