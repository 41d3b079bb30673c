"""Builds ELECTRA pre-training TFRecords from plain text, using every core.

Input: text files with one sentence per line and a blank line between documents.
Output: `pretrain_data.tfrecord-<i>-of-<n>` shards of tf.train.Example records with the int64
features `input_ids`, `input_mask` and `segment_ids` (each `max_seq_length` long, zero-padded),
plus `summary.json` with statistics and the settings used.

Example building follows the original ELECTRA builder: tokenized sentences are accumulated until
their length reaches a target length (usually `max_seq_length`) or a document ends; the sentences
are then split into segment A and B, truncated and wrapped as `[CLS] A [SEP] B [SEP]`. The
original Chinese-ELECTRA release puts almost every sentence into A (google-research/electra#20);
the corrected rule is the default and the old one is kept behind `--legacy-segment-bug`.

How the work is split (and why the output depends only on the input and the seed):
- Every input file is cut into "units" of about `unit_bytes`, each ending at a document boundary
  (at any line end with --no-blanks-separate-docs; the end of a unit then cuts the example being
  built short, about once per unit). A unit's examples come from its own random generator
  seeded with (seed, unit index), so they do not depend on which process builds it.
- Worker processes turn units into ready-framed TFRecord fragments in `<out>.tmp-<pid>/parts`.
- Once the number of examples is known, the units are put in a seeded random order and the
  example sequence is cut into `n` equally sized shards by copying byte ranges.
- The finished temporary directory is renamed to the output directory, so a crash or Ctrl-C
  never leaves a directory that looks complete.

Speed: the tokenizer's `tokenize_to_ids` does the text work; the rest avoids per-example
protobuf objects by writing the tf.train.Example wire format directly (`ExampleEncoder`) and
computes the TFRecord CRC32C checksums for a whole unit at once with numpy (`crc32c_batch`).
TensorFlow itself is never imported, which keeps start-up fast in the main and worker processes.
"""

import argparse
import contextlib
import glob
import json
import multiprocessing
import os
import random
import shutil
import sys
import time

import numpy as np

SHARD_PREFIX = "pretrain_data.tfrecord-"
SUMMARY_FILE = "summary.json"
EXAMPLES_PER_DEFAULT_SHARD = 10000
MAX_DEFAULT_SHARDS = 1000
# A unit of work: large enough that per-unit costs vanish, small enough that 2+ processes get
# an even share of a few-MB corpus; capped so a huge corpus does not make a huge part file.
MIN_UNIT_BYTES = 256 * 1024
MAX_UNIT_BYTES = 16 * 1024 * 1024
UNITS_PER_CORPUS = 64


