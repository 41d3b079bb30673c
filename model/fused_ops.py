"""The encoder's fused element-wise pieces: each an XLA-compiled forward and backward pair.

Why (figures in bench/README.md). The maths is that of model/modeling.py; only how it is
computed differs:
  - every element-wise stretch between two GEMMs (bias + GELU; bias + dropout + residual +
    LayerNorm; mask + softmax + dropout; bias + head split) is ONE XLA-compiled function with a
    hand-written backward, so it costs one pass over memory forward and one backward instead of
    ten or more TensorFlow kernels. Inside an XLA-compiled train step these functions are simply
    inlined; in a step that is not compiled (bfloat16 on CPU, where oneDNN's bfloat16 GEMMs are
    twice as fast as XLA's) the GEMMs run on oneDNN and only these pieces go through XLA;
  - dropout masks come from a counter-based hash of (element index, a per-call random seed), so
    the backward pass regenerates a mask instead of storing it, and drawing a mask costs a few
    integer operations inside the fused loop instead of a separate random-number kernel.
"""

import contextlib
import functools
import math
import os
import threading

import tensorflow as tf


def _prefer_wide_vectors():
  """Lets XLA's CPU code generator use 512-bit vectors where the CPU has them (LLVM otherwise
  prefers 256-bit on AVX-512 machines). The fused element-wise pieces below run about 25%
  faster (bias + GELU backward over 4096 x 1024: 4.7 -> 3.1 ms). XLA reads XLA_FLAGS when it
  first compiles, so setting it at import is in time; a value the user set is kept."""
  flags = os.environ.get("XLA_FLAGS", "")
  if "xla_cpu_prefer_vector_width" not in flags:
    os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_prefer_vector_width=512").strip()


_prefer_wide_vectors()

LAYER_NORM_EPSILON = 1e-12  # as in the original BERT / ELECTRA code


# Each piece is a pair of XLA-compiled functions, forward and backward, joined by
# tf.custom_gradient. The backward recomputes what is cheap to recompute (the dropout mask, the
# softmax, the LayerNorm statistics) from the forward's inputs, so nothing but the inputs has to
# be kept between the passes. Arithmetic is float32 inside; inputs and outputs keep their dtype.

class Fused:
  """`fn` as one fused piece: XLA-compiled by itself, or traced as plain ops inside
  `inline_fused_ops()` (inside a function that XLA compiles as a whole, which fuses them anyway;
  in TF 2.21 a jit-compiled function nested in a compiled step inside a tf.while_loop is
  recompiled on every iteration)."""

  def __init__(self, fn):
    self.plain = fn
    self.compiled = tf.function(fn, jit_compile=True, autograph=False)

  def __call__(self, *args):
    return (self.plain if getattr(_INLINE, "active", False) else self.compiled)(*args)


_INLINE = threading.local()


@contextlib.contextmanager
def inline_fused_ops():
  """Traces the fused pieces as plain ops: for code that is XLA-compiled as a whole."""
  previous = getattr(_INLINE, "active", False)
  _INLINE.active = True
  try:
    yield
  finally:
    _INLINE.active = previous


def _to_float32(x):
  """float32(x). bfloat16 -> float32 is a 16-bit shift, written out with integer ops: XLA's CPU
  code generator vectorises those twice as wide as its own bfloat16 conversion (a bias + GELU
  over 4096 x 1024 bfloat16 values: 2.6 -> 1.6 ms)."""
  if x.dtype != tf.bfloat16:
    return tf.cast(x, tf.float32)
  bits = tf.cast(tf.bitcast(x, tf.uint16), tf.uint32)
  return tf.bitcast(tf.bitwise.left_shift(bits, tf.constant(16, tf.uint32)), tf.float32)


def _from_float32(x, dtype):
  """float32 `x` in `dtype`; to bfloat16 with round-to-nearest-even (as tf.cast), NaN kept."""
  if dtype != tf.bfloat16:
    return tf.cast(x, dtype)
  bits = tf.bitcast(x, tf.uint32)
  lsb = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, tf.constant(16, tf.uint32)),
                               tf.constant(1, tf.uint32))
  rounded = tf.bitwise.right_shift(bits + tf.constant(0x7FFF, tf.uint32) + lsb,
                                   tf.constant(16, tf.uint32))
  rounded = tf.where(tf.math.is_nan(x), tf.constant(0x7FC0, tf.uint32), rounded)
  return tf.bitcast(tf.cast(rounded, tf.uint16), tf.bfloat16)


