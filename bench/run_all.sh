#!/usr/bin/env bash
# Runs every model benchmark; each prints one JSON line, kept in $OUT/<name>.json, then prints
# the results table (bench/summarize.py). About 15 minutes on 2 cores, more with torch.compile.
#
#   bench/run_all.sh                      # project venv as python, peer from /tmp/peer-venv,
#                                         # results in /tmp/electra-bench
#   PEER_PYTHON=/path/to/python OUT=dir bench/run_all.sh
#
# The peer needs its own environment (the project never depends on PyTorch):
#   python -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install torch transformers
# Without it, peer.json holds a "skipped" note and the table shows n/a.
# The dataset builder is measured on ../shared/data/peoples_daily_1998_01.txt when it exists
# (CORPUS=file to use another text); the tokenizer bench (bench_tokenizer.py) is separate.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
PEER_PYTHON=${PEER_PYTHON:-/tmp/peer-venv/bin/python}
OUT=${OUT:-/tmp/electra-bench}
CORPUS=${CORPUS:-../shared/data/peoples_daily_1998_01.txt}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

run() {  # run NAME COMMAND...: stdout (the JSON line) to $OUT/NAME.json, logs to $OUT/NAME.log
  local name=$1; shift
  echo "== $name: $*" >&2
  "$@" > "$OUT/$name.json" 2> "$OUT/$name.log"
  cat "$OUT/$name.json"
}

run matmul_peak "$PYTHON" bench/bench_matmul_peak.py
run train_step "$PYTHON" bench/bench_train_step.py --peak-json "$OUT/matmul_peak.json"
run inference "$PYTHON" bench/bench_inference.py
run input_pipeline "$PYTHON" bench/bench_input_pipeline.py --repeats 8
if [ -f "$CORPUS" ]; then
  run build_dataset "$PYTHON" bench/bench_build_dataset.py --corpus "$CORPUS"
fi
if [ -x "$PEER_PYTHON" ]; then
  run peer "$PEER_PYTHON" bench/peer_torch.py --threads 2
else
  run peer "$PYTHON" bench/peer_torch.py
fi
"$PYTHON" bench/summarize.py "$OUT"
