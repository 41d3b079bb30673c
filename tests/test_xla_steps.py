"""TPU readiness without a TPU: the train steps compile with XLA on a CPU.

TPUStrategy compiles the whole step with XLA, which refuses dynamic shapes and host-side ops.
jit_compile "always" compiles each step's forward and backward pass (and the optimizer update,
always compiled on one replica) on any device, so these runs fail if a step could not run on a
TPU. The first test goes further and compiles forward, backward and update as ONE function.
"""

import json

import tensorflow as tf

import configure_pretraining
import run_finetuning
import run_pretraining
from model import fused_ops
from pretrain import dataset_writer
from tests import test_learning as learning
from tests.test_run_finetuning import argv


def build_tiny_pretraining_data(root):
  (root / "vocab.txt").write_text("\n".join(learning.SPECIAL + list(learning.CHARS)) + "\n",
                                  encoding="utf-8")
  learning.write_corpus(root / "corpus.txt", num_documents=20)
  dataset_writer.build(vocab_file=str(root / "vocab.txt"),
                       output_dir=str(root / "pretrain_tfrecords"),
                       corpus_files=[str(root / "corpus.txt")], max_seq_length=32,
                       num_processes=1, eval_fraction=0.2, progress=False)


# One layer: what has to compile is the same for every layer, and XLA's compile time grows with
# their number.
PRETRAIN = dict(learning.PRETRAIN, num_train_steps=2, save_checkpoints_steps=2,
                iterations_per_loop=1, num_eval_steps=1,
                model_hparam_overrides=dict(learning.TINY_ENCODER, num_hidden_layers=1))


def pretraining_config(root, **overrides):
  return configure_pretraining.PretrainingConfig("xla", str(root), **dict(PRETRAIN, **overrides))


def test_jit_compile_modes_from_json(tmp_path):
  for value, mode in (("always", "always"), ("never", "never"), (True, "auto"), (False, "never")):
    assert pretraining_config(tmp_path, jit_compile=value).jit_compile == mode


def test_whole_pretraining_step_compiles_as_one_xla_function(tmp_path):
  build_tiny_pretraining_data(tmp_path)
  config = pretraining_config(tmp_path, jit_compile="always")
  model, optimizer = run_pretraining.build_model_and_optimizer(config, tf.distribute.get_strategy())
  trainable = model.trainable_variables
  optimizer.build(trainable)
  names = sorted(trainable)
  batch = next(iter(run_pretraining.pretrain_data.get_input_fn(config, is_training=True)()))

  @tf.function(jit_compile=True)
  def step(features):
    with fused_ops.inline_fused_ops(), tf.GradientTape() as tape:
      loss, _ = model.loss(features, training=True)
    with fused_ops.inline_fused_ops():
      grads = tape.gradient(loss, [trainable[name] for name in names])
    optimizer.apply_gradients(zip(grads, [trainable[name] for name in names]))
    return loss

  before = trainable[names[0]].numpy().copy()
  losses = [float(step(batch)) for _ in range(2)]
  assert all(tf.math.is_finite(loss) for loss in losses)
  assert int(optimizer.iterations) == 2
  assert not (trainable[names[0]].numpy() == before).all()


def test_pretraining_script_runs_with_xla_always(tmp_path):
  build_tiny_pretraining_data(tmp_path)
  hparams = dict(PRETRAIN, jit_compile="always")
  config = pretraining_config(tmp_path, jit_compile="always")
  trainer = run_pretraining.build_trainer(config, tf.distribute.get_strategy())
  assert trainer.jit_forward_backward and trainer.jit_update
  run_pretraining.main(["--data-dir", str(tmp_path), "--model-name", "xla",
                        "--hparams", json.dumps(hparams)])
  history = tmp_path / "models" / "xla" / "results" / "unsup_results_history.jsonl"
  assert json.loads(history.read_text().splitlines()[-1])["global_step"] == 2


def test_finetuning_steps_run_with_xla_always(data_dir):
  for task, extra in (("chnsenticorp", {}),
                      ("cmrc2018", {"train_batch_size": 2, "eval_batch_size": 2,
                                    "doc_stride": 8, "max_query_length": 8})):
    trials = run_finetuning.main(argv(data_dir, task_names=[task], num_train_epochs=1,
                                      do_test=False, jit_compile="always", **extra))
    assert trials[0]["results"][task]["dev"]