def _mix32(h):
  """murmur3's 32-bit finaliser: a bijection of uint32 that spreads every bit over the word."""
  h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))
  h = h * tf.constant(0x85EBCA6B, tf.uint32)
  h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(13, tf.uint32)))
  h = h * tf.constant(0xC2B2AE35, tf.uint32)
  return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))


def dropout_seed():
  """A fresh seed for one dropout mask: two int32 from TF's global generator (which
  tf.random.set_seed seeds, as it does tf.nn.dropout's)."""
  return tf.random.uniform([2], minval=0, maxval=2 ** 31 - 1, dtype=tf.int32)


def _keep_mask(shape, seed, rate):
  """Bernoulli(1 - rate) keep mask: hash(element index, seed) >= rate * 2^32.

  Counter-based like Philox, but a single round of murmur3's finaliser over the element index
  xor a per-call 32-bit key: a few integer operations that XLA fuses into the loop that uses
  the mask. Masks of different keys are hashes of disjoint index sets in all but a 2^-k fraction
  of cases (k = 32 - log2(size)), so they are practically independent. The keep probability is
  exact to 2^-32.
  """
  seed = tf.bitcast(seed, tf.uint32)
  key = _mix32(tf.bitwise.bitwise_xor(seed[0], _mix32(seed[1])))
  index = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
  h = _mix32(tf.bitwise.bitwise_xor(index, key))
  threshold = min(int(round(rate * 2.0 ** 32)), 2 ** 32 - 1)
  return h >= tf.constant(threshold, tf.uint32)


def _hash_dropout(x, seed, rate):
  """Inverted dropout of float32 `x` with the mask of (seed, rate); rate 0 is the identity."""
  if rate == 0.0:
    return x
  return tf.where(_keep_mask(tf.shape(x), seed, rate), x * (1.0 / (1.0 - rate)),
                  tf.zeros_like(x))


def _rows_sum(x):
  return tf.reduce_sum(x, axis=0)


# A bias gradient (the column sums of the gradient that leaves a fused backward piece) as a
# separate compiled function over the returned tensor: computed inside the piece, XLA's CPU
# backend materialises a float32 copy of the whole gradient for the reduction (for bias + GELU in
# bfloat16: 72 MB of memory traffic instead of 32).
_BIAS_GRAD = Fused(lambda dx: _rows_sum(_to_float32(dx)))


# -- mask + softmax + dropout of the attention scores ----------------------------------------------

def _attention_probs_fwd(scores, mask_adder, seed, rate):
  """(dropout(probs), probs) in the dtype of `scores`; (probs,) when rate is 0."""
  probs = tf.nn.softmax(_to_float32(scores) + mask_adder, axis=-1)
  if rate == 0.0:
    return (_from_float32(probs, scores.dtype),)
  return (_from_float32(_hash_dropout(probs, seed, rate), scores.dtype),
          _from_float32(probs, scores.dtype))


def _attention_probs_bwd(dy, y, probs):
  """The scores' gradient from the forward's outputs, without recomputing anything: with
  d = dropout'(dy) = dy * keep / (1 - rate) and y = probs * keep / (1 - rate), the softmax
  gradient probs * (d - sum(d * probs)) is dy * y - probs * sum(dy * y)."""
  dy_y = _to_float32(dy) * _to_float32(y)
  dscores = dy_y - _to_float32(probs) * tf.reduce_sum(dy_y, axis=-1, keepdims=True)
  return _from_float32(dscores, dy.dtype)


_ATTENTION_PROBS_FWD = Fused(_attention_probs_fwd)
_ATTENTION_PROBS_BWD = Fused(_attention_probs_bwd)


@functools.lru_cache(maxsize=None)
def _attention_probs_op(rate):
  @tf.custom_gradient
  def attention_probs(scores, mask_adder, seed):
    outputs = _ATTENTION_PROBS_FWD(scores, mask_adder, seed, rate)
    y, probs = outputs[0], outputs[-1]
    def grad(dy):
      return _ATTENTION_PROBS_BWD(dy, y, probs), None, None
    return y, grad
  return attention_probs


