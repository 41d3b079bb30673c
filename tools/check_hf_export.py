"""Checks an `export_hf.py --hf-output` export against our TensorFlow model, with PyTorch.

Run it with a Python that has torch and transformers (not this project's environment):

    python export_hf.py --pretrained-dir DATA/models/NAME --hf-output /tmp/NAME_hf
    /path/to/torch-venv/bin/python tools/check_hf_export.py --hf-dir /tmp/NAME_hf \\
        --tf-dir DATA/models/NAME [--vocab-file DATA/vocab.txt] [--tf-python .venv/bin/python]

For a pre-trained model (--hf-dir holds discriminator/ and generator/) it compares the
discriminator's per-token logits (ElectraForPreTraining) and the generator's MLM logits
(ElectraForMaskedLM) with ours; for a fine-tuned model's encoder export (--tf-dir a
finetuning_models/<task>_model_N directory, --hf-dir its ElectraModel folder) the encoder's
last hidden states. Inputs: a few Chinese, English and mixed sentences, one sentence pair
(segment ids 1) and one padded batch; only real (unpadded) positions are compared. It also
compares our tokenizer's ids ([CLS] ... [SEP]) with AutoTokenizer's on more strings. Exit status
0 when the max abs difference is <= --tolerance (default 1e-4) and every tokenization is
identical.

Our side runs in a subprocess with the project's Python (--tf-python, default .venv/bin/python
of this repository): `check_hf_export.py --tf-side` tokenizes with model/tokenization.py, runs
the project's model on the newest checkpoint and writes the ids and outputs to an .npz; it
never imports torch, and the PyTorch side never imports TensorFlow.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Model inputs (each also tokenized on its own) and one sentence pair.
SENTENCES = ["北京是中华人民共和国的首都。", "今天天气很好，我们去公园散步吧！",
             "ELECTRA is a pre-training method for text encoders.",
             "我在2024年用iPhone 15拍了100张照片，效果great。"]
PAIR = ("这家酒店的服务怎么样？", "服务周到，房间干净。")
# Only tokenized (identical ids expected): accents, full-width forms, symbols, tabs, unknown
# characters, control / format characters, a long word.
TOKENIZER_ONLY = ["Café résumé naïve ÉCOLE", "ＡＢＣ１２３，全角字符！", "价格：$9.99（含税）",
                  "tabs\tand\nnewlines  and   spaces", "表情😀和罕见字𠀀", "零宽\u200b字符\u200d测试",
                  "URL: https://example.com/a_b?c=1&d=2", "#hashtag @user 50% off!!",
                  "mixed中英文混排text测试Test", "Ünïcödé ÀÉÎÕÜ ß æ ø", "x" * 100]
# Known, documented differences (reported, not failures): a word of 101-200 chars (no space,
# punctuation or CJK inside) is WordPiece-segmented by ours (BERT's limit, 200) but [UNK] in HF's
# fast tokenizer, whose WordPiece limit (100) tokenizer_config.json cannot change.
KNOWN_DIFFERENCES = ["x" * 150]
TOLERANCE = 1e-4


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--hf-dir", help="The --hf-output directory of export_hf.py.")
  parser.add_argument("--tf-dir", required=True, help="The exported pre-trained or fine-tuned "
                      "model directory (newest checkpoint used).")
  parser.add_argument("--vocab-file", help="Pre-trained model: our vocabulary (default: as "
                      "export_hf.py finds it).")
  parser.add_argument("--tf-python", default=os.path.join(REPO, ".venv", "bin", "python"),
                      help="The project's Python (TensorFlow), for our side.")
  parser.add_argument("--tolerance", type=float, default=TOLERANCE)
  parser.add_argument("--tf-side", metavar="NPZ", help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def texts():
  return SENTENCES + [PAIR[0], PAIR[1]] + TOKENIZER_ONLY + KNOWN_DIFFERENCES


# ----------------------------------------------------------------------------------------------
# Our side (the project's Python, TensorFlow).

def tf_side(args):
  sys.path.insert(0, REPO)
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from model import hf_export  # pylint: disable=import-outside-toplevel
  from model import modeling  # pylint: disable=import-outside-toplevel
  from model import tokenization  # pylint: disable=import-outside-toplevel
  from util import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel

  finetuned = os.path.exists(os.path.join(args.tf_dir, "finetuning_config.json"))
  if finetuned:
    from finetune import inference  # pylint: disable=import-outside-toplevel
    config, _, model = inference.load_finetuned(args.tf_dir)
    vocab_file, do_lower_case = config.vocab_file, config.do_lower_case
    outputs = {"hidden": lambda ids, mask, seg: model.encoder(ids, mask, seg)}
  else:
    prefix, shapes, sizes, _ = hf_export.load_pretrained(args.tf_dir)
    vocab_file = hf_export.find_vocab(args.tf_dir, args.vocab_file)
    do_lower_case = bool(hf_export.read_pretrain_config(args.tf_dir).get("do_lower_case", True))
    networks = modeling.ElectraNetworks(
        sizes.disc, sizes.gen, embedding_size=sizes.disc_embedding,
        untied_generator_embeddings=sizes.untied_embeddings,
        untied_generator=not sizes.tied_generator,
        electra_objective="discriminator_predictions/dense/kernel" in shapes)
    checkpoint_lib.restore(prefix, modeling.named_variables(networks))
    outputs = {"generator_logits": lambda ids, mask, seg: networks.generator_head(
        networks.generator(ids, mask, seg))}
    if networks.discriminator_head is not None:
      outputs["discriminator_logits"] = lambda ids, mask, seg: networks.discriminator_head(
          networks.discriminator(ids, mask, seg))
    else:
      outputs["hidden"] = lambda ids, mask, seg: networks.discriminator(ids, mask, seg)
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
  cls, sep = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
  token_ids = [[cls] + tokenizer.tokenize_to_ids(text) + [sep] for text in texts()]
  # Model inputs: each sentence alone (unpadded), the pair, and all sentences as one padded batch.
  pair = token_ids[len(SENTENCES)] + token_ids[len(SENTENCES) + 1][1:]
  pair_segments = [0] * len(token_ids[len(SENTENCES)]) + [1] * (len(pair) - len(
      token_ids[len(SENTENCES)]))
  examples = [(ids, [0] * len(ids)) for ids in token_ids[:len(SENTENCES)]]
  examples.append((pair, pair_segments))
  batches = [[example] for example in examples] + [examples]
  result = {"token_ids": json.dumps(token_ids), "n_batches": len(batches)}
  for b, batch in enumerate(batches):
    length = max(len(ids) for ids, _ in batch)
    ids = np.zeros([len(batch), length], np.int32)
    seg, mask = np.zeros_like(ids), np.zeros_like(ids)
    for row, (row_ids, row_seg) in enumerate(batch):
      ids[row, :len(row_ids)], seg[row, :len(row_seg)], mask[row, :len(row_ids)] = (
          row_ids, row_seg, 1)
    result.update({f"{b}/input_ids": ids, f"{b}/input_mask": mask, f"{b}/segment_ids": seg})
    for name, run in outputs.items():
      result[f"{b}/{name}"] = run(tf.constant(ids), tf.constant(mask), tf.constant(seg)).numpy()
  np.savez(args.tf_side, **result)


# ----------------------------------------------------------------------------------------------
# The PyTorch side.

def torch_side(args):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel

  hf_dir = os.path.abspath(args.hf_dir)
  pretrained = os.path.isdir(os.path.join(hf_dir, "discriminator"))
  with tempfile.TemporaryDirectory() as tmp:
    npz = os.path.join(tmp, "ours.npz")
    command = [args.tf_python, os.path.abspath(__file__), "--tf-dir", args.tf_dir,
               "--tf-side", npz] + (["--vocab-file", args.vocab_file] if args.vocab_file else [])
    subprocess.run(command, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    with np.load(npz) as f:
      ours = dict(f)
  models = {}
  if pretrained:
    disc_dir = os.path.join(hf_dir, "discriminator")
    with open(os.path.join(disc_dir, "config.json"), encoding="utf-8") as f:
      disc_arch = json.load(f)["architectures"][0]
    models["generator_logits"] = transformers.ElectraForMaskedLM.from_pretrained(
        os.path.join(hf_dir, "generator"))
    if disc_arch == "ElectraForPreTraining":
      models["discriminator_logits"] = transformers.ElectraForPreTraining.from_pretrained(disc_dir)
    else:
      models["hidden"] = transformers.ElectraModel.from_pretrained(disc_dir)
    tokenizer_dir = disc_dir
  else:
    models["hidden"] = transformers.ElectraModel.from_pretrained(hf_dir)
    tokenizer_dir = hf_dir
  print(f"transformers {transformers.__version__}, torch {torch.__version__}")
  ok = True
  for name, model in models.items():
    model.eval()
    worst = 0.0
    for b in range(int(ours["n_batches"])):
      ids, mask, seg = (torch.tensor(ours[f"{b}/{key}"].astype(np.int64))
                        for key in ("input_ids", "input_mask", "segment_ids"))
      with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=seg)
      theirs = (out.last_hidden_state if name == "hidden" else out.logits).numpy()
      valid = ours[f"{b}/input_mask"].astype(bool)
      worst = max(worst, float(np.abs(theirs[valid] - ours[f"{b}/{name}"][valid]).max()))
    scale = max(float(np.abs(ours[f"{b}/{name}"]).max()) for b in range(int(ours["n_batches"])))
    passed = worst <= args.tolerance
    ok &= passed
    print(f"{name} ({type(model).__name__}): max abs difference {worst:.3g} "
          f"(values up to {scale:.3g}) {'OK' if passed else 'FAILED'}")

  tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
  our_ids = json.loads(str(ours["token_ids"]))
  same = 0
  checked = len(our_ids) - len(KNOWN_DIFFERENCES)
  for text, ids in zip(texts()[:checked], our_ids):
    theirs = tokenizer(text)["input_ids"]
    if theirs == ids:
      same += 1
    else:
      ok = False
      print(f"tokenizer DIFFERS on {text!r}:\n  ours {ids}\n  HF   {theirs}")
  print(f"tokenizer ({type(tokenizer).__name__}): {same}/{checked} strings give identical "
        f"ids {'OK' if same == checked else 'FAILED'}")
  for text, ids in zip(KNOWN_DIFFERENCES, our_ids[checked:]):
    theirs = tokenizer(text)["input_ids"]
    short = lambda x: x if len(x) <= 8 else x[:4] + ["..."] + x[-2:]
    print(f"  known difference, {len(text)}-char word: ours {len(ids) - 2} pieces "
          f"{short(ids)}, HF {short(theirs)} ({'as documented' if ids != theirs else 'same'})")
  print("PASSED" if ok else "FAILED")
  return 0 if ok else 1


def main(argv=None):
  args = parse_args(argv)
  if args.tf_side:
    tf_side(args)
    return 0
  if not args.hf_dir:
    sys.exit("check_hf_export.py: error: --hf-dir is required")
  return torch_side(args)


if __name__ == "__main__":
  sys.exit(main())
