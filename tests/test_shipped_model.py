"""The bundled pre-trained model (sample_data/models/electra-mini) loads and predicts.

It is what the demo fine-tunes to show learning; tools/ship_pretrained_model.py made it from a
2-layer pre-training run (its MODEL_CARD.json says how to reproduce it).
"""

import json
import os

import numpy as np
import tensorflow as tf

from model import modeling
from model import tokenization
from util import checkpoint as checkpoint_lib

SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "sample_data", "models", "electra-mini")


def load_shipped_encoder():
  config = modeling.BertConfig.from_json_file(os.path.join(SHIPPED, "discriminator_config.json"))
  with open(os.path.join(SHIPPED, "pretrain_config.json"), encoding="utf-8") as f:
    embedding_size = json.load(f)["embedding_size"]
  encoder = modeling.BertModel(config, "electra", embedding_size=embedding_size)
  restored = checkpoint_lib.restore(SHIPPED, modeling.named_variables(encoder))
  return encoder, restored


def test_shipped_model_is_small_and_documented():
  size = sum(os.path.getsize(os.path.join(SHIPPED, name)) for name in os.listdir(SHIPPED))
  assert size <= 20e6
  with open(os.path.join(SHIPPED, "MODEL_CARD.json"), encoding="utf-8") as f:
    card = json.load(f)
  assert card["step"] > 0 and card["held_out_eval"]["held_out"]
  corpus = card["fingerprints"]["corpus_sha256"]
  assert corpus and all(len(digest) == 64 for digest in corpus.values()) and card["reproduce"]


def test_shipped_model_loads_every_encoder_variable_and_encodes_text():
  encoder, restored = load_shipped_encoder()
  assert set(restored) == set(modeling.named_variables(encoder))
  tokenizer = tokenization.FullTokenizer(os.path.join(SHIPPED, "vocab.txt"))
  ids = tokenizer.convert_tokens_to_ids(["[CLS]"] + tokenizer.tokenize("这家店的菜很好吃") + ["[SEP]"])
  assert tokenizer.vocab["[UNK]"] not in ids
  hidden = encoder(tf.constant([ids]), tf.ones([1, len(ids)], tf.int32),
                   tf.zeros([1, len(ids)], tf.int32)).numpy()
  assert hidden.shape == (1, len(ids), encoder.config.hidden_size)
  assert np.isfinite(hidden).all() and hidden.std() > 0.1
