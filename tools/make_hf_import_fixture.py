"""Writes tests/fixtures/hf_import: tiny transformers ELECTRA folders as PyTorch users have them.

Run with a PyTorch environment (torch, transformers, safetensors, numpy; never this project's):

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install torch transformers numpy safetensors
    /tmp/peer-venv/bin/python tools/make_hf_import_fixture.py [--output tests/fixtures/hf_import]

discriminator/  ElectraForPreTraining: config.json, model.safetensors (save_pretrained) and
                pytorch_model.bin (torch.save of the state dict, the format transformers 4's
                save_pretrained(safe_serialization=False) wrote); tokenizer.json and
                tokenizer_config.json from the tokenizer's save_pretrained (no vocab.txt: the
                vocabulary is only in tokenizer.json, as transformers 5 writes it).
generator/      ElectraForMaskedLM with the discriminator's embeddings (as the release shares
                them), the same files plus vocab.txt; its .bin is in torch's legacy (pre-zip)
                format, as files saved in 2020 are, and also holds the tied
                generator_lm_head.weight and the position-id buffer older transformers saved.
values.npz      every saved tensor's values, keyed "<folder>/<parameter name>".

tests/test_import_hf.py imports these folders without torch and compares with values.npz.
"""

import argparse
import os

import numpy as np
import torch
import transformers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
         + [chr(c) for c in range(0x4E00, 0x4E00 + 24)] + ["，", "。", "a"])
COMMON = {"vocab_size": len(VOCAB), "embedding_size": 12, "num_hidden_layers": 2,
          "max_position_embeddings": 16, "type_vocab_size": 2}
DISCRIMINATOR = dict(COMMON, hidden_size=16, num_attention_heads=2, intermediate_size=32)
GENERATOR = dict(COMMON, hidden_size=8, num_attention_heads=1, intermediate_size=32)


def save_folder(model, tokenizer, directory, extra_bin_tensors=None, write_vocab=False,
                legacy_bin=False):
  """save_pretrained (safetensors) plus the torch.save'd .bin; returns the .bin's tensors."""
  os.makedirs(directory, exist_ok=True)
  model.save_pretrained(directory)
  tokenizer.save_pretrained(directory)
  state = model.state_dict()  # includes the tied output weight, as transformers 4's .bin did
  state.update(extra_bin_tensors or {})
  torch.save(state, os.path.join(directory, "pytorch_model.bin"),
             _use_new_zipfile_serialization=not legacy_bin)
  if write_vocab:
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
      f.write("".join(token + "\n" for token in VOCAB))
  return state


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--output", default=os.path.join(REPO, "tests", "fixtures", "hf_import"))
  args = parser.parse_args(argv)
  torch.manual_seed(0)
  vocab_file = os.path.join(args.output, "vocab.tmp")
  os.makedirs(args.output, exist_ok=True)
  with open(vocab_file, "w", encoding="utf-8") as f:
    f.write("".join(token + "\n" for token in VOCAB))
  tokenizer = transformers.ElectraTokenizer(vocab_file, do_lower_case=True)
  os.remove(vocab_file)

  disc = transformers.ElectraForPreTraining(transformers.ElectraConfig(**DISCRIMINATOR)).eval()
  gen = transformers.ElectraForMaskedLM(transformers.ElectraConfig(**GENERATOR)).eval()
  with torch.no_grad():  # random LayerNorm and bias values, so that no tensor is trivial
    for model in (disc, gen):
      for name, param in model.named_parameters():
        if "LayerNorm" in name or name.endswith("bias"):
          param.add_(torch.randn_like(param) * 0.1)
    gen.electra.embeddings.load_state_dict(disc.electra.embeddings.state_dict())
  values = {}
  for role, model, extra, write_vocab in (
      ("discriminator", disc, None, False),
      ("generator", gen, {"electra.embeddings.position_ids":
                          torch.arange(COMMON["max_position_embeddings"])[None]}, True)):
    state = save_folder(model, tokenizer, os.path.join(args.output, role), extra, write_vocab,
                        legacy_bin=role == "generator")
    values.update({f"{role}/{name}": tensor.numpy() for name, tensor in state.items()})
  np.savez_compressed(os.path.join(args.output, "values.npz"), **values)
  paths = [os.path.join(root, name) for root, _, names in os.walk(args.output) for name in names]
  for path in paths:  # safetensors writes owner-only files; the fixture is for everyone
    os.chmod(path, 0o644)
  total = sum(os.path.getsize(path) for path in paths)
  print(f"wrote {args.output} ({total / 1024:.0f} KB; transformers {transformers.__version__}, "
        f"torch {torch.__version__})")


if __name__ == "__main__":
  main()
