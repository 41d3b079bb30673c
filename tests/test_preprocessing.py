"""Tests of finetune/preprocessing.py: TFRecord round trip, cache reuse/rebuild, padding."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from configure_finetuning import FinetuningConfig
from finetune import preprocessing
from finetune import task_builder
from model import optimization

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("好不错你是谁我很差他她")
LCQMC_ROWS = ["你好\t你好\t1", "你是谁\t我是谁\t0", "他很好\t她很好\t0", "我好\t我很好\t1",
              "你好\t他好\t0"]


@pytest.fixture
def data_dir(tmp_path):
  (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
  write_split(tmp_path, "lcqmc", "dev", ["text_a\ttext_b\tlabel"] + LCQMC_ROWS)
  write_split(tmp_path, "lcqmc", "train", ["text_a\ttext_b\tlabel"] + LCQMC_ROWS * 2)
  write_split(tmp_path, "chnsenticorp", "dev", ["label\ttext_a", "1\t很好", "0\t不好"])
  return tmp_path


def write_split(data_dir, task, split, lines):
  task_dir = data_dir / "finetuning_data" / task
  task_dir.mkdir(parents=True, exist_ok=True)
  (task_dir / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_preprocessor(data_dir, task_names=("lcqmc",), **kwargs):
  # Pairs once each (double_unordered off), so record counts equal the rows written.
  kwargs = {"max_seq_length": 12, "eval_batch_size": 4, "train_batch_size": 2,
            "double_unordered": False, **kwargs}
  config = FinetuningConfig("m", str(data_dir), task_names=list(task_names), **kwargs)
  tasks = task_builder.get_tasks(config)
  return preprocessing.Preprocessor(config, tasks), tasks


def count_reads(tasks):
  """Wraps each task's get_examples to count how often the raw data is read."""
  calls = []
  for task in tasks:
    original = task.get_examples
    task.get_examples = lambda split, _f=original: calls.append(split) or _f(split)
  return calls


def read_all(prepared):
  dataset = preprocessing.input_fn(prepared.tfrecord_path, prepared.feature_specs,
                                   prepared.batch_size, is_training=False)
  batches = [{k: v.numpy() for k, v in batch.items()} for batch in dataset]
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def test_n_train_steps():
  assert preprocessing.n_train_steps(100, 32, 3.0) == 9
  assert preprocessing.n_train_steps(100, 32, 2.5) == 7


