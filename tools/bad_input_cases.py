"""The bad-input cases of tools/fault_check.py: each one runs a script as a user would, on input
that is wrong (or legal but lossy), and checks what the user gets.

A refused run must end with exactly one error line (`...: error: ...` or `error: ...`) holding
the expected words (the file, line or key at fault), no traceback, a non-zero exit status, and
leave its directory exactly as it found it (the listing of every file and directory, with
sizes, is compared before and after). A lossy run must succeed and say what was lost in one
warning line, once.

Fast cases fail before TensorFlow loads (a second or two each; tests/test_fault_check.py runs
them in CI). The others start TensorFlow, and some need the tiny pre-trained and fine-tuned
models that fault_check.py's kill checks leave behind; they run in its full mode.
"""

import glob
import json
import os
import re
import shutil

from tools.bad_input_harness import REPO, Case, write, write_vocab

SAMPLE_DATA = os.path.join(REPO, "sample_data")
SHIPPED_MODEL = os.path.join(SAMPLE_DATA, "models", "electra-mini")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_PROGRESS_LINE = re.compile(r"\bstep (\d+)/(\d+) \(")

CORPUS = "北京是中国的首都。\n上海是一座大城市。\n\n今天天气很好。\n我们去公园散步。\n"


# ---------------------------------------------------------------------------------------------
# Fast cases: refused before TensorFlow loads.

def cmrc_question_without_answers(ctx):
  root = ctx.case_dir("cmrc_question_without_answers")
  qas = [{"id": "Q1", "question": "首都？", "answers": [{"text": "北京", "answer_start": 0}]},
         {"id": "Q2", "question": "城市？"}]
  dataset = write(os.path.join(root, "dev.json"), json.dumps(
      {"data": [{"paragraphs": [{"context": "北京是首都", "qas": qas}]}]}, ensure_ascii=False))
  predictions = write(os.path.join(root, "preds.json"), json.dumps({"Q1": "北京", "Q2": "北京"}))
  ctx.refused("cmrc2018_drcd_evaluate.py, a question without answers", root,
              ["dev.json", "1 of 2", "Q2"], "cmrc2018_drcd_evaluate.py", dataset, predictions,
              "--output", os.path.join(root, "score.json"))


def build_vocab_bad_corpora(ctx):
  root = ctx.case_dir("build_vocab")
  empty = write(os.path.join(root, "empty.txt"), "\n\n")
  gbk = write(os.path.join(root, "gbk.txt"), "中文语料\n".encode("gbk"))
  binary = write(os.path.join(root, "data.bin"), b"PK\x03\x04\x00\x00binary")
  output = os.path.join(root, "vocab.txt")
  for path, fragments in ((empty, ["empty.txt", "no text"]),
                          (gbk, ["gbk.txt", "line 1", "byte 0", "not UTF-8"]),
                          (binary, ["data.bin", "NUL"])):
    ctx.refused(f"build_vocab.py on {os.path.basename(path)}", root, fragments,
                "build_vocab.py", "--input", path, "--output", output)
  corpus = write(os.path.join(root, "corpus.txt"), CORPUS)
  ctx.refused("build_vocab.py, output in a missing directory", root,
              ["missing", "does not exist"], "build_vocab.py", "--input", corpus, "--output",
              os.path.join(root, "missing", "vocab.txt"))


def dataset_builder_bad_vocabularies(ctx):
  root = ctx.case_dir("dataset_builder_vocab")
  corpus = write(os.path.join(root, "corpus.txt"), CORPUS)
  chars = sorted(set(CORPUS) - {"\n"})
  vocabularies = {
      "empty": ([], ["empty.txt", "empty"]),
      "no_unk": ([t for t in SPECIALS if t != "[UNK]"] + chars, ["no_unk.txt", "[UNK]"]),
      "repeated": (SPECIALS + chars + [chars[0]], ["repeated.txt", f"line {len(chars) + 6}"]),
  }
  for name, (tokens, fragments) in vocabularies.items():
    vocab = write_vocab(os.path.join(root, f"{name}.txt"), tokens)
    ctx.refused(f"build_pretraining_dataset.py, vocabulary {name}", root, fragments,
                "build_pretraining_dataset.py", "--corpus-files", corpus, "--vocab-file", vocab,
                "--output-dir", os.path.join(root, "out"), "--quiet")