def attention_probs(scores, mask_adder, rate, training):
  """dropout(softmax(float32(scores) + mask_adder)) in the dtype of `scores` [B, N, Lq, Lk]."""
  rate = rate if training else 0.0
  seed = dropout_seed() if rate > 0 else tf.zeros([2], tf.int32)
  return _attention_probs_op(float(rate))(scores, mask_adder, seed)


# -- bias + dropout + residual + LayerNorm -------------------------------------------------------

def _normalize(h):
  """(h - mean) * rsqrt(variance + eps) over the last axis, and the rsqrt; float32."""
  mean, variance = tf.nn.moments(h, axes=[-1], keepdims=True)
  rstd = tf.math.rsqrt(variance + LAYER_NORM_EPSILON)
  return (h - mean) * rstd, rstd


def _layer_norm_grads(dy, normalized, rstd, gamma):
  """The gradients of normalized * gamma + beta with respect to its input h, gamma and beta,
  from float32 dy and _normalize(h); gamma's and beta's are summed over all leading axes."""
  axes = list(range(len(dy.shape) - 1))
  dgamma = tf.reduce_sum(dy * normalized, axis=axes)
  dbeta = tf.reduce_sum(dy, axis=axes)
  g = dy * gamma
  dh = rstd * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
               - normalized * tf.reduce_mean(g * normalized, axis=-1, keepdims=True))
  return dh, dgamma, dbeta


def _residual_layer_norm_input(x, bias, residual, seed, rate):
  h = _hash_dropout(_to_float32(x) + bias, seed, rate)
  return h + _to_float32(residual)


def _residual_layer_norm_fwd(x, bias, residual, gamma, beta, seed, rate):
  normalized, _ = _normalize(_residual_layer_norm_input(x, bias, residual, seed, rate))
  return _from_float32(normalized * gamma + beta, x.dtype)


def _residual_layer_norm_bwd(dy, x, bias, residual, gamma, beta, seed, rate):
  del beta
  normalized, rstd = _normalize(_residual_layer_norm_input(x, bias, residual, seed, rate))
  dh, dgamma, dbeta = _layer_norm_grads(_to_float32(dy), normalized, rstd, gamma)
  dx = _from_float32(_hash_dropout(dh, seed, rate), x.dtype)
  return dx, _from_float32(dh, residual.dtype), dgamma, dbeta


_RESIDUAL_LAYER_NORM_FWD = Fused(_residual_layer_norm_fwd)
_RESIDUAL_LAYER_NORM_BWD = Fused(_residual_layer_norm_bwd)


@functools.lru_cache(maxsize=None)
def _residual_layer_norm_op(rate):
  @tf.custom_gradient
  def residual_layer_norm(x, bias, residual, gamma, beta, seed):
    def grad(dy):
      dx, dresidual, dgamma, dbeta = _RESIDUAL_LAYER_NORM_BWD(dy, x, bias, residual, gamma, beta,
                                                              seed, rate)
      return dx, _BIAS_GRAD(dx), dresidual, dgamma, dbeta, None
    return _RESIDUAL_LAYER_NORM_FWD(x, bias, residual, gamma, beta, seed, rate), grad
  return residual_layer_norm


def residual_layer_norm(x, bias, residual, layer_norm, rate, training):
  """layer_norm(dropout(x + bias) + residual), x and residual [tokens, width]; float32 inside,
  returned in x's dtype. `bias` is a float32 [width] tensor, `layer_norm` a LayerNorm."""
  rate = rate if training else 0.0
  seed = dropout_seed() if rate > 0 else tf.zeros([2], tf.int32)
  return _residual_layer_norm_op(float(rate))(
      x, tf.convert_to_tensor(bias), residual, tf.convert_to_tensor(layer_norm.gamma),
      tf.convert_to_tensor(layer_norm.beta), seed)


# -- plain LayerNorm and dropout -----------------------------------------------------------------

def _layer_norm_fwd(x, gamma, beta):
  normalized, _ = _normalize(_to_float32(x))
  return _from_float32(normalized * gamma + beta, x.dtype)


def _layer_norm_bwd(dy, x, gamma):
  normalized, rstd = _normalize(_to_float32(x))
  dx, dgamma, dbeta = _layer_norm_grads(_to_float32(dy), normalized, rstd, gamma)
  return _from_float32(dx, x.dtype), dgamma, dbeta


_LAYER_NORM_FWD = Fused(_layer_norm_fwd)
_LAYER_NORM_BWD = Fused(_layer_norm_bwd)


