"""The PyTorch peer: the same ELECTRA model and steps with Hugging Face `transformers`.

    /tmp/peer-venv/bin/python bench/peer_torch.py [--threads 2] [--what finetune,pretrain,...]

Prints ONE JSON line. The project never depends on PyTorch: run this with a separate
environment (e.g. `python -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install
torch transformers`); when torch or transformers cannot be imported it prints a JSON note and
exits 0, so bench/run_all.sh keeps going.

What is measured (ELECTRA-small as released for Chinese: hidden 256, 12 layers, 4 heads,
intermediate 1024, embedding 128, vocab 21128; generator hidden 64, 1 head, intermediate 256):
  - finetune: ElectraForSequenceClassification, batch 32 x 128, forward + cross-entropy +
    backward + global-norm clipping + AdamW, in train mode (dropout on);
  - pretrain: generator (ElectraForMaskedLM's encoder, embeddings shared with the
    discriminator) + discriminator (ElectraForPreTraining), dynamic masking of 15% (19 slots),
    generator logits only at the masked positions, Gumbel-max sampling, loss = MLM + 50 x disc,
    backward, clipping, AdamW;
  - infer_cls: ElectraForSequenceClassification forward in eval mode under no_grad, 32 x 128;
  - infer_qa: ElectraForQuestionAnswering forward + start/end log-softmax and top-20,
    eval mode, 32 x 512 (the project's CMRC 2018 length).
Each is timed in float32 and under torch.autocast(bfloat16), eager and torch.compile; the JSON
holds every figure and, per step and precision, the faster of eager and compiled ("best").
"""

import argparse
import json
import os
import platform
import sys
import time

VOCAB, HIDDEN, LAYERS, HEADS, INTER, EMBED = 21128, 256, 12, 4, 1024, 128
GEN_HIDDEN, GEN_HEADS, GEN_INTER = 64, 1, 256
MAX_PREDICTIONS = 19  # int((0.15 + 0.005) * 128), as configure_pretraining derives it
WHATS = ("finetune", "pretrain", "infer_cls", "infer_qa")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--what", default=",".join(WHATS))
  parser.add_argument("--precisions", default="float32,bfloat16")
  parser.add_argument("--modes", default="eager,compile")
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--seq-length", type=int, default=128)
  parser.add_argument("--qa-seq-length", type=int, default=512)
  parser.add_argument("--steps", type=int, default=5, help="timed steps per repeat")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--warmup", type=int, default=2)
  return parser.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  try:
    import torch
    import transformers
  except ImportError as e:
    print(json.dumps({"bench": "peer_torch", "skipped": True,
                      "note": f"torch/transformers not importable ({e}); run with a separate "
                              "venv holding torch and transformers"}))
    return 0
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  results = {}
  for what in args.what.split(","):
    for precision in args.precisions.split(","):
      for mode in args.modes.split(","):
        key = f"{what}/{precision}/{mode}"
        try:
          results[key] = run_one(torch, transformers, args, what, precision, mode)
        except Exception as e:  # e.g. torch.compile without a C compiler: report, go on.
          results[key] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        print(f"# {key}: {results[key]}", file=sys.stderr, flush=True)
  best = {}
  for key, value in results.items():
    what, precision, _ = key.split("/")
    if "step_s" in value:
      name = f"{what}/{precision}"
      if name not in best or value["step_s"] < best[name]["step_s"]:
        best[name] = dict(value, mode=key.split("/")[2])
  print(json.dumps({
      "bench": "peer_torch", "torch": torch.__version__, "transformers": transformers.__version__,
      "threads": args.threads, "batch_size": args.batch_size, "seq_length": args.seq_length,
      "qa_seq_length": args.qa_seq_length, "machine": platform.processor() or platform.machine(),
      "cpus": os.cpu_count(), "best": best, "all": results}))
  return 0


# ----------------------------------------------------------------------------------------------

def electra_config(transformers, hidden, heads, inter, num_labels=2):
  return transformers.ElectraConfig(
      vocab_size=VOCAB, embedding_size=EMBED, hidden_size=hidden, num_hidden_layers=LAYERS,
      num_attention_heads=heads, intermediate_size=inter, max_position_embeddings=512,
      hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
      num_labels=num_labels, attn_implementation="eager")


def run_one(torch, transformers, args, what, precision, mode):
  builder = {"finetune": finetune_step, "pretrain": pretrain_step, "infer_cls": infer_cls,
             "infer_qa": infer_qa}[what]
  step, batch_size, examples_key = builder(torch, transformers, args, mode)
  autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bfloat16"
              else torch.autocast("cpu", enabled=False))

  def run():
    with autocast:
      step()

  compile_start = time.perf_counter()
  for _ in range(args.warmup):
    run()
  warmup_s = time.perf_counter() - compile_start
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.steps):
      run()
    times.append((time.perf_counter() - start) / args.steps)
  step_s = min(times)
  return {"step_s": round(step_s, 4), "repeats_s": [round(t, 4) for t in times],
          "examples_per_s": round(batch_size / step_s, 2), "warmup_s": round(warmup_s, 1),
          "kind": examples_key}


def _maybe_compile(torch, module, mode):
  return torch.compile(module) if mode == "compile" else module


def _optimizer(torch, params):
  return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, eps=1e-6)