def predict_empty_input(ctx):
  root = ctx.case_dir("predict_empty_input")
  os.makedirs(os.path.join(root, "model"))
  empty = write(os.path.join(root, "empty.txt"), "\n  \n")
  ctx.refused("predict.py, an empty input file", root, ["empty.txt", "no input"], "predict.py",
              "--model-dir", os.path.join(root, "model"), "--input", empty, "--output",
              os.path.join(root, "out.tsv"))


def predict_help_mentions_tagging(ctx):
  result = ctx.run("predict.py", "--help")
  ctx.succeeded("predict.py --help", result)
  text = " ".join(result.stdout.split())
  ctx.expect("agging" in text and "peoples_daily_ner" in text,
             "predict.py --help does not mention tagging (peoples_daily_ner)")


def demo_quick_keeps_a_full_demo(ctx):
  root = ctx.case_dir("demo_quick")
  output = os.path.join(root, "demo_output")
  write(os.path.join(output, ".run_demo_output"), "Made by run_demo.py.\nprofile: default\n")
  write(os.path.join(output, "demo_results.json"), "{}\n")
  ctx.refused("run_demo.py --quick over a full demo's output", root, ["--quick"], "run_demo.py",
              "--quick", "--output-dir", output)


# ---------------------------------------------------------------------------------------------
# Cases that start TensorFlow.

TINY_FINETUNE = {"max_seq_length": 16, "train_batch_size": 8, "eval_batch_size": 8,
                 "num_train_epochs": 1.0, "do_test": False, "jit_compile": False}
TINY_ENCODER = {"vocab_size": 60, "embedding_size": 16,
                "model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 1,
                                           "num_attention_heads": 1, "intermediate_size": 64}}


def tsv_rows(count, bad=0):
  rows = ["label\ttext_a"] + [f"{i % 2}\t{'北京上海' * (1 + i % 3)}" for i in range(count)]
  rows += ["2\t标签不对"] * bad  # an unknown label: a bad row
  return "\n".join(rows) + "\n"


def classification_data(root, count=32, bad=0):
  task_dir = os.path.join(root, "finetuning_data", "chnsenticorp")
  write(os.path.join(task_dir, "train.tsv"), tsv_rows(count, bad))
  write(os.path.join(task_dir, "dev.tsv"), tsv_rows(16))


def finetuning_bad_vocabularies(ctx):
  for name, tokens, fragments in (
      ("no_cls", [t for t in SPECIALS if t != "[CLS]"] + list("北京上海"), ["[CLS]"]),
      ("empty", [], ["empty"])):
    root = ctx.case_dir(f"finetuning_vocab_{name}")
    classification_data(root)
    write_vocab(os.path.join(root, "vocab.txt"), tokens)
    hparams = dict(TINY_FINETUNE, **TINY_ENCODER, task_names=["chnsenticorp"],
                   init_checkpoint=None)
    ctx.refused(f"run_finetuning.py, vocabulary {name}", root, ["vocab.txt"] + fragments,
                "run_finetuning.py", "--data-dir", root, "--model-name", "m", "--hparams",
                json.dumps(hparams))


def shipped_model_copy(root, name="electra-mini"):
  target = os.path.join(root, "models", name)
  shutil.copytree(SHIPPED_MODEL, target)
  return target


def tiny_model_copy(ctx, root):
  """The tiny model the kill checks pre-trained (a non-default size), with its vocabulary."""
  shutil.copytree(os.path.join(ctx.work, "models", "tiny"), os.path.join(root, "models", "tiny"),
                  ignore=shutil.ignore_patterns("finetuning_*", "results", "*.lock", "events.*"))
  shutil.copy(os.path.join(ctx.work, "vocab.txt"), os.path.join(root, "vocab.txt"))


