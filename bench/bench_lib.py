"""Shared pieces of the model benchmarks: models built through the project's own classes,
synthetic batches, analytic FLOP counts, timing and the one-line JSON report."""

import argparse
import atexit
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

# Each benchmark prints exactly one JSON line on stdout (emit); everything else the project
# prints there (the Trainer's log lines) goes to stderr.
_STDOUT = sys.stdout
sys.stdout = sys.stderr

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import configure_finetuning  # pylint: disable=wrong-import-position
import configure_pretraining  # pylint: disable=wrong-import-position
from finetune.classification.tasks import ChnSentiCorp  # pylint: disable=wrong-import-position
from finetune.finetuning_model import FinetuningModel  # pylint: disable=wrong-import-position
from finetune.qa.tasks import CMRC2018  # pylint: disable=wrong-import-position
from model import optimization  # pylint: disable=wrong-import-position
from pretrain import electra_model  # pylint: disable=wrong-import-position
from util import training  # pylint: disable=wrong-import-position

_STRATEGY = []


def one_device():
  """The strategy util/strategy.py picks on one machine without several GPUs (made once)."""
  if not _STRATEGY:
    gpus = tf.config.list_logical_devices("GPU")
    _STRATEGY.append(tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0"))
  return _STRATEGY[0]


DTYPES = {"float32": tf.float32, "bfloat16": tf.bfloat16}
JIT_CHOICES = {"auto": True, "always": "always", "off": False}
# Ids of the special tokens in the Chinese BERT vocabulary.
SPECIAL_IDS = {"[MASK]": 103, "[CLS]": 101, "[SEP]": 102}


def model_bench_parser(doc, what, precision):
  """The options every model benchmark shares: --what, --precision, --jit, --batch-size and the
  thread counts; `doc` is the script's docstring (its first line describes the parser)."""
  parser = argparse.ArgumentParser(description=doc.split("\n")[0])
  parser.add_argument("--what", default=what)
  parser.add_argument("--precision", default=precision)
  parser.add_argument("--jit", default="auto", choices=sorted(JIT_CHOICES))
  parser.add_argument("--batch-size", type=int, default=32)
  add_thread_args(parser)
  return parser


def add_thread_args(parser):
  parser.add_argument("--intra-op-threads", type=int, default=0,
                      help="TensorFlow intra-op threads (0: TensorFlow's default, all cores)")
  parser.add_argument("--inter-op-threads", type=int, default=0,
                      help="TensorFlow inter-op threads (0: TensorFlow's default)")


def apply_thread_args(args):
  """Must run before TensorFlow executes anything."""
  if args.intra_op_threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
  if args.inter_op_threads:
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)


def emit(record):
  print(json.dumps(record), file=_STDOUT, flush=True)


def machine():
  model = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  return {"cpu": model, "cpus": os.cpu_count(), "tensorflow": tf.__version__,
          "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
          "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "default",
          "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
          "date": time.strftime("%Y-%m-%d %H:%M")}


def load_average():
  try:
    return round(os.getloadavg()[0], 2)
  except OSError:
    return None


# ----------------------------------------------------------------------------------------------
# Models.

@functools.cache
def _scratch_root():
  root = tempfile.mkdtemp(prefix="bench-")
  atexit.register(shutil.rmtree, root, True)
  return root


def scratch_dir():
  """A fresh empty directory for a config's or trainer's files, under one per-process root
  removed when the process exits, so benches leave nothing in the temporary directory."""
  return tempfile.mkdtemp(dir=_scratch_root())


def finetune_config(task_names, seq_length, batch_size, **overrides):
  return configure_finetuning.FinetuningConfig(
      "bench", scratch_dir(), task_names=task_names, model_size="small",
      max_seq_length=seq_length, train_batch_size=batch_size, eval_batch_size=batch_size,
      predict_batch_size=batch_size, **overrides)


def make_task(config, name):
  return {"chnsenticorp": ChnSentiCorp, "cmrc2018": CMRC2018}[name](config, None)


def finetuning_model(config, task, precision):
  return FinetuningModel(config, [task], DTYPES[precision])


def pretrain_config(seq_length, batch_size, precision, hparams=None):
  """ELECTRA-small's pre-training config, or `hparams` (a run's, e.g. a params file's) with the
  bench's sequence length, batch size and precision."""
  hparams = dict(hparams or {"model_size": "small"}, max_seq_length=seq_length,
                 train_batch_size=batch_size, mixed_precision=precision)
  return configure_pretraining.PretrainingConfig("bench", scratch_dir(), **hparams)


def optimizer(learning_rate=1e-4):
  return optimization.AdamWeightDecay(lambda step: tf.constant(learning_rate),
                                      weight_decay_rate=0.01)


def make_trainer(model, batch, jit, precision, steps_per_loop, input_fn=None):
  """A Trainer over `input_fn`, by default a cached in-memory copy of `batch` repeated (neither:
  a Trainer that only predicts)."""
  strategy = one_device()
  with strategy.scope():
    opt = optimizer()
  if input_fn is None and batch is not None:
    def input_fn(input_context):
      del input_context
      return tf.data.Dataset.from_tensors(batch).repeat()
  return training.Trainer(strategy, model, opt, input_fn, scratch_dir(),
                          steps_per_loop=steps_per_loop, jit_compile=JIT_CHOICES[jit],
                          mixed_precision=precision)


# ----------------------------------------------------------------------------------------------
# Synthetic batches (full-length sequences: every position is a real token).