def finetune_step(torch, transformers, args, mode):
  model = transformers.ElectraForSequenceClassification(
      electra_config(transformers, HIDDEN, HEADS, INTER))
  model.train()
  forward = _maybe_compile(torch, model, mode)
  optimizer = _optimizer(torch, model.parameters())
  b, l = args.batch_size, args.seq_length
  ids = torch.randint(1, VOCAB, (b, l))
  mask = torch.ones(b, l, dtype=torch.long)
  segments = torch.zeros(b, l, dtype=torch.long)
  labels = torch.randint(0, 2, (b,))

  def step():
    optimizer.zero_grad(set_to_none=True)
    logits = forward(input_ids=ids, attention_mask=mask, token_type_ids=segments).logits
    # The project's fine-tuning loss is the SUM over the batch.
    loss = torch.nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
  return step, b, "train"


class _Pretraining:
  """Generator + discriminator with the ELECTRA objective, as pretrain/electra_model.py."""

  def __init__(self, torch, transformers):
    self.torch = torch
    disc_config = electra_config(transformers, HIDDEN, HEADS, INTER)
    gen_config = electra_config(transformers, GEN_HIDDEN, GEN_HEADS, GEN_INTER)
    self.discriminator = transformers.ElectraForPreTraining(disc_config)
    self.generator = transformers.ElectraForMaskedLM(gen_config)
    # Tied embeddings as the released models: the generator reads the discriminator's.
    self.generator.electra.embeddings = self.discriminator.electra.embeddings
    self.generator.generator_lm_head.weight = (
        self.discriminator.electra.embeddings.word_embeddings.weight)
    self.modules = torch.nn.ModuleList([self.discriminator, self.generator])

  def loss(self, ids, mask, segments, positions, weights, masked_ids):
    torch = self.torch
    hidden = self.generator.electra(input_ids=masked_ids, attention_mask=mask,
                                    token_type_ids=segments).last_hidden_state
    # Logits only at the masked slots: gather BEFORE the vocabulary projection.
    relevant = torch.gather(hidden, 1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
    logits = self.generator.generator_lm_head(
        self.generator.generator_predictions(relevant)).float()
    labels = torch.gather(ids, 1, positions)
    mlm = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
    mlm_loss = (mlm * weights).sum() / (weights.sum() + 1e-6)
    with torch.no_grad():
      uniform = torch.rand_like(logits)
      gumbel = -torch.log(-torch.log(uniform + 1e-9) + 1e-9)
      sampled = torch.argmax(logits + gumbel, -1)
      fake = ids.scatter(1, positions, sampled)
      is_fake = (fake != ids).float()
    disc_logits = self.discriminator(input_ids=fake, attention_mask=mask,
                                     token_type_ids=segments).logits.float()
    maskf = mask.float()
    disc = torch.nn.functional.binary_cross_entropy_with_logits(disc_logits, is_fake,
                                                                reduction="none")
    disc_loss = (disc * maskf).sum() / (maskf.sum() + 1e-6)
    return mlm_loss + 50.0 * disc_loss


def pretrain_step(torch, transformers, args, mode):
  net = _Pretraining(torch, transformers)
  net.modules.train()
  loss_fn = _maybe_compile(torch, net.loss, mode)
  optimizer = _optimizer(torch, net.modules.parameters())
  b, l, n = args.batch_size, args.seq_length, MAX_PREDICTIONS
  ids = torch.randint(3, VOCAB, (b, l))
  mask = torch.ones(b, l, dtype=torch.long)
  segments = torch.zeros(b, l, dtype=torch.long)
  weights = torch.ones(b, n)

  def step():
    optimizer.zero_grad(set_to_none=True)
    # Dynamic masking (eager, cheap): N positions per row, 85% of them become [MASK] (id 2).
    positions = torch.randint(1, l, (b, n))
    use_mask = torch.rand(b, n) < 0.85
    masked_ids = ids.scatter(1, positions, torch.where(use_mask, 2, torch.gather(ids, 1,
                                                                                 positions)))
    loss = loss_fn(ids, mask, segments, positions, weights, masked_ids)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.modules.parameters(), 1.0)
    optimizer.step()
  return step, b, "train"


def _predictor(torch, transformers, model_class, mode, batch_size, seq_length, query_length=0):
  """(forward, ids, mask, segments): a model in eval mode and one full-length input batch; the
  first `query_length` positions are segment 0, the rest segment 1."""
  model = model_class(electra_config(transformers, HIDDEN, HEADS, INTER))
  model.eval()
  ids = torch.randint(1, VOCAB, (batch_size, seq_length))
  mask = torch.ones(batch_size, seq_length, dtype=torch.long)
  segments = torch.zeros(batch_size, seq_length, dtype=torch.long)
  if query_length:
    segments[:, query_length:] = 1
  return _maybe_compile(torch, model, mode), ids, mask, segments


def infer_cls(torch, transformers, args, mode):
  forward, ids, mask, segments = _predictor(
      torch, transformers, transformers.ElectraForSequenceClassification, mode, args.batch_size,
      args.seq_length)

  def step():
    with torch.no_grad():
      logits = forward(input_ids=ids, attention_mask=mask, token_type_ids=segments).logits
      torch.softmax(logits.float(), -1).argmax(-1).numpy()
  return step, args.batch_size, "predict"


def infer_qa(torch, transformers, args, mode):
  forward, ids, mask, segments = _predictor(
      torch, transformers, transformers.ElectraForQuestionAnswering, mode, args.batch_size,
      args.qa_seq_length, query_length=64)

  def step():
    with torch.no_grad():
      out = forward(input_ids=ids, attention_mask=mask, token_type_ids=segments)
      for logits in (out.start_logits, out.end_logits):
        torch.topk(torch.log_softmax(logits.float(), -1), 20)[1].numpy()
  return step, args.batch_size, "predict"


if __name__ == "__main__":
  sys.exit(main())
