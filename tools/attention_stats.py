"""Where a pre-trained model's attention goes, and whether its representations have collapsed:

    python tools/attention_stats.py --model-dir DATA/models/NAME --text FILE \\
        [--examples 64] [--output stats.json]

FILE holds one text per line (the first --examples non-empty lines are used, each cut to
--max-seq-length tokens with [CLS] and [SEP]). For every encoder in the checkpoint (the
discriminator `electra/...` and, in a pre-training checkpoint, the generator `generator/...`),
each layer and head gets, averaged over real query tokens:

- `entropy`: of the attention distribution in nats; `uniform` is log(#tokens), its maximum.
  An entropy near 0 means each token attends to a single position ("entropy collapse"), which
  leaves the encoder unable to use its context;
- `max`: the largest attention probability; `self`, `neighbours` (±1), `cls`, `sep`: the
  attention mass on the token itself, its two neighbours, [CLS] and [SEP].

`cls_cosine` is the mean cosine between the final [CLS] vectors of different texts: near 1, the
encoder gives every text the same representation and fine-tuning starts from nothing useful.
Sizes come from the model's config files or checkpoint (model/sizes.py); the vocabulary is the
model directory's vocab.txt unless --vocab-file names another.
"""

import argparse
import json
import os
import sys

PROGRAM = "attention_stats.py"
STATISTICS = ("entropy", "uniform", "max", "self", "neighbours", "cls", "sep")


def parse_args(argv):
  parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--model-dir", required=True, help="model directory or checkpoint prefix")
  parser.add_argument("--text", required=True, help="UTF-8 text file, one text per line")
  parser.add_argument("--vocab-file", help="vocabulary (default: MODEL_DIR/vocab.txt, else the "
                      "vocab_file recorded in MODEL_DIR/pretrain_config.json)")
  parser.add_argument("--examples", type=int, default=64, help="texts to use (default 64)")
  parser.add_argument("--max-seq-length", type=int, default=128)
  parser.add_argument("--output", help="also write the statistics to this JSON file")
  args = parser.parse_args(argv)
  if args.examples < 2:
    parser.error("--examples must be at least 2 (the cosine compares texts)")
  if args.max_seq_length < 3:
    parser.error("--max-seq-length must be at least 3")
  return args


def read_texts(path, count):
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such file")
  texts = []
  try:
    with open(path, encoding="utf-8") as f:
      for line in f:
        if line.strip():
          texts.append(line.strip())
          if len(texts) == count:
            break
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: not UTF-8 (byte {e.start}): {e.reason}") from None
  if len(texts) < 2:
    raise ValueError(f"{path}: needs at least 2 non-empty lines, found {len(texts)}")
  return texts


def find_vocab(model_dir, vocab_file):
  if vocab_file:
    candidates = [vocab_file]
  else:
    candidates = [os.path.join(model_dir, "vocab.txt")]
    recorded = os.path.join(model_dir, "pretrain_config.json")
    if os.path.isfile(recorded):
      with open(recorded, encoding="utf-8") as f:
        candidates.append(json.load(f).get("vocab_file") or "")
  for path in candidates:
    if path and os.path.isfile(path):
      return path
  raise ValueError(f"no vocabulary found (tried {', '.join(p for p in candidates if p)}); "
                   "pass --vocab-file")


def build_encoders(model_dir):
  """{"discriminator": BertModel, "generator": BertModel (when the checkpoint has one)},
  restored from the model's checkpoint."""
  from model import modeling, sizes  # pylint: disable=import-outside-toplevel
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  recorded = sizes.read_recorded_sizes(model_dir, with_generator=True)
  if recorded is None:
    raise ValueError(f"{model_dir}: no checkpoint or model config found")
  disc_config = modeling.BertConfig.from_dict(recorded.encoder)
  if recorded.generator:
    gen_config = modeling.get_generator_config(
        disc_config, recorded.generator["generator_hidden_size"],
        recorded.generator["generator_layers"])
    networks = modeling.ElectraNetworks(disc_config, gen_config, recorded.embedding_size)
    encoders = {"discriminator": networks.discriminator, "generator": networks.generator}
  else:
    networks = modeling.BertModel(disc_config, "electra", recorded.embedding_size)
    encoders = {"discriminator": networks}
  checkpoint_lib.restore(model_dir, modeling.named_variables(networks), allow_missing=True)
  return encoders


