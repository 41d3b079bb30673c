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
                        (sample_data/models/electra-mini, made by params/pretrain_mini.json)
                        and from the same model's random weights, next to the naive-Bayes floor
                        (bench/bench_naive_bayes.py): what pre-training buys

Stages 3-5 show that every path runs; a few minutes of pre-training teach a model little.
Stage 6 measures what a longer pre-training (52 minutes on a shared 2-core CPU) buys in
fine-tuning against the same model from random weights and a naive-Bayes floor; at this scale
the answer is still "nothing" (docs/LEARNING.md explains why), and the table shows it as it is.

It ends with a table of the results and where every output went. Everything goes to one
directory (default: demo_output/ in the repository), laid out as the scripts expect a data
directory: vocab.txt, pretrain_tfrecords/, finetuning_data/<task>/, models/tiny/. The stages'
hyper-parameters are written to hparams/*.json there and every stage's command and full log to
logs/, so each stage can be re-run by hand.

--quick shrinks every stage to a few steps (used by tests/test_demo.py).
"""

import argparse
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
SAMPLE_DATA = os.path.join(REPO_ROOT, "sample_data")
CORPUS = os.path.join(SAMPLE_DATA, "pretrain_corpus", "corpus.txt")
FINETUNING_DATA = os.path.join(SAMPLE_DATA, "finetuning_data")
PROGRAM = "run_demo.py"
MODEL_NAME = "tiny"
# Marks a directory this script made, so that the next run may delete it.
MARKER_FILE = ".run_demo_output"
DEFAULT_OUTPUT_DIR = os.path.join(REPO_ROOT, "demo_output")
RESULTS_FILE = "demo_results.json"
TASKS = ("chnsenticorp", "cmrc2018")
# The bundled pre-trained model (tools/ship_pretrained_model.py) and its fine-tuning settings.
SHIPPED_MODEL_DIR = os.path.join(SAMPLE_DATA, "models", "electra-mini")
SHIPPED_MODEL = "electra-mini"
SCRATCH_MODEL = "electra-mini-scratch"

# A 2-layer discriminator of hidden size 64 (1 attention head, generator of hidden size 16).
# jit_compile is off: for a model this small on a CPU, XLA's compile time costs more than it saves.
MODEL_HPARAMS = {
    "model_size": "small",
    "model_hparam_overrides": {"hidden_size": 64, "num_hidden_layers": 2},
    "embedding_size": 64,
    "jit_compile": False,
}

# Stage sizes. The pipeline stages (1-5) of "default" take about 3 minutes on 2 quiet CPU cores
# and the learning stage (6) about 4; "quick" a few minutes, most of it TensorFlow's start-up in
# each of the five training processes.
PROFILES = {
    "default": {
        "pretrain_steps": 800, "pretrain_seq_length": 64, "pretrain_batch_size": 32,
        "pretrain_learning_rate": 2e-3,
        "finetune_learning_rate": 1e-3, "finetune_batch_size": 32, "finetune_log_every": 25,
        "cls_seq_length": 64, "cls_epochs": 3.0,
        "qa_seq_length": 128, "qa_epochs": 2.0,
        "learning_epochs": 3.0, "learning_rate": 3e-4, "learning_from_scratch": True,
    },
    "quick": {
        "pretrain_steps": 10, "pretrain_seq_length": 32, "pretrain_batch_size": 16,
        "pretrain_learning_rate": 2e-3,
        "finetune_learning_rate": 1e-3, "finetune_batch_size": 16, "finetune_log_every": 2,
        "cls_seq_length": 32, "cls_epochs": 0.05,
        "qa_seq_length": 128, "qa_epochs": 0.01,
        "learning_epochs": 0.02, "learning_rate": 3e-4, "learning_from_scratch": False,
    },
}

# Console lines of TensorFlow's start-up and deprecation chatter: kept in the logs, not shown.
NOISE = re.compile(
    r"^([IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]"  # C++ INFO / WARNING log lines (e.g. oneDNN's)
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r"|This TensorFlow binary is optimized"
    r"|WARNING:tensorflow:From .*(deprecated|removed in a future version)"
    r"|Instructions for updating:)")


class DemoError(Exception):
  """Stops the demo; main() prints it as one line."""


# ----------------------------------------------------------------------------------------------
# Small helpers.

def fmt_duration(seconds):
  seconds = max(int(round(seconds)), 0)
  minutes, seconds = divmod(seconds, 60)
  return f"{minutes}:{seconds:02d}"


def show_path(path):
  """`path` relative to the working directory when it lies below it, else absolute."""
  path = os.path.abspath(path)
  relative = os.path.relpath(path)
  return path if relative == ".." or relative.startswith(".." + os.sep) else relative


def write_json(obj, path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def count_lines(path):
  with open(path, encoding="utf-8") as f:
    return sum(1 for _ in f)


# ----------------------------------------------------------------------------------------------
# The output directory.

def prepare_output_dir(output_dir, keep=False):
  """Creates `output_dir`; wipes it first if an earlier demo made it (unless `keep`).

  Refuses, with DemoError, a directory that has files but no demo marker (it may hold someone's
  work) unless `keep` is given, and any directory that holds the repository itself.
  """
  output_dir = os.path.abspath(output_dir)
  repo = os.path.realpath(REPO_ROOT)
  real = os.path.realpath(output_dir)
  if real == repo or repo.startswith(real.rstrip(os.sep) + os.sep):
    raise DemoError(f"--output-dir {show_path(output_dir)} would hold the repository itself; "
                    "choose a new directory")
  if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
    raise DemoError(f"--output-dir {show_path(output_dir)} exists and is not a directory")
  if os.path.isdir(output_dir) and os.listdir(output_dir) and not keep:
    if not os.path.isfile(os.path.join(output_dir, MARKER_FILE)):
      raise DemoError(
          f"{show_path(output_dir)} exists, is not empty and was not made by {PROGRAM} (no "
          f"{MARKER_FILE} file in it); give another --output-dir, or --keep to write into it")
    shutil.rmtree(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, MARKER_FILE), "w", encoding="utf-8") as f:
    f.write(f"Made by {PROGRAM}; the next {PROGRAM} run with this --output-dir deletes this "
            "directory (unless it is given --keep).\n")
  return output_dir


# ----------------------------------------------------------------------------------------------
# Running a script with its progress on the console and everything in a log file.

def _show_line(line, state):
  """Prints one line of a stage's output, indented, unless it is start-up chatter."""
  if state.get("skip_next"):  # The line after "Instructions for updating:".
    state["skip_next"] = False
    return
  if NOISE.match(line):
    state["skip_next"] = line.startswith("Instructions for updating:")
    return
  print("    " + line, flush=True)


def run_script(script, args, log_path):
  """Runs `python script args` in a child process; returns its exit status.

  The child's stdout and stderr go to `log_path` in full and, minus TensorFlow's start-up
  chatter, to the console as they come (carriage-return redraws become lines).
  """
  command = [sys.executable, os.path.join(REPO_ROOT, script)] + list(args)
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ INFO and WARNING lines.
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  state = {}
  with open(log_path, "w", encoding="utf-8") as log:
    log.write("$ " + shlex.join(command) + "\n")
    log.flush()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env) as process:
      for raw in process.stdout:
        text = raw.decode("utf-8", errors="replace")
        log.write(text)
        log.flush()
        for line in text.replace("\r", "\n").splitlines():
          if line.strip():
            _show_line(line.rstrip(), state)
      return process.wait()


# ----------------------------------------------------------------------------------------------
# Reading results back.

def _varint(buf, pos):
  value = shift = 0
  while True:
    byte = buf[pos]
    pos += 1
    value |= (byte & 0x7F) << shift
    if byte < 0x80:
      return value, pos
    shift += 7


def _proto_fields(buf):
  """(field number, wire type, value) of a serialized protobuf message, in order."""
  pos = 0
  while pos < len(buf):
    key, pos = _varint(buf, pos)
    field, wire = key >> 3, key & 7
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire == 1:
      value, pos = buf[pos:pos + 8], pos + 8
    elif wire == 2:
      length, pos = _varint(buf, pos)
      value, pos = buf[pos:pos + length], pos + length
    elif wire == 5:
      value, pos = buf[pos:pos + 4], pos + 4
    else:
      raise ValueError(f"unsupported protobuf wire type {wire}")
    yield field, wire, value


def _tensor_scalar(tensor):
  """The value of a scalar float TensorProto (dtype 1 = float, 2 = double), else None."""
  dtype, content, values = 1, None, []
  for field, wire, value in _proto_fields(tensor):
    if field == 1 and wire == 0:
      dtype = value
    elif field == 4 and wire == 2:
      content = value
    elif field == 5:  # float_val, packed or not
      values += struct.unpack(f"<{len(value) // 4}f", value)
    elif field == 6:  # double_val
      values += struct.unpack(f"<{len(value) // 8}d", value)
  if values:
    return values[0]
  if content:
    return struct.unpack_from("<f" if dtype == 1 else "<d", content)[0]
  return None


def read_scalars(events_path):
  """{tag: [(step, value), ...]} of the scalar summaries in a TensorBoard events file.

  Parses the TFRecord framing and the Event / Summary protos directly, so reading a few numbers
  back does not cost a TensorFlow import.
  """
  scalars = {}
  with open(events_path, "rb") as f:
    data = f.read()
  pos = 0
  while pos + 12 <= len(data):
    (length,) = struct.unpack_from("<Q", data, pos)
    record = data[pos + 12:pos + 12 + length]
    pos += 12 + length + 4
    if len(record) < length:
      break  # A record still being written.
    step, values = 0, []
    for field, wire, value in _proto_fields(record):
      if field == 2 and wire == 0:
        step = value
      elif field == 5 and wire == 2:  # Event.summary
        values += [v for f, w, v in _proto_fields(value) if f == 1 and w == 2]
    for value in values:
      tag, number = None, None
      for field, wire, item in _proto_fields(value):
        if field == 1 and wire == 2:
          tag = item.decode("utf-8", errors="replace")
        elif field == 2 and wire == 5:  # simple_value
          number = struct.unpack("<f", item)[0]
        elif field == 8 and wire == 2:  # tensor
          number = _tensor_scalar(item)
      if tag is not None and number is not None:
        scalars.setdefault(tag, []).append((step, number))
  return scalars


def pretraining_summary(model_dir):
  """First and last logged training loss and the last logged metrics of the pre-training run."""
  scalars = {}
  for name in sorted(os.listdir(model_dir)):
    if name.startswith("events.out.tfevents"):
      try:
        file_scalars = read_scalars(os.path.join(model_dir, name))
      except (OSError, ValueError, IndexError, struct.error):
        continue  # An unreadable events file only costs a row of the table.
      for tag, points in file_scalars.items():
        scalars.setdefault(tag, []).extend(points)
  losses = sorted(scalars.get("loss", []))
  if not losses:
    return None
  last_step = losses[-1][0]
  metrics = {tag: dict(points)[last_step] for tag, points in sorted(scalars.items())
             if tag != "loss" and "/sec" not in tag and last_step in dict(points)}
  return {"first_step": losses[0][0], "first_loss": losses[0][1],
          "final_step": last_step, "final_loss": losses[-1][1], "final_metrics": metrics}


def latest_checkpoint(model_dir):
  """The prefix named in model_dir/checkpoint (TF's text index), or None."""
  index = os.path.join(model_dir, "checkpoint")
  if not os.path.isfile(index):
    return None
  with open(index, encoding="utf-8") as f:
    match = re.search(r'^model_checkpoint_path: "(.*)"', f.read(), re.MULTILINE)
  if not match:
    return None
  path = match.group(1)
  return path if os.path.isabs(path) else os.path.join(model_dir, path)


# ----------------------------------------------------------------------------------------------
# The demo.

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
      print(f"  stage {number}/{total} done in {fmt_duration(time.time() - stage_started)}",
            flush=True)
    return self.report()

  def elapsed(self):
    return fmt_duration(time.time() - self.started)

  def fail(self, message):
    number, total, name = self.stage
    raise DemoError(f"stage {number}/{total} ({name}) failed: {message}")

  def script(self, script, args):
    """Runs one of the repository's scripts as this stage; fails the stage if it fails."""
    number, _, name = self.stage
    log_path = os.path.join(self.logs_dir, f"{number}-{name}.log")
    print("  $ " + shlex.join(["python", show_path(os.path.join(REPO_ROOT, script))]
                              + [show_path(a) if os.path.isabs(a) else a for a in args]),
          flush=True)
    try:
      status = run_script(script, args, log_path)
    except OSError as e:
      self.fail(f"could not start {script}: {e}")
    if status != 0:
      self.fail(f"{script} exited with status {status}; full log: {show_path(log_path)}")

  def expect(self, path, what):
    if not os.path.exists(path):
      self.fail(f"{what} is missing: expected {show_path(path)}")

  def hparams_file(self, name, hparams):
    path = os.path.join(self.hparams_dir, name + ".json")
    write_json(hparams, path)
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
    if latest_checkpoint(self.model_dir) is None:
      self.fail(f"no checkpoint in {show_path(self.model_dir)}")

  def finetune(self, task):
    self.prepare_finetuning_layout()
    s = self.settings
    hparams = dict(
        self.model_hparams(), task_names=[task], num_trials=1,
        learning_rate=s["finetune_learning_rate"], train_batch_size=s["finetune_batch_size"],
        log_every_steps=s["finetune_log_every"], iterations_per_loop=s["finetune_log_every"])
    if task == "cmrc2018":
      hparams.update(max_seq_length=s["qa_seq_length"], num_train_epochs=s["qa_epochs"])
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
    hparams = dict(shipped_model_hparams(), task_names=["chnsenticorp"], num_trials=1,
                   max_seq_length=128, num_train_epochs=self.settings["learning_epochs"],
                   learning_rate=self.settings["learning_rate"], train_batch_size=32,
                   mixed_precision="bfloat16", log_every_steps=50, iterations_per_loop=50)
    arms = [(SHIPPED_MODEL, True)]
    if self.settings["learning_from_scratch"]:  # --quick skips it: one TensorFlow start less
      arms.append((SCRATCH_MODEL, False))
    for name, init in arms:
      model_dir = os.path.join(self.dir, "models", name)
      os.makedirs(model_dir, exist_ok=True)
      for file_name in os.listdir(SHIPPED_MODEL_DIR):
        if init or file_name == "vocab.txt":
          shutil.copyfile(os.path.join(SHIPPED_MODEL_DIR, file_name),
                          os.path.join(model_dir, file_name))
      run_hparams = dict(hparams) if init else dict(hparams, init_checkpoint=None)
      path = self.hparams_file(f"learning_{name}", run_hparams)
      self.script("run_finetuning.py", ["--data-dir", self.dir, "--model-name", name,
                                        "--hparams", path])
      results = read_json(os.path.join(model_dir, "results", "chnsenticorp_results.json"))
      self.learning_results[name] = results["trials"][-1]["results"]["chnsenticorp"]
    sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))
    import bench_naive_bayes  # pylint: disable=import-outside-toplevel
    floor = bench_naive_bayes.evaluate_task(self.finetuning_data_dir, "chnsenticorp")
    self.learning_results["naive-bayes"] = {"dev": {"accuracy": floor["dev_accuracy"]},
                                            "test": {"accuracy": floor["test_accuracy"]}}

  # ---- the report ----

  def report(self):
    """Prints the results table and the outputs' locations; writes demo_results.json."""
    pretraining = pretraining_summary(self.model_dir)
    finetuning = {}
    for task in TASKS:
      trials = read_json(os.path.join(self.results_dir, f"{task}_results.json"))["trials"]
      finetuning[task] = trials[-1]["results"].get(task, {})
    elapsed = time.time() - self.started
    print(f"\nAll {len(self.stages)} stages done in {fmt_duration(elapsed)}.\n")
    print_results_table(pretraining, finetuning)
    print_learning_table(self.learning_results)
    outputs = self.outputs()
    print_outputs(outputs, self.dir)
    write_json({"elapsed_s": round(elapsed, 1), "settings": self.settings,
                "vocab_size": self.vocab_size, "pretraining": pretraining,
                "finetuning": finetuning, "learning": self.learning_results,
                "outputs": outputs},
               os.path.join(self.dir, RESULTS_FILE))
    return 0

  def outputs(self):
    checkpoint = latest_checkpoint(self.model_dir)
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


def _format_metrics(metrics):
  cells = []
  for name, value in metrics.items():
    if isinstance(value, (int, float)) and name not in ("total", "skip", "average"):
      label = name.upper() if name in ("em", "f1") else name
      cells.append(f"{label} {value:.2f}")
  return ", ".join(cells)


def print_results_table(pretraining, finetuning):
  rows = []
  if pretraining:
    extra = ", ".join(f"{name} {value:.3f}" for name, value in
                      pretraining["final_metrics"].items() if name != "learning_rate")
    rows.append(("pre-training", "train",
                 f"final loss {pretraining['final_loss']:.2f} at step "
                 f"{pretraining['final_step']} (from {pretraining['first_loss']:.2f} at step "
                 f"{pretraining['first_step']}); {extra}"))
  else:
    rows.append(("pre-training", "train", "no loss found in the TensorBoard events"))
  for task, splits in finetuning.items():
    for split, metrics in splits.items():
      rows.append((task, split, _format_metrics(metrics)))
  print("Pipeline check (a tiny model pre-trained for minutes on small samples: these show "
        "that every path\nruns, not what a pre-trained model learns; chance is 50% accuracy on "
        "chnsenticorp; accuracy, EM and F1 are in %)")
  widths = [max(len(row[i]) for row in rows + [("task", "split", "")]) for i in range(2)]
  print(f"  {'task':<{widths[0]}}  {'split':<{widths[1]}}  metrics")
  for task, split, cells in rows:
    print(f"  {task:<{widths[0]}}  {split:<{widths[1]}}  {cells}")


def shipped_model_hparams():
  """Encoder sizes of the bundled model, from the configs shipped beside its checkpoint."""
  config = read_json(os.path.join(SHIPPED_MODEL_DIR, "discriminator_config.json"))
  pretrain = read_json(os.path.join(SHIPPED_MODEL_DIR, "pretrain_config.json"))
  sizes = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
  return {"model_size": pretrain["model_size"], "vocab_size": config["vocab_size"],
          "embedding_size": pretrain["embedding_size"],
          "model_hparam_overrides": {name: config[name] for name in sizes}}


def print_learning_table(learning):
  """ChnSentiCorp accuracy of the pre-trained model, the same model from scratch and the floor."""
  if not learning:
    return
  labels = {SHIPPED_MODEL: "pre-trained (sample_data/models/electra-mini)",
            SCRATCH_MODEL: "same model from random weights",
            "naive-bayes": "character-bigram naive Bayes (the floor)"}
  print("\nLearning: chnsenticorp accuracy (%), real reviews, chance 50")
  width = max(len(label) for label in labels.values())
  print(f"  {'model':<{width}}  dev     test")
  for name, label in labels.items():
    splits = learning.get(name, {})
    cells = [f"{splits[split]['accuracy']:6.2f}" if "accuracy" in splits.get(split, {})
             else "     -" for split in ("dev", "test")]
    print(f"  {label:<{width}}  {cells[0]}  {cells[1]}")


def print_outputs(outputs, output_dir):
  tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
  tensorboard = show_path(tensorboard) if os.path.isfile(tensorboard) else "tensorboard"
  models_dir = os.path.dirname(outputs["finetuning_models"][TASKS[0]])
  results_dir = os.path.dirname(outputs["results"][TASKS[0]][0])
  tasks = "{" + ",".join(TASKS) + "}"
  tfrecords = outputs["pretrain_tfrecords"]
  shards = sum(1 for name in os.listdir(tfrecords) if name != "summary.json")
  lines = [
      ("vocabulary", f"{show_path(outputs['vocab'])} ({count_lines(outputs['vocab'])} tokens)"),
      ("pre-training data", f"{show_path(tfrecords)}/ ({shards} TFRecord file(s) and "
                            "summary.json)"),
      ("pre-trained model", f"{show_path(outputs['pretrain_checkpoint'])}.* (TF1 variable "
                            "names, with the generator/discriminator configs beside it)"),
      ("fine-tuned models", f"{show_path(models_dir)}/{tasks}_model_1/"),
      ("results", f"{show_path(results_dir)}/{tasks}_results.{{txt,json}}"),
      ("QA predictions", ", ".join(show_path(path) for path in outputs["qa_predictions"])),
      ("TensorBoard", f"{tensorboard} --logdir {show_path(outputs['tensorboard_logdir'])}  "
                      "(then open http://localhost:6006)"),
      ("hparams and logs", f"{show_path(outputs['hparams'])}/, {show_path(outputs['logs'])}/ "
                           "(each stage's command is the first line of its log)"),
      ("this summary", show_path(outputs["demo_results"])),
  ]
  print(f"\nWhere everything went (all under {show_path(output_dir)}/):")
  width = max(len(name) for name, _ in lines)
  for name, where in lines:
    print(f"  {name:<{width}}  {where}")


# ----------------------------------------------------------------------------------------------
# Main.

def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description="Run the whole pipeline on the bundled sample data: vocabulary, pre-training "
                  "dataset, a short pre-training of a tiny ELECTRA, fine-tuning on chnsenticorp "
                  "and cmrc2018; then print the results and where every output went.")
  parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR,
                      help="where everything goes (default: demo_output/ in the repository). "
                           "A directory made by an earlier demo is wiped first; any other "
                           "non-empty directory is refused unless --keep is given.")
  parser.add_argument("--pretrain-steps", type=int, default=None,
                      help=f"pre-training steps (default: {PROFILES['default']['pretrain_steps']}"
                           f", or {PROFILES['quick']['pretrain_steps']} with --quick)")
  parser.add_argument("--quick", action="store_true",
                      help="the smallest settings: a few steps per stage, short sequences (a "
                           "check that everything runs, as in tests/test_demo.py)")
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
  try:
    output_dir = prepare_output_dir(args.output_dir, keep=args.keep)
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
