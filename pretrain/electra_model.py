"""The ELECTRA pre-training objective (replaced token detection) as a tf.Module.

One step, as the original run_pretraining.py:
  1. dynamic masking of the batch (pretrain_helpers.mask);
  2. the generator reads the masked text; its hidden states at the masked positions (gathered
     BEFORE the vocabulary projection, which is the expensive part) give MLM logits and the MLM
     loss sum(w * -log p(original)) / (sum(w) + 1e-6);
  3. a token is sampled for every masked slot (Gumbel-max, no gradient to the generator) and
     written into the unmasked text; a slot is "fake" only if the sample differs from the
     original token;
  4. the discriminator classifies every non-padding token as original/replaced:
     sum(mask * sigmoid_xent) / (sum(mask) + 1e-6);
  5. loss = gen_weight * MLM + disc_weight * disc (electra_objective=False: the MLM term only).

The module implements the training loop's model protocol (util/training.py):
`trainable_variables` (dict name -> variable), `all_variables()`, `loss(features, training)`,
`predict(features)`; plus `eval_metrics(features)` (additive per-batch sums, see
pretrain/metrics.py), and `replacements` / `detection_sums`, which let one model's discriminator
score another model's replaced tokens.
"""

import tensorflow as tf

from model import modeling
from model import tokenization
from pretrain import metrics as metrics_lib
from pretrain import pretrain_data
from pretrain import pretrain_helpers
from util import strategy as strategy_lib

SPECIAL_TOKENS = ("[MASK]", "[CLS]", "[SEP]")


def discriminator_config(config):
  """The discriminator's BertConfig: model_size defaults + overrides (+ the debug model)."""
  return modeling.BertConfig.from_dict(config.encoder_hparams())


def generator_config(config, disc_config):
  return modeling.get_generator_config(disc_config, config.generator_hidden_size,
                                       config.generator_layers)


def load_special_ids(vocab_file, vocab_size):
  """{"[MASK]": id, "[CLS]": id, "[SEP]": id} from the vocabulary file, checked against V
  (and by `tokenization.check_vocab`: a VocabularyError, a ValueError, names the problem)."""
  vocab = tokenization.check_vocab(vocab_file, "pre-training")
  if len(vocab) > vocab_size:
    raise ValueError(f"Vocabulary {vocab_file} has {len(vocab)} tokens but vocab_size is "
                     f"{vocab_size}; set the vocab_size hparam to at least {len(vocab)}")
  return {token: vocab[token] for token in SPECIAL_TOKENS}