def encode(texts, vocab_file, max_seq_length):
  """Padded int32 arrays input_ids, input_mask [B, L] and the lengths."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from model import tokenization  # pylint: disable=import-outside-toplevel
  tokenizer = tokenization.FullTokenizer(vocab_file)
  rows = [["[CLS]"] + tokenizer.tokenize(text)[:max_seq_length - 2] + ["[SEP]"] for text in texts]
  length = max(len(row) for row in rows)
  input_ids = np.zeros([len(rows), length], np.int32)
  input_mask = np.zeros([len(rows), length], np.int32)
  for i, row in enumerate(rows):
    input_ids[i, :len(row)] = tokenizer.convert_tokens_to_ids(row)
    input_mask[i, :len(row)] = 1
  return input_ids, input_mask, input_mask.sum(1)


def head_statistics(probs, lengths):
  """probs [B, N, L, L] numpy -> per head {statistic: mean over real query tokens}."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  sums = np.zeros([probs.shape[1], len(STATISTICS)])
  count = 0
  for b, length in enumerate(lengths):
    p = probs[b, :, :length, :length]  # [N, L, L]
    positions = np.arange(length)
    entropy = -(p * np.log(np.maximum(p, 1e-12))).sum(-1)
    neighbours = np.zeros_like(entropy)
    neighbours[:, 1:] += p[:, positions[1:], positions[1:] - 1]
    neighbours[:, :-1] += p[:, positions[:-1], positions[:-1] + 1]
    values = [entropy, np.full_like(entropy, np.log(length)), p.max(-1),
              p[:, positions, positions], neighbours, p[:, :, 0], p[:, :, length - 1]]
    sums += np.stack([v.sum(-1) for v in values], -1)
    count += length
  return [dict(zip(STATISTICS, (float(x) for x in row / count))) for row in sums]


def mean_pairwise_cosine(vectors):
  import numpy as np  # pylint: disable=import-outside-toplevel
  unit = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
  cosines = unit @ unit.T
  n = len(vectors)
  return float((cosines.sum() - np.trace(cosines)) / (n * (n - 1)))


def statistics(encoder, input_ids, input_mask, lengths):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  segment_ids = tf.zeros_like(input_ids)
  maps = encoder.attention_maps(input_ids, input_mask, segment_ids)
  final = encoder(input_ids, input_mask, segment_ids).numpy()
  return {"layers": [head_statistics(m.numpy(), lengths) for m in maps],
          "cls_cosine": mean_pairwise_cosine(final[:, 0])}


def format_table(results):
  lines = []
  for name, result in results.items():
    lines.append(f"{name}: mean cosine between texts' final [CLS] vectors "
                 f"{result['cls_cosine']:.3f}")
    lines.append("  layer head  entropy/uniform   max  self  neighbours   cls   sep")
    for layer, heads in enumerate(result["layers"]):
      for head, s in enumerate(heads):
        lines.append(f"  {layer:5d} {head:4d}  {s['entropy']:7.2f}/{s['uniform']:<7.2f} "
                     f"{s['max']:5.2f} {s['self']:5.2f} {s['neighbours']:11.2f} "
                     f"{s['cls']:5.2f} {s['sep']:5.2f}")
  return "\n".join(lines)


def main(argv=None):
  args = parse_args(argv)
  try:
    texts = read_texts(args.text, args.examples)
    from model import sizes  # pylint: disable=import-outside-toplevel
    vocab_file = find_vocab(sizes.model_directory(args.model_dir), args.vocab_file)
    encoders = build_encoders(args.model_dir)
  except (ValueError, OSError) as e:
    sys.exit(f"{PROGRAM}: error: {e}")
  input_ids, input_mask, lengths = encode(texts, vocab_file, args.max_seq_length)
  results = {name: statistics(encoder, input_ids, input_mask, lengths)
             for name, encoder in encoders.items()}
  print(format_table(results))
  if args.output:
    with open(args.output, "w", encoding="utf-8") as f:
      json.dump({"model_dir": args.model_dir, "texts": len(texts), **results}, f, indent=2)
      f.write("\n")


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  main()
