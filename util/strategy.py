"""Distribution strategy selection, seeding and compute precision.

Kept apart from the training loop (util/training.py re-exports these) because choosing a
strategy has to happen first in a program: MultiWorkerMirroredStrategy and TPU initialisation
must run before TensorFlow creates any other op.
"""

import json
import os
import random

import numpy as np
import tensorflow as tf

from util import device_options
from util import utils


def get_strategy(config):
  """The tf.distribute strategy for `config` (a run config, util/hparams.Config).

  `config.strategy` ("auto" or None by default) may force one of "one_device", "mirrored",
  "multi_worker" or "tpu". "auto" picks, in order: TPU if `use_tpu`; MultiWorkerMirrored if
  TF_CONFIG names several workers; Mirrored over several GPUs; else OneDevice (GPU 0 or CPU).
  TPU settings: `tpu_name`, `tpu_zone`, `gcp_project`, `tpu_job_name`.
  """
  name = device_options.strategy_name(config.strategy)
  if name == "auto":
    name = _auto_strategy_name(config)
  strategy = _STRATEGY_BUILDERS[name](config)
  utils.log(f"Distribution strategy: {name} ({type(strategy).__name__}), "
            f"{strategy.num_replicas_in_sync} replica(s)")
  return strategy


def _auto_strategy_name(config):
  if config.use_tpu:
    return "tpu"
  if num_workers_in_tf_config() > 1:
    return "multi_worker"
  if len(tf.config.list_logical_devices("GPU")) > 1:
    return "mirrored"
  return "one_device"


def num_workers_in_tf_config():
  """Number of worker and chief tasks in the TF_CONFIG environment variable (0 if unset)."""
  tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
  cluster = tf_config.get("cluster", {})
  return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _one_device(config):
  del config
  gpus = tf.config.list_logical_devices("GPU")
  return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")


def _mirrored(config):
  """All GPUs; without GPUs, all logical CPU devices (how the tests simulate two replicas)."""
  del config
  devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
  return tf.distribute.MirroredStrategy([device.name for device in devices])


def _multi_worker(config):
  del config
  return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu(config):
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu=config.tpu_name, zone=config.tpu_zone, project=config.gcp_project,
      job_name=config.tpu_job_name or "worker")
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


_STRATEGY_BUILDERS = {"one_device": _one_device, "mirrored": _mirrored,
                      "multi_worker": _multi_worker, "tpu": _tpu}


def is_chief(strategy):
  """True on the worker that writes checkpoints and summaries (always true on one machine)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  if task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return task_type in (None, "worker") and not has_chief and (task_id or 0) == 0


def barrier(strategy):
  """Waits until every worker of a multi-worker strategy gets here (at once with one worker).

  For the points where the chief writes shared files (clears a directory, writes records)
  that the other workers then read: a one-number all-reduce, which no worker finishes before
  all have joined it. Every worker must call it equally often.
  """
  if num_workers(strategy) < 2:
    return
  strategy.reduce(tf.distribute.ReduceOp.SUM,
                  strategy.run(lambda: tf.constant(1.0)), axis=None).numpy()


def num_workers(strategy):
  """The worker (and chief) tasks `strategy` spans: 1 unless it is a multi-worker one."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None:
    return 1
  cluster = resolver.cluster_spec().as_dict()
  return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def set_seed(seed):
  """Seeds Python's, NumPy's and TensorFlow's global generators."""
  random.seed(seed)
  np.random.seed(seed)
  tf.random.set_seed(seed)


def set_precision(mixed_precision):
  """The compute dtype for `mixed_precision` ("float32"/None, "bfloat16" or "float16").

  Variables stay float32 either way (model/modeling.py casts at use); float16 additionally needs
  loss scaling, which the Trainer turns on for it.
  """
  name = device_options.precision_name(mixed_precision)
  dtype = tf.as_dtype(name)
  if dtype != tf.float32:
    utils.log(f"Mixed precision: computing in {name}, variables in float32")
  if (name == "bfloat16" and device_options.cpu_has_native_bfloat16() is False
      and not _has_accelerator()):
    utils.warning('bfloat16 on a CPU without bfloat16 instructions (AVX-512 BF16 or AMX): expect '
                  'it to be slower than "mixed_precision": "float32" on this machine')
  return dtype


def _has_accelerator():
  return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
