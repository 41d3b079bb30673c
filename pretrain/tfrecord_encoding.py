"""The bytes of the output files: tf.train.Example records and their TFRecord framing.

What lives where:
- here: `ExampleEncoder` writes the tf.train.Example wire format directly, without building
  protobuf objects; `frame_records` wraps a batch of records in TFRecord framing, with the
  masked CRC32C checksums of the whole batch computed at once with numpy (`crc32c_batch`);
- `pretrain/example_builder.py`: which token ids go into an example;
- `pretrain/unit_worker.py`: the worker processes that write the framed records.

TensorFlow is never imported (it would slow down the start of every worker process); the tests
check that these bytes equal what TensorFlow's serializer and TFRecordWriter produce.
"""

import numpy as np

# ---------------------------------------------------------------------------------------------
# tf.train.Example wire format, written directly.
#
#   Example   { Features features = 1; }
#   Features  { map<string, Feature> feature = 1; }   (entry: key = 1, value = 2)
#   Feature   { Int64List int64_list = 3; }
#   Int64List { repeated int64 value = 1 [packed]; }
#
# Every length-delimited field is tag byte + varint length + payload. Entries are written in key
# order, which is what protobuf's deterministic serialization produces (the tests compare).


def encode_varint(value):
  """Protobuf base-128 varint of a non-negative int."""
  out = bytearray()
  while value > 0x7F:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def _field(tag, payload):
  return bytes([tag]) + encode_varint(len(payload)) + payload


def _feature_entry(key, packed_values):
  """One `Features.feature` map entry holding an Int64List, as raw bytes."""
  int64_list = _field(0x0A, packed_values) if packed_values else b""
  feature = _field(0x1A, int64_list)
  entry = _field(0x0A, key.encode()) + _field(0x12, feature)
  return _field(0x0A, entry)


class ExampleEncoder:
  """Serializes (A, B) pairs as tf.train.Example bytes without building protobuf objects.

  Only `input_ids` needs varint encoding (a lookup table per vocabulary id); `input_mask` and
  `segment_ids` are 0/1 bytes whose whole entries depend only on the lengths, so they are
  cached.
  """

  def __init__(self, max_seq_length, cls_id, sep_id, vocab_size):
    self.max_seq_length = max_seq_length
    self._varints = [encode_varint(i) for i in range(vocab_size)]
    self._cls = self._varints[cls_id]
    self._sep = self._varints[sep_id]
    self._zeros = [bytes(n) for n in range(max_seq_length + 1)]
    self._mask_entries = {}
    self._segment_entries = {}
    self._ids_headers = {}
    self._example_headers = {}

  def encode(self, first, second):
    """The serialized Example for segments `first` and `second` (lists of ids)."""
    varint = self._varints.__getitem__
    length = len(first) + len(second) + (3 if second else 2)
    ids = b"".join((self._cls, b"".join(map(varint, first)), self._sep,
                    b"".join(map(varint, second)), self._sep if second else b"",
                    self._zeros[self.max_seq_length - length]))
    features = b"".join((self._ids_header(len(ids)), ids, self._mask_entry(length),
                         self._segment_entry(len(first) + 2, length)))
    header = self._example_headers.get(len(features))
    if header is None:
      header = self._example_headers[len(features)] = b"\x0a" + encode_varint(len(features))
    return header + features

  def _ids_header(self, payload_length):
    # Everything before the packed ids depends only on their byte length.
    header = self._ids_headers.get(payload_length)
    if header is None:
      entry = _feature_entry("input_ids", bytes(payload_length))
      header = entry[:len(entry) - payload_length]
      self._ids_headers[payload_length] = header
    return header

  def _mask_entry(self, length):
    entry = self._mask_entries.get(length)
    if entry is None:
      values = b"\x01" * length + bytes(self.max_seq_length - length)
      entry = self._mask_entries[length] = _feature_entry("input_mask", values)
    return entry

  def _segment_entry(self, first_length, length):
    key = (first_length, length)
    entry = self._segment_entries.get(key)
    if entry is None:
      values = (bytes(first_length) + b"\x01" * (length - first_length) +
                bytes(self.max_seq_length - length))
      entry = _feature_entry("segment_ids", values)
      self._segment_entries[key] = entry
    return entry


# ---------------------------------------------------------------------------------------------
# TFRecord framing: u64 length, masked CRC32C of the length, data, masked CRC32C of the data.
#
# Python has no fast CRC32C, so the checksums of a whole batch of records are computed at once:
# records are right-aligned in a zero-padded matrix and processed 4 bytes (one column) per step
# with two 64K-entry tables. Leading zeros do not change a CRC register that starts at 0, and
# the real initial value (all ones) is added back afterwards by linearity: for a message of
# length L, crc(init, msg) = crc(0, msg) ^ crc(init, L zero bytes).

_CRC32C_POLY = 0x82F63B78  # Castagnoli, bit-reversed
_MASK_DELTA = 0xA282EAD8


def _crc32c_tables():
  byte_table = np.arange(256, dtype=np.uint32)
  for _ in range(8):
    byte_table = np.where(byte_table & 1, (byte_table >> 1) ^ _CRC32C_POLY, byte_table >> 1)
  byte_table = byte_table.astype(np.uint32)

  def four_zero_bytes(state):
    for _ in range(4):
      state = byte_table[state & 0xFF] ^ (state >> 8)
    return state

  low = np.arange(1 << 16, dtype=np.uint32)
  return byte_table, four_zero_bytes(low), four_zero_bytes(low << 16)


