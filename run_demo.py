"""The whole pipeline on the bundled sample data, in a few minutes on a CPU.

    bash demo.sh                       # creates .venv if needed, then runs this script
    python run_demo.py [--output-dir DIR] [--pretrain-steps N] [--quick] [--keep]

Stages, each one a real script of the repository run in its own process (so TensorFlow state
never carries over from one stage to the next), with its progress lines shown as it runs:

  1. vocabulary         build_vocab.py's functions, on the corpus and the fine-tuning files
  2. pre-training data  build_pretraining_dataset.py
  3. pre-training       run_pretraining.py: a tiny ELECTRA (2 layers, hidden size 64)
  4. fine-tuning        run_finetuning.py on chnsenticorp (sentence classification)
  5. fine-tuning        run_finetuning.py on cmrc2018 (reading comprehension, answer spans)
  6. learning           run_finetuning.py on chnsenticorp from the bundled pre-trained model
                        (sample_data/models/electra-mini, made by params/pretrain_mini.json:
                        run O of docs/LEARNING.md section 9)
                        and from the same model's random weights (both arms side by side, 3 seeds
                        each, 10 epochs, batches of similar lengths), next to the naive-Bayes floor
                        (bench/bench_naive_bayes.py): what pre-training buys

Stages 3-5 show that every path runs; a few minutes of pre-training teach a model little.
Stage 6 measures what a longer pre-training (1:20 on one thread of a shared 2-core CPU)
buys in fine-tuning against the same model from random weights and a naive-Bayes floor; at this
scale the gain on ChnSentiCorp is about 4 points, with both arms under the floor on dev
(docs/LEARNING.md section 11), and the table shows it as it is.

It ends with a table of the results and where every output went. Everything goes to one
directory (default: demo_output/ in the repository, demo_output_quick/ with --quick), laid out
as the scripts expect a data directory: vocab.txt, pretrain_tfrecords/, finetuning_data/<task>/,
models/tiny/. The stages' hyper-parameters are written to hparams/*.json there and every stage's
command and full log to logs/, so each stage can be re-run by hand.

--quick shrinks every stage to a few steps (used by tests/test_demo.py). It writes to a
directory of its own, and refuses to wipe one that a full demo made.
"""

import argparse
import os
import shlex
import shutil
import sys
import time

from demo import child_process
from demo import report
from demo.layout import (  # noqa: F401 (MARKER_FILE: tests read it here)
    CORPUS, DEFAULT_OUTPUT_DIR, FINETUNING_DATA, MARKER_FILE, MODEL_NAME, PROGRAM,
    QUICK_OUTPUT_DIR, REPO_ROOT, RESULTS_FILE, SCRATCH_MODEL, SHIPPED_MODEL, SHIPPED_MODEL_DIR,
    TASKS, DemoError, prepare_output_dir, show_path)
from demo.report import pretraining_summary
from util import device_options
from util import utils

sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
import bench_naive_bayes  # noqa: E402  pylint: disable=wrong-import-position
import bench_pretraining_gains  # noqa: E402  pylint: disable=wrong-import-position
import reader_agreement  # noqa: E402  pylint: disable=wrong-import-position

# A person's labels for the chnsenticorp dev reviews, read from the text alone (docs/LEARNING.md
# section 12): how far the labels can be read at all, printed beside the models.
READER_LABELS = os.path.join(REPO_ROOT, "bench", "results", "reader_agreement",
                             "chnsenticorp_dev.txt")

# A 2-layer discriminator of hidden size 64 (1 attention head, generator of hidden size 16).
# jit_compile is off: for a model this small on a CPU, XLA's compile time costs more than it saves.
MODEL_HPARAMS = {
    "model_size": "small",
    "model_hparam_overrides": {"hidden_size": 64, "num_hidden_layers": 2},
    "embedding_size": 64,
    "jit_compile": False,
}

