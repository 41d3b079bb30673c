"""Reading the demo's results back (TensorBoard scalars, the newest checkpoint) and printing its
tables: the pipeline check, the learning comparison and where every output went."""

import contextlib
import os
import sys

from demo import layout


@contextlib.contextmanager
def _stderr_silenced():
  """Points file descriptor 2 at /dev/null: TensorFlow's C++ start-up lines (absl, oneDNN) go
  there directly, past sys.stderr and TF_CPP_MIN_LOG_LEVEL."""
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, "w", encoding="utf-8") as devnull:
      os.dup2(devnull.fileno(), 2)
      yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def _tensorflow():
  """TensorFlow, imported on first use and quietly: the stages run it in their own processes,
  and what needs none here (--help, a refused output directory) stays instant."""
  with _stderr_silenced():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return tf


def latest_checkpoint(model_dir):
  """The newest checkpoint's prefix in `model_dir`, or None."""
  return _tensorflow().train.latest_checkpoint(model_dir)


def read_scalars(log_dir):
  """{tag: [(step, value), ...]} of the scalar summaries in the events files of `log_dir`."""
  tf = _tensorflow()  # tensorboard reads the files through it: imported quietly first
  # pylint: disable=import-outside-toplevel
  from google.protobuf import message
  from tensorboard.backend.event_processing import event_accumulator
  from tensorboard.util import tensor_util
  # pylint: enable=import-outside-toplevel
  # Every point (size 0), and those of a resumed run's earlier files too (no purging).
  accumulator = event_accumulator.EventAccumulator(
      log_dir, size_guidance={event_accumulator.TENSORS: 0}, purge_orphaned_data=False)
  try:
    accumulator.Reload()
  except (OSError, ValueError, tf.errors.OpError, message.DecodeError):
    return {}  # An unreadable events file only costs a row of the table.
  scalars = {}
  for tag in accumulator.Tags()[event_accumulator.TENSORS]:
    if accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
      scalars[tag] = [(event.step, tensor_util.make_ndarray(event.tensor_proto).item())
                      for event in accumulator.Tensors(tag)]
  return scalars


def pretraining_summary(model_dir):
  """First and last logged training loss and the last logged metrics of the pre-training run."""
  scalars = read_scalars(model_dir)
  losses = sorted(scalars.get("loss", []))
  if not losses:
    return None
  last_step = losses[-1][0]
  metrics = {tag: dict(points)[last_step] for tag, points in sorted(scalars.items())
             if tag != "loss" and "/sec" not in tag and last_step in dict(points)}
  return {"first_step": losses[0][0], "first_loss": losses[0][1],
          "final_step": last_step, "final_loss": losses[-1][1], "final_metrics": metrics}


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


def print_learning_table(learning):
  """ChnSentiCorp accuracy of the pre-trained model, the same model from scratch, the floor and,
  where given, a person's agreement with the labels.

  An arm fine-tuned with several seeds shows its mean and, in brackets, the lowest and highest
  seed; the gain line compares the means."""
  if not learning:
    return
  labels = {layout.SHIPPED_MODEL: "pre-trained (sample_data/models/electra-mini)",
            layout.SCRATCH_MODEL: "same model from random weights",
            "naive-bayes": "character-bigram naive Bayes (the floor)"}
  if "reader" in learning:  # the labels' own noise: a ceiling
    rows = learning["reader"]["dev"]["rows"]
    labels["reader"] = f"a person reading the text alone ({rows} dev reviews)"
  seeds = max((len(split.get("scores", [])) for arm in learning.values() for split in arm.values()),
              default=0)
  print("\nLearning: chnsenticorp accuracy (%), real reviews, chance 50"
        + (f"; mean [min, max] of {seeds} fine-tuning seeds" if seeds > 1 else ""))
  cells = {name: [_accuracy_cell(learning.get(name, {}).get(split, {}))
                  for split in ("dev", "test")] for name in labels}
  width = max(len(label) for label in labels.values())
  column = max(len(cell) for row in cells.values() for cell in row)
  print(f"  {'model':<{width}}  {'dev':>6}{'':<{column - 6}}  {'test':>6}")
  for name, label in labels.items():
    print(f"  {label:<{width}}  {cells[name][0]:<{column}}  {cells[name][1]}")
  pretrained, scratch = learning.get(layout.SHIPPED_MODEL), learning.get(layout.SCRATCH_MODEL)
  if pretrained and scratch:
    gains = [f"{pretrained[split]['accuracy'] - scratch[split]['accuracy']:+6.2f}"
             for split in ("dev", "test")]
    print(f"  {'gain of pre-training (points)':<{width}}  {gains[0]:<{column}}  {gains[1]}")


def _accuracy_cell(split):
  if "accuracy" not in split:
    return "     -"
  cell = f"{split['accuracy']:6.2f}"
  if len(split.get("scores", [])) > 1:
    cell += f" [{split['min']:.2f}, {split['max']:.2f}]"
  return cell


def _count_lines(path):
  with open(path, encoding="utf-8") as f:
    return sum(1 for _ in f)


def print_outputs(outputs, output_dir):
  show_path = layout.show_path
  tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
  tensorboard = show_path(tensorboard) if os.path.isfile(tensorboard) else "tensorboard"
  models_dir = os.path.dirname(outputs["finetuning_models"][layout.TASKS[0]])
  results_dir = os.path.dirname(outputs["results"][layout.TASKS[0]][0])
  tasks = "{" + ",".join(layout.TASKS) + "}"
  tfrecords = outputs["pretrain_tfrecords"]
  shards = sum(1 for name in os.listdir(tfrecords) if name != "summary.json")
  lines = [
      ("vocabulary", f"{show_path(outputs['vocab'])} ({_count_lines(outputs['vocab'])} tokens)"),
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