class UsageError(Exception):
    """A problem with the inputs or settings, reported as a one-line error (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Example building (the algorithm of the original builder, on token ids).


class ExampleBuilder:
    """Accumulates tokenized sentences and turns them into (segment A, segment B) pairs.

    `add_sentence` / `end_document` return a pair of token-id lists (B may be empty) when an
    example is complete, else None. The random draws happen in the same places and order as
    in the original builder, so one seeded `rng` gives one reproducible example stream.
    """

    def __init__(self, max_seq_length, rng, legacy_segment_bug=False):
        if max_seq_length < 5:
            raise ValueError("max_seq_length must be at least 5, got %d" % max_seq_length)
        self.max_seq_length = max_seq_length
        self.legacy_segment_bug = legacy_segment_bug
        self._rng = rng
        self._sentences = []
        self._length = 0
        self._target_length = max_seq_length
        self.tokens_added = 0  # before truncation, for the statistics

    def add_sentence(self, token_ids):
        """Adds one sentence; returns an example once the target length is reached."""
        self._sentences.append(token_ids)
        self._length += len(token_ids)
        self.tokens_added += len(token_ids)
        if self._length >= self._target_length:
            return self._create_example()
        return None

    def end_document(self):
        """A document boundary: flushes the sentences collected so far, if any."""
        if self._length:
            return self._create_example()
        return None

    def _create_example(self):
        rng = self._rng
        if rng.random() < 0.1:
            # Sometimes a single segment, like the inputs of classification tasks.
            first_target = 100000
        else:
            first_target = (self._target_length - 3) // 2  # room for [CLS] and two [SEP]
        goes_first = _goes_first_legacy if self.legacy_segment_bug else _goes_first
        first, second = [], []
        for sentence in self._sentences:
            if goes_first(first, second, sentence, first_target, rng):
                first.extend(sentence)
            else:
                second.extend(sentence)
        max_length = self.max_seq_length
        first = first[:max_length - 2]
        second = second[:max(0, max_length - len(first) - 3)]
        self._sentences = []
        self._length = 0
        # Occasionally a shorter example, so the model also sees short inputs.
        if rng.random() < 0.05:
            self._target_length = rng.randint(5, max_length)
        else:
            self._target_length = max_length
        return first, second


def _goes_first(first, second, sentence, first_target, rng):
    """Corrected rule: A while it is empty or still fits; at the border a coin flip, once."""
    return (not first
            or len(first) + len(sentence) < first_target
            or (not second and len(first) < first_target and rng.random() < 0.5))


def _goes_first_legacy(first, second, sentence, first_target, rng):
    """Chinese-ELECTRA's condition: any sentence after a non-empty A also goes to A.

    B only gets the leading sentences that are each too long for the empty A.
    """
    return (bool(first)
            or len(first) + len(sentence) < first_target
            or (bool(second) and len(first) < first_target and rng.random() < 0.5))


def iter_segments(lines, tokenize, builder, blanks_separate_docs=True):
    """Yields the (A, B) pairs built from text lines; the end of `lines` ends a document."""
    for line in lines:
        line = line.strip()
        if line:
            token_ids = tokenize(line)
            if token_ids:  # a line of dropped characters adds nothing
                example = builder.add_sentence(token_ids)
                if example is not None:
                    yield example
        elif blanks_separate_docs:
            example = builder.end_document()
            if example is not None:
                yield example
    example = builder.end_document()
    if example is not None:
        yield example


def make_features(first, second, cls_id, sep_id, max_seq_length):
    """The feature lists of one example: `[CLS] A [SEP] (B [SEP])`, zero-padded."""
    input_ids = [cls_id] + list(first) + [sep_id]
    segment_ids = [0] * len(input_ids)
    if second:
        input_ids += list(second) + [sep_id]
        segment_ids += [1] * (len(second) + 1)
    padding = [0] * (max_seq_length - len(input_ids))
    return {
        "input_ids": input_ids + padding,
        "input_mask": [1] * len(input_ids) + padding,
        "segment_ids": segment_ids + padding,
    }


def build_examples(lines, tokenizer, max_seq_length=128, seed=0, blanks_separate_docs=True,
                   legacy_segment_bug=False):
    """Yields feature dicts (see `make_features`) for text lines, for tests and demos.

    `tokenizer` needs `tokenize_to_ids` and `vocab`; the same seed gives the same examples as
    a one-unit build. The file-writing path uses the same `ExampleBuilder`.
    """
    builder = ExampleBuilder(max_seq_length, random.Random(seed), legacy_segment_bug)
    cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
    for first, second in iter_segments(lines, tokenizer.tokenize_to_ids, builder,
                                       blanks_separate_docs):
        yield make_features(first, second, cls_id, sep_id, max_seq_length)


# ---------------------------------------------------------------------------------------------
# tf.train.Example wire format, written directly.
#
#   Example  { Features features = 1; }
#   Features { map<string, Feature> feature = 1; }   (entry: key = 1, value = 2)
#   Feature  { Int64List int64_list = 3; }            Int64List { repeated int64 value = 1 [packed]; }
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
            header = self._example_headers[len(features)] = b"\x0a" + encode_varint(
                len(features))
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
            values = (bytes(first_length) + b"\x01" * (length - first_length)
                      + bytes(self.max_seq_length - length))
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
    length_crcs = mask_crc(crc32c_batch(
        [length_bytes[8 * i:8 * i + 8] for i in range(count)])).astype("<u4")
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
# Input files and units of work.


def find_corpus_files(corpus_dir=None, corpus_files=None):
    """Sorted, de-duplicated input files from a directory and/or glob patterns."""
    paths = set()
    if corpus_dir:
        if not os.path.isdir(corpus_dir):
            raise UsageError("corpus directory not found: %s" % corpus_dir)
        for name in os.listdir(corpus_dir):
            path = os.path.join(corpus_dir, name)
            if os.path.isfile(path) and not name.startswith("."):
                paths.add(path)
    for pattern in corpus_files or ():
        matches = [path for path in glob.glob(pattern) if os.path.isfile(path)]
        if not matches:
            raise UsageError("corpus file not found (no match): %s" % pattern)
        paths.update(matches)
    if not corpus_dir and not corpus_files:
        raise UsageError("give the corpus with --corpus-dir and/or --corpus-files")
    if not paths:
        raise UsageError("corpus directory has no files: %s" % corpus_dir)
    return sorted(paths)


def default_unit_bytes(total_bytes):
    """About UNITS_PER_CORPUS units, within [MIN_UNIT_BYTES, MAX_UNIT_BYTES]."""
    return min(MAX_UNIT_BYTES, max(MIN_UNIT_BYTES, total_bytes // UNITS_PER_CORPUS))


def split_file(path, unit_bytes, blanks_separate_docs=True):
    """(start, end) byte ranges covering `path`, each ending at a document boundary.

    A cut goes after the first blank line at or after every `unit_bytes` step (after any line
    end when blank lines do not separate documents), so only a few bytes are read per cut.
    """
    size = os.path.getsize(path)
    ranges = []
    start = 0
    with open(path, "rb") as reader:
        while start < size:
            reader.seek(start + unit_bytes)
            if start + unit_bytes < size:
                reader.readline()  # the rest of the line the seek landed in
                while blanks_separate_docs:
                    line = reader.readline()
                    if not line or not line.strip():
                        break
            end = min(reader.tell(), size)
            ranges.append((start, end))
            start = end
    return ranges


# ---------------------------------------------------------------------------------------------
# Worker side: one unit of text -> one part file of framed records.

_WORKER = {}


def _init_worker(settings, tokenizer=None):
    """Per-process state; with fork the parent's already-loaded tokenizer is passed in."""
    if tokenizer is None:
        tokenizer = _load_tokenizer(settings["vocab_file"], settings["do_lower_case"])
    vocab = tokenizer.vocab
    _WORKER.clear()
    _WORKER.update(
        settings=settings,
        tokenize=tokenizer.tokenize_to_ids,
        encoder=ExampleEncoder(settings["max_seq_length"], vocab["[CLS]"], vocab["[SEP]"],
                               max(vocab.values()) + 1))