# Stage sizes. On 2 quiet AVX2-only CPU cores (no bfloat16 instructions) the pipeline stages
# (1-5) of "default" take about 3 minutes and the learning stage (6) about 5 (README,
# "Development"); "quick" one to two minutes, most of it TensorFlow's start-up in each of the
# five training processes.
DEFAULT_PROFILE = {
    "pretrain_steps": 800, "pretrain_seq_length": 64, "pretrain_batch_size": 32,
    "pretrain_learning_rate": 2e-3,
    "finetune_learning_rate": 1e-3, "finetune_batch_size": 32, "finetune_log_every": 25,
    "cls_seq_length": 64, "cls_epochs": 3.0,
    "qa_seq_length": 128, "qa_epochs": 2.0,
    # 10 epochs, not the usual 3: on 2,000 reviews the small pre-trained model is still learning
    # at 3 while the random one has begun to overfit (docs/LEARNING.md section 11).
    "learning_epochs": 10.0, "learning_rate": 3e-4, "learning_from_scratch": True,
    # Fine-tuning seeds per arm of the learning stage: one seed's accuracy swings by about 2
    # points on the 300 dev reviews, as much as the gain it is there to show.
    "learning_trials": 3,
    # Fine-tuning batches of similar lengths, trimmed to their longest review: the mean review
    # is 44 tokens of 128, so fixed-length batches would be two-thirds padding.
    "group_by_length": 8,
}
PROFILES = {
    "default": DEFAULT_PROFILE,
    # The same learning rates and QA sequence length; everything that costs time shrunk.
    "quick": dict(
        DEFAULT_PROFILE, pretrain_steps=10, pretrain_seq_length=32, pretrain_batch_size=16,
        finetune_batch_size=16, finetune_log_every=2, cls_seq_length=32, cls_epochs=0.05,
        qa_epochs=0.01, learning_epochs=0.02, learning_from_scratch=False, learning_trials=1),
}


