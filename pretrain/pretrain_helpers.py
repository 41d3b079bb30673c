"""Gathering, scattering, dynamic masking and Gumbel-max sampling for pre-training.

The generator only predicts the N = max_predictions_per_seq masked slots of each sequence, so
everything here works on [B, N] position tensors. All ops are XLA-compatible (the train step
may be jit-compiled). Randomness comes from a `tf.random.Generator` passed in by the caller
(stateless ops seeded from it), so a run is reproducible from its seed.
"""

import tensorflow as tf

from pretrain import pretrain_data

# Probability that a selected position is replaced by [MASK]; otherwise it keeps its token.
# ELECTRA has no BERT-style 10% random-token replacement.
MASK_TOKEN_PROB = 0.85


def _rng(rng):
  return rng if rng is not None else tf.random.get_global_generator()


def gather_positions(sequence, positions):
  """sequence [B, L] or [B, L, D], positions [B, N] -> [B, N] or [B, N, D]."""
  return tf.gather(sequence, positions, batch_dims=1)


def scatter_update(sequence, updates, positions):
  """Writes `updates` [B, N(, D)] at `positions` [B, N] of `sequence` [B, L(, D)].

  As the original: updates aimed at position 0 are ignored (that is where unused slots point,
  and [CLS] must never change), and a position named several times receives the mean of its
  updates (floor of the mean for integer sequences).

  Returns (updated sequence, updated mask [B, L] int32).
  """
  has_depth = sequence.shape.rank == 3
  if not has_depth:
    sequence, updates = sequence[..., tf.newaxis], updates[..., tf.newaxis]
  batch_size, seq_length = tf.shape(sequence)[0], tf.shape(sequence)[1]
  num_positions = tf.shape(positions)[1]
  batch_index = tf.repeat(tf.range(batch_size)[:, tf.newaxis], num_positions, axis=1)
  indices = tf.stack([batch_index, positions], axis=-1)  # [B, N, 2]

  sums = tf.scatter_nd(indices, updates, tf.shape(sequence))
  counts = tf.scatter_nd(indices, tf.ones_like(positions), [batch_size, seq_length])
  not_first = tf.cast(tf.range(seq_length) > 0, tf.int32)[tf.newaxis, :]
  counts *= not_first
  counts_3d = tf.cast(counts[..., tf.newaxis], sequence.dtype)
  if sequence.dtype.is_integer:
    new_values = tf.math.floordiv(sums, tf.maximum(counts_3d, 1))
  else:
    new_values = sums / tf.maximum(counts_3d, 1)
  updated_mask = tf.minimum(counts, 1)
  updated = tf.where(tf.cast(updated_mask[..., tf.newaxis], tf.bool), new_values, sequence)
  if not has_depth:
    updated = tf.squeeze(updated, -1)
  return updated, updated_mask


def get_candidates_mask(inputs, special_ids):
  """True where a token may be masked: inside input_mask and not one of `special_ids`."""
  candidates = tf.cast(inputs.input_mask, tf.bool)
  for special_id in special_ids:
    candidates &= tf.not_equal(inputs.input_ids, special_id)
  return candidates


def _num_to_predict(input_mask, mask_prob, max_predictions):
  """max(1, min(N, round(#tokens x mask_prob))); #tokens counts [CLS]/[SEP] as the original."""
  num_tokens = tf.cast(tf.reduce_sum(input_mask, -1), tf.float32)
  rounded = tf.cast(tf.round(num_tokens * mask_prob), tf.int32)
  return tf.maximum(1, tf.minimum(max_predictions, rounded))


def mask(inputs, mask_prob, max_predictions, mask_id, cls_id, sep_id, rng=None):
  """Dynamic masking of `inputs` (an Inputs with input_ids/input_mask/segment_ids).

  Per example, num_to_predict slots (see _num_to_predict) get positions drawn WITH replacement
  uniformly from the candidates; later slots are unused (position 0, weight 0, id 0). Each used
  slot's token is replaced by [MASK] with probability 0.85 and otherwise left as it is.
  A sequence without any candidate gets no used slot (the original would sample garbage).
  """
  rng = _rng(rng)
  input_ids = inputs.input_ids
  batch_size = tf.shape(input_ids)[0]
  candidates = get_candidates_mask(inputs, (sep_id, cls_id, mask_id))

  num_to_predict = _num_to_predict(inputs.input_mask, mask_prob, max_predictions)
  used = tf.sequence_mask(num_to_predict, max_predictions)
  used &= tf.reduce_any(candidates, axis=-1, keepdims=True)
  weights = tf.cast(used, tf.float32)

  # log(0) = -inf keeps non-candidates out; equal logits elsewhere make the draw uniform.
  candidate_logits = tf.math.log(tf.cast(candidates, tf.float32))
  # XLA's stateless categorical only accepts int32 seeds.
  seed = tf.cast(rng.make_seeds(1)[:, 0], tf.int32)
  positions = tf.random.stateless_categorical(candidate_logits, max_predictions, seed=seed,
                                              dtype=tf.int32)
  positions *= tf.cast(used, tf.int32)
  masked_lm_ids = gather_positions(input_ids, positions) * tf.cast(used, tf.int32)

  # Slots that keep their token point at position 0, which scatter_update ignores.
  use_mask_token = rng.uniform([batch_size, max_predictions]) < MASK_TOKEN_PROB
  mask_positions = positions * tf.cast(use_mask_token, tf.int32)
  masked_ids, _ = scatter_update(input_ids, tf.fill(tf.shape(positions), mask_id),
                                 mask_positions)
  return pretrain_data.get_updated_inputs(
      inputs, input_ids=tf.stop_gradient(masked_ids), masked_lm_positions=positions,
      masked_lm_ids=masked_lm_ids, masked_lm_weights=weights)


def unmask(inputs):
  """Puts the original tokens back at the masked positions."""
  unmasked_ids, _ = scatter_update(inputs.input_ids, inputs.masked_lm_ids,
                                   inputs.masked_lm_positions)
  return pretrain_data.get_updated_inputs(inputs, input_ids=unmasked_ids)


def sample_from_softmax(logits, temperature=1.0, disallow=None, rng=None):
  """One id per row of `logits` [..., V], drawn from softmax(logits / temperature).

  Gumbel-max: argmax(logits + g) with g = -log(-log(u + 1e-9) + 1e-9) is an exact sample of
  the softmax (the epsilons are the original's). `disallow` ([..., V], 1 = forbidden) pushes
  those logits down by 1000 so they are practically never drawn. No gradient flows back.
  """
  rng = _rng(rng)
  logits = tf.cast(logits, tf.float32) / temperature
  if disallow is not None:
    logits -= 1000.0 * tf.cast(disallow, tf.float32)
  uniform = rng.uniform(tf.shape(logits))
  gumbel = -tf.math.log(-tf.math.log(uniform + 1e-9) + 1e-9)
  return tf.stop_gradient(tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32))
