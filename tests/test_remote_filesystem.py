"""A whole run on a file system that is not the local disk, as a TPU run on gs:// paths is.

TensorFlow's in-memory ram:// file system stands in for Cloud Storage: a tiny dataset is built,
pre-trained a few steps, fine-tuned on a classification and a QA task, predicted with and
scored, every input and output under ram:// paths. Any os / open() call on one of them fails.

ram:// differs from Cloud Storage in three ways the code meets: a file is listed only under a
directory created with makedirs; renaming a directory leaves its files behind; a path "exists"
as soon as another one starts with it (ram://a/out once ram://a/out.tmp-1 exists). The first
two hold for every remote file system in util/fileio.py (parents are created before writing,
remote directories move file by file); the code's temporary names keep clear of the third.
"""

import io
import json
import uuid

import tensorflow as tf

import predict
import run_finetuning
import run_pretraining
from pretrain import dataset_writer
from tests import test_learning
from tests import test_run_finetuning
from util import fileio

PRETRAIN = dict(test_learning.PRETRAIN, num_train_steps=2, save_checkpoints_steps=2,
                train_batch_size=4, eval_batch_size=4,
                iterations_per_loop=1, num_warmup_steps=0, num_eval_steps=2,
                eval_at_checkpoints=False, log_every_steps=1)
FINETUNE = {"num_trials": 1, "num_train_epochs": 1, "train_batch_size": 4, "eval_batch_size": 4,
            "max_seq_length": 32, "do_test": False, "keep_all_models": True,
            "iterations_per_loop": 1, "jit_compile": False}


def write_local_data(root):
  """Vocabulary, corpus and both tasks' data on the local disk, to be uploaded."""
  chars = list(dict.fromkeys(test_learning.CHARS + test_run_finetuning.CHARS + "，。？"))
  vocab = test_learning.SPECIAL + chars
  (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
  test_learning.write_corpus(root / "corpus.txt", num_documents=40)
  test_run_finetuning.write_chnsenticorp(root / "finetuning_data" / "chnsenticorp")
  test_run_finetuning.write_cmrc2018(root / "finetuning_data" / "cmrc2018")
  (root / "reviews.txt").write_text("今天天气很好\n这家店的菜太难吃了\n", encoding="utf-8")
  return len(vocab)


def finetune(data, **hparams):
  return run_finetuning.main(["--data-dir", data, "--model-name", "tiny",
                              "--hparams", json.dumps(dict(FINETUNE, **hparams))])


def scalar_tags(log_dir):
  tags = set()
  for path in tf.io.gfile.glob(f"{log_dir}/events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  return tags


def test_build_pretrain_finetune_and_predict_on_ram_paths(tmp_path):
  vocab_size = write_local_data(tmp_path)
  data = f"ram://electra-{uuid.uuid4().hex[:8]}/data"
  fileio.copy_tree(str(tmp_path), data)
  model = f"{data}/models/tiny"

  summary = dataset_writer.build(
      vocab_file=f"{data}/vocab.txt", output_dir=f"{data}/pretrain_tfrecords",
      corpus_files=[f"{data}/corpus.txt"], max_seq_length=32, num_processes=1,
      eval_fraction=0.2, progress=False)
  assert summary["examples"] and summary["eval"]["examples"]
  assert fileio.exists(f"{data}/pretrain_tfrecords/summary.json")

  run_pretraining.main(["--data-dir", data, "--model-name", "tiny", "--hparams",
                        json.dumps(dict(PRETRAIN, vocab_size=vocab_size))])
  assert tf.train.latest_checkpoint(model).endswith("model.ckpt-2")
  assert fileio.exists(f"{model}/results/unsup_results.json")
  assert "disc_auc" in scalar_tags(f"{model}/eval")

  trials = finetune(data, task_names=["chnsenticorp"])
  assert "accuracy" in trials[0]["results"]["chnsenticorp"]["dev"]
  assert fileio.exists(f"{model}/results/chnsenticorp_results.json")
  assert "chnsenticorp/dev/accuracy" in scalar_tags(
      f"{model}/results/tensorboard/chnsenticorp/trial_1")

  trials = finetune(data, task_names=["cmrc2018"], doc_stride=8, max_query_length=8,
                    write_test_outputs=True)
  assert trials[0]["results"]["cmrc2018"]["dev"]["total"] == 3
  preds = json.loads(fileio.read_bytes(f"{model}/results/cmrc2018_qa/cmrc2018_dev_preds.json"))
  assert set(preds) == {"Q0", "Q1", "Q2"}

  output = f"{data}/predictions/reviews.tsv"
  predict.main(["--model-dir", f"{model}/finetuning_models/chnsenticorp_model_1",
                "--input", f"{data}/reviews.txt", "--output", output], out=io.StringIO())
  rows = fileio.read_bytes(output).decode("utf-8").splitlines()
  assert rows[0].startswith("id\tlabel") and len(rows) == 3
