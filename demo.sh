#!/usr/bin/env bash
# One command from a fresh clone to a pre-trained and fine-tuned (tiny) ELECTRA, on the sample
# data that ships with the repository: sets up .venv (tools/setup_env.sh), then runs run_demo.py.
#
#   bash demo.sh                      # 2 CPU cores (AVX2): about 8.5 minutes, install included
#   bash demo.sh --quick              # a few steps per stage, one to two minutes; writes
#                                     # to demo_output_quick/, never over demo_output/
#   bash demo.sh --help               # run_demo.py's options
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$repo/tools/setup_env.sh"
exec "$repo/.venv/bin/python" "$repo/run_demo.py" "$@"