class PretrainingModel(tf.Module):
  """Generator + discriminator of ELECTRA pre-training, built from a PretrainingConfig."""

  def __init__(self, config, special_ids=None):
    super().__init__(name=None)
    self.config = config
    self.disc_config = discriminator_config(config)
    self.gen_config = generator_config(config, self.disc_config)
    self.networks = modeling.ElectraNetworks(
        self.disc_config, self.gen_config, embedding_size=config.embedding_size,
        untied_generator_embeddings=config.untied_generator_embeddings,
        untied_generator=config.untied_generator, electra_objective=config.electra_objective,
        compute_dtype=strategy_lib.set_precision(config.mixed_precision))
    if self.networks.generator is self.networks.discriminator:
      self.gen_config = self.disc_config  # Tied or MLM-only: one full-size encoder.
    self.special_ids = special_ids or load_special_ids(config.vocab_file, config.vocab_size)
    # Masking and sampling draw from this generator (stateless ops seeded from it), so runs are
    # reproducible from config.seed. Its state is not checkpointed: checkpoints keep exactly the
    # original's variable layout.
    self.rng = tf.random.Generator.from_seed(config.seed)
    # Evaluation masks and samples with a generator of its own, reset before every evaluation
    # (reset_eval_randomness), so every point of an eval curve sees the same masked positions.
    self.eval_rng = tf.random.Generator.from_seed(self._eval_seed())

  def _eval_seed(self):
    return self.config.seed + 1_000_003

  def reset_eval_randomness(self):
    """Evaluations after this call mask and sample exactly as the first one did."""
    self.eval_rng.reset_from_seed(self._eval_seed())

  # ----------------------------------------------------------------------------------------
  # Model protocol.

  def all_variables(self):
    """{TF1 checkpoint name: variable} of every variable the objective uses."""
    named = modeling.named_variables(self.networks)
    return {name: var for name, var in named.items() if not self._is_unused(name)}

  @property
  def trainable_variables(self):
    return {name: var for name, var in self.all_variables().items() if var.trainable}

  def _is_unused(self, name):
    # A uniform generator replaces the generator network (the original does not even build it).
    if not self.config.uniform_generator:
      return False
    owns_generator = self.networks.generator is not self.networks.discriminator
    return (name.startswith("generator_predictions/")
            or (owns_generator and name.startswith("generator/")))

  def loss(self, features, training=True):
    """(total loss, {name: scalar}) for one replica's batch; every term is a batch mean.

    The Trainer logs the total itself, so the metrics hold only its parts and accuracies.
    """
    out = self._forward(features, training)
    masked, mlm = out["masked"], out["mlm"]
    metrics = {"mlm_loss": mlm["loss"],
               "masked_lm_accuracy": _weighted_mean(
                   _equal(mlm["preds"], masked.masked_lm_ids), masked.masked_lm_weights)}
    if "disc" in out:
      disc = out["disc"]
      metrics["disc_loss"] = disc["loss"]
      metrics["disc_accuracy"] = _weighted_mean(_equal(disc["preds"], out["is_fake"]),
                                                masked.input_mask)
    return out["loss"], metrics

  def eval_metrics(self, features):
    """Additive sums over this batch, each with a leading axis of 1 ([1] or [1, thresholds]).

    The leading axis lets the Trainer's evaluate stack batches (and replicas) as rows instead
    of concatenating the per-threshold AUC counts; metrics.aggregate_eval_metrics sums rows.
    """
    out = self._forward(features, training=False)
    masked, mlm = out["masked"], out["mlm"]
    sums = metrics_lib.mlm_sums(masked.masked_lm_ids, masked.masked_lm_weights, mlm["preds"],
                                mlm["losses"], out.get("sampled_ids"))
    if "disc" in out and self.config.disc_weight > 0:
      disc = out["disc"]
      sums.update(metrics_lib.disc_sums(masked.input_mask, out["is_fake"], disc["probs"],
                                        disc["preds"], disc["example_losses"]))
    return {name: value[tf.newaxis] for name, value in sums.items()}

  def predict(self, features):
    """Per-token outputs of one (randomly masked) forward pass, for inspection."""
    out = self._forward(features, training=False)
    masked = out["masked"]
    predictions = {"masked_input_ids": masked.input_ids,
                   "masked_lm_positions": masked.masked_lm_positions,
                   "masked_lm_ids": masked.masked_lm_ids,
                   "masked_lm_weights": masked.masked_lm_weights,
                   "masked_lm_preds": out["mlm"]["preds"]}
    if "disc" in out:
      predictions.update(sampled_ids=out["sampled_ids"], fake_input_ids=out["fake_ids"],
                         is_fake=out["is_fake"], disc_probs=out["disc"]["probs"])
    return predictions

  # ----------------------------------------------------------------------------------------
  # One model's replacements scored by another model's discriminator
  # (bench/cross_replacements.py): discriminators compared on the same replaced tokens.

  def replacements(self, features):
    """Masks and samples one batch exactly as `eval_metrics` does: {"masked", "mlm",
    "sampled_ids", "fake_ids", "is_fake"}."""
    masked = self._mask(features, False, self.eval_rng)
    mlm = self._generator_outputs(masked, training=False)
    return {"masked": masked, "mlm": mlm, **self._fake_data(masked, mlm["logits"], self.eval_rng)}

  def detection_sums(self, replacements):
    """This model's discriminator on `replacements` (from any model with the same vocabulary):
    the additive sums of metrics.disc_sums, without a leading axis."""
    masked = replacements["masked"]
    disc = self._discriminator_outputs(masked, replacements["fake_ids"],
                                       replacements["is_fake"], training=False)
    return metrics_lib.disc_sums(masked.input_mask, replacements["is_fake"], disc["probs"],
                                 disc["preds"], disc["example_losses"])

  # ----------------------------------------------------------------------------------------
  # The objective.

  def _forward(self, features, training):
    config = self.config
    rng = self.rng if training else self.eval_rng
    masked = self._mask(features, training, rng)
    mlm = self._generator_outputs(masked, training)
    out = {"masked": masked, "mlm": mlm, "loss": config.gen_weight * mlm["loss"]}
    if config.electra_objective:
      out.update(self._fake_data(masked, mlm["logits"], rng))
      out["disc"] = self._discriminator_outputs(masked, out["fake_ids"], out["is_fake"],
                                                training)
      out["loss"] += config.disc_weight * out["disc"]["loss"]
    return out

  def _mask(self, features, training, rng):
    mask_prob, max_predictions = self.config.masking(training)
    return pretrain_helpers.mask(
        pretrain_data.features_to_inputs(features), mask_prob, max_predictions,
        mask_id=self.special_ids["[MASK]"], cls_id=self.special_ids["[CLS]"],
        sep_id=self.special_ids["[SEP]"], rng=rng)

  def _generator_logits(self, masked, training):
    """[B, N, V] float32 MLM logits at the masked slots."""
    if self.config.uniform_generator:
      shape = tf.concat([tf.shape(masked.masked_lm_ids), [self.disc_config.vocab_size]], 0)
      return tf.zeros(shape, tf.float32)
    hidden = self.networks.generator(masked.input_ids, masked.input_mask, masked.segment_ids,
                                     training=training)
    relevant = pretrain_helpers.gather_positions(hidden, masked.masked_lm_positions)
    return self.networks.generator_head(relevant)

  def _generator_outputs(self, masked, training):
    logits = self._generator_logits(masked, training)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=masked.masked_lm_ids,
                                                            logits=logits)
    weights = masked.masked_lm_weights
    loss = tf.reduce_sum(weights * losses) / (tf.reduce_sum(weights) + 1e-6)
    preds = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return {"logits": logits, "losses": losses, "loss": loss, "preds": preds}

  def _fake_data(self, masked, mlm_logits, rng):
    """Sampled ids written into the unmasked text; is_fake = replaced by a different token."""
    config = self.config
    original = pretrain_helpers.unmask(masked)
    disallow = None
    if config.disallow_correct:
      disallow = tf.one_hot(masked.masked_lm_ids, self.disc_config.vocab_size)
    sampled_ids = pretrain_helpers.sample_from_softmax(mlm_logits, config.temperature,
                                                       disallow, rng=rng)
    fake_ids, updated = pretrain_helpers.scatter_update(original.input_ids, sampled_ids,
                                                        masked.masked_lm_positions)
    is_fake = updated * tf.cast(tf.not_equal(fake_ids, original.input_ids), tf.int32)
    return {"sampled_ids": sampled_ids, "fake_ids": fake_ids, "is_fake": is_fake}

  def _discriminator_outputs(self, masked, fake_ids, is_fake, training):
    hidden = self.networks.discriminator(fake_ids, masked.input_mask, masked.segment_ids,
                                         training=training)
    logits = self.networks.discriminator_head(hidden)
    weights = tf.cast(masked.input_mask, tf.float32)
    losses = weights * tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(is_fake, tf.float32), logits=logits)
    return {
        "loss": tf.reduce_sum(losses) / (tf.reduce_sum(weights) + 1e-6),
        "example_losses": tf.reduce_sum(losses, -1) / (tf.reduce_sum(weights, -1) + 1e-6),
        "probs": tf.sigmoid(logits),
        # The original rounds (sign(logit) + 1) / 2: a logit of exactly 0 counts as original.
        "preds": tf.cast(logits > 0, tf.int32),
    }


def _equal(a, b):
  return tf.cast(tf.equal(a, b), tf.float32)


def _weighted_mean(values, weights):
  weights = tf.cast(weights, tf.float32)
  return tf.math.divide_no_nan(tf.reduce_sum(values * weights), tf.reduce_sum(weights))