def test_train_records_are_padded_and_steps_counted_as_the_original(data_dir):
  # 10 training pairs, batches of 4: the original writes 2 zero-weight records after the
  # shuffled ones and counts 12 // 4 = 3 steps per epoch (unpadded: 10 // 4 = 2).
  preprocessor, _ = make_preprocessor(data_dir, train_batch_size=4)
  prepared = preprocessor.prepare("train", is_training=True)
  assert (prepared.n_examples, prepared.n_records) == (10, 12)
  records = read_all(prepared)
  np.testing.assert_array_equal(records["valid"], [1] * 10 + [0] * 2)
  np.testing.assert_array_equal(records["task_id"][10:], [1, 1])  # = number of tasks
  steps = preprocessing.n_train_steps(prepared.n_records, 4, 2.5)
  assert steps == int(12 // 4 * 2.5) == 7
  # Warm-up: 7 * 0.1 = 0.7 steps, not rounded (int() would make it 0: no warm-up at all).
  warmup = optimization.warmup_steps(steps, 0.1)
  assert warmup == pytest.approx(0.7)
  rates = [float(optimization.learning_rate(step, 1.0, steps, warmup)) for step in (0, 1, 3)]
  assert rates == pytest.approx([0.0, 6 / 7, 4 / 7])


def test_train_cache_records_its_batch_size(data_dir):
  make_preprocessor(data_dir, train_batch_size=4)[0].prepare("train", is_training=True)
  preprocessor, tasks = make_preprocessor(data_dir, train_batch_size=3)
  calls = count_reads(tasks)
  prepared = preprocessor.prepare("train", is_training=True)
  assert calls == ["train"] and prepared.n_records == 12


def zero_weight_batch(tasks, max_seq_length, n_real):
  """n_real fabricated rows of each task, then the preprocessor's padding record, as numpy."""
  specs = preprocessing.all_feature_specs(max_seq_length, tasks)
  rng = np.random.default_rng(0)
  rows = []
  for task in tasks:
    for _ in range(n_real):
      row = {spec.name: np.zeros(spec.shape, np.int32) for spec in specs}
      row["input_ids"] = rng.integers(5, len(VOCAB), max_seq_length).astype(np.int32)
      row["input_mask"][:] = 1
      row["task_id"], row["valid"] = np.int32(task.task_id), np.int32(1)
      if f"{task.name}_label_weights" in row:
        row[f"{task.name}_label_weights"][1:-1] = 1
      rows.append(row)
  parsed = tf.train.Example.FromString(preprocessing.Preprocessor(
      tasks[0].config, tasks)._padding_record())  # pylint: disable=protected-access
  padding = {spec.name: np.array(parsed.features.feature[spec.name].int64_list.value,
                                 np.int32).reshape(spec.shape) for spec in specs}
  return {name: np.stack([row[name] for row in rows]) for name in rows[0]}, padding


@pytest.mark.parametrize("task_names", [("lcqmc",), ("cmrc2018",), ("peoples_daily_ner",)])
def test_padding_record_changes_neither_loss_nor_gradient(data_dir, task_names):
  from finetune.finetuning_model import FinetuningModel  # pylint: disable=import-outside-toplevel
  config = FinetuningConfig(
      "m", str(data_dir), task_names=list(task_names), max_seq_length=12, vocab_size=len(VOCAB),
      embedding_size=16, beam_size=3,
      model_hparam_overrides={"hidden_size": 16, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "intermediate_size": 32})
  tasks = task_builder.get_tasks(config)
  tf.random.set_seed(0)
  model = FinetuningModel(config, tasks)
  real, padding = zero_weight_batch(tasks, 12, n_real=3)
  padded = {name: np.concatenate([real[name], padding[name][None]]) for name in real}

  def loss_and_grads(batch):
    with tf.GradientTape() as tape:
      loss, _ = model.loss({k: tf.constant(v) for k, v in batch.items()}, training=False)
    variables = model.trainable_variables
    grads = tape.gradient(loss, list(variables.values()))
    return float(loss), {name: tf.convert_to_tensor(g).numpy()
                         for name, g in zip(variables, grads) if g is not None}

  loss, grads = loss_and_grads(real)
  padded_loss, padded_grads = loss_and_grads(padded)
  assert loss > 0 and padded_loss == pytest.approx(loss, rel=1e-5)
  assert set(padded_grads) == set(grads)
  for name, grad in grads.items():
    np.testing.assert_allclose(padded_grads[name], grad, rtol=1e-4, atol=1e-6, err_msg=name)


def test_round_trip_and_padding_to_batch_multiple(data_dir):
  preprocessor, (task,) = make_preprocessor(data_dir)
  prepared = preprocessor.prepare("dev", is_training=False)
  assert (prepared.n_examples, prepared.n_records, prepared.n_batches) == (5, 8, 2)
  assert prepared.tfrecord_path == os.path.join(
      preprocessor.config.preprocessed_data_dir, "lcqmc_dev.tfrecord")

  records = read_all(prepared)
  expected = [f for e in task.get_examples("dev") for f in task.featurize(e, False)]
  for i, feature in enumerate(expected):
    for name, value in feature.items():
      np.testing.assert_array_equal(records[name][i], value)
  assert records["input_ids"].dtype == np.int32 and records["input_ids"].shape == (8, 12)
  np.testing.assert_array_equal(records["valid"], [1] * 5 + [0] * 3)
  np.testing.assert_array_equal(records["task_id"][5:], [1] * 3)  # = number of tasks
  assert not records["input_mask"][5:].any()


def test_metadata_is_written(data_dir):
  preprocessor, _ = make_preprocessor(data_dir)
  preprocessor.prepare("dev", is_training=False)
  with open(preprocessor.prefix("dev") + ".metadata") as f:
    metadata = json.load(f)
  assert (metadata["n_examples"], metadata["n_records"]) == (5, 8)
  assert metadata["fingerprint"]["max_seq_length"] == 12
  assert list(metadata["fingerprint"]["inputs"]) == [
      str(data_dir / "finetuning_data" / "lcqmc" / "dev.tsv")]
  leftovers = [n for n in os.listdir(preprocessor.config.preprocessed_data_dir) if ".tmp-" in n]
  assert not leftovers


def test_cache_is_reused_when_nothing_changed(data_dir):
  make_preprocessor(data_dir)[0].prepare("dev", is_training=False)
  preprocessor, tasks = make_preprocessor(data_dir)
  calls = count_reads(tasks)
  prepared = preprocessor.prepare("dev", is_training=False)
  assert calls == [] and prepared.n_examples == 5


@pytest.mark.parametrize("change", ["input_file", "max_seq_length", "vocab", "batch_size",
                                    "no_reuse"])
def test_cache_is_rebuilt_when_something_changed(data_dir, change):
  make_preprocessor(data_dir)[0].prepare("dev", is_training=False)
  kwargs = {}
  if change == "input_file":
    write_split(data_dir, "lcqmc", "dev", ["text_a\ttext_b\tlabel"] + LCQMC_ROWS[:3])
  elif change == "max_seq_length":
    kwargs["max_seq_length"] = 16
  elif change == "vocab":
    with open(data_dir / "vocab.txt", "a", encoding="utf-8") as f:
      f.write("们\n")
  elif change == "batch_size":
    kwargs["eval_batch_size"] = 3
  else:
    kwargs["use_tfrecords_if_existing"] = False
  preprocessor, tasks = make_preprocessor(data_dir, **kwargs)
  calls = count_reads(tasks)
  prepared = preprocessor.prepare("dev", is_training=False)
  assert calls == ["dev"]
  assert read_all(prepared)["input_ids"].shape[1] == preprocessor.config.max_seq_length
  if change == "input_file":
    assert (prepared.n_examples, prepared.n_records) == (3, 4)
  if change == "batch_size":
    assert prepared.n_records == 6


def test_train_records_are_shuffled_by_seed(data_dir):
  def train_eids(seed):
    preprocessor, _ = make_preprocessor(data_dir, seed=seed, use_tfrecords_if_existing=False)
    prepared = preprocessor.prepare("train", is_training=True)
    assert prepared.n_examples == prepared.n_records == 10  # 5 batches of 2: no padding
    eids = [int(tf.train.Example.FromString(r.numpy()).features.feature["lcqmc_eid"]
                .int64_list.value[0]) for r in tf.data.TFRecordDataset(prepared.tfrecord_path)]
    return eids
  first = train_eids(seed=1)
  assert sorted(first) == list(range(10))
  assert first == train_eids(seed=1)
  assert first != list(range(10))
  assert train_eids(seed=2) != first


def test_train_input_fn_repeats_with_full_batches(data_dir):
  preprocessor, _ = make_preprocessor(data_dir)
  prepared = preprocessor.prepare("train", is_training=True)
  dataset = preprocessor.dataset_fn(prepared, seed=3)()
  batches = list(dataset.take(12))  # more than one epoch (5 batches of 2)
  assert all(b["input_ids"].shape == (2, 12) for b in batches)
  assert all(int(tf.reduce_sum(b["valid"])) == 2 for b in batches)


def test_input_context_gives_per_replica_batches_and_shards(data_dir):
  preprocessor, _ = make_preprocessor(data_dir)
  prepared = preprocessor.prepare("dev", is_training=False)
  eids = []
  for pipeline in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                         num_replicas_in_sync=2)
    batches = list(preprocessor.dataset_fn(prepared)(context))
    assert [int(b["input_ids"].shape[0]) for b in batches] == [2, 2]
    eids += [(int(e), int(v)) for b in batches for e, v in zip(b["lcqmc_eid"], b["valid"])]
  assert sorted(e for e, v in eids if v) == [0, 1, 2, 3, 4]