def finetuning_sizes_against_the_model(ctx):
  root = ctx.case_dir("finetuning_sizes")
  classification_data(root)
  shipped_model_copy(root)
  ctx.refused("run_finetuning.py, max_seq_length 1024 on a 512-position model", root,
              ["max_seq_length", "1024", "512"], "run_finetuning.py", "--data-dir", root,
              "--model-name", "electra-mini", "--hparams",
              json.dumps({"task_names": ["chnsenticorp"], "max_seq_length": 1024}))
  tiny = os.path.join(ctx.work, "models", "tiny")
  ctx.refused("run_finetuning.py, init_checkpoint of another size", root, [],
              "run_finetuning.py", "--data-dir", root, "--model-name", "electra-mini",
              "--hparams", json.dumps({"task_names": ["chnsenticorp"], "init_checkpoint": tiny}))


IMPOSSIBLE_HPARAMS = [
    ("run_pretraining.py", {"num_train_steps": -5}, ["num_train_steps", "-5"]),
    ("run_pretraining.py", {"train_batch_size": 0}, ["train_batch_size", "0"]),
    ("run_pretraining.py", {"mask_prob": 1.5}, ["mask_prob", "1.5"]),
    ("run_pretraining.py", {"learning_rate": -0.001}, ["learning_rate"]),
    ("run_finetuning.py", {"num_train_epochs": 0}, ["num_train_epochs"]),
    ("run_finetuning.py", {"eval_batch_size": -2}, ["eval_batch_size", "-2"]),
]


def impossible_hyper_parameters(ctx):
  root = ctx.case_dir("hparam_ranges")
  classification_data(root)
  write_vocab(os.path.join(root, "vocab.txt"), SPECIALS + list("北京上海"))
  for script, values, fragments in IMPOSSIBLE_HPARAMS:
    hparams = dict(values, task_names=["chnsenticorp"]) if "finetuning" in script else values
    ctx.refused(f"{script} with {values}", root, fragments, script, "--data-dir", root,
                "--model-name", "m", "--hparams", json.dumps(hparams))


def corrupt_pretraining_record(ctx):
  root = ctx.case_dir("corrupt_tfrecord")
  shutil.copytree(os.path.join(ctx.work, "pretrain_tfrecords"),
                  os.path.join(root, "pretrain_tfrecords"))
  shutil.copy(os.path.join(ctx.work, "vocab.txt"), os.path.join(root, "vocab.txt"))
  shard = sorted(glob.glob(os.path.join(root, "pretrain_tfrecords", "pretrain_data.tfrecord-*")))[0]
  with open(shard, "r+b") as f:
    f.seek(os.path.getsize(shard) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0xFF]))
  hparams = dict(ctx.pretrain_hparams, num_train_steps=4)
  ctx.refused("run_pretraining.py on a damaged shard", root, [os.path.basename(shard)],
              "run_pretraining.py", "--data-dir", root, "--model-name", "m", "--hparams",
              json.dumps(hparams))


def tsv_rows_skipped_and_progress(ctx):
  """A malformed TSV warns once; progress lines and TensorBoard points every log_every_steps
  although iterations_per_loop is the default 1000."""
  root = ctx.case_dir("tsv_and_progress")
  classification_data(root, count=64, bad=2)
  tiny_model_copy(ctx, root)
  hparams = dict(TINY_FINETUNE, task_names=["chnsenticorp"], log_every_steps=2,
                 num_train_epochs=1.0)
  result = ctx.run("run_finetuning.py", "--data-dir", root, "--model-name", "tiny", "--hparams",
                   json.dumps(hparams))
  if not ctx.succeeded("run_finetuning.py on a TSV with bad rows", result):
    return
  output = result.stdout + result.stderr
  ctx.once("the skipped-rows warning", output, r"skipped 2 bad rows")
  steps = sorted({int(m.group(1)) for m in map(_PROGRESS_LINE.search, output.splitlines()) if m})
  total = 64 // TINY_FINETUNE["train_batch_size"]
  # A first line after step 1 (once the step is compiled), then every log_every_steps (and at
  # least once a minute, which may add lines on a slow machine).
  expected = [1] + list(range(2, total + 1, 2))
  ctx.expect(set(expected) <= set(steps),
             f"progress lines at steps {steps}, expected {expected} (step 1, then every 2)")
  points = event_steps(os.path.join(root, "models", "tiny", "finetuning_models"), "loss")
  ctx.expect(len(points) >= total // 2,
             f"TensorBoard has the loss at steps {sorted(points)}, expected every 2 of {total}")


