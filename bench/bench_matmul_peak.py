"""Measured matrix-multiply peak of this machine through TensorFlow, float32 and bfloat16.

    python bench/bench_matmul_peak.py [--sizes 1024,2048,4096] [--seconds 2]

Prints ONE JSON line: GFLOP/s per (dtype, size, backend) and the best per dtype
("peak_gflops": {"float32": ..., "bfloat16": ...}), the denominator of the model-FLOPs
utilisation (MFU) that bench/bench_train_step.py reports.

Backends: "onednn" is a plain tf.function (TensorFlow's oneDNN MatMul kernels, on by default on
x86: TF_ENABLE_ONEDNN_OPTS); "xla" is the same under jit_compile=True. Each call multiplies
`repeat` independent products inside one tf.function, so Python and dispatch overhead do not
count; the result is 2 * n^3 * repeat / time.
"""

import argparse
import json
import os
import platform
import time

import tensorflow as tf


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sizes", default="1024,2048,4096")
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--backends", default="onednn,xla")
  parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per case")
  return parser.parse_args(argv)


def measure(n, dtype, backend, seconds):
  a = tf.cast(tf.random.normal([n, n]), dtype)
  # Entries of variance 1/n keep the chain below at a steady magnitude (no overflow, no
  # denormals, which would slow the float32 kernels down).
  b = tf.cast(tf.random.normal([n, n], stddev=n ** -0.5), dtype)
  repeat = max(1, int(2 ** 33 // n ** 3))  # about 8.6 GMAC per call

  def products(a, b):
    # A chain, so every product has a different operand and none can be deduplicated (CSE).
    for _ in range(repeat):
      a = tf.matmul(a, b)
    return tf.cast(a[0, 0], tf.float32)

  fn = tf.function(products, jit_compile=(backend == "xla"))
  fn(a, b).numpy()  # trace / compile / warm up
  best, elapsed, calls = float("inf"), 0.0, 0
  while elapsed < seconds or calls < 3:
    start = time.perf_counter()
    fn(a, b).numpy()
    took = time.perf_counter() - start
    best, elapsed, calls = min(best, took), elapsed + took, calls + 1
  return 2.0 * n ** 3 * repeat / best / 1e9


def main(argv=None):
  args = parse_args(argv)
  results, peak = {}, {}
  for dtype_name in args.dtypes.split(","):
    dtype = tf.as_dtype(dtype_name)
    for backend in args.backends.split(","):
      for n in [int(s) for s in args.sizes.split(",")]:
        gflops = measure(n, dtype, backend, args.seconds)
        results[f"{dtype_name}/{backend}/{n}"] = round(gflops, 1)
        peak[dtype_name] = max(peak.get(dtype_name, 0.0), round(gflops, 1))
  print(json.dumps({
      "bench": "matmul_peak", "peak_gflops": peak, "gflops": results,
      "settings": {"sizes": args.sizes, "seconds": args.seconds,
                   "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                   "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
                   "tensorflow": tf.__version__, "cpus": os.cpu_count(),
                   "machine": platform.machine()}}))


if __name__ == "__main__":
  main()
