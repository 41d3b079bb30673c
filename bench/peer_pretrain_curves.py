"""Independent PyTorch peer of ELECTRA pre-training (Hugging Face `transformers` Electra classes).

Trains the small comparison set-up of docs/PEER_PRETRAINING.md with the original ELECTRA's
objective, written here from the original's semantics (not from this project's code):
  - dynamic masking: per example max(1, min(N, round(#tokens x 0.15))) slots, positions drawn WITH
    replacement uniformly among non-special tokens inside input_mask; 85% of the used slots
    become [MASK], the rest keep their token;
  - generator MLM loss at the masked slots: sum(w * xent) / (sum(w) + 1e-6);
  - Gumbel-max sampling from the generator softmax (u + 1e-9 epsilons), written back with the
    original's scatter_update (position 0 ignored, repeated positions get floor(mean));
    a token is fake only if it differs from the original;
  - discriminator sigmoid xent over input_mask tokens, sum / (sum(mask) + 1e-6);
  - loss = 1 * MLM + 50 * disc;
  - AdamW without bias correction (eps 1e-6, decay 0.01 except LayerNorm/bias), clipping by
    global norm 1.0 (tf.clip_by_global_norm's formula), lr = base * min(1, t/warmup) *
    (1 - t/T) with t the number of updates already applied.
The generator shares the discriminator's whole embeddings module (word, position, token type
embeddings and their LayerNorm), as the original's tied embeddings. Weights are initialised as
the original: truncated normal 0.02 (+-2 std), glorot-uniform for embeddings_project and the
discriminator's output layer, zero biases; [PAD] gets no padding_idx special-casing.

Held-out evaluation every `--eval-every` steps on the eval arrays in order (batches of 32, the
remainder dropped), with a masking/sampling RNG reset to a fixed seed before every evaluation;
metrics as the original's (tf.compat.v1.metrics semantics, AUC with 200 thresholds over all
positions with padding zeroed).

    /tmp/peer-venv/bin/python bench/peer_pretrain_curves.py --data mini_data.npz \\
        --vocab vocab.txt --seed 1 --out peer_seed1.json
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch import nn
from transformers import ElectraConfig
from transformers.models.electra.modeling_electra import (ElectraDiscriminatorPredictions,
                                                          ElectraGeneratorPredictions,
                                                          ElectraModel)

MASK_TOKEN_PROB = 0.85
NUM_THRESHOLDS = 200
AUC_EPS = 1e-7


def load_vocab(path):
  with open(path, encoding="utf-8") as f:
    return {line.rstrip("\n"): i for i, line in enumerate(f)}


# ----------------------------------------------------------------------------------------------
# Model.

class Electra(nn.Module):

  def __init__(self, disc_config, gen_config):
    super().__init__()
    self.discriminator = ElectraModel(disc_config)
    self.generator = ElectraModel(gen_config)
    # Tied embeddings: the generator uses the discriminator's embeddings module.
    self.generator.embeddings = self.discriminator.embeddings
    self.generator_predictions = ElectraGeneratorPredictions(gen_config)
    self.generator_output_bias = nn.Parameter(torch.zeros(gen_config.vocab_size))
    self.discriminator_predictions = ElectraDiscriminatorPredictions(disc_config)
    self._init(disc_config.initializer_range)

  def _init(self, std):
    glorot = {id(self.discriminator_predictions.dense_prediction)}
    if hasattr(self.generator, "embeddings_project"):
      glorot.add(id(self.generator.embeddings_project))
    if hasattr(self.discriminator, "embeddings_project"):
      glorot.add(id(self.discriminator.embeddings_project))
    with torch.no_grad():
      for module in self.modules():
        if isinstance(module, nn.Linear):
          if id(module) in glorot:
            nn.init.xavier_uniform_(module.weight)  # same limit for [in,out] or [out,in]
          else:
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
          nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
          module.padding_idx = None
          nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        elif isinstance(module, nn.LayerNorm):
          nn.init.ones_(module.weight)
          nn.init.zeros_(module.bias)

  def generator_logits(self, input_ids, input_mask, segment_ids, positions):
    hidden = self.generator(input_ids=input_ids, attention_mask=input_mask,
                            token_type_ids=segment_ids).last_hidden_state
    relevant = torch.gather(hidden, 1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
    x = self.generator_predictions(relevant)
    return x @ self.discriminator.embeddings.word_embeddings.weight.t() + self.generator_output_bias

  def discriminator_logits(self, input_ids, input_mask, segment_ids):
    hidden = self.discriminator(input_ids=input_ids, attention_mask=input_mask,
                                token_type_ids=segment_ids).last_hidden_state
    return self.discriminator_predictions(hidden)


# ----------------------------------------------------------------------------------------------
# Masking, sampling, scattering (the original's semantics).

def scatter_update(sequence, updates, positions):
  """Integer [B, L] sequence; updates/positions [B, N]. Position 0 ignored; repeated positions
  get floor(mean(updates)). Returns (updated, updated_mask)."""
  batch, length = sequence.shape
  sums = torch.zeros(batch, length, dtype=torch.long).scatter_add_(1, positions, updates)
  counts = torch.zeros(batch, length, dtype=torch.long).scatter_add_(
      1, positions, torch.ones_like(positions))
  counts[:, 0] = 0
  updated_mask = counts > 0
  new_values = torch.div(sums, counts.clamp(min=1), rounding_mode="floor")
  return torch.where(updated_mask, new_values, sequence), updated_mask.long()


def mask(input_ids, input_mask, special, gen, mask_prob=0.15, max_predictions=19):
  candidates = input_mask.bool()
  for token in (special["[SEP]"], special["[CLS]"], special["[MASK]"]):
    candidates &= input_ids != token
  num_tokens = input_mask.sum(-1).to(torch.float32)
  num_to_predict = torch.round(num_tokens * torch.tensor(mask_prob, dtype=torch.float32))
  num_to_predict = num_to_predict.long().clamp(max=max_predictions).clamp(min=1)
  used = torch.arange(max_predictions)[None, :] < num_to_predict[:, None]
  has_candidate = candidates.any(-1, keepdim=True)
  used &= has_candidate
  probs = candidates.float()
  probs[~has_candidate[:, 0], 0] = 1.0  # placeholder draw for rows without candidates (unused)
  positions = torch.multinomial(probs, max_predictions, replacement=True, generator=gen)
  positions = positions * used.long()
  masked_lm_ids = torch.gather(input_ids, 1, positions) * used.long()
  use_mask = torch.rand(positions.shape, generator=gen) < MASK_TOKEN_PROB
  mask_positions = positions * use_mask.long()
  masked_ids, _ = scatter_update(input_ids, torch.full_like(positions, special["[MASK]"]),
                                 mask_positions)
  return masked_ids, positions, masked_lm_ids, used.float()


def gumbel_sample(logits, gen, temperature=1.0):
  logits = logits.detach() / temperature
  u = torch.rand(logits.shape, generator=gen)
  gumbel = -torch.log(-torch.log(u + 1e-9) + 1e-9)
  return torch.argmax(logits + gumbel, dim=-1)


def forward(model, batch, special, gen, disc_weight=50.0, gen_weight=1.0):
  input_ids, input_mask, segment_ids = batch
  masked_ids, positions, mlm_ids, weights = mask(input_ids, input_mask, special, gen)
  mlm_logits = model.generator_logits(masked_ids, input_mask, segment_ids, positions)
  mlm_losses = nn.functional.cross_entropy(mlm_logits.transpose(1, 2), mlm_ids,
                                           reduction="none")
  mlm_loss = (weights * mlm_losses).sum() / (weights.sum() + 1e-6)
  # unmask(): the original tokens back at the masked positions (= input_ids).
  original, _ = scatter_update(masked_ids, mlm_ids, positions)
  sampled = gumbel_sample(mlm_logits, gen)
  fake_ids, updated = scatter_update(original, sampled, positions)
  is_fake = updated * (fake_ids != original).long()
  disc_logits = model.discriminator_logits(fake_ids, input_mask, segment_ids)
  token_weights = input_mask.float()
  losses = token_weights * nn.functional.binary_cross_entropy_with_logits(
      disc_logits, is_fake.float(), reduction="none")
  disc_loss = losses.sum() / (token_weights.sum() + 1e-6)
  return {"loss": gen_weight * mlm_loss + disc_weight * disc_loss, "mlm_loss": mlm_loss,
          "disc_loss": disc_loss, "mlm_logits": mlm_logits, "mlm_losses": mlm_losses,
          "mlm_ids": mlm_ids, "weights": weights, "sampled": sampled, "is_fake": is_fake,
          "disc_logits": disc_logits, "example_losses":
              losses.sum(-1) / (token_weights.sum(-1) + 1e-6), "input_mask": input_mask}


# ----------------------------------------------------------------------------------------------
# Optimizer: the original's AdamWeightDecayOptimizer.

class AdamWNoBiasCorrection:

  def __init__(self, named_params, base_lr, warmup, total, weight_decay=0.01, beta1=0.9,
               beta2=0.999, eps=1e-6, clip_norm=1.0):
    self.params = [(n, p) for n, p in named_params]
    self.decays = {n: not any(s in n for s in ("LayerNorm", "layer_norm", "bias"))
                   for n, _ in self.params}
    self.m = {n: torch.zeros_like(p) for n, p in self.params}
    self.v = {n: torch.zeros_like(p) for n, p in self.params}
    self.base_lr, self.warmup, self.total = base_lr, warmup, total
    self.wd, self.b1, self.b2, self.eps, self.clip = weight_decay, beta1, beta2, eps, clip_norm
    self.step_count = 0

  def lr(self):
    t = float(self.step_count)
    lr = self.base_lr * (1.0 - min(t, self.total) / self.total)
    if self.warmup:
      lr *= min(1.0, t / self.warmup)
    return lr

  @torch.no_grad()
  def step(self):
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in self.params}
    global_norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    scale = self.clip / max(global_norm, self.clip)
    lr = self.lr()
    for n, p in self.params:
      g = grads[n] * scale
      self.m[n].mul_(self.b1).add_(g, alpha=1 - self.b1)
      self.v[n].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
      update = self.m[n] / (self.v[n].sqrt() + self.eps)
      if self.decays[n]:
        update = update + self.wd * p
      p.sub_(lr * update)
      p.grad = None
    self.step_count += 1
    return global_norm


# ----------------------------------------------------------------------------------------------
# Evaluation (the original's metrics).

THRESHOLDS = torch.tensor([-AUC_EPS] + [(i + 1) / (NUM_THRESHOLDS - 1)
                                        for i in range(NUM_THRESHOLDS - 2)] + [1.0 + AUC_EPS],
                          dtype=torch.float32)


@torch.no_grad()
def evaluate(model, arrays, special, seed, batch_size, log_unigram=None):
  """The original's metrics; with log_unigram ([V] log frequencies of the training tokens) also
  diagnostics of the generator: how context-free it is and how frequent its replacements are."""
  model.eval()
  vocab_size = model.generator_output_bias.shape[0]
  prob_sum = torch.zeros(vocab_size, dtype=torch.float64)
  target_count = torch.zeros(vocab_size, dtype=torch.float64)
  d = {k: 0.0 for k in ("slot_entropy", "fakes", "fake_logu", "orig_logu", "sampled_logu")}
  gen = torch.Generator().manual_seed(seed)
  n = arrays["eval_input_ids"].shape[0] // batch_size * batch_size
  t = {k: 0.0 for k in ("w", "correct", "loss", "sampled_correct", "examples", "disc_loss",
                        "tokens", "disc_correct", "pred_fake", "actual_fake", "true_fake")}
  conf = {k: torch.zeros(NUM_THRESHOLDS, dtype=torch.float64) for k in ("tp", "fp", "tn", "fn")}
  for start in range(0, n, batch_size):
    batch = tuple(torch.from_numpy(arrays[f"eval_{k}"][start:start + batch_size]).long()
                  for k in ("input_ids", "input_mask", "segment_ids"))
    out = forward(model, batch, special, gen)
    w = out["weights"]
    preds = out["mlm_logits"].argmax(-1)
    t["w"] += float(w.sum())
    t["correct"] += float((w * (preds == out["mlm_ids"]).float()).sum())
    t["sampled_correct"] += float((w * (out["sampled"] == out["mlm_ids"]).float()).sum())
    t["loss"] += float((w * out["mlm_losses"]).sum())
    if log_unigram is not None:
      probs = torch.softmax(out["mlm_logits"], -1)
      prob_sum += (probs * w[..., None]).sum((0, 1)).double()
      target_count.index_add_(0, out["mlm_ids"].reshape(-1), w.reshape(-1).double())
      d["slot_entropy"] += float((w * -(probs * torch.log(probs + 1e-30)).sum(-1)).sum())
      d["sampled_logu"] += float((w * log_unigram[out["sampled"]]).sum())
      # Slots whose sample differs from the original: the replacements the disc must spot.
      fake_slot = w * (out["sampled"] != out["mlm_ids"]).float()
      d["fakes"] += float(fake_slot.sum())
      d["fake_logu"] += float((fake_slot * log_unigram[out["sampled"]]).sum())
      d["orig_logu"] += float((fake_slot * log_unigram[out["mlm_ids"]]).sum())
    tm = out["input_mask"].float()
    labels = out["is_fake"].float()
    dpreds = (out["disc_logits"] > 0).float()
    t["examples"] += out["example_losses"].numel()
    t["disc_loss"] += float(out["example_losses"].sum())
    t["tokens"] += float(tm.sum())
    t["disc_correct"] += float(((labels == dpreds).float() * tm).sum())
    t["pred_fake"] += float((dpreds * tm).sum())
    t["actual_fake"] += float((labels * tm).sum())
    t["true_fake"] += float((labels * dpreds * tm).sum())
    lab = (labels * tm).reshape(-1, 1).bool()
    score = (torch.sigmoid(out["disc_logits"]) * tm).reshape(-1, 1)
    pred = score > THRESHOLDS[None, :]
    conf["tp"] += (lab & pred).sum(0).double()
    conf["fp"] += (~lab & pred).sum(0).double()
    conf["tn"] += (~lab & ~pred).sum(0).double()
    conf["fn"] += (lab & ~pred).sum(0).double()
  model.train()
  tpr = (conf["tp"] + AUC_EPS) / (conf["tp"] + conf["fn"] + AUC_EPS)
  fpr = conf["fp"] / (conf["fp"] + conf["tn"] + AUC_EPS)
  auc = float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum())

  def div(a, b):
    return a / b if b > 0 else 0.0

  diag = {}
  if log_unigram is not None and t["w"] > 0:
    mean_pred = prob_sum / t["w"]
    target = target_count / t["w"]
    nz = target > 0
    diag = {
        # KL(empirical distribution of the masked tokens || generator's average prediction):
        # 0 when the generator's marginal is the unigram distribution of the masked tokens.
        "diag_marginal_kl": float((target[nz] * torch.log(target[nz] / mean_pred[nz])).sum()),
        # H(average prediction) - mean H(per-slot prediction): the information about the token
        # that the generator takes from context (0 = context-free, predicts the same everywhere).
        "diag_context_info": float(-(mean_pred * torch.log(mean_pred + 1e-30)).sum())
                             - d["slot_entropy"] / t["w"],
        "diag_slot_entropy": d["slot_entropy"] / t["w"],
        "diag_sampled_log_unigram": d["sampled_logu"] / t["w"],
        "diag_fake_log_unigram": div(d["fake_logu"], d["fakes"]),
        "diag_replaced_original_log_unigram": div(d["orig_logu"], d["fakes"]),
        "diag_fake_token_share": div(t["actual_fake"], t["tokens"]),
    }
  return {**diag, "masked_lm_accuracy": div(t["correct"], t["w"]),
          "masked_lm_loss": div(t["loss"], t["w"]),
          "sampled_masked_lm_accuracy": div(t["sampled_correct"], t["w"]),
          "disc_loss": div(t["disc_loss"], t["examples"]), "disc_auc": auc,
          "disc_accuracy": div(t["disc_correct"], t["tokens"]),
          "disc_precision": div(t["true_fake"], t["pred_fake"]),
          "disc_recall": div(t["true_fake"], t["actual_fake"]),
          "eval_examples": int(t["examples"]), "held_out": True}


# ----------------------------------------------------------------------------------------------

def configs(vocab_size):
  common = dict(vocab_size=vocab_size, embedding_size=128, num_hidden_layers=2, hidden_act="gelu",
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02,
                layer_norm_eps=1e-12, pad_token_id=0)
  disc = ElectraConfig(hidden_size=128, num_attention_heads=2, intermediate_size=512, **common)
  gen = ElectraConfig(hidden_size=64, num_attention_heads=1, intermediate_size=256, **common)
  return disc, gen


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data", required=True, help=".npz of bench/tfrecords_to_npz.py")
  parser.add_argument("--vocab", required=True)
  parser.add_argument("--seed", type=int, default=1)
  parser.add_argument("--num-steps", type=int, default=1000)
  parser.add_argument("--warmup", type=int, default=100)
  parser.add_argument("--lr", type=float, default=1e-3)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--eval-every", type=int, default=100)
  parser.add_argument("--log-every", type=int, default=10)
  parser.add_argument("--diag-steps", default="0,10,20,30,50,70",
                      help="extra evaluation steps (diagnostics of the early plateau)")
  parser.add_argument("--threads", type=int, default=1)
  parser.add_argument("--out", required=True, help="JSON of the run; a .jsonl history beside it")
  args = parser.parse_args()

  torch.set_num_threads(args.threads)
  torch.set_num_interop_threads(1)
  torch.manual_seed(args.seed)  # init and dropout
  vocab = load_vocab(args.vocab)
  special = {k: vocab[k] for k in ("[CLS]", "[SEP]", "[MASK]", "[PAD]")}
  arrays = dict(np.load(args.data))
  disc_config, gen_config = configs(len(vocab))
  model = Electra(disc_config, gen_config)
  model.train()
  named = list(model.named_parameters())  # shared embeddings listed once
  print(f"parameters: {sum(p.numel() for _, p in named)} in {len(named)} tensors; "
        f"decayed: {[n for n, _ in named if not any(s in n for s in ('LayerNorm', 'bias'))]}",
        flush=True)
  opt = AdamWNoBiasCorrection(named, args.lr, args.warmup, args.num_steps)
  train_gen = torch.Generator().manual_seed(args.seed)  # masking and sampling while training
  eval_seed = args.seed + 1_000_003
  rs = np.random.RandomState(args.seed)  # example order
  num_train = arrays["train_input_ids"].shape[0]
  order, cursor = rs.permutation(num_train), 0

  counts = np.bincount(arrays["train_input_ids"][arrays["train_input_mask"] > 0],
                       minlength=len(vocab)).astype(np.float64) + 0.5
  log_unigram = torch.from_numpy(np.log(counts / counts.sum())).float()
  diag_steps = {int(x) for x in args.diag_steps.split(",") if x}

  history_path = os.path.splitext(args.out)[0] + "_history.jsonl"
  history = open(history_path, "w")
  result = {"impl": "peer", "seed": args.seed, "train": {}, "eval": {},
            "discriminator_config": disc_config.to_dict(), "generator_config": gen_config.to_dict(),
            "transformers_model": "ElectraModel + ElectraGeneratorPredictions + "
                                  "ElectraDiscriminatorPredictions"}
  window = {}
  start = time.time()
  eval_time = 0.0

  def run_eval(step):
    ev = evaluate(model, arrays, special, eval_seed, args.batch_size, log_unigram)
    ev["global_step"] = step
    history.write(json.dumps(dict(ev, kind="eval"), sort_keys=True) + "\n")
    history.flush()
    print("eval " + json.dumps(ev, sort_keys=True), flush=True)
    return ev

  if 0 in diag_steps:
    t0 = time.time()
    result["eval"]["0"] = run_eval(0)
    eval_time += time.time() - t0
  for step in range(1, args.num_steps + 1):
    if cursor + args.batch_size > num_train:
      order, cursor = rs.permutation(num_train), 0
    idx = np.sort(order[cursor:cursor + args.batch_size])
    cursor += args.batch_size
    batch = tuple(torch.from_numpy(arrays[f"train_{k}"][idx]).long()
                  for k in ("input_ids", "input_mask", "segment_ids"))
    out = forward(model, batch, special, train_gen)
    out["loss"].backward()
    opt.step()
    with torch.no_grad():
      w = out["weights"]
      mlm_acc = float((w * (out["mlm_logits"].argmax(-1) == out["mlm_ids"]).float()).sum()
                      / w.sum().clamp(min=1e-12))
      tm = out["input_mask"].float()
      disc_acc = float((((out["disc_logits"] > 0).long() == out["is_fake"]).float() * tm).sum()
                       / tm.sum())
    for key, value in (("loss", float(out["loss"].detach())),
                       ("mlm_loss", float(out["mlm_loss"].detach())),
                       ("disc_loss", float(out["disc_loss"].detach())),
                       ("masked_lm_accuracy", mlm_acc), ("disc_accuracy", disc_acc)):
      window.setdefault(key, []).append(value)
    if step % args.log_every == 0:
      row = {k: float(np.mean(v)) for k, v in window.items()}
      window = {}
      result["train"][str(step)] = row
      history.write(json.dumps(dict(row, kind="train", global_step=step)) + "\n")
      history.flush()
      elapsed = time.time() - start - eval_time
      print(f"step {step}: {step / elapsed:.2f} steps/s " +
            ", ".join(f"{k} = {v:.4g}" for k, v in sorted(row.items())), flush=True)
    if step % args.eval_every == 0 or step == args.num_steps or step in diag_steps:
      t0 = time.time()
      result["eval"][str(step)] = run_eval(step)
      eval_time += time.time() - t0
  result["wall_s"] = time.time() - start
  history.close()
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  main()