def event_steps(directory, tag_part):
  """{step: number of event files holding a scalar whose tag contains `tag_part`}."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  counts = {}
  for path in glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True):
    steps = set()
    for event in tf.compat.v1.train.summary_iterator(path):
      if any(tag_part in value.tag for value in event.summary.value):
        steps.add(event.step)
    for step in steps:
      counts[step] = counts.get(step, 0) + 1
  return counts


def qa_without_answers(ctx):
  """Training questions without answers are counted, once, into the results; realigned dev
  answers are no warning; the results file prints EM as the console does."""
  root = ctx.case_dir("qa_without_answers")
  with open(os.path.join(SAMPLE_DATA, "finetuning_data", "cmrc2018", "train.json"),
            encoding="utf-8") as f:
    train = json.load(f)
  train["data"] = train["data"][:6]
  qas = [qa for article in train["data"] for p in article["paragraphs"] for qa in p["qas"]]
  for qa in qas[:3]:
    del qa["answers"]
  task_dir = os.path.join(root, "finetuning_data", "cmrc2018")
  write(os.path.join(task_dir, "train.json"), json.dumps(train, ensure_ascii=False))
  shutil.copy(os.path.join(SAMPLE_DATA, "finetuning_data", "cmrc2018", "dev.json"), task_dir)
  tiny_model_copy(ctx, root)
  hparams = dict(TINY_FINETUNE, task_names=["cmrc2018"], max_seq_length=64, max_query_length=16,
                 doc_stride=48, num_train_epochs=1.0)
  result = ctx.run("run_finetuning.py", "--data-dir", root, "--model-name", "tiny", "--hparams",
                   json.dumps(hparams))
  if not ctx.succeeded("run_finetuning.py on QA data with questions without answers", result):
    return
  output = result.stdout + result.stderr
  ctx.once("the questions-without-answers warning", output,
           r"3 of \d+ questions dropped from training \(3 without answers")
  ctx.expect(not re.search(r"WARNING.*\b0 of \d+ answers not found", output),
             "a WARNING line for 0 answers not found")
  results_dir = os.path.join(root, "models", "tiny", "results")
  with open(os.path.join(results_dir, "cmrc2018_results.json"), encoding="utf-8") as f:
    trials = json.load(f)["trials"]
  data = trials[-1].get("data", {}).get("cmrc2018", {}).get("train", {}) if trials else {}
  ctx.expect(any("without_answers" in key and value == 3 for key, value in data.items()),
             f"the results JSON does not count the 3 questions without answers: {data}")
  console = re.search(r"EM: (\d+\.\d+)", output)
  with open(os.path.join(results_dir, "cmrc2018_results.txt"), encoding="utf-8") as f:
    results_txt = f.read()
  ctx.expect(bool(console) and console.group(1) in results_txt,
             f"the results file does not print EM as the console ({console and console.group(0)})"
             f": {results_txt.strip()[:300]}")


def release_params_files(ctx):
  """The release params file works with the shipped model and with one pre-trained here at a
  non-default size; the shipped model exports to Hugging Face."""
  params = os.path.join(REPO, "params", "params_chnsenticorp.json")
  for model_name in ("electra-mini", "tiny"):
    root = ctx.case_dir(f"release_params_{model_name}")
    classification_data(root, count=16)
    if model_name == "tiny":
      tiny_model_copy(ctx, root)
    else:
      shipped_model_copy(root)
    result = ctx.run("run_finetuning.py", "--data-dir", root, "--model-name", model_name,
                     "--hparams", params)
    ctx.succeeded(f"run_finetuning.py --hparams params_chnsenticorp.json on {model_name}", result)
  root = ctx.case_dir("export_shipped")
  result = ctx.run("export_model.py", "--pretrained-dir", shipped_model_copy(root), "--hf-output",
                   os.path.join(root, "hf"))
  if ctx.succeeded("export_model.py --hf-output on the shipped model", result):
    ctx.expect(bool(glob.glob(os.path.join(root, "hf", "**", "*.safetensors"), recursive=True)),
               "the shipped model's export has no .safetensors file")


def resumed_run_event_files(ctx):
  """A run resumed from a finished one writes no step into a second event file."""
  root = ctx.case_dir("resume_events")
  shutil.copytree(os.path.join(ctx.work, "pretrain_tfrecords"),
                  os.path.join(root, "pretrain_tfrecords"))
  shutil.copy(os.path.join(ctx.work, "vocab.txt"), os.path.join(root, "vocab.txt"))
  for steps in (4, 6):
    result = ctx.run("run_pretraining.py", "--data-dir", root, "--model-name", "m", "--hparams",
                     json.dumps(dict(ctx.pretrain_hparams, num_train_steps=steps)))
    if not ctx.succeeded(f"run_pretraining.py to step {steps}", result):
      return
  counts = event_steps(os.path.join(root, "models", "m"), "loss")
  twice = sorted(step for step, files in counts.items() if files > 1)
  ctx.expect(not twice, f"steps {twice} are in two event files")


def predict_long_input(ctx):
  models = glob.glob(os.path.join(ctx.work, "models", "tiny", "finetuning_models", "*",
                                  "finetuning_config.json"))
  ctx.expect(bool(models), "no fine-tuned model to predict with")
  if not models:
    return
  root = ctx.case_dir("predict_long_input")
  long_input = write(os.path.join(root, "long.txt"), "w1 " * 5000 + "\nw2 w3\n")
  result = ctx.run("predict.py", "--model-dir", os.path.dirname(models[0]), "--input", long_input)
  if ctx.succeeded("predict.py on a long line", result):
    line = ctx.once("the cut-input warning", result.stderr, r"warning: .*cut")
    ctx.expect("1 of 2" in line, f"the cut-input warning does not count 1 of 2: {line!r}")


FAST_CASES = [
    Case("cmrc_question_without_answers", "1: CMRC scorer, questions without answers", True,
         cmrc_question_without_answers),
    Case("build_vocab", "3: build_vocab.py corpora and output path", True,
         build_vocab_bad_corpora),
    Case("dataset_builder_vocab", "4: vocabularies of the dataset builder", True,
         dataset_builder_bad_vocabularies),
    Case("predict_empty_input", "6: predict.py on an empty file", True, predict_empty_input),
    Case("predict_help", "13: predict.py --help and tagging", True, predict_help_mentions_tagging),
    Case("demo_quick", "13: demo --quick and a full demo's output", True,
         demo_quick_keeps_a_full_demo),
]
TENSORFLOW_CASES = [
    Case("finetuning_vocab", "4: vocabularies of fine-tuning", False, finetuning_bad_vocabularies),
    Case("hparam_ranges", "7: impossible hyper-parameters", False, impossible_hyper_parameters),
    Case("corrupt_tfrecord", "8: a damaged pre-training shard", False, corrupt_pretraining_record,
         needs_models=True),
    Case("finetuning_sizes", "5: max_seq_length and init_checkpoint sizes", False,
         finetuning_sizes_against_the_model, needs_models=True),
    Case("tsv_and_progress", "9, 12: skipped rows once; progress and TensorBoard points", False,
         tsv_rows_skipped_and_progress, needs_models=True),
    Case("qa_without_answers", "2, 13: QA questions without answers, EM in results", False,
         qa_without_answers, needs_models=True),
    Case("release_params", "10, 11: release params on any model, export of the shipped one",
         False, release_params_files, needs_models=True),
    Case("resume_events", "13: a resumed run's event files", False, resumed_run_event_files,
         needs_models=True),
    Case("predict_long_input", "6: predict.py on a line longer than the model", False,
         predict_long_input, needs_models=True),
]