def _load_tokenizer(vocab_file, do_lower_case):
    from model.tokenization import FullTokenizer  # pylint: disable=import-outside-toplevel
    tokenizer = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    tokenizer.tokenize_to_ids("warm up 中")  # builds the per-process lookup tables now
    return tokenizer


def unit_seed(seed, unit_index):
    """The random generator of one unit (a str seed is hashed the same way in every run)."""
    return random.Random("%d:%d" % (seed, unit_index))


def _process_unit(task):
    cpu_started = time.process_time()
    index, path, start, end, part_path = task
    settings = _WORKER["settings"]
    max_length = settings["max_seq_length"]
    with open(path, "rb") as reader:
        reader.seek(start)
        text = reader.read(end - start).decode("utf-8", "replace")
    builder = ExampleBuilder(max_length, unit_seed(settings["seed"], index),
                             settings["legacy_segment_bug"])
    encode = _WORKER["encoder"].encode
    records, lengths = [], []
    two_segment = tokens = 0
    for first, second in iter_segments(text.split("\n"), _WORKER["tokenize"], builder,
                                       settings["blanks_separate_docs"]):
        records.append(encode(first, second))
        tokens += len(first) + len(second)
        if second:
            two_segment += 1
            lengths.append(len(first) + len(second) + 3)
        else:
            lengths.append(len(first) + 2)
    framed, ends = frame_records(records)
    with open(part_path, "wb") as writer:
        writer.write(framed)
    ends.astype("<i8").tofile(part_path + ".ends")
    return {
        "index": index, "part": part_path, "examples": len(records), "bytes": end - start,
        "two_segment": two_segment, "tokens": tokens,
        "corpus_tokens": builder.tokens_added,
        "lengths": np.bincount(np.asarray(lengths, dtype=np.int64), minlength=max_length + 1),
        "cpu_s": time.process_time() - cpu_started,
    }


