"""Builds ELECTRA pre-training TFRecords from plain text, using every core (the command line).

Input: text files with one sentence per line and a blank line between documents.
Output: `pretrain_data.tfrecord-<i>-of-<n>` shards of tf.train.Example records with the int64
features `input_ids`, `input_mask` and `segment_ids` (each `max_seq_length` long, zero-padded),
plus `summary.json` with statistics and the settings used. With `--eval-fraction` a share of
whole documents is held out into `pretrain_eval.tfrecord-<i>-of-<n>` shards, which
`run_pretraining.py` evaluates on.

What lives where:
- here: the command line (`parse_args`, `main`);
- `pretrain/dataset_writer.py`: `build`, the whole run, and how the work is split;
- `pretrain/build_inputs.py`: `UsageError`, the corpus files, the checks of the settings, the
  tokenizer and local copies of remote inputs;
- `pretrain/corpus_units.py`: the corpus cut into units of work, their text and documents;
- `pretrain/unit_worker.py`: a unit -> a part file of framed records, and the process pool;
- `pretrain/example_builder.py`: the example algorithm (`ExampleBuilder`, the segment rules incl.
  `--legacy-segment-bug`, `build_examples`, `make_features`);
- `pretrain/tfrecord_encoding.py`: tf.train.Example bytes and TFRecord framing (`ExampleEncoder`,
  `crc32c_batch`, `frame_records`);
- `pretrain/dataset_shards.py`: the shard count, plan, names and assembly;
- `pretrain/output_directory.py`: the temporary output directory and its move into place;
- `pretrain/build_report.py`: progress on stderr and the summary.json statistics.

TensorFlow is never imported for local paths, which keeps start-up fast in the main and worker
processes. Remote paths (gs://...) work for the corpus, the vocabulary and the output directory:
see pretrain/dataset_writer.py and pretrain/output_directory.py.
"""

import argparse
import os
import sys

from pretrain.build_inputs import UsageError, available_cpus
from pretrain.build_report import print_summary
from pretrain.dataset_shards import EXAMPLES_PER_DEFAULT_SHARD, MAX_DEFAULT_SHARDS
from pretrain.dataset_writer import build


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description="Turn text files (one sentence per line, a blank line between documents) "
      "into ELECTRA pre-training TFRecords: shards pretrain_data.tfrecord-<i>-of-"
      "<n> with int64 features input_ids, input_mask, segment_ids, and "
      "summary.json with statistics.",
      epilog="Output is identical for the same input, seed and --num-out-files (the default "
      "shard count also depends on --num-processes). The output directory is written "
      "as <output-dir>.tmp-<pid> and renamed when complete; an existing output "
      "directory is replaced only if it holds nothing but shards and summary.json. "
      "Example: python build_pretraining_dataset.py --corpus-files 'corpus/*.txt' "
      "--vocab-file vocab.txt --output-dir data/pretrain_tfrecords")
  parser.add_argument("--corpus-dir",
                      help="directory whose files (not sub-directories, not "
                      "hidden files) are the corpus")
  parser.add_argument("--corpus-files",
                      nargs="+",
                      metavar="GLOB",
                      help="corpus files or glob patterns (quote patterns); may be combined "
                      "with --corpus-dir")
  parser.add_argument("--vocab-file",
                      required=True,
                      help="WordPiece vocabulary, one token "
                      "per line (build one with build_vocab.py)")
  parser.add_argument("--output-dir", required=True, help="where the shards and summary.json "
                      "go")
  parser.add_argument("--max-seq-length",
                      type=int,
                      default=128,
                      help="tokens per example, [CLS] and [SEP] included (default: 128)")
  parser.add_argument("--do-lower-case",
                      dest="do_lower_case",
                      action="store_true",
                      default=True,
                      help="lower-case and strip accents (the default)")
  parser.add_argument("--no-lower-case",
                      dest="do_lower_case",
                      action="store_false",
                      help="keep case and accents")
  parser.add_argument("--num-out-files",
                      type=int,
                      default=None,
                      help=f"number of shards (default: one per {EXAMPLES_PER_DEFAULT_SHARD} "
                      f"examples, at most {MAX_DEFAULT_SHARDS}, at least --num-processes, at "
                      "most the number of examples)")
  parser.add_argument("--num-processes",
                      type=int,
                      default=available_cpus(),
                      help="worker processes (default: all available cores, here %(default)s)")
  parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
  parser.add_argument("--blanks-separate-docs",
                      action=argparse.BooleanOptionalAction,
                      default=True,
                      help="whether a blank line ends a document (default: "
                      "yes); if not, blank lines are ignored")
  parser.add_argument("--legacy-segment-bug",
                      action="store_true",
                      help="use the Chinese-ELECTRA release's segment rule, which puts every "
                      "sentence after a non-empty segment A into A, so segment B is "
                      "mostly empty (google-research/electra#20)")
  parser.add_argument("--eval-fraction",
                      type=float,
                      default=0.0,
                      help="share of whole documents held out for evaluation, written to "
                      "pretrain_eval.tfrecord-* shards that training never reads "
                      "(chosen by --seed; default: 0, nothing held out)")
  parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  try:
    summary = build(vocab_file=args.vocab_file,
                    output_dir=args.output_dir,
                    corpus_dir=args.corpus_dir,
                    corpus_files=args.corpus_files,
                    max_seq_length=args.max_seq_length,
                    do_lower_case=args.do_lower_case,
                    num_out_files=args.num_out_files,
                    num_processes=args.num_processes,
                    seed=args.seed,
                    blanks_separate_docs=args.blanks_separate_docs,
                    legacy_segment_bug=args.legacy_segment_bug,
                    progress=not args.quiet,
                    eval_fraction=args.eval_fraction)
  except UsageError as error:
    print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
    return 2
  except OSError as error:  # disk full, read-only or vanished directories
    where = f": {error.filename}" if error.filename else ""
    program = os.path.basename(sys.argv[0])
    print(f"{program}: error: {error.strerror or error}{where}; the partial output was removed",
          file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("interrupted; the partial output was removed", file=sys.stderr)
    return 130
  except Exception as error:  # pylint: disable=broad-except
    # A remote path's tf.errors.OpError (TensorFlow itself is not imported here).
    if not type(error).__module__.startswith("tensorflow"):
      raise
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"{os.path.basename(sys.argv[0])}: error: {first_line}", file=sys.stderr)
    return 1
  output_dir = args.output_dir
  print_summary(summary, output_dir if "://" in output_dir else os.path.abspath(output_dir))
  return 0


if __name__ == "__main__":
  sys.exit(main())
