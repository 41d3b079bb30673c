"""Is the input pipeline ever the bottleneck? Training steps fed from real TFRecords through the
project's input functions against the same steps fed a cached in-memory batch.

    python bench/bench_input_pipeline.py [--what finetune,pretrain] [--precision bfloat16]

Prints ONE JSON line. Data (built in a temporary directory, outside the timing):
  - finetune: sample_data/finetuning_data/chnsenticorp featurised by finetune/preprocessing.py's
    Preprocessor (the TFRecords run_finetuning.py writes and reads), read by its dataset_fn;
  - pretrain: sample_data/pretrain_corpus turned into TFRecords by build_pretraining_dataset.py,
    read by pretrain/pretrain_data.get_input_fn (the run_pretraining.py input).
A character vocabulary is built from the sample text. Both cases train the same ELECTRA-small
model through the Trainer; the in-memory case repeats one batch of the same records
(`Dataset.from_tensors(batch).repeat()`). Step times alternate between the two Trainers in the
same process (min over --repeats loop calls of --steps steps each); overhead_pct =
100 * (tfrecord step / in-memory step - 1), the target being under 5.
The bfloat16 step is the default: it is the faster one, so the input's share is larger.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_lib  # pylint: disable=wrong-import-position

from finetune import preprocessing  # pylint: disable=wrong-import-position
from model import tokenization  # pylint: disable=wrong-import-position
from pretrain import pretrain_data  # pylint: disable=wrong-import-position

SAMPLE = os.path.join(bench_lib.REPO, "sample_data")
SPECIALS = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]",
                                                                  "[MASK]"]


def parse_args(argv=None):
  parser = bench_lib.model_bench_parser(__doc__, what="finetune,pretrain", precision="bfloat16")
  parser.add_argument("--seq-length", type=int, default=128)
  parser.add_argument("--steps", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=4)
  return parser.parse_args(argv)


def write_vocab(path):
  """Specials at the BERT ids ([CLS] 101 ...) and every character of the sample data."""
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  chars = set()
  for root, _, names in os.walk(SAMPLE):
    for name in names:
      if name.endswith((".tsv", ".txt")):
        with open(os.path.join(root, name), encoding="utf-8") as f:
          for token in basic.tokenize(f.read()):
            chars.update(token)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(SPECIALS + sorted(chars)) + "\n")


def finetune_inputs(work_dir, args):
  """(input_fn from the real TFRecords, one batch of the same records as NumPy)."""
  data_dir = os.path.join(work_dir, "data")
  os.makedirs(data_dir)
  os.symlink(os.path.join(SAMPLE, "finetuning_data"), os.path.join(data_dir, "finetuning_data"))
  vocab = os.path.join(work_dir, "vocab.txt")
  write_vocab(vocab)
  config = bench_lib.configure_finetuning.FinetuningConfig(
      "bench", data_dir, task_names=["chnsenticorp"], vocab_file=vocab,
      max_seq_length=args.seq_length, train_batch_size=args.batch_size)
  tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
  task = bench_lib.ChnSentiCorp(config, tokenizer)
  preprocessor = preprocessing.Preprocessor(config, [task])
  prepared = preprocessor.prepare("train", is_training=True)
  input_fn = preprocessor.dataset_fn(prepared, seed=1)
  return config, task, input_fn, _first_batch(input_fn)


def pretrain_inputs(work_dir, args, precision):
  vocab = os.path.join(work_dir, "vocab.txt")
  if not os.path.exists(vocab):
    write_vocab(vocab)
  out_dir = os.path.join(work_dir, "pretrain_tfrecords")
  subprocess.run([sys.executable, os.path.join(bench_lib.REPO, "build_pretraining_dataset.py"),
                  "--corpus-files", os.path.join(SAMPLE, "pretrain_corpus", "corpus.txt"),
                  "--vocab-file", vocab, "--output-dir", out_dir, "--max-seq-length",
                  str(args.seq_length), "--num-out-files", "4", "--quiet"], check=True,
                 stdout=subprocess.DEVNULL)
  config = bench_lib.pretrain_config(args.seq_length, args.batch_size, precision)
  config.pretrain_tfrecords = os.path.join(out_dir, "pretrain_data.tfrecord*")
  input_fn = pretrain_data.get_input_fn(config, is_training=True)
  return config, input_fn, _first_batch(input_fn)


def _first_batch(input_fn):
  batch = next(iter(input_fn(None)))
  return {name: value.numpy() for name, value in batch.items()}


def compare(make_model, input_fn, batch, precision, args):
  """{tfrecord, in_memory: step stats, overhead_pct}: two Trainers over one model's copy."""
  trainers = {}
  for name, fn in (("tfrecord", input_fn), ("in_memory", None)):
    with bench_lib.one_device().scope():
      model = make_model()
    trainers[name] = bench_lib.make_trainer(model, batch, args.jit, precision, args.steps,
                                            input_fn=fn)
    trainers[name].run_steps(args.steps)  # trace, compile, fill the pipeline
  times = {name: [] for name in trainers}
  for _ in range(args.repeats):
    for name, trainer in trainers.items():
      times[name] += bench_lib.time_calls(lambda t=trainer: t.run_steps(args.steps), 1, 0)
  result = {name: bench_lib.summary(values, per_call=args.steps)
            for name, values in times.items()}
  result["overhead_pct"] = round(
      100.0 * (result["tfrecord"]["min_s"] / result["in_memory"]["min_s"] - 1.0), 2)
  result["overhead_pct_median"] = round(
      100.0 * (result["tfrecord"]["median_s"] / result["in_memory"]["median_s"] - 1.0), 2)
  return result


def main(argv=None):
  args = parse_args(argv)
  bench_lib.apply_thread_args(args)
  work_dir = bench_lib.scratch_dir()
  results = {}
  for what in args.what.split(","):
    for precision in args.precision.split(","):
      if what == "finetune":
        config, task, input_fn, batch = finetune_inputs(os.path.join(work_dir, precision), args)
        make_model = lambda: bench_lib.finetuning_model(config, task, precision)
      else:
        config, input_fn, batch = pretrain_inputs(work_dir, args, precision)
        make_model = lambda: bench_lib.electra_model.PretrainingModel(
            config, special_ids=bench_lib.SPECIAL_IDS)
      results[f"{what}/{precision}"] = compare(make_model, input_fn, batch, precision, args)
  bench_lib.emit({"bench": "input_pipeline", "results": results,
                  "settings": {"batch_size": args.batch_size, "seq_length": args.seq_length,
                               "steps": args.steps, "repeats": args.repeats, "jit": args.jit,
                               "load_average": bench_lib.load_average(), **bench_lib.machine()}})


if __name__ == "__main__":
  main()