def test_multi_task_records_fill_other_tasks_features_with_zeros(data_dir):
  preprocessor, _ = make_preprocessor(data_dir, task_names=("lcqmc", "chnsenticorp"))
  prepared = preprocessor.prepare("dev", is_training=False)
  assert os.path.basename(prepared.tfrecord_path) == "chnsenticorp_lcqmc_dev.tfrecord"
  records = read_all(prepared)
  assert (prepared.n_examples, prepared.n_records) == (7, 8)
  np.testing.assert_array_equal(records["task_id"], [0] * 5 + [1] * 2 + [2])
  np.testing.assert_array_equal(records["chnsenticorp_label_ids"][:5], [0] * 5)
  np.testing.assert_array_equal(records["chnsenticorp_label_ids"][5:7], [1, 0])


def test_bad_feature_length_is_an_error_and_leaves_no_file(data_dir):
  preprocessor, (task,) = make_preprocessor(data_dir)
  original = task.featurize

  def broken(example, is_training):
    (feature,) = original(example, is_training)
    return [dict(feature, input_ids=feature["input_ids"][:-1])]
  task.featurize = broken
  with pytest.raises(ValueError, match="'input_ids' has 11 values"):
    preprocessor.prepare("dev", is_training=False)
  assert os.listdir(preprocessor.config.preprocessed_data_dir) == []


def test_missing_own_feature_is_an_error(data_dir):
  preprocessor, (task,) = make_preprocessor(data_dir)
  original = task.featurize
  task.featurize = lambda e, t: [{k: v for k, v in original(e, t)[0].items()
                                  if k != "lcqmc_label_ids"}]
  with pytest.raises(ValueError, match="no 'lcqmc_label_ids'"):
    preprocessor.prepare("dev", is_training=False)


def test_qa_windows_kept_beside_cached_records_are_not_featurised_again(tmp_path, monkeypatch):
  from finetune.qa import tasks as qa_tasks  # pylint: disable=import-outside-toplevel
  from tests.test_qa_tasks import make_task  # pylint: disable=import-outside-toplevel
  task = make_task(tmp_path, max_seq_length=24, doc_stride=4)
  preprocessing.Preprocessor(task.config, [task]).prepare("dev", is_training=False)
  written = task.window_arrays("dev")
  fresh = qa_tasks.CMRC2018(task.config, task.tokenizer)  # a later run reusing the cache

  def featurise_again(split):
    raise AssertionError(f"{split} featurised again")
  monkeypatch.setattr(fresh, "get_features", featurise_again)
  preprocessing.Preprocessor(fresh.config, [fresh]).prepare("dev", is_training=False)
  read = fresh.window_arrays("dev")
  assert sorted(read) == sorted(written)
  for key, values in written.items():
    np.testing.assert_array_equal(read[key], values)
  assert len(read["example_index"]) > len(fresh.get_examples("dev"))  # several windows each
