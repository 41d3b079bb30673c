"""Inference speed: dev-set prediction through the Trainer, and QA post-processing.

    python bench/bench_inference.py [--what cls,qa,postprocess] [--precision float32,bfloat16]

Prints ONE JSON line.
  - cls: ChnSentiCorp-style classification, batches of 32 x 128, through Trainer.predict (the
    path run_finetuning.py's evaluation takes: the tf.function predict step, the gather, the
    NumPy conversion), on an in-memory dataset of --batches batches; examples/s = examples /
    wall time of a whole pass, best of --repeats passes after a warm-up pass.
  - qa: CMRC 2018 joint span head (beam 20, answerable classifier), batches of 32 x 512.
  - postprocess: a synthetic CMRC-dev-sized set (3,219 questions over 848 contexts of about
    500 characters; contexts from the People's Daily sample corpus when present, else random
    CJK text), featurised by the project's QA task, with random joint-head outputs for every
    window; times QAScorer.update over all batches + write_predictions (n-best, answer texts,
    JSON files) + the official-style EM/F1 scoring. Featurisation is timed separately.
The encoder FLOPs per example are counted as in bench_lib.py (forward only).
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_lib  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from model import tokenization  # pylint: disable=wrong-import-position

CORPUS = os.path.join(os.path.dirname(bench_lib.REPO), "shared", "data",
                      "peoples_daily_1998_01.txt")


def parse_args(argv=None):
  parser = bench_lib.model_bench_parser(__doc__, what="cls,qa,postprocess",
                                        precision="float32,bfloat16")
  parser.add_argument("--cls-seq-length", type=int, default=128)
  parser.add_argument("--qa-seq-length", type=int, default=512)
  parser.add_argument("--cls-batches", type=int, default=8)
  parser.add_argument("--qa-batches", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--questions", type=int, default=3219)
  parser.add_argument("--contexts", type=int, default=848)
  return parser.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# Prediction through the Trainer.

def predict_speed(task_name, precision, args):
  b = args.batch_size
  l = args.cls_seq_length if task_name == "chnsenticorp" else args.qa_seq_length
  n_batches = args.cls_batches if task_name == "chnsenticorp" else args.qa_batches
  with bench_lib.one_device().scope():
    config = bench_lib.finetune_config([task_name], l, b)
    task = bench_lib.make_task(config, task_name)
    model = bench_lib.finetuning_model(config, task, precision)
  if task_name == "chnsenticorp":
    batches = [bench_lib.classification_batch(b, l, seed=i) for i in range(n_batches)]
  else:
    batches = [bench_lib.qa_batch(b, l, seed=i) for i in range(n_batches)]
  data = {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}

  def input_fn(input_context):
    del input_context
    return tf.data.Dataset.from_tensor_slices(data).batch(b, drop_remainder=True).prefetch(2)

  trainer = bench_lib.make_trainer(model, None, args.jit, precision, 1, input_fn=None)
  # Stand-in for a real loop's consumer: touch every output as the scorers would.
  def one_pass():
    rows = 0
    for outputs in trainer.predict(input_fn):
      rows += len(outputs["task_id"])
    return rows

  times = bench_lib.time_calls(one_pass, args.repeats)
  examples = b * n_batches
  stats = bench_lib.summary(times)
  flops = bench_lib.finetune_forward_flops(model.bert_config, 1, l, config.embedding_size)
  if task_name == "cmrc2018":
    flops += 2 * bench_lib.qa_head_forward_macs(model.bert_config.hidden_size, 1, l,
                                                config.beam_size)
  return dict(stats, examples_per_s=round(examples / stats["min_s"], 2),
              examples_per_pass=examples, seq_length=l,
              gflops=round(flops * examples / stats["min_s"] / 1e9, 1))


# ----------------------------------------------------------------------------------------------
# QA post-processing on a CMRC-dev-sized synthetic set.

def _random_cjk(rng, n):
  return "".join(chr(rng.randint(0x4E00, 0x62FF)) for _ in range(n))


def _contexts(rng, n_contexts, length=500):
  text = ""
  if os.path.exists(CORPUS):
    with open(CORPUS, encoding="utf-8") as f:
      text = "".join(line.strip() for line in f)
  contexts = []
  for _ in range(n_contexts):
    if len(text) > 10 * length:
      start = rng.randrange(len(text) - length)
      contexts.append(text[start:start + length + rng.randint(-150, 150)])
    else:
      contexts.append(_random_cjk(rng, length))
  return contexts


def write_synthetic_cmrc(data_dir, n_questions, n_contexts, seed=0):
  rng = random.Random(seed)
  contexts = _contexts(rng, n_contexts)
  paragraphs = []
  per_context = [n_questions // n_contexts + (i < n_questions % n_contexts)
                 for i in range(n_contexts)]
  qid = 0
  for index, (context, count) in enumerate(zip(contexts, per_context)):
    qas = []
    for _ in range(count):
      start = rng.randrange(len(context) - 12)
      answer = context[start:start + rng.randint(2, 10)]
      question = context[max(0, start - 15):start] + "是什么？"
      qas.append({"id": f"DEV_{qid}", "question": question,
                  "answers": [{"text": answer, "answer_start": start}] * 3})
      qid += 1
    paragraphs.append({"id": f"DEV_P{index}", "context": context, "qas": qas})
  task_dir = os.path.join(data_dir, "finetuning_data", "cmrc2018")
  os.makedirs(task_dir, exist_ok=True)
  with open(os.path.join(task_dir, "dev.json"), "w", encoding="utf-8") as f:
    json.dump({"version": "v1.0", "data": [{"paragraphs": paragraphs, "id": "DEV_0",
                                            "title": "synthetic"}]}, f, ensure_ascii=False)
  chars = sorted({c for context in contexts for c in context} | set("是什么？"))
  vocab = os.path.join(data_dir, "vocab.txt")
  with open(vocab, "w", encoding="utf-8") as f:
    f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars) + "\n")
  return vocab


def random_joint_outputs(features, seq_length, beam, rng):
  n = len(features)
  start_lp = np.sort(np.log(rng.dirichlet(np.ones(beam), n)).astype(np.float32), 1)[:, ::-1]
  end_lp = np.sort(np.log(rng.dirichlet(np.ones(beam), (n, beam))).astype(np.float32),
                   -1)[:, :, ::-1]
  starts = np.empty((n, beam), np.int32)
  ends = np.empty((n, beam, beam), np.int32)
  for row, feature in enumerate(features):
    low = feature.query_offset
    high = max(low + 1, low + feature.doc_length)
    starts[row] = rng.integers(low, high, beam)
    ends[row] = np.minimum(starts[row][:, None] + rng.integers(0, 12, (beam, beam)),
                           seq_length - 1)
  return {"cmrc2018_start_top_log_probs": np.ascontiguousarray(start_lp),
          "cmrc2018_start_top_index": starts,
          "cmrc2018_end_top_log_probs": np.ascontiguousarray(end_lp),
          "cmrc2018_end_top_index": ends}


def postprocess_speed(args):
  data_dir = bench_lib.scratch_dir()
  vocab = write_synthetic_cmrc(data_dir, args.questions, args.contexts)
  config = bench_lib.configure_finetuning.FinetuningConfig(
      "bench", data_dir, task_names=["cmrc2018"], vocab_file=vocab,
      max_seq_length=args.qa_seq_length)
  tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
  task = bench_lib.CMRC2018(config, tokenizer)
  start = time.perf_counter()
  features = task.get_features("dev")
  featurize_s = time.perf_counter() - start
  outputs = random_joint_outputs(features, args.qa_seq_length, config.beam_size,
                                 np.random.default_rng(0))
  eids = np.arange(len(features), dtype=np.int32)
  best = None
  for _ in range(args.repeats):
    scorer = task.get_scorer("dev")
    start = time.perf_counter()
    for first in range(0, len(features), args.batch_size):
      rows = slice(first, first + args.batch_size)
      batch = {key: value[rows] for key, value in outputs.items()}
      batch["cmrc2018_eid"] = eids[rows]
      scorer.update(batch)
    predictions = scorer.write_predictions()
    predict_s = time.perf_counter() - start
    # pylint: disable-next=import-outside-toplevel
    from finetune.qa.cmrc2018_drcd_evaluate import evaluate
    scores = evaluate(task.get_dataset_json("dev"), predictions)
    total_s = time.perf_counter() - start
    if best is None or total_s < best["total_s"]:
      best = {"total_s": round(total_s, 3), "answers_s": round(predict_s, 3),
              "scoring_s": round(total_s - predict_s, 3)}
  return dict(best, questions=len(task.get_examples("dev")), windows=len(features),
              featurize_s=round(featurize_s, 2), em_of_random_outputs=round(
                  float(scores["EM"]), 1))


def main(argv=None):
  args = parse_args(argv)
  bench_lib.apply_thread_args(args)
  results = {}
  whats = args.what.split(",")
  for what in whats:
    if what == "postprocess":
      results["qa_postprocess"] = postprocess_speed(args)
      continue
    task_name = {"cls": "chnsenticorp", "qa": "cmrc2018"}[what]
    for precision in args.precision.split(","):
      results[f"{what}/{precision}"] = predict_speed(task_name, precision, args)
  bench_lib.emit({"bench": "inference", "results": results,
                  "settings": {"batch_size": args.batch_size, "jit": args.jit,
                               "cls_seq_length": args.cls_seq_length,
                               "qa_seq_length": args.qa_seq_length, "repeats": args.repeats,
                               "model": "electra-small", "load_average": bench_lib.load_average(),
                               **bench_lib.machine()}})


if __name__ == "__main__":
  main()
