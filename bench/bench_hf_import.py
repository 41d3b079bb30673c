"""import_hf.py against transformers: the logits of imported ELECTRA-small-shaped models.

    .venv/bin/python bench/bench_hf_import.py [--peer-python /tmp/peer-venv/bin/python] \\
        [--corpus ../shared/data/peoples_daily_1998_01.txt]

The PyTorch peer (a separate environment with torch and transformers; the project never imports
them) builds an ElectraForPreTraining and an ElectraForMaskedLM of the released small shapes
(vocab 21128, embedding 128, hidden 256, 12 layers, 4 heads, intermediate 1024; generator
hidden 64, 1 head, intermediate 256, 12 layers, the discriminator's embeddings) with random
weights, saves both with save_pretrained (model.safetensors) and as pytorch_model.bin
(torch.save of the state dict, transformers 4's .bin format, in torch's zip and legacy
formats), and computes their logits on
real Chinese sentences. Here each format is imported (model/hf_import.py, timed), the model
directory is loaded the way export_hf.py loads one (model/hf_export.load_pretrained), and our
discriminator and generator logits are compared at the real (unpadded) positions. The input
ids come from the project's tokenizer on a 21128-token vocabulary built from the corpus's most
frequent characters (the rest filler tokens). Prints one JSON line; exit status 1 when a max
|delta| exceeds --tolerance (default 1e-5).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.join(os.path.dirname(REPO), "shared", "data",
                              "peoples_daily_1998_01.txt")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB_SIZE = 21128
DISCRIMINATOR = {"vocab_size": VOCAB_SIZE, "embedding_size": 128, "hidden_size": 256,
                 "num_hidden_layers": 12, "num_attention_heads": 4, "intermediate_size": 1024,
                 "max_position_embeddings": 512}
GENERATOR = dict(DISCRIMINATOR, hidden_size=64, num_attention_heads=1, intermediate_size=256)
# save_pretrained's safetensors; torch.save's zip .bin (transformers 4's save_pretrained wrote
# it) and its legacy pre-zip format (torch < 1.6, as older uploads are).
FORMATS = ("safetensors", "bin", "bin_legacy")
ROLES = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--peer-python", default="/tmp/peer-venv/bin/python",
                      help="A Python with torch and transformers.")
  parser.add_argument("--corpus", default=DEFAULT_CORPUS)
  parser.add_argument("--sentences", type=int, default=8)
  parser.add_argument("--max-length", type=int, default=128)
  parser.add_argument("--tolerance", type=float, default=1e-5)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--peer-side", metavar="DIR", help=argparse.SUPPRESS)
  return parser.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# The PyTorch peer (run with --peer-python; never imports TensorFlow or the project).

def peer_side(args):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  work = args.peer_side
  configs = {"discriminator": DISCRIMINATOR, "generator": GENERATOR}
  models = {role: getattr(transformers, ROLES[role])(
      transformers.ElectraConfig(**configs[role])).eval() for role in ROLES}
  with torch.no_grad():
    for model in models.values():  # no trivial LayerNorm or bias values
      for name, param in model.named_parameters():
        if "LayerNorm" in name or name.endswith("bias"):
          param.add_(torch.randn_like(param) * 0.1)
    models["generator"].electra.embeddings.load_state_dict(
        models["discriminator"].electra.embeddings.state_dict())  # shared, as released
  with open(os.path.join(work, "vocab.txt"), encoding="utf-8") as f:
    vocab = f.read()
  for fmt in FORMATS:
    for role, model in models.items():
      folder = os.path.join(work, fmt, role)
      if fmt == "safetensors":
        model.save_pretrained(folder)
      else:
        model.config.architectures = [ROLES[role]]
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), os.path.join(folder, "pytorch_model.bin"),
                   _use_new_zipfile_serialization=fmt == "bin")
      with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write(vocab)
      with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "ElectraTokenizer", "do_lower_case": True}, f)
  inputs = dict(np.load(os.path.join(work, "inputs.npz")))
  tensors = {key: torch.tensor(inputs[key].astype(np.int64))
             for key in ("input_ids", "input_mask", "segment_ids")}
  logits = {}
  with torch.no_grad():
    for role, model in models.items():
      logits[role] = model(input_ids=tensors["input_ids"], attention_mask=tensors["input_mask"],
                           token_type_ids=tensors["segment_ids"]).logits.numpy()
  np.savez(os.path.join(work, "torch_logits.npz"), **logits)
  with open(os.path.join(work, "peer.json"), "w", encoding="utf-8") as f:
    json.dump({"torch": torch.__version__, "transformers": transformers.__version__}, f)


# ----------------------------------------------------------------------------------------------
# Our side.

def corpus_sentences(path, count, min_chars=20):
  with open(path, encoding="utf-8") as f:
    lines = [line.strip() for line in f if line.strip()]
  return lines, [line for line in lines if len(line) >= min_chars][:count]


def build_vocab(lines):
  counts = collections.Counter(ch for line in lines for ch in line if not ch.isspace())
  chars = [ch for ch, _ in counts.most_common(VOCAB_SIZE - len(SPECIALS))]
  fillers = [f"[unused{i}]" for i in range(VOCAB_SIZE - len(SPECIALS) - len(chars))]
  return SPECIALS + chars + fillers


def model_inputs(vocab_file, sentences, max_length):
  import numpy as np  # pylint: disable=import-outside-toplevel
  from model import tokenization  # pylint: disable=import-outside-toplevel
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  cls, sep = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
  rows = [[cls] + tokenizer.tokenize_to_ids(text)[:max_length - 2] + [sep] for text in sentences]
  ids = np.zeros([len(rows), max(len(row) for row in rows)], np.int32)
  mask = np.zeros_like(ids)
  for i, row in enumerate(rows):
    ids[i, :len(row)], mask[i, :len(row)] = row, 1
  unknown = int(np.sum(ids == tokenizer.vocab["[UNK]"]))
  return {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}, unknown


def our_logits(model_dir, inputs):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from model import hf_export  # pylint: disable=import-outside-toplevel
  from model import modeling  # pylint: disable=import-outside-toplevel
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  prefix, _, sizes, _ = hf_export.load_pretrained(model_dir)
  networks = modeling.ElectraNetworks(sizes.disc, sizes.gen, embedding_size=sizes.disc_embedding)
  checkpoint_lib.restore(prefix, modeling.named_variables(networks))
  ids, mask, seg = (tf.constant(inputs[k]) for k in ("input_ids", "input_mask", "segment_ids"))
  return {"discriminator": networks.discriminator_head(networks.discriminator(ids, mask, seg)),
          "generator": networks.generator_head(networks.generator(ids, mask, seg))}


def run(args, work):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow  # pylint: disable=import-outside-toplevel,unused-import (not in the timing)
  from model import hf_import  # pylint: disable=import-outside-toplevel
  lines, sentences = corpus_sentences(args.corpus, args.sentences)
  vocab_file = os.path.join(work, "vocab.txt")
  with open(vocab_file, "w", encoding="utf-8") as f:
    f.write("".join(token + "\n" for token in build_vocab(lines)))
  inputs, unknown = model_inputs(vocab_file, sentences, args.max_length)
  np.savez(os.path.join(work, "inputs.npz"), **inputs)
  subprocess.run([args.peer_python, os.path.abspath(__file__), "--peer-side", work,
                  "--threads", str(args.threads)], check=True, stdout=sys.stderr)
  theirs = dict(np.load(os.path.join(work, "torch_logits.npz")))
  valid = inputs["input_mask"].astype(bool)
  record = {"bench": "hf_import", "sentences": len(sentences), "tokens": int(valid.sum()),
            "unknown_tokens": unknown, "tolerance": args.tolerance}
  with open(os.path.join(work, "peer.json"), encoding="utf-8") as f:
    record.update(json.load(f))
  for fmt in FORMATS:
    start = time.perf_counter()
    model = hf_import.import_folders(os.path.join(work, fmt, "discriminator"),
                                     os.path.join(work, fmt, "generator"))
    model_dir = hf_import.write_model_dir(model, os.path.join(work, "data", "models", fmt))
    record[f"{fmt}_import_seconds"] = round(time.perf_counter() - start, 2)
    ours = our_logits(model_dir, inputs)
    for role in ROLES:
      delta = np.abs(ours[role].numpy()[valid] - theirs[role][valid])
      record[f"{fmt}_{role}_max_abs_delta"] = float(delta.max())
  deltas = [value for key, value in record.items() if key.endswith("_max_abs_delta")]
  record["max_abs_delta"] = max(deltas)
  record["passed"] = record["max_abs_delta"] <= args.tolerance
  return record


def main(argv=None):
  args = parse_args(argv)
  if args.peer_side:
    peer_side(args)
    return 0
  sys.path.insert(0, REPO)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(args.threads))
  with tempfile.TemporaryDirectory() as work:
    record = run(args, work)
  print(json.dumps(record, sort_keys=True))
  return 0 if record["passed"] else 1


if __name__ == "__main__":
  sys.exit(main())