_BYTE_TABLE, _LOW_TABLE, _HIGH_TABLE = _crc32c_tables()
_INIT_CORRECTION = [0xFFFFFFFF]  # [L] = crc register after L zero bytes from all ones


def _init_correction(lengths):
  table = _INIT_CORRECTION
  needed = int(lengths.max()) + 1
  while len(table) < needed:
    state = table[-1]
    table.append(int(_BYTE_TABLE[state & 0xFF]) ^ (state >> 8))
  return np.asarray(table, dtype=np.uint32)[lengths]


def crc32c_batch(records):
  """CRC32C (Castagnoli) of every bytes object in `records`, as a uint32 array."""
  count = len(records)
  if count == 0:
    return np.zeros(0, dtype=np.uint32)
  lengths = np.fromiter(map(len, records), dtype=np.int64, count=count)
  width = -(-int(lengths.max()) // 4) * 4
  padding = bytes(width)
  pieces = []
  for record in records:
    pieces.append(padding[:width - len(record)])
    pieces.append(record)
  words = np.frombuffer(b"".join(pieces), dtype="<u4").reshape(count, width // 4)
  columns = np.ascontiguousarray(words.T).astype(np.uint32, copy=False)
  state = np.zeros(count, dtype=np.uint32)
  for column in columns:
    state ^= column
    state = _LOW_TABLE[state & 0xFFFF] ^ _HIGH_TABLE[state >> 16]
  return state ^ _init_correction(lengths) ^ np.uint32(0xFFFFFFFF)


def mask_crc(crc):
  """TFRecord's masking of a CRC (rotate right by 15, add a constant), on uint32 arrays."""
  crc = np.asarray(crc, dtype=np.uint32)
  return ((crc >> 15) | (crc << 17)) + np.uint32(_MASK_DELTA)


def frame_records(records):
  """TFRecord-framed bytes of `records` and the end offset of every framed record."""
  count = len(records)
  lengths = np.fromiter(map(len, records), dtype="<u8", count=count)
  length_bytes = lengths.tobytes()
  length_fields = [length_bytes[8 * i:8 * i + 8] for i in range(count)]
  length_crcs = mask_crc(crc32c_batch(length_fields)).astype("<u4")
  headers = np.empty((count, 12), dtype=np.uint8)
  headers[:, :8] = lengths.view(np.uint8).reshape(count, 8)
  headers[:, 8:] = length_crcs.view(np.uint8).reshape(count, 4)
  headers = memoryview(headers.tobytes())
  data_crcs = memoryview(mask_crc(crc32c_batch(records)).astype("<u4").tobytes())
  pieces = []
  for i, record in enumerate(records):
    pieces += (headers[12 * i:12 * i + 12], record, data_crcs[4 * i:4 * i + 4])
  ends = np.cumsum(lengths.astype(np.int64) + 16)
  return b"".join(pieces), ends


# ---------------------------------------------------------------------------------------------
# Checking framed records: a damaged shard found before training rather than by a DataLossError
# (which names no file) minutes into a run.

MAX_RECORD_BYTES = 1 << 30  # a longer "length" is a damaged header, not a record
VERIFY_BATCH = 2048  # records whose checksums are computed at once


def first_framing_problem(reader, max_bytes):
  """(record index, byte offset, what is wrong) of the first bad record in the TFRecord stream
  `reader` (a binary file object at offset 0), or None. Reads records until `max_bytes` have
  been read (then stops: the rest is not checked) or the end of the file (which must fall
  exactly after a record). Checks the length and data checksums of every record read."""
  index, offset, pending = 0, 0, []  # pending: (index, offset, header, data, stored data crc)
  while offset < max_bytes:
    header = reader.read(12)
    if not header:
      break
    length = int.from_bytes(header[:8], "little") if len(header) == 12 else 0
    if len(header) < 12 or length > MAX_RECORD_BYTES:
      return index, offset, "the record header is truncated or damaged"
    body = reader.read(length + 4)
    if len(body) < length + 4:
      return index, offset, f"the file ends inside the record ({len(body)} of {length + 4} bytes)"
    pending.append((index, offset, header, body[:length], body[length:]))
    index, offset = index + 1, offset + 16 + length
    if len(pending) >= VERIFY_BATCH:
      problem, pending = _checksum_problem(pending), []
      if problem:
        return problem
  return _checksum_problem(pending) if pending else None


def _checksum_problem(pending):
  headers = [header for _, _, header, _, _ in pending]
  length_crcs = mask_crc(crc32c_batch([header[:8] for header in headers]))
  data_crcs = mask_crc(crc32c_batch([data for _, _, _, data, _ in pending]))
  for (index, offset, header, _, stored), length_crc, data_crc in zip(pending, length_crcs,
                                                                       data_crcs):
    if int.from_bytes(header[8:], "little") != int(length_crc):
      return index, offset, "the length checksum does not match"
    if int.from_bytes(stored, "little") != int(data_crc):
      return index, offset, "the data checksum does not match"
  return None
