"""Character-bigram multinomial naive Bayes on a classification task; prints one JSON line.

The floor every model must clear: a fine-tuned ELECTRA that does not beat bag-of-characters
naive Bayes on the same split has learnt nothing from pre-training. It needs only the standard
library and numpy (no TensorFlow), so it runs in about a second.

The splits are read with the project's own reader (finetune/classification/tasks.py, which
imports no TensorFlow for local files), so examples, labels and skipped rows are exactly those
fine-tuning sees. Features: lower-cased character unigrams and bigrams; for sentence pairs each
text's features carry an "a:" / "b:" prefix and bigrams never cross from one text to the other.
Add-alpha (Laplace) smoothing, alpha 1.0 by default; `--alpha dev` picks it on the dev split
from ALPHA_GRID (test is never looked at while choosing), and the record says which it was.
Features never seen in training are ignored. Accuracies are in percent.

Usage: python bench/bench_naive_bayes.py --data-dir sample_data/finetuning_data
           [--task chnsenticorp|lcqmc|xnli|bqcorpus] [--alpha 1.0|dev]
"""

import argparse
import collections
import json
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
import numpy as np

from finetune import task_builder

TASKS = ("chnsenticorp", "lcqmc", "xnli", "bqcorpus")
DEFAULT_ALPHA = 1.0
ALPHA_GRID = (0.1, 0.3, 1.0)


def text_features(text, prefix=""):
  """Character unigrams and bigrams of the lower-cased text, each with `prefix`."""
  chars = text.lower()
  return ([prefix + c for c in chars] +
          [prefix + chars[i:i + 2] for i in range(len(chars) - 1)])


def example_features(example):
  if example.text_b is None:
    return text_features(example.text_a)
  return text_features(example.text_a, "a:") + text_features(example.text_b, "b:")


class NaiveBayes:
  """Multinomial naive Bayes over feature lists; all arithmetic in log probabilities."""

  def __init__(self, labels, alpha=DEFAULT_ALPHA):
    self.labels = list(labels)
    self.alpha = alpha

  def fit(self, feature_lists, labels):
    self.vocab = {}
    counts = collections.defaultdict(collections.Counter)  # label index -> feature id -> count
    for features, label in zip(feature_lists, labels):
      ids = [self.vocab.setdefault(f, len(self.vocab)) for f in features]
      counts[self.labels.index(label)].update(ids)
    self.counts = np.zeros((len(self.labels), len(self.vocab)))
    for k, counter in counts.items():
      self.counts[k, list(counter)] = list(counter.values())
    class_counts = np.bincount([self.labels.index(label) for label in labels],
                               minlength=len(self.labels))
    # Unseen classes keep a finite (tiny) prior rather than -inf.
    self.log_prior = np.log((class_counts + 1e-9) / len(labels))
    self.set_alpha(self.alpha)
    return self

  def set_alpha(self, alpha):
    """Re-smooths the fitted counts (cheap, so dev can choose alpha without refitting)."""
    self.alpha = alpha
    smoothed = self.counts + alpha
    self.log_likelihood = np.log(smoothed / smoothed.sum(axis=1, keepdims=True))

  def predict(self, feature_lists):
    predictions = []
    for features in feature_lists:
      ids = [self.vocab[f] for f in features if f in self.vocab]
      scores = self.log_prior + self.log_likelihood[:, ids].sum(axis=1)
      predictions.append(self.labels[int(np.argmax(scores))])
    return predictions

  def accuracy(self, feature_lists, labels):
    predictions = self.predict(feature_lists)
    return 100.0 * sum(p == t for p, t in zip(predictions, labels)) / len(labels)


def read_split(task, split):
  examples = task.get_examples(split)
  return [example_features(e) for e in examples], [e.label for e in examples]


def evaluate_task(data_dir, task, alpha=None):
  """Trains on train and scores dev and test of `task` read from `data_dir/<task>/`.

  alpha: a number, None for DEFAULT_ALPHA, or "dev" to choose it from ALPHA_GRID by dev
  accuracy (ties go to the larger, smoother alpha). Returns the JSON record as a dict."""
  start = time.perf_counter()
  # The reader needs the config's raw_data_dir and double_unordered (pairs once each, as the
  # release's params read LCQMC and BQ Corpus); the tokenizer is used for features only.
  config = types.SimpleNamespace(raw_data_dir=lambda name: os.path.join(data_dir, name),
                                 double_unordered=False)
  reader = task_builder.task_class(task)(config, tokenizer=None)
  train, dev, test = (read_split(reader, split) for split in ("train", "dev", "test"))
  model = NaiveBayes(reader.label_list).fit(*train)
  if alpha == "dev":
    dev_by_alpha = {}
    for candidate in ALPHA_GRID:
      model.set_alpha(candidate)
      dev_by_alpha[candidate] = model.accuracy(*dev)
    best = max(dev_by_alpha.values())
    model.set_alpha(max(a for a, acc in dev_by_alpha.items() if acc == best))
  else:
    model.set_alpha(DEFAULT_ALPHA if alpha is None else float(alpha))
  record = {
      "bench": "naive_bayes", "task": task,
      "train_size": len(train[1]), "dev_size": len(dev[1]), "test_size": len(test[1]),
      "features": len(model.vocab), "alpha": model.alpha,
      "alpha_chosen_on": "dev" if alpha == "dev" else "fixed",
      "dev_accuracy": round(model.accuracy(*dev), 2),
      "test_accuracy": round(model.accuracy(*test), 2),
  }
  if alpha == "dev":
    record["dev_accuracy_by_alpha"] = {str(a): round(v, 2) for a, v in dev_by_alpha.items()}
  record["seconds"] = round(time.perf_counter() - start, 3)
  return record


def alpha_arg(value):
  if value == "dev":
    return value
  if float(value) <= 0:
    raise argparse.ArgumentTypeError("alpha must be > 0 (or 'dev')")
  return float(value)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", default="sample_data/finetuning_data",
                      help="folder holding <task>/{train,dev,test}.tsv")
  parser.add_argument("--task", default="chnsenticorp", choices=TASKS)
  parser.add_argument("--alpha", type=alpha_arg, default=DEFAULT_ALPHA,
                      help=f"smoothing (> 0), or 'dev' to choose from {ALPHA_GRID} on dev")
  args = parser.parse_args(argv)
  record = evaluate_task(args.data_dir, args.task, args.alpha)
  print(f"naive Bayes {args.task}: dev {record['dev_accuracy']:.2f}%, "
        f"test {record['test_accuracy']:.2f}% (alpha {record['alpha']})", file=sys.stderr)
  print(json.dumps(record), flush=True)


if __name__ == "__main__":
  main()
