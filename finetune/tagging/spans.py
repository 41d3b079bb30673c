"""Tags and entity spans: parsing BIO / BIOES tags, extracting spans, writing spans as tags.

A tag is "O" or "<prefix>-<TYPE>": prefix B (begin), I (inside), E (end), S (single) or M
(middle, the BMES spelling of I used by e.g. the Resume NER set; read as I). A span is
(type, start, end) over word positions, end exclusive.

Span extraction is lenient, as conlleval's (and seqeval's default mode) are, so malformed
predicted sequences still score: an I- or E- that does not continue a span of its own type
starts one (e.g. O I-PER I-PER is one PER span), a type change ends the open span, and a B-
or I- followed by O, B- or S- ends it (a BIOES span need not close with E-).
"""

SCHEMES = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
OUTSIDE = "O"
_PREFIXES = frozenset("BIESM")


def label_list(entity_types, scheme):
  """"O" then every prefix of the scheme for each type: O, B-PER, I-PER, B-LOC, ..."""
  if scheme not in SCHEMES:
    raise ValueError(f"unknown tagging scheme {scheme!r} (schemes: {', '.join(SCHEMES)})")
  return [OUTSIDE] + [f"{prefix}-{kind}" for kind in entity_types for prefix in SCHEMES[scheme]]


def parse_tag(tag):
  """(prefix, type) of a tag, (O, None) for O; ValueError for anything else."""
  if tag == OUTSIDE:
    return OUTSIDE, None
  if len(tag) < 3 or tag[0] not in _PREFIXES or tag[1] != "-":
    raise ValueError(f"tag {tag!r} is neither O nor B-/I-/E-/S-/M- followed by a type")
  return ("I" if tag[0] == "M" else tag[0]), tag[2:]


def _ends(prev_prefix, prefix, prev_type, kind):
  """Whether the span open at the previous word ends before this word."""
  return (prev_prefix in ("E", "S") or
          (prev_prefix in ("B", "I") and prefix in ("B", "S", OUTSIDE)) or
          (prev_prefix != OUTSIDE and prev_type != kind))


def _starts(prev_prefix, prefix, prev_type, kind):
  """Whether a span starts at this word."""
  return (prefix in ("B", "S") or
          (prefix in ("I", "E") and prev_prefix in ("E", "S", OUTSIDE)) or
          (prefix != OUTSIDE and prev_type != kind))


def extract_spans(tags):
  """[(type, start, end)] of a tag sequence (strings), in order."""
  spans = []
  open_start = None
  prev_prefix, prev_type = OUTSIDE, None
  for position, tag in enumerate(list(tags) + [OUTSIDE]):
    prefix, kind = parse_tag(tag)
    if open_start is not None and _ends(prev_prefix, prefix, prev_type, kind):
      spans.append((prev_type, open_start, position))
      open_start = None
    if _starts(prev_prefix, prefix, prev_type, kind):
      open_start = position
    prev_prefix, prev_type = prefix, kind
  return spans


def spans_to_tags(spans, length, scheme):
  """The tags of `length` words holding `spans` (non-overlapping) in `scheme`."""
  tags = [OUTSIDE] * length
  for kind, start, end in spans:
    if scheme == "BIOES" and end - start == 1:
      tags[start] = f"S-{kind}"
      continue
    tags[start] = f"B-{kind}"
    for position in range(start + 1, end):
      tags[position] = f"I-{kind}"
    if scheme == "BIOES":
      tags[end - 1] = f"E-{kind}"
  return tags


def span_counts(gold_spans, predicted_spans):
  """(correct, gold, predicted) counts of exact (type, start, end) matches."""
  gold, predicted = set(gold_spans), set(predicted_spans)
  return len(gold & predicted), len(gold), len(predicted)


def precision_recall_f1(correct, n_gold, n_predicted):
  """In percent; 0 where undefined (no predicted or no gold spans)."""
  precision = 100.0 * correct / n_predicted if n_predicted else 0.0
  recall = 100.0 * correct / n_gold if n_gold else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return precision, recall, f1