@tf.custom_gradient
def layer_norm(x, gamma, beta):
  """(x - mean) * rsqrt(variance + eps) * gamma + beta over the last axis; float32 inside."""
  def grad(dy):
    return _LAYER_NORM_BWD(dy, x, gamma)
  return _LAYER_NORM_FWD(x, gamma, beta), grad


def _dropout_fwd(x, seed, rate):
  return _from_float32(_hash_dropout(_to_float32(x), seed, rate), x.dtype)


_DROPOUT = Fused(_dropout_fwd)


@functools.lru_cache(maxsize=None)
def _dropout_op(rate):
  @tf.custom_gradient
  def hash_dropout(x, seed):
    def grad(dy):
      return _DROPOUT(dy, seed, rate), None
    return _DROPOUT(x, seed, rate), grad
  return hash_dropout


def dropout(x, rate, training):
  """Inverted dropout with the hashed mask (one fused pass each way); the identity when not
  training."""
  if not training or rate == 0.0:
    return x
  return _dropout_op(float(rate))(x, dropout_seed())


# -- bias + GELU ---------------------------------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gaussian_cdf(x):
  return 0.5 * (1.0 + tf.math.erf(x * _SQRT_HALF))


def gelu(x):
  """Exact GELU, x * Phi(x), with the Gaussian CDF through erf (not the tanh approximation)."""
  return x * _gaussian_cdf(x)


def _gelu_grad(z):
  """d/dz [z * Phi(z)] = Phi(z) + z * phi(z)."""
  return _gaussian_cdf(z) + z * _INV_SQRT_2PI * tf.exp(-0.5 * tf.square(z))


def _bias_gelu_fwd(x, bias):
  return _from_float32(gelu(_to_float32(x) + bias), x.dtype)


def _bias_gelu_bwd(dy, x, bias):
  return _from_float32(_to_float32(dy) * _gelu_grad(_to_float32(x) + bias), x.dtype)


_BIAS_GELU_FWD = Fused(_bias_gelu_fwd)
_BIAS_GELU_BWD = Fused(_bias_gelu_bwd)


@tf.custom_gradient
def bias_gelu(x, bias):
  """Exact (erf) GELU of x + bias, x [tokens, width], bias a float32 [width] tensor."""
  def grad(dy):
    dx = _BIAS_GELU_BWD(dy, x, bias)
    return dx, _BIAS_GRAD(dx)
  return _BIAS_GELU_FWD(x, bias), grad


# -- bias + split into heads ---------------------------------------------------------------------

def _split_heads_fwd(x, bias, num_parts, num_heads):
  """[B, L, P*N*D] + bias -> [P, B, N, L, D] (P = 3 for query, key and value)."""
  y = _from_float32(_to_float32(x) + bias, x.dtype)
  shape = tf.shape(x)
  y = tf.reshape(y, [shape[0], shape[1], num_parts, num_heads, -1])
  return tf.transpose(y, [2, 0, 3, 1, 4])


def _split_heads_bwd(dy):
  """The gradient of x for dy [P, B, N, L, D]: transposed back to [B, L, P*N*D]."""
  dx = tf.transpose(dy, [1, 3, 0, 2, 4])  # [B, L, P, N, D]
  shape = tf.shape(dx)
  return tf.reshape(dx, [shape[0], shape[1], -1])


_SPLIT_HEADS_FWD = Fused(_split_heads_fwd)
_SPLIT_HEADS_BWD = Fused(_split_heads_bwd)


@functools.lru_cache(maxsize=None)
def _split_heads_op(num_parts, num_heads):
  @tf.custom_gradient
  def split_heads(x, bias):
    def grad(dy):
      dx = _SPLIT_HEADS_BWD(dy)
      # The bias sum over the transposed-back gradient, in the same piece, reads it in the
      # transposed order (float32: 4.6 ms instead of 1 ms for the whole backward).
      return dx, _BIAS_GRAD(tf.reshape(dx, [-1, tf.shape(dx)[-1]]))
    return _SPLIT_HEADS_FWD(x, bias, num_parts, num_heads), grad
  return split_heads


def split_heads(x, bias, num_parts, num_heads):
  """x [B, L, P*N*D] + float32 bias -> [P, B, N, L, D], one fused pass each way."""
  return _split_heads_op(num_parts, num_heads)(x, tf.convert_to_tensor(bias))