def _token_ids(rng, batch_size, seq_length, vocab_size):
  # Above BERT's special and reserved ids; a small vocabulary keeps only the special ones out.
  low = 1000 if vocab_size > 2000 else max(SPECIAL_IDS.values()) + 1
  ids = rng.integers(low, vocab_size, (batch_size, seq_length)).astype(np.int32)
  ids[:, 0] = SPECIAL_IDS["[CLS]"]
  ids[:, -1] = SPECIAL_IDS["[SEP]"]
  return ids


def classification_batch(batch_size, seq_length, vocab_size=21128, seed=0):
  rng = np.random.default_rng(seed)
  return {"input_ids": _token_ids(rng, batch_size, seq_length, vocab_size),
          "input_mask": np.ones((batch_size, seq_length), np.int32),
          "segment_ids": np.zeros((batch_size, seq_length), np.int32),
          "task_id": np.zeros((batch_size,), np.int32), "valid": np.ones((batch_size,), np.int32),
          "chnsenticorp_label_ids": rng.integers(0, 2, (batch_size,)).astype(np.int32),
          "chnsenticorp_eid": np.arange(batch_size, dtype=np.int32)}


def qa_batch(batch_size, seq_length, query_length=64, vocab_size=21128, seed=0):
  rng = np.random.default_rng(seed)
  segments = np.zeros((batch_size, seq_length), np.int32)
  segments[:, query_length:] = 1
  starts = rng.integers(query_length, seq_length - 40, (batch_size,)).astype(np.int32)
  return {"input_ids": _token_ids(rng, batch_size, seq_length, vocab_size),
          "input_mask": np.ones((batch_size, seq_length), np.int32), "segment_ids": segments,
          "task_id": np.zeros((batch_size,), np.int32), "valid": np.ones((batch_size,), np.int32),
          "cmrc2018_eid": np.arange(batch_size, dtype=np.int32),
          "cmrc2018_start_positions": starts,
          "cmrc2018_end_positions": starts + rng.integers(0, 30, (batch_size,)).astype(np.int32),
          "cmrc2018_is_impossible": np.zeros((batch_size,), np.int32)}


def pretrain_batch(batch_size, seq_length, vocab_size=21128, seed=0):
  rng = np.random.default_rng(seed)
  return {"input_ids": _token_ids(rng, batch_size, seq_length, vocab_size),
          "input_mask": np.ones((batch_size, seq_length), np.int32),
          "segment_ids": np.zeros((batch_size, seq_length), np.int32)}


# ----------------------------------------------------------------------------------------------
# Analytic FLOP counts: 2 FLOPs per multiply-accumulate of every matrix product; element-wise
# work is not counted. Training = 3 x forward (the backward pass computes two products per
# forward product: input and weight gradients).

def encoder_macs_per_token(config, seq_length, embedding_size):
  """Multiply-accumulates per token of one encoder forward pass (no heads)."""
  hidden, inner = config.hidden_size, config.intermediate_size
  per_layer = 4 * hidden * hidden + 2 * hidden * inner + 2 * seq_length * hidden  # + attention
  projection = embedding_size * hidden if embedding_size != hidden else 0
  return config.num_hidden_layers * per_layer + projection


def finetune_forward_flops(config, batch_size, seq_length, embedding_size):
  return 2 * batch_size * seq_length * encoder_macs_per_token(config, seq_length, embedding_size)


def qa_head_forward_macs(hidden_size, batch_size, seq_length, beam_size):
  """The joint span head at inference: start logits, the token half of qa_hidden, the start half
  for each beam entry, the end logits of every (beam entry, token) pair, the answerable MLP."""
  tokens = batch_size * seq_length
  return (tokens * hidden_size + tokens * hidden_size * 512 + batch_size * beam_size * hidden_size
          * 512 + batch_size * beam_size * seq_length * 512 + batch_size * 2 * hidden_size * 512)


def pretrain_step_flops(model, batch_size, seq_length):
  config = model.config
  disc, gen = model.disc_config, model.gen_config
  embedding = config.embedding_size or disc.hidden_size
  tokens = batch_size * seq_length
  macs = tokens * encoder_macs_per_token(disc, seq_length, embedding)
  macs += tokens * (disc.hidden_size * disc.hidden_size + disc.hidden_size)  # disc head
  if model.networks.generator is not model.networks.discriminator:
    gen_embedding = model.networks.generator.embeddings.width
    macs += tokens * encoder_macs_per_token(gen, seq_length, gen_embedding)
  width = model.networks.generator_head.word_embeddings.shape[1]
  slots = batch_size * config.max_predictions_per_seq  # logits only at the masked positions
  macs += slots * (gen.hidden_size * width + width * disc.vocab_size)
  return 3 * 2 * macs


# ----------------------------------------------------------------------------------------------
# Timing.

def time_calls(fn, repeats, warmup=1):
  """Seconds of each of `repeats` calls of fn() after `warmup` calls."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return times


def summary(times, per_call=1):
  """min (the figure: least disturbed by other load), median, all; per unit of work."""
  per = sorted(t / per_call for t in times)
  return {"min_s": round(per[0], 4), "median_s": round(per[len(per) // 2], 4),
          "all_s": [round(t / per_call, 4) for t in times]}


def read_peak(path):
  """{dtype: GFLOP/s} from a bench_matmul_peak.py JSON line, or None."""
  if not path or not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    for line in f:
      if line.startswith("{"):
        return json.loads(line)["peak_gflops"]
  return None