# ---------------------------------------------------------------------------------------------
# Shards: the example sequence (units in a seeded random order) cut into equal parts.


def default_num_out_files(num_examples, num_processes):
    """One shard per EXAMPLES_PER_DEFAULT_SHARD examples, at most MAX_DEFAULT_SHARDS.

    At least one per process, so a reader can interleave that many files in parallel, but never
    more shards than examples (Chinese-ELECTRA's fixed 1000 shards starved the input pipeline on
    small corpora, ymcui/Chinese-ELECTRA#23).
    """
    wanted = max(num_processes, min(MAX_DEFAULT_SHARDS,
                                    num_examples // EXAMPLES_PER_DEFAULT_SHARD))
    return max(1, min(wanted, num_examples))


def plan_shards(counts, num_shards):
    """For each shard, the (unit position, first, end) example ranges that make it up.

    `counts` are the example counts of the units in output order; shard j gets the examples
    total*j//n .. total*(j+1)//n - 1 of their concatenation.
    """
    total = sum(counts)
    bounds = [total * j // num_shards for j in range(num_shards + 1)]
    plans = [[] for _ in range(num_shards)]
    shard = 0
    unit_start = 0
    for position, count in enumerate(counts):
        first = 0
        while first < count:
            while bounds[shard + 1] <= unit_start + first:
                shard += 1
            end = min(count, bounds[shard + 1] - unit_start)
            plans[shard].append((position, first, end))
            first = end
        unit_start += count
    return plans


def shard_name(index, count):
    return "%s%d-of-%d" % (SHARD_PREFIX, index, count)


def _assemble_shard(job):
    """Writes one shard by copying whole part files or byte ranges of them."""
    shard_path, pieces = job
    with open(shard_path, "wb") as writer:
        for part_path, first, end, count in pieces:
            if first == 0 and end == count:
                start, stop = 0, None
            else:
                ends = np.fromfile(part_path + ".ends", dtype="<i8")
                start = int(ends[first - 1]) if first else 0
                stop = int(ends[end - 1])
            _copy_range(part_path, writer, start, stop)


def _copy_range(path, writer, start, stop, block=16 << 20):
    with open(path, "rb") as reader:
        reader.seek(start)
        remaining = None if stop is None else stop - start
        while remaining is None or remaining > 0:
            data = reader.read(block if remaining is None else min(block, remaining))
            if not data:
                break
            writer.write(data)
            if remaining is not None:
                remaining -= len(data)


# ---------------------------------------------------------------------------------------------
# Processes.


class _InProcessPool:
    """The Pool interface for one process: no start-up cost, same code path."""

    @staticmethod
    def imap_unordered(function, items):
        return map(function, items)

    @staticmethod
    def map(function, items):
        return list(map(function, items))


@contextlib.contextmanager
def _worker_pool(settings, tokenizer, num_workers):
    if num_workers <= 1:
        _init_worker(settings, tokenizer)
        yield _InProcessPool()
        return
    # fork hands every worker the parent's loaded tokenizer for free. It is unsafe once
    # TensorFlow has started its runtime threads (a child can inherit a held lock), so a
    # process that imported TensorFlow (tests, notebooks) pays for spawn instead, where each
    # worker loads the tokenizer itself.
    if "fork" not in multiprocessing.get_all_start_methods() or "tensorflow" in sys.modules:
        with multiprocessing.get_context("spawn").Pool(
                num_workers, initializer=_init_worker, initargs=(settings, None)) as pool:
            yield pool
        return
    with multiprocessing.get_context("fork").Pool(
            num_workers, initializer=_init_worker, initargs=(settings, tokenizer)) as pool:
        yield pool


def available_cpus():
    """Cores this process may run on (respects CPU affinity and taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Progress and summary.


def format_duration(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return "%d:%02d:%02d" % (hours, minutes, seconds) if hours else "%d:%02d" % (minutes, seconds)


class Progress:
    """Throughput and ETA on stderr: redrawn in place on a terminal, else a line every 15 s."""

    def __init__(self, total_bytes, enabled=True, stream=None):
        self.total_bytes = total_bytes
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.is_tty = self.stream.isatty()
        self.interval = 0.5 if self.is_tty else 15.0
        self.started = time.time()
        self.last_shown = self.started
        self.done_bytes = 0
        self.examples = 0

    def update(self, unit_bytes, unit_examples):
        self.done_bytes += unit_bytes
        self.examples += unit_examples
        now = time.time()
        if self.enabled and now - self.last_shown >= self.interval:
            self.last_shown = now
            self._show(now, final=False)

    def finish(self):
        if self.enabled:
            self._show(time.time(), final=True)

    def _show(self, now, final):
        elapsed = max(now - self.started, 1e-9)
        rate = self.done_bytes / elapsed
        fraction = self.done_bytes / self.total_bytes if self.total_bytes else 1.0
        if final:
            tail = "done in %s" % format_duration(elapsed)
        else:
            eta = (self.total_bytes - self.done_bytes) / rate if rate else float("inf")
            tail = "ETA %s" % (format_duration(eta) if eta != float("inf") else "?")
        line = "[build] %5.1f%%  %.1f/%.1f MB  %.2f MB/s  %d examples  %s" % (
            100 * fraction, self.done_bytes / 1e6, self.total_bytes / 1e6, rate / 1e6,
            self.examples, tail)
        if self.is_tty:
            self.stream.write("\r" + line.ljust(79) + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def length_histogram(length_counts, bins=16):
    """{"min-max": count} over example lengths (tokens incl. [CLS]/[SEP]), in order."""
    max_length = len(length_counts) - 1
    width = max(1, -(-max_length // bins))
    histogram = {}
    for low in range(1, max_length + 1, width):
        high = min(low + width - 1, max_length)
        histogram["%d-%d" % (low, high)] = int(length_counts[low:high + 1].sum())
    return histogram


def _summarize(results, settings, num_files, total_bytes, timings):
    examples = sum(r["examples"] for r in results)
    two_segment = sum(r["two_segment"] for r in results)
    tokens = sum(r["tokens"] for r in results)
    max_length = settings["max_seq_length"]
    length_counts = sum((r["lengths"] for r in results), np.zeros(max_length + 1, np.int64))
    elapsed = timings["elapsed_s"]
    return {
        "examples": examples,
        "two_segment_examples": two_segment,
        "two_segment_fraction": two_segment / examples if examples else 0.0,
        "tokens": tokens,
        "corpus_tokens": sum(r["corpus_tokens"] for r in results),
        "mean_length": float((length_counts * np.arange(max_length + 1)).sum() / examples)
                       if examples else 0.0,
        "length_histogram": length_histogram(length_counts),
        "num_out_files": num_files,
        "input_files": settings["num_input_files"],
        "input_bytes": total_bytes,
        "mb_per_s": total_bytes / 1e6 / elapsed if elapsed else 0.0,
        "examples_per_s": examples / elapsed if elapsed else 0.0,
        # CPU time of the per-unit work over all processes: throughput per core, which other
        # load on the machine does not distort the way it distorts wall-clock figures.
        "unit_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        **{key: round(value, 3) for key, value in timings.items()},
        "settings": settings,
    }


def print_summary(summary, output_dir, stream=None):
    stream = stream or sys.stdout
    print("wrote %d examples (%.1f%% with two segments, %d tokens) to %d file(s) in %s" % (
        summary["examples"], 100 * summary["two_segment_fraction"], summary["tokens"],
        summary["num_out_files"], output_dir), file=stream)
    print("%.2f MB of text in %.2f s: %.2f MB/s, %d examples/s" % (
        summary["input_bytes"] / 1e6, summary["elapsed_s"], summary["mb_per_s"],
        summary["examples_per_s"]), file=stream)


# ---------------------------------------------------------------------------------------------
# Output directory: written aside, then renamed into place.


def _check_replaceable(output_dir):
    """Only an output directory this tool could have written may be replaced."""
    if not os.path.lexists(output_dir):
        return
    if os.path.islink(output_dir) or not os.path.isdir(output_dir):
        raise UsageError("output path exists and is not a directory: %s" % output_dir)
    for name in os.listdir(output_dir):
        if not (name.startswith(SHARD_PREFIX) or name == SUMMARY_FILE):
            raise UsageError("refusing to replace %s: it holds %s, which this tool does not "
                             "write" % (output_dir, name))


def _move_into_place(tmp_dir, output_dir):
    if not os.path.lexists(output_dir):
        os.rename(tmp_dir, output_dir)
        return
    _check_replaceable(output_dir)
    old_dir = "%s.old-%d" % (output_dir, os.getpid())
    os.rename(output_dir, old_dir)
    try:
        os.rename(tmp_dir, output_dir)
    except BaseException:
        os.rename(old_dir, output_dir)
        raise
    shutil.rmtree(old_dir)


# ---------------------------------------------------------------------------------------------
# The whole build.


def build(vocab_file, output_dir, corpus_dir=None, corpus_files=None, max_seq_length=128,
          do_lower_case=True, num_out_files=None, num_processes=None, seed=0,
          blanks_separate_docs=True, legacy_segment_bug=False, unit_bytes=None, progress=True):
    """Builds the shards and summary.json in `output_dir`; returns the summary dict.

    Raises UsageError for bad inputs or settings before any work is done.
    """
    started = time.time()
    paths = find_corpus_files(corpus_dir, corpus_files)
    if "://" not in vocab_file and not os.path.isfile(vocab_file):
        raise UsageError("vocab file not found: %s" % vocab_file)
    num_processes = available_cpus() if num_processes is None else num_processes
    if max_seq_length < 5:
        raise UsageError("--max-seq-length must be at least 5")
    if num_processes < 1 or (num_out_files is not None and num_out_files < 1):
        raise UsageError("--num-processes and --num-out-files must be at least 1")
    output_dir = os.path.abspath(output_dir)
    _check_replaceable(output_dir)
    tokenizer = _load_tokenizer(vocab_file, do_lower_case)
    for token in ("[CLS]", "[SEP]"):
        if token not in tokenizer.vocab:
            raise UsageError("vocab file has no %s token: %s" % (token, vocab_file))

    total_bytes = sum(os.path.getsize(path) for path in paths)
    unit_bytes = unit_bytes or default_unit_bytes(total_bytes)
    settings = {
        "corpus_dir": corpus_dir, "corpus_files": list(corpus_files or []),
        "num_input_files": len(paths), "vocab_file": vocab_file, "output_dir": output_dir,
        "max_seq_length": max_seq_length, "do_lower_case": do_lower_case,
        "num_out_files": num_out_files, "num_processes": num_processes, "seed": seed,
        "blanks_separate_docs": blanks_separate_docs,
        "legacy_segment_bug": legacy_segment_bug, "unit_bytes": unit_bytes,
    }
    tmp_dir = "%s.tmp-%d" % (output_dir, os.getpid())
    parts_dir = os.path.join(tmp_dir, "parts")
    try:
        # A directory of this name can only be left over from a killed run with our pid.
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(parts_dir)
        tasks = []
        for path in paths:
            for start, end in split_file(path, unit_bytes, blanks_separate_docs):
                part_path = os.path.join(parts_dir, "unit-%07d" % len(tasks))
                tasks.append((len(tasks), path, start, end, part_path))
        setup_done = time.time()
        meter = Progress(total_bytes, enabled=progress)
        with _worker_pool(settings, tokenizer, min(num_processes, len(tasks))) as pool:
            results = []
            for result in pool.imap_unordered(_process_unit, tasks):
                results.append(result)
                meter.update(result["bytes"], result["examples"])
            meter.finish()
            build_done = time.time()
            num_files = _write_shards(pool, results, tmp_dir, seed, num_out_files,
                                      num_processes, progress)
        shutil.rmtree(parts_dir)
        timings = {"setup_s": setup_done - started, "build_s": build_done - setup_done,
                   "shard_s": time.time() - build_done, "elapsed_s": time.time() - started}
        summary = _summarize(results, settings, num_files, total_bytes, timings)
        with open(os.path.join(tmp_dir, SUMMARY_FILE), "w", encoding="utf-8") as writer:
            json.dump(summary, writer, indent=2)
            writer.write("\n")
        _move_into_place(tmp_dir, output_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return summary


def _write_shards(pool, results, tmp_dir, seed, num_out_files, num_processes, progress):
    """Cuts the units, in a seeded random order, into the shards; returns the shard count."""
    units = sorted(results, key=lambda result: result["index"])
    random.Random("%d:order" % seed).shuffle(units)
    counts = [unit["examples"] for unit in units]
    num_files = num_out_files or default_num_out_files(sum(counts), num_processes)
    if progress:
        print("[build] writing %d examples to %d shard(s)" % (sum(counts), num_files),
              file=sys.stderr)
    jobs = []
    for shard, plan in enumerate(plan_shards(counts, num_files)):
        pieces = [(units[position]["part"], first, end, units[position]["examples"])
                  for position, first, end in plan]
        jobs.append((os.path.join(tmp_dir, shard_name(shard, num_files)), pieces))
    pool.map(_assemble_shard, jobs)
    return num_files


# ---------------------------------------------------------------------------------------------
# Command line.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Turn text files (one sentence per line, a blank line between documents) "
                    "into ELECTRA pre-training TFRecords: shards pretrain_data.tfrecord-<i>-of-"
                    "<n> with int64 features input_ids, input_mask, segment_ids, and "
                    "summary.json with statistics.",
        epilog="Output is identical for the same input, seed and --num-out-files (the default "
               "shard count also depends on --num-processes). The output directory is written "
               "as <output-dir>.tmp-<pid> and renamed when complete; an existing output "
               "directory is replaced only if it holds nothing but shards and summary.json. "
               "Example: python build_pretraining_dataset.py --corpus-files 'corpus/*.txt' "
               "--vocab-file vocab.txt --output-dir data/pretrain_tfrecords")
    parser.add_argument("--corpus-dir", help="directory whose files (not sub-directories, not "
                        "hidden files) are the corpus")
    parser.add_argument("--corpus-files", nargs="+", metavar="GLOB",
                        help="corpus files or glob patterns (quote patterns); may be combined "
                             "with --corpus-dir")
    parser.add_argument("--vocab-file", required=True, help="WordPiece vocabulary, one token "
                        "per line (build one with build_vocab.py)")
    parser.add_argument("--output-dir", required=True, help="where the shards and summary.json "
                        "go")
    parser.add_argument("--max-seq-length", type=int, default=128,
                        help="tokens per example, [CLS] and [SEP] included (default: 128)")
    parser.add_argument("--do-lower-case", dest="do_lower_case", action="store_true",
                        default=True, help="lower-case and strip accents (the default)")
    parser.add_argument("--no-lower-case", dest="do_lower_case", action="store_false",
                        help="keep case and accents")
    parser.add_argument("--num-out-files", type=int, default=None,
                        help="number of shards (default: one per %d examples, at most %d, at "
                             "least --num-processes, at most the number of examples)"
                             % (EXAMPLES_PER_DEFAULT_SHARD, MAX_DEFAULT_SHARDS))
    parser.add_argument("--num-processes", type=int, default=available_cpus(),
                        help="worker processes (default: all available cores, here %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--blanks-separate-docs", action=argparse.BooleanOptionalAction,
                        default=True, help="whether a blank line ends a document (default: "
                                           "yes); if not, blank lines are ignored")
    parser.add_argument("--legacy-segment-bug", action="store_true",
                        help="use the Chinese-ELECTRA release's segment rule, which puts every "
                             "sentence after a non-empty segment A into A, so segment B is "
                             "mostly empty (google-research/electra#20)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = build(
            vocab_file=args.vocab_file, output_dir=args.output_dir, corpus_dir=args.corpus_dir,
            corpus_files=args.corpus_files, max_seq_length=args.max_seq_length,
            do_lower_case=args.do_lower_case, num_out_files=args.num_out_files,
            num_processes=args.num_processes, seed=args.seed,
            blanks_separate_docs=args.blanks_separate_docs,
            legacy_segment_bug=args.legacy_segment_bug, progress=not args.quiet)
    except UsageError as error:
        print("%s: error: %s" % (os.path.basename(sys.argv[0]), error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the partial output was removed", file=sys.stderr)
        return 130
    print_summary(summary, os.path.abspath(args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
