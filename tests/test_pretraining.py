"""ELECTRA pre-training: masking, sampling, objective and metrics (the input pipeline:
tests/test_pretrain_input.py; the script: tests/test_run_pretraining.py)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from model import optimization
from pretrain import electra_model
from pretrain import metrics
from pretrain import pretrain_data
from pretrain import pretrain_helpers
from tests.pretrain_fixtures import CLS, MASK, PAD, SEP, VOCAB_SIZE
from tests.pretrain_fixtures import features_of, random_examples, tiny_config


# ----------------------------------------------------------------------------------------------
# Helpers: gather / scatter / masking / sampling.

def test_gather_and_scatter_update():
  sequence = tf.constant([[10, 11, 12, 13], [20, 21, 22, 23]])
  positions = tf.constant([[2, 0, 3], [1, 1, 0]])
  assert pretrain_helpers.gather_positions(sequence, positions).numpy().tolist() == [
      [12, 10, 13], [21, 21, 20]]
  updated, mask = pretrain_helpers.scatter_update(sequence, tf.constant([[5, 6, 7], [8, 11, 9]]),
                                                  positions)
  # Position 0 is never written; the duplicate position 1 gets floor((8 + 11) / 2) = 9.
  assert updated.numpy().tolist() == [[10, 11, 5, 7], [20, 9, 22, 23]]
  assert mask.numpy().tolist() == [[0, 0, 1, 1], [0, 1, 0, 0]]
  vectors = tf.reshape(tf.range(16, dtype=tf.float32), [2, 4, 2])
  updated, _ = pretrain_helpers.scatter_update(vectors, tf.fill([2, 2, 2], 1.0),
                                               tf.constant([[3, 3], [0, 2]]))
  assert updated.numpy()[0, 3].tolist() == [1.0, 1.0]
  assert updated.numpy()[1].tolist() == [[8, 9], [10, 11], [1, 1], [14, 15]]


def _mask_many(count=4000, seq_length=32, mask_prob=0.15, max_predictions=5, seed=0):
  rng = np.random.default_rng(seed)
  ids, input_mask, segments = random_examples(rng, count, seq_length)
  # Tokens that already are [MASK] must never be chosen.
  ids[(rng.random(ids.shape) < 0.05) & (input_mask == 1) & (ids > MASK)] = MASK
  inputs = pretrain_data.features_to_inputs(features_of(ids, input_mask, segments))
  masked = pretrain_helpers.mask(inputs, mask_prob, max_predictions, MASK, CLS, SEP,
                                 rng=tf.random.Generator.from_seed(seed))
  return ids, input_mask, masked


def test_mask_counts_and_candidates():
  ids, input_mask, masked = _mask_many()
  weights = masked.masked_lm_weights.numpy()
  positions = masked.masked_lm_positions.numpy()
  lengths = input_mask.sum(-1).astype(np.float32)
  expected = np.maximum(1, np.minimum(5, np.round(lengths * np.float32(0.15)).astype(int)))
  # A sequence without any maskable token (e.g. [CLS] [MASK] [SEP]) gets no prediction slot.
  has_candidates = ((input_mask == 1) & ~np.isin(ids, [CLS, SEP, MASK])).any(-1)
  assert 0 < (~has_candidates).sum() < 50
  expected *= has_candidates
  assert (weights.sum(-1) == expected).all()
  assert (weights == (np.arange(5)[None, :] < expected[:, None])).all()  # used slots come first
  chosen = np.take_along_axis(ids, positions, axis=1)
  used = weights == 1
  assert not np.isin(chosen[used], [CLS, SEP, MASK, PAD]).any()
  assert (np.take_along_axis(input_mask, positions, 1)[used] == 1).all()
  assert (positions[~used] == 0).all() and (masked.masked_lm_ids.numpy()[~used] == 0).all()
  assert (masked.masked_lm_ids.numpy()[used] == chosen[used]).all()


def test_mask_replaces_85_percent_with_mask_token_and_nothing_else():
  ids, _, masked = _mask_many()
  new_ids = masked.input_ids.numpy()
  positions, weights = masked.masked_lm_positions.numpy(), masked.masked_lm_weights.numpy()
  selected = np.zeros(ids.shape, bool)
  np.put_along_axis(selected, positions, weights == 1, axis=1)
  assert (new_ids[~selected] == ids[~selected]).all()  # unselected tokens never change
  # No random-token replacement: a selected token becomes [MASK] or stays as it was.
  assert ((new_ids[selected] == MASK) | (new_ids[selected] == ids[selected])).all()
  # Positions drawn once: [MASK] with probability 0.85, else the original token kept.
  unique = [(r, p) for r in range(len(ids)) for p, n in zip(*np.unique(
      positions[r][weights[r] == 1], return_counts=True)) if n == 1]
  rows, cols = np.array(unique).T
  mask_rate = (new_ids[rows, cols] == MASK).mean()
  assert len(unique) > 8000 and abs(mask_rate - 0.85) < 0.015


def test_mask_positions_are_uniform_over_candidates():
  ids = np.full([3000, 12], 7, np.int64)
  ids[:, 0], ids[:, -1] = CLS, SEP
  inputs = pretrain_data.features_to_inputs(features_of(ids, np.ones_like(ids), 0 * ids))
  masked = pretrain_helpers.mask(inputs, 0.5, 4, MASK, CLS, SEP,
                                 rng=tf.random.Generator.from_seed(1))
  counts = np.bincount(masked.masked_lm_positions.numpy().ravel(), minlength=12)
  assert counts[11] == 0 and counts[0] == 0
  frequencies = counts[1:11] / counts[1:11].sum()  # 10 candidates, 12000 draws
  assert np.abs(frequencies - 0.1).max() < 0.015


def test_mask_without_candidates_predicts_nothing():
  ids = np.array([[CLS, SEP, 0, 0], [CLS, MASK, SEP, 0]])
  inputs = pretrain_data.features_to_inputs(features_of(ids, (ids > 0) * 1, 0 * ids))
  masked = pretrain_helpers.mask(inputs, 0.15, 2, MASK, CLS, SEP)
  assert masked.masked_lm_weights.numpy().sum() == 0
  assert (masked.input_ids.numpy() == ids).all()


def test_gumbel_max_sampling_matches_softmax():
  logits = tf.constant([2.0, 1.0, 0.0, -1.0, 0.5])
  draws = pretrain_helpers.sample_from_softmax(tf.tile(logits[None], [40000, 1]),
                                               rng=tf.random.Generator.from_seed(3)).numpy()
  frequencies = np.bincount(draws, minlength=5) / len(draws)
  assert np.abs(frequencies - tf.nn.softmax(logits).numpy()).max() < 0.01
  hot = pretrain_helpers.sample_from_softmax(tf.tile(logits[None], [40000, 1]), temperature=2.0,
                                             rng=tf.random.Generator.from_seed(4)).numpy()
  frequencies = np.bincount(hot, minlength=5) / len(hot)
  assert np.abs(frequencies - tf.nn.softmax(logits / 2.0).numpy()).max() < 0.01


def test_disallow_never_returns_the_forbidden_token():
  logits = tf.tile(tf.constant([[8.0, 0.0, 0.0, 7.5]]), [5000, 1])
  forbidden = tf.one_hot(tf.zeros([5000], tf.int32), 4)
  draws = pretrain_helpers.sample_from_softmax(logits, disallow=forbidden,
                                               rng=tf.random.Generator.from_seed(5)).numpy()
  assert (draws != 0).all() and (draws == 3).mean() > 0.99


# ----------------------------------------------------------------------------------------------
# The objective.

def test_is_fake_labels_count_correct_samples_as_original(tmp_path):
  model = electra_model.PretrainingModel(tiny_config(tmp_path))
  original = np.array([[CLS, 10, 11, 12, 13, SEP]])
  masked = pretrain_data.Inputs(
      input_ids=tf.constant([[CLS, MASK, 11, MASK, 13, SEP]]),
      input_mask=tf.ones([1, 6], tf.int32), segment_ids=tf.zeros([1, 6], tf.int32),
      masked_lm_positions=tf.constant([[1, 3, 2, 0]]),
      masked_lm_ids=tf.constant([[10, 12, 11, 0]]),
      masked_lm_weights=tf.constant([[1.0, 1.0, 1.0, 0.0]]))
  # Slot 0 samples its original token, slots 1 and 2 other tokens; slot 3 is unused.
  target = [10, 40, 41, 42]
  logits = 100.0 * tf.one_hot([target], VOCAB_SIZE)
  fake = model._fake_data(masked, logits, model.rng)  # pylint: disable=protected-access
  assert fake["sampled_ids"].numpy().tolist() == [target]
  assert fake["fake_ids"].numpy().tolist() == [[CLS, 10, 41, 40, 13, SEP]]
  assert fake["is_fake"].numpy().tolist() == [[0, 0, 1, 1, 0, 0]]
  assert (pretrain_helpers.unmask(masked).input_ids.numpy() == original).all()


def _batch(count=8, seed=0):
  return features_of(*random_examples(np.random.default_rng(seed), count, min_length=10))


def test_losses_at_initialisation(tmp_path):
  model = electra_model.PretrainingModel(tiny_config(tmp_path))
  loss, values = model.loss(_batch(32), training=False)
  # An untrained generator is near-uniform over V and the discriminator near 50/50.
  assert abs(values["mlm_loss"].numpy() - math.log(VOCAB_SIZE)) < 0.15
  assert abs(values["disc_loss"].numpy() - math.log(2.0)) < 0.05
  expected = math.log(VOCAB_SIZE) + 50.0 * math.log(2.0)
  assert abs(loss.numpy() - expected) / expected < 0.05
  total = values["mlm_loss"].numpy() + 50.0 * values["disc_loss"].numpy()
  assert loss.numpy() == pytest.approx(total, rel=1e-5)


def test_objective_variants_build_and_score(tmp_path):
  for hparams in ({"electra_objective": False}, {"uniform_generator": True},
                  {"untied_generator": False}, {"disallow_correct": True, "temperature": 0.5}):
    model = electra_model.PretrainingModel(tiny_config(tmp_path, **hparams))
    loss, values = model.loss(_batch(), training=True)
    assert np.isfinite(loss.numpy())
    if hparams.get("uniform_generator"):
      assert values["mlm_loss"].numpy() == pytest.approx(math.log(VOCAB_SIZE), 1e-4)
      assert not any(n.startswith("generator") for n in model.all_variables())
    if not hparams.get("untied_generator", True):
      assert model.gen_config == model.disc_config
      assert not any(n.startswith("generator/") for n in model.all_variables())
    if not hparams.get("electra_objective", True):
      assert "disc_loss" not in values and loss.numpy() == values["mlm_loss"].numpy()
      assert not any(n.startswith("discriminator_predictions") for n in model.all_variables())


def _mean_eval_loss(model, batch, draws=4):
  model.rng.reset_from_seed(123)  # the same maskings before and after training
  return np.mean([model.loss(batch, training=False)[0].numpy() for _ in range(draws)])


def test_a_few_optimizer_steps_lower_the_loss(tmp_path):
  model = electra_model.PretrainingModel(tiny_config(tmp_path))
  variables = model.trainable_variables
  optimizer = optimization.AdamWeightDecay(lambda step: 3e-3, weight_decay_rate=0.01)
  optimizer.build(variables)
  batch = _batch(16)

  @tf.function
  def train_step():
    with tf.GradientTape() as tape:
      loss, _ = model.loss(batch, training=True)
    grads = tape.gradient(loss, list(variables.values()))
    optimizer.apply_gradients(zip(grads, variables.values()))
    return loss

  before = _mean_eval_loss(model, batch)
  for _ in range(15):
    train_step()
  after = _mean_eval_loss(model, batch)
  print(f"loss before {before:.3f} after 15 steps {after:.3f}")
  assert after < before - 2.0
  assert int(optimizer.iterations.numpy()) == 15


def test_jit_compiled_loss_matches_variable_layout(tmp_path):
  model = electra_model.PretrainingModel(tiny_config(tmp_path))
  loss, _ = tf.function(lambda b: model.loss(b, True), jit_compile=True)(_batch())
  assert np.isfinite(loss.numpy())
  names = set(model.all_variables())
  assert {"electra/embeddings/word_embeddings", "generator/encoder/layer_0/output/dense/bias",
          "generator_predictions/output_bias", "discriminator_predictions/dense_1/kernel"} <= names
  assert set(model.trainable_variables) == names


# ----------------------------------------------------------------------------------------------
# Evaluation metrics.

def test_eval_metric_aggregation_on_hand_made_numbers():
  # Four real tokens and one padding position; probabilities 0.9/0.4 for the fakes.
  input_mask = tf.constant([[1, 1, 1, 1, 0]])
  labels = tf.constant([[1, 1, 0, 0, 0]])
  probs = tf.constant([[0.9, 0.4, 0.6, 0.1, 0.7]])
  preds = tf.cast(probs > 0.5, tf.int32)
  disc = metrics.disc_sums(input_mask, labels, probs, preds, tf.constant([0.5]))
  mlm = metrics.mlm_sums(tf.constant([[5, 6, 7]]), tf.constant([[1.0, 1.0, 0.0]]),
                         tf.constant([[5, 9, 7]]), tf.constant([[1.0, 3.0, 8.0]]),
                         tf.constant([[5, 6, 1]]))
  sums = {k: v.numpy() for k, v in {**mlm, **disc}.items()}
  results = metrics.aggregate_eval_metrics([sums])
  assert results["masked_lm_accuracy"] == 0.5
  assert results["masked_lm_loss"] == 2.0
  assert results["sampled_masked_lm_accuracy"] == 1.0
  # Pairs (fake, real) ordered correctly: 0.9>0.6, 0.9>0.1, 0.4>0.1 (and 0.9, 0.4 > the
  # zeroed padding) out of 2 x 3 = 5/6 with padding counted as a real token, as the original.
  assert results["disc_auc"] == pytest.approx(5 / 6, abs=1e-5)
  assert results["disc_accuracy"] == 0.5  # the padding position's prediction is ignored
  assert results["disc_precision"] == 0.5 and results["disc_recall"] == 0.5
  assert results["disc_loss"] == 0.5
  # Splitting the same numbers over batches changes nothing.
  halves = [{k: v / 2 for k, v in sums.items()}] * 2
  assert metrics.aggregate_eval_metrics(halves) == pytest.approx(results)


def _auc(labels, scores):
  counts = metrics.confusion_at_thresholds(tf.constant(labels), tf.constant(scores))
  return metrics.roc_auc_from_counts(
      *(counts[k].numpy() for k in ("auc_tp", "auc_fp", "auc_tn", "auc_fn")))


def test_auc_of_separable_and_reversed_scores():
  scores = [0.8, 0.7, 0.2, 0.3]
  assert _auc([1, 1, 0, 0], scores) == pytest.approx(1.0, abs=1e-5)
  assert _auc([0, 0, 1, 1], scores) == pytest.approx(0.0, abs=1e-5)
  assert _auc([1, 0, 1, 0], scores) == pytest.approx(0.5, abs=1e-5)


def test_eval_mask_prob_sets_the_held_out_masking_rate_only(tmp_path):
  batch = _batch(16)
  tokens = batch["input_mask"].numpy().sum(axis=1)
  model = electra_model.PretrainingModel(tiny_config(tmp_path, mask_prob=0.15,
                                                     eval_mask_prob=0.4))
  def masked_per_example(training):
    masked = model._forward(batch, training=training)["masked"]  # pylint: disable=protected-access
    return masked.masked_lm_weights.numpy().sum(axis=1)
  def expected(training):  # as pretrain_helpers.mask counts: round(#tokens x rate) in [1, cap]
    rate, cap = model.config.masking(training)
    return np.clip(np.round(tokens * rate), 1, cap).tolist()
  assert model.config.masking(training=True) == (0.15, model.config.max_predictions_per_seq)
  assert model.config.masking(training=False)[0] == 0.4
  assert masked_per_example(True).tolist() == expected(True)
  assert masked_per_example(False).tolist() == expected(False)
  assert sum(expected(False)) > 2 * sum(expected(True))
  default = tiny_config(tmp_path, mask_prob=0.25)
  assert default.masking(training=False) == default.masking(training=True)


def test_eval_metrics_of_the_model(tmp_path):
  model = electra_model.PretrainingModel(tiny_config(tmp_path))
  sums = [{k: v.numpy() for k, v in model.eval_metrics(_batch(seed=s)).items()} for s in (1, 2)]
  results = metrics.aggregate_eval_metrics(sums)
  assert set(results) == {"masked_lm_accuracy", "masked_lm_loss", "sampled_masked_lm_accuracy",
                          "disc_loss", "disc_auc", "disc_accuracy", "disc_precision",
                          "disc_recall"}
  assert abs(results["masked_lm_loss"] - math.log(VOCAB_SIZE)) < 0.2
  assert all(0.0 <= results[k] <= 1.0 for k in results if k != "masked_lm_loss"
             and k != "disc_loss")
