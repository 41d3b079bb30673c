"""Training-step speed of ELECTRA-small: fine-tuning (classification, span extraction) and
pre-training.

    python bench/bench_train_step.py [--what finetune,finetune_qa,pretrain]
        [--precision float32,bfloat16]
        [--jit auto|always|off] [--batch-size 32] [--seq-length 128] [--peak-json FILE]
        [--pretrain-hparams params/pretrain_mini.json]

`finetune` is classification (ChnSentiCorp's head), `finetune_qa` span extraction (CMRC 2018's
joint head at training: start logits, end logits given the gold start, answerable classifier).

Prints ONE JSON line. Each step runs through the project's Trainer (util/training.py: the same
tf.function loop, forward/backward, all-reduce and AdamW update as run_finetuning.py and
run_pretraining.py) on a cached in-memory batch, so the input pipeline is not measured here (see
bench_input_pipeline.py). `--steps` steps run per loop call; the step time is the call time
divided by the steps, min (least disturbed by other load on the machine) and median over
`--repeats` calls after a warm-up call that traces and compiles.

`--pretrain-hparams` (a JSON object or a params file, as run_pretraining.py's --hparams) measures
that pre-training model instead of ELECTRA-small, at the bench's batch size, sequence length
and precision: e.g. a CPU recipe's step at several batch sizes, one process each.

Figures per case: step_s, examples_per_s, tokens_per_s, gflop_per_step (analytic: 2 FLOPs per
multiply-accumulate of every matrix product, training = 3 x forward; see bench_lib.py),
gflops (achieved) and mfu = gflops / measured matmul peak of the same dtype (and of float32),
with the peak from --peak-json (a bench_matmul_peak.py output) or measured here.

--jit: "auto" is the Trainer's default policy (jit_compile=True: on CPU the forward/backward
runs on oneDNN with XLA-fused element-wise pieces, the update is XLA-compiled), "always" forces
a whole-step XLA compile, "off" is jit_compile=False.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_lib  # pylint: disable=wrong-import-position
from util import hparams as hparams_lib  # pylint: disable=wrong-import-position
import bench_matmul_peak  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position


def parse_args(argv=None):
  parser = bench_lib.model_bench_parser(__doc__, what="finetune,pretrain",
                                        precision="float32,bfloat16")
  parser.add_argument("--seq-length", type=int, default=128)
  parser.add_argument("--steps", type=int, default=3, help="steps per timed loop call")
  parser.add_argument("--repeats", type=int, default=4, help="timed loop calls")
  parser.add_argument("--peak-json", help="bench_matmul_peak.py output; measured if absent")
  parser.add_argument("--pretrain-hparams", default=None,
                      help="the pre-training model to measure (JSON object or params file); "
                           "default ELECTRA-small")
  args = parser.parse_args(argv)
  if args.pretrain_hparams:
    try:  # a bad file, JSON or key is a usage error, before any model is built
      args.pretrain_hparams = hparams_lib.load_hparams(args.pretrain_hparams)
      bench_lib.pretrain_config(args.seq_length, args.batch_size, "float32",
                                args.pretrain_hparams)
    except ValueError as error:
      parser.error(str(error))
  return args


def build(what, precision, args):
  """(trainer, gflop per step) for one case."""
  b, l = args.batch_size, args.seq_length
  with bench_lib.one_device().scope():
    if what == "finetune":
      config = bench_lib.finetune_config(["chnsenticorp"], l, b)
      task = bench_lib.make_task(config, "chnsenticorp")
      model = bench_lib.finetuning_model(config, task, precision)
      flops = 3 * bench_lib.finetune_forward_flops(model.bert_config, b, l,
                                                   config.embedding_size)
      batch = bench_lib.classification_batch(b, l)
    elif what == "finetune_qa":  # CMRC 2018's span head: start, end given the start, answerable
      config = bench_lib.finetune_config(["cmrc2018"], l, b)
      task = bench_lib.make_task(config, "cmrc2018")
      model = bench_lib.finetuning_model(config, task, precision)
      hidden = model.bert_config.hidden_size
      flops = 3 * (bench_lib.finetune_forward_flops(model.bert_config, b, l, config.embedding_size)
                   + 2 * bench_lib.qa_head_forward_macs(hidden, b, l, beam_size=1))
      batch = bench_lib.qa_batch(b, l)
    elif what == "pretrain":
      config = bench_lib.pretrain_config(l, b, precision, args.pretrain_hparams)
      model = electra_model_for(config)
      flops = bench_lib.pretrain_step_flops(model, b, l)
      batch = bench_lib.pretrain_batch(b, l, config.vocab_size)
    else:
      raise SystemExit(f"bench_train_step.py: --what {what!r}: use finetune, finetune_qa or "
                       "pretrain")
  trainer = bench_lib.make_trainer(model, batch, args.jit, precision, args.steps)
  return trainer, flops / 1e9


def electra_model_for(config):
  return bench_lib.electra_model.PretrainingModel(config, special_ids=bench_lib.SPECIAL_IDS)


def measure(what, precision, args, peak):
  trainer, gflop = build(what, precision, args)
  times = bench_lib.time_calls(lambda: trainer.run_steps(args.steps), args.repeats)
  stats = bench_lib.summary(times, per_call=args.steps)
  step_s = stats["min_s"]
  gflops = gflop / step_s
  examples = args.batch_size / step_s
  result = dict(stats, step_s=step_s, examples_per_s=round(examples, 2),
                tokens_per_s=round(examples * args.seq_length, 1),
                gflop_per_step=round(gflop, 1), gflops=round(gflops, 1),
                jit_forward_backward=trainer.jit_forward_backward, jit_update=trainer.jit_update)
  if peak:
    result["mfu"] = round(gflops / peak[precision], 3)
    result["mfu_vs_float32_peak"] = round(gflops / peak["float32"], 3)
  return result


def main(argv=None):
  args = parse_args(argv)
  bench_lib.apply_thread_args(args)
  peak = bench_lib.read_peak(args.peak_json)
  if peak is None:
    peak = {name: max(bench_matmul_peak.measure(n, tf.as_dtype(name), "onednn", 1.0)
                      for n in (1024, 2048)) for name in ("float32", "bfloat16")}
  results = {}
  for what in args.what.split(","):
    for precision in args.precision.split(","):
      results[f"{what}/{precision}"] = measure(what, precision, args, peak)
  for what in args.what.split(","):
    f32, bf16 = results.get(f"{what}/float32"), results.get(f"{what}/bfloat16")
    if f32 and bf16:
      results[f"{what}/bfloat16_speedup"] = round(f32["step_s"] / bf16["step_s"], 2)
  bench_lib.emit({"bench": "train_step", "results": results,
                  "peak_gflops": {k: round(v, 1) for k, v in peak.items()},
                  "settings": {"batch_size": args.batch_size, "seq_length": args.seq_length,
                               "model": ("electra-small (hidden 256, 12 layers, embedding 128)"
                                         if args.pretrain_hparams is None else "pretrain-hparams"),
                               "pretrain_hparams": args.pretrain_hparams,
                               "jit": args.jit, "steps": args.steps, "repeats": args.repeats,
                               "load_average": bench_lib.load_average(),
                               **bench_lib.machine()}})


if __name__ == "__main__":
  main()
