"""Reading predict.py's raw inputs and writing its output lines: the pieces every task shares.

Each task parses its own input format and formats its own results (`Task.read_raw_inputs`,
`Task.output_lines`) with these helpers, so that errors read alike and TSV / JSON output is
escaped alike whatever the task.
"""

import json


class InputError(ValueError):
  """A malformed raw input; the message is one line naming the input line."""


def json_object(line, line_number):
  """The JSON object on `line`; InputError for anything else."""
  try:
    value = json.loads(line)
  except json.JSONDecodeError as e:
    raise InputError(f"line {line_number}: not valid JSON ({e.msg}, column {e.colno})") from None
  if not isinstance(value, dict):
    raise InputError(f"line {line_number}: expected a JSON object, got {type(value).__name__}")
  return value


def text_field(value, key, line_number, required=True):
  """value[key] as a non-empty string (None when absent and not required)."""
  text = value.get(key)
  if text is None and not required:
    return None
  if not isinstance(text, str) or not text.strip():
    raise InputError(f"line {line_number}: \"{key}\" must be a non-empty string")
  return text


def numbered_lines(text):
  """(line number, line) of the non-blank lines of `text`, numbered from 1."""
  for line_number, line in enumerate(text.splitlines(), start=1):
    if line.strip():
      yield line_number, line


def tsv_cell(value):
  return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def tsv_line(cells):
  return "\t".join(tsv_cell(cell) for cell in cells)


def json_line(value):
  return json.dumps(value, ensure_ascii=False)