class Demo:
  """The stages, their settings and paths; `run()` runs them in order."""

  def __init__(self, output_dir, settings):
    self.dir = output_dir
    self.settings = settings
    self.vocab_file = os.path.join(output_dir, "vocab.txt")
    self.tfrecords_dir = os.path.join(output_dir, "pretrain_tfrecords")
    self.finetuning_data_dir = os.path.join(output_dir, "finetuning_data")
    self.model_dir = os.path.join(output_dir, "models", MODEL_NAME)
    self.results_dir = os.path.join(self.model_dir, "results")
    self.hparams_dir = os.path.join(output_dir, "hparams")
    self.logs_dir = os.path.join(output_dir, "logs")
    self.vocab_size = None
    self.started = time.time()
    self.stages = [
        ("vocabulary", "Building the vocabulary (build_vocab.py)", self.build_vocab),
        ("pretraining-data", "Building the pre-training dataset (build_pretraining_dataset.py)",
         self.build_dataset),
        ("pretraining", f"Pre-training a tiny ELECTRA for {settings['pretrain_steps']} steps "
         "(run_pretraining.py)", self.pretrain),
        ("chnsenticorp", "Fine-tuning on chnsenticorp, sentiment classification "
         "(run_finetuning.py)", lambda: self.finetune("chnsenticorp")),
        ("cmrc2018", "Fine-tuning on cmrc2018, reading comprehension (run_finetuning.py)",
         lambda: self.finetune("cmrc2018")),
        ("learning", "Learning: chnsenticorp from the bundled pre-trained model, from its random "
         "weights, and the naive-Bayes floor", self.learning),
    ]
    self.learning_results = {}

  # ---- running ----

  def run(self):
    total = len(self.stages)
    for number, (name, title, function) in enumerate(self.stages, 1):
      print(f"\n[stage {number}/{total}] {title}   (elapsed {self.elapsed()})", flush=True)
      stage_started = time.time()
      self.stage = (number, total, name)
      function()
      took = utils.format_duration(time.time() - stage_started)
      print(f"  stage {number}/{total} done in {took}", flush=True)
    return self.write_report()

  def elapsed(self):
    return utils.format_duration(time.time() - self.started)

  def fail(self, message):
    number, total, name = self.stage
    raise DemoError(f"stage {number}/{total} ({name}) failed: {message}")

  def script(self, script, args):
    """Runs one of the repository's scripts as this stage; fails the stage if it fails."""
    self.scripts(script, [("", args)])

  def scripts(self, script, jobs):
    """Runs `script` once per `(label, args)` of `jobs`, side by side; fails the stage if any
    run fails. Each run logs to logs/<stage number>-<stage>[-<label>].log."""
    number, _, name = self.stage
    runs = []
    for label, args in jobs:
      log_path = os.path.join(self.logs_dir, f"{number}-{name}{'-' + label if label else ''}.log")
      print("  $ " + shlex.join(["python", show_path(os.path.join(REPO_ROOT, script))]
                                + [show_path(a) if os.path.isabs(a) else a for a in args]),
            flush=True)
      runs.append((label, script, args, log_path))
    try:
      statuses = child_process.run_scripts(runs)
    except OSError as e:
      self.fail(f"could not start {script}: {e}")
    for status, (_, _, _, log_path) in zip(statuses, runs):
      if status != 0:
        self.fail(f"{script} exited with status {status}; full log: {show_path(log_path)}")

  def expect(self, path, what):
    if not os.path.exists(path):
      self.fail(f"{what} is missing: expected {show_path(path)}")

  def hparams_file(self, name, hparams):
    path = os.path.join(self.hparams_dir, name + ".json")
    utils.write_json(hparams, path, sort_keys=False)
    return path

  # ---- stages ----

  def build_vocab(self):
    """build_vocab.py's own functions, in this process (they need no TensorFlow)."""
    import build_vocab  # pylint: disable=import-outside-toplevel
    patterns = [CORPUS, os.path.join(FINETUNING_DATA, "*", "*")]
    command = shlex.join(["python", show_path(os.path.join(REPO_ROOT, "build_vocab.py")),
                          "--input", show_path(patterns[0]), show_path(patterns[1]),
                          "--output", show_path(self.vocab_file)])
    print(f"  $ {command}", flush=True)
    try:
      paths = build_vocab.expand_inputs(patterns)
      tokens = build_vocab.build_vocab(build_vocab.read_lines(paths))
      build_vocab.write_vocab(tokens, self.vocab_file)
    except (OSError, ValueError) as e:
      self.fail(str(e))
    self.vocab_size = len(tokens)
    specials = len(build_vocab.SPECIAL_TOKENS)
    line = (f"wrote {len(tokens)} tokens ({specials} special + {len(tokens) - specials} from "
            f"{len(paths)} file(s): the corpus and the fine-tuning sets) to "
            f"{show_path(self.vocab_file)}")
    print("    " + line, flush=True)
    os.makedirs(self.logs_dir, exist_ok=True)
    with open(os.path.join(self.logs_dir, "1-vocabulary.log"), "w", encoding="utf-8") as f:
      f.write(f"$ {command}\n(run in-process by {PROGRAM})\n{line}\n")

  def build_dataset(self):
    self.script("build_pretraining_dataset.py", [
        "--corpus-files", CORPUS, "--vocab-file", self.vocab_file,
        "--output-dir", self.tfrecords_dir,
        "--max-seq-length", str(self.settings["pretrain_seq_length"])])
    self.expect(os.path.join(self.tfrecords_dir, "summary.json"), "the dataset's summary.json")

  def model_hparams(self):
    return dict(MODEL_HPARAMS, vocab_size=self.vocab_size)

  def pretrain(self):
    s = self.settings
    steps = s["pretrain_steps"]
    log_every = max(1, steps // 10)
    hparams = dict(
        self.model_hparams(), max_seq_length=s["pretrain_seq_length"],
        train_batch_size=s["pretrain_batch_size"], learning_rate=s["pretrain_learning_rate"],
        num_train_steps=steps, num_warmup_steps=max(1, steps // 10),
        log_every_steps=log_every, iterations_per_loop=log_every, save_checkpoints_steps=steps)
    path = self.hparams_file("pretrain", hparams)
    self.script("run_pretraining.py", ["--data-dir", self.dir, "--model-name", MODEL_NAME,
                                       "--hparams", path])
    if report.latest_checkpoint(self.model_dir) is None:
      self.fail(f"no checkpoint in {show_path(self.model_dir)}")

  def finetune(self, task):
    self.prepare_finetuning_layout()
    s = self.settings
    hparams = dict(
        self.model_hparams(), task_names=[task], num_trials=1,
        learning_rate=s["finetune_learning_rate"], train_batch_size=s["finetune_batch_size"],
        log_every_steps=s["finetune_log_every"], iterations_per_loop=s["finetune_log_every"],
        group_by_length=s["group_by_length"])
    if task == "cmrc2018":
      hparams.update(max_seq_length=s["qa_seq_length"], num_train_epochs=s["qa_epochs"],
                     write_test_outputs=True)  # the dev predictions the report lists
    else:
      hparams.update(max_seq_length=s["cls_seq_length"], num_train_epochs=s["cls_epochs"])
    path = self.hparams_file(f"finetune_{task}", hparams)
    self.script("run_finetuning.py", ["--data-dir", self.dir, "--model-name", MODEL_NAME,
                                      "--hparams", path])
    self.expect(os.path.join(self.results_dir, f"{task}_results.json"), "the results file")

  def prepare_finetuning_layout(self):
    """DIR/finetuning_data/<task>/ (a copy of the samples) and the vocabulary beside the model."""
    if not os.path.isdir(self.finetuning_data_dir):
      shutil.copytree(FINETUNING_DATA, self.finetuning_data_dir)
      print(f"    copied {show_path(FINETUNING_DATA)} to {show_path(self.finetuning_data_dir)}")
    model_vocab = os.path.join(self.model_dir, "vocab.txt")
    if not os.path.isfile(model_vocab):
      shutil.copyfile(self.vocab_file, model_vocab)
      print(f"    copied the vocabulary to {show_path(model_vocab)}", flush=True)

  def learning(self):
    """Fine-tunes the shipped pre-trained model and the same model from scratch on chnsenticorp.
    """
    self.prepare_finetuning_layout()
    if not os.path.isfile(os.path.join(SHIPPED_MODEL_DIR, "checkpoint")):
      self.fail(f"the bundled pre-trained model is missing: {show_path(SHIPPED_MODEL_DIR)}")
    trials = self.settings["learning_trials"]
    hparams = dict(shipped_model_hparams(), task_names=["chnsenticorp"], num_trials=trials,
                   max_seq_length=128, num_train_epochs=self.settings["learning_epochs"],
                   learning_rate=self.settings["learning_rate"], train_batch_size=32,
                   mixed_precision=learning_precision(), log_every_steps=50,
                   iterations_per_loop=50, group_by_length=self.settings["group_by_length"])
    arms = [(SHIPPED_MODEL, True)]
    if self.settings["learning_from_scratch"]:  # --quick skips it: one TensorFlow start less
      arms.append((SCRATCH_MODEL, False))
    jobs = []
    for name, init in arms:
      model_dir = os.path.join(self.dir, "models", name)
      os.makedirs(model_dir, exist_ok=True)
      for file_name in os.listdir(SHIPPED_MODEL_DIR):
        if init or file_name == "vocab.txt":
          shutil.copyfile(os.path.join(SHIPPED_MODEL_DIR, file_name),
                          os.path.join(model_dir, file_name))
      run_hparams = dict(hparams) if init else dict(hparams, init_checkpoint=None)
      path = self.hparams_file(f"learning_{name}", run_hparams)
      jobs.append((name, ["--data-dir", self.dir, "--model-name", name, "--hparams", path]))
    # The arms are independent: side by side, each on its share of the cores.
    self.scripts("run_finetuning.py", jobs)
    for name, _ in arms:
      results = utils.load_json(os.path.join(self.dir, "models", name, "results",
                                             "chnsenticorp_results.json"))
      self.learning_results[name] = mean_over_trials(results["trials"][-trials:], "chnsenticorp")
    floor = bench_naive_bayes.evaluate_task(self.finetuning_data_dir, "chnsenticorp")
    self.learning_results["naive-bayes"] = {"dev": {"accuracy": floor["dev_accuracy"]},
                                            "test": {"accuracy": floor["test_accuracy"]}}
    if os.path.isfile(READER_LABELS):
      reader = reader_agreement.agreement(
          reader_agreement.read_reader_labels(READER_LABELS),
          reader_agreement.read_gold_labels(
              os.path.join(self.finetuning_data_dir, "chnsenticorp", "dev.tsv")))
      self.learning_results["reader"] = {"dev": {"accuracy": reader["agreement"],
                                                 "rows": reader["rows"]}}

  # ---- the report ----

  def write_report(self):
    """Prints the results table and the outputs' locations; writes demo_results.json."""
    pretraining = pretraining_summary(self.model_dir)
    finetuning = {}
    for task in TASKS:
      trials = utils.load_json(os.path.join(self.results_dir, f"{task}_results.json"))["trials"]
      finetuning[task] = trials[-1]["results"].get(task, {})
    elapsed = time.time() - self.started
    print(f"\nAll {len(self.stages)} stages done in {utils.format_duration(elapsed)}.\n")
    report.print_results_table(pretraining, finetuning)
    report.print_learning_table(self.learning_results)
    outputs = self.outputs()
    report.print_outputs(outputs, self.dir)
    utils.write_json({"elapsed_s": round(elapsed, 1), "settings": self.settings,
                      "vocab_size": self.vocab_size, "pretraining": pretraining,
                      "finetuning": finetuning, "learning": self.learning_results,
                      "outputs": outputs},
                     os.path.join(self.dir, RESULTS_FILE), sort_keys=False)
    return 0

  def outputs(self):
    checkpoint = report.latest_checkpoint(self.model_dir)
    qa_dir = os.path.join(self.results_dir, "cmrc2018_qa")
    return {
        "vocab": self.vocab_file,
        "pretrain_tfrecords": self.tfrecords_dir,
        "pretrain_summary": os.path.join(self.tfrecords_dir, "summary.json"),
        "pretrain_checkpoint": checkpoint,
        "tensorboard_logdir": self.model_dir,
        "finetuning_models": {task: os.path.join(self.model_dir, "finetuning_models",
                                                 f"{task}_model_1") for task in TASKS},
        "results": {task: [os.path.join(self.results_dir, f"{task}_results.{ext}")
                           for ext in ("txt", "json")] for task in TASKS},
        "qa_predictions": sorted(os.path.join(qa_dir, name) for name in os.listdir(qa_dir)
                                 if name.endswith("_preds.json")) if os.path.isdir(qa_dir)
                          else [],
        "hparams": self.hparams_dir,
        "logs": self.logs_dir,
        "demo_results": os.path.join(self.dir, RESULTS_FILE),
    }


def mean_over_trials(trials, task):
  """{split: {"accuracy": mean, "scores": [one per trial], "min", "max", "mean", "std"}} of the
  task's accuracy, for each split every trial scored (a --quick run scores no test split)."""
  summary = {}
  for split in ("dev", "test"):
    if trials and all(split in trial["results"].get(task, {}) for trial in trials):
      stats = bench_pretraining_gains.split_stats(trials, task, split)
      summary[split] = dict(stats, accuracy=stats["mean"])
  return summary


def learning_precision():
  """bfloat16 where the CPU computes in it (1.7x float32 there), else float32: on a 2-core AVX2
  EPYC this stage's steps ran as fast in float32 as in bfloat16 (3.1 steps/s, one thread), and
  ELECTRA-small's at 1.2x (util/device_options.py)."""
  return "bfloat16" if device_options.cpu_has_native_bfloat16() else "float32"


def shipped_model_hparams():
  """Encoder sizes of the bundled model, from the configs shipped beside its checkpoint."""
  config = utils.load_json(os.path.join(SHIPPED_MODEL_DIR, "discriminator_config.json"))
  pretrain = utils.load_json(os.path.join(SHIPPED_MODEL_DIR, "pretrain_config.json"))
  sizes = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
  overrides = {name: config[name] for name in sizes}
  # Both arms fine-tune with the usual dropout, whatever the model was pre-trained with (the
  # pre-trained arm would otherwise take the dropout its config records).
  overrides.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
  return {"model_size": pretrain["model_size"], "vocab_size": config["vocab_size"],
          "embedding_size": pretrain["embedding_size"], "model_hparam_overrides": overrides}


# ----------------------------------------------------------------------------------------------
# Main.

def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description="Run the whole pipeline on the bundled sample data: vocabulary, pre-training "
                  "dataset, a short pre-training of a tiny ELECTRA, fine-tuning on chnsenticorp "
                  "and cmrc2018; then print the results and where every output went.")
  parser.add_argument("--output-dir", default=None,
                      help="where everything goes (default: demo_output/ in the repository, "
                           "demo_output_quick/ with --quick). A directory made by an earlier "
                           "demo is wiped first, except that --quick refuses a full demo's; "
                           "any other non-empty directory is refused unless --keep is given.")
  parser.add_argument("--pretrain-steps", type=int, default=None,
                      help=f"pre-training steps (default: {PROFILES['default']['pretrain_steps']}"
                           f", or {PROFILES['quick']['pretrain_steps']} with --quick)")
  parser.add_argument("--quick", action="store_true",
                      help="the smallest settings: a few steps per stage, short sequences (a "
                           "check that everything runs, as in tests/test_demo.py); writes to "
                           "demo_output_quick/ unless --output-dir is given, so the full "
                           "demo's demo_output/ is left as it is")
  parser.add_argument("--keep", action="store_true",
                      help="do not wipe an existing output directory; pre-training then resumes "
                           "from its newest checkpoint")
  args = parser.parse_args(argv)
  if args.pretrain_steps is not None and args.pretrain_steps < 1:
    parser.error("--pretrain-steps must be at least 1")
  return args


def main(argv=None):
  args = parse_args(argv)
  settings = dict(PROFILES["quick" if args.quick else "default"])
  if args.pretrain_steps is not None:
    settings["pretrain_steps"] = args.pretrain_steps
  demo = None
  profile = "quick" if args.quick else "default"
  default_dir = QUICK_OUTPUT_DIR if args.quick else DEFAULT_OUTPUT_DIR
  try:
    output_dir = prepare_output_dir(args.output_dir or default_dir, keep=args.keep,
                                    profile=profile)
    demo = Demo(output_dir, settings)
    print(f"ELECTRA demo on the bundled sample data ({'quick' if args.quick else 'default'} "
          f"settings), writing to {show_path(output_dir)}/", flush=True)
    return demo.run()
  except DemoError as e:
    print(f"{PROGRAM}: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    where = f" in stage {demo.stage[0]}/{demo.stage[1]} ({demo.stage[2]})" if (
        demo and getattr(demo, "stage", None)) else ""
    print(f"\n{PROGRAM}: interrupted{where}", file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
