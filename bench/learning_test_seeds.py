"""The held-out curve of tests/test_learning.py's short pre-training run, at other seeds and
settings, to see how far the test's bounds sit from what the run does (and that a broken
objective fails them).

Each seed runs in its own process (`--threads` intra-op threads), on the test's generated corpus
and model, with `--hparams` JSON laid over the test's hyper-parameters. `--break invert` trains the
discriminator on inverted labels, `--break cut-generator` stops the generator's gradient: the
test must fail on both. Prints one JSON line: per seed, the held-out rows at steps 1, 200, 400
and 600, and whether the test's assertions hold.

  python bench/learning_test_seeds.py --seeds 1 2 3 4 5 6 7 --threads 1
  python bench/learning_test_seeds.py --seeds 1 --break invert
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
KEYS = ("global_step", "masked_lm_accuracy", "masked_lm_loss", "disc_auc", "disc_loss")
BREAKS = ("invert", "cut-generator")


def parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
  parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="config seeds to run")
  parser.add_argument("--threads", type=int, default=1, help="TF_NUM_INTRAOP_THREADS per run")
  parser.add_argument("--hparams", default="{}",
                      help="JSON laid over the test's pre-training hyper-parameters")
  parser.add_argument("--break", dest="breakage", choices=BREAKS,
                      help="break the objective on purpose (the test must then fail)")
  parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def break_objective(breakage):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from pretrain import electra_model  # pylint: disable=import-outside-toplevel
  model = electra_model.PretrainingModel
  if breakage == "invert":
    discriminator = model._discriminator_outputs  # pylint: disable=protected-access
    model._discriminator_outputs = (  # pylint: disable=protected-access
        lambda self, masked, fake_ids, is_fake, training:
        discriminator(self, masked, fake_ids, 1 - is_fake, training))
  elif breakage == "cut-generator":
    generator = model._generator_logits  # pylint: disable=protected-access
    model._generator_logits = (  # pylint: disable=protected-access
        lambda self, masked, training: tf.stop_gradient(generator(self, masked, training)))


def one_run(seed, hparams, breakage):
  """Runs in a child process; prints the row of one seed."""
  sys.path.insert(0, str(REPO))
  from tests import test_learning  # pylint: disable=import-outside-toplevel
  test_learning.PRETRAIN.update(hparams, seed=seed)
  break_objective(breakage)
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    test_learning.write_data_dir(root)
    start = test_learning.pretrain(root, steps=1, save_every=1)[-1]
    curve = test_learning.pretrain(root, steps=600, save_every=200)
  shortfalls = test_learning.learning_shortfalls(start, curve[-1])
  print(json.dumps({"seed": seed, "test_passes": not shortfalls, "shortfalls": shortfalls,
                    "curve": [{key: row[key] for key in KEYS} for row in curve]}))


def main(argv=None):
  args = parse_args(argv)
  hparams = json.loads(args.hparams)
  if args.one_run:
    one_run(args.seeds[0], hparams, args.breakage)
    return
  env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(args.threads), TF_NUM_INTEROP_THREADS="1",
             TF_CPP_MIN_LOG_LEVEL="2")
  runs = []
  for seed in args.seeds:
    command = [sys.executable, __file__, "--one-run", "--seeds", str(seed), "--hparams",
               args.hparams] + (["--break", args.breakage] if args.breakage else [])
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
    runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"seed {seed}: {runs[-1]['curve'][-1]}", file=sys.stderr)
  print(json.dumps({"bench": "learning_test_seeds", "threads": args.threads,
                    "hparams": hparams, "break": args.breakage, "runs": runs}))


if __name__ == "__main__":
  main()
