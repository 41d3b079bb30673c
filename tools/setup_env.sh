#!/usr/bin/env bash
# Creates the virtual environment .venv in the repository root and installs requirements.txt.
#
#   bash tools/setup_env.sh                    # uses python3 from PATH
#   PYTHON=python3.12 bash tools/setup_env.sh  # or another interpreter (3.10 or newer)
#
# Safe to run again: .venv is created only if missing, and the install is skipped while
# requirements.txt is unchanged since the last successful install (its SHA-256 is kept in
# .venv/.requirements.sha256). pip's full output goes to .venv/pip-install.log.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
requirements="$repo/requirements.txt"
stamp="$venv/.requirements.sha256"
log="$venv/pip-install.log"
python="${PYTHON:-python3}"

say() { printf 'setup_env: %s\n' "$*"; }
die() { printf 'setup_env: error: %s\n' "$*" >&2; exit 1; }

# The interpreter's version, or nothing if it fails to run.
version_of() { "$1" -c 'import platform; print(platform.python_version())' 2>/dev/null || true; }
is_recent() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; }

[ -f "$requirements" ] || die "requirements.txt not found in $repo"

if [ ! -x "$venv/bin/python" ]; then
  if ! command -v "$python" >/dev/null 2>&1; then
    die "'$python' not found. Install Python 3.10 or newer, or point PYTHON at one" \
        "(PYTHON=/path/to/python3 bash tools/setup_env.sh)."
  fi
  version="$(version_of "$python")"
  if ! is_recent "$python"; then
    die "Python 3.10 or newer is needed, but '$python' is Python ${version:-(unknown)}." \
        "Install a newer Python and run: PYTHON=python3.X bash tools/setup_env.sh"
  fi
  say "creating .venv with $python (Python $version)"
  errors="$(mktemp)"
  if ! "$python" -m venv "$venv" >/dev/null 2>"$errors"; then
    cat "$errors" >&2
    rm -rf "$venv" "$errors"
    die "'$python -m venv' failed (on Debian/Ubuntu: sudo apt install python3-venv, or" \
        "python$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv)."
  fi
  rm -f "$errors"
elif ! is_recent "$venv/bin/python"; then
  die "the existing .venv has Python $(version_of "$venv/bin/python"), but 3.10 or newer is" \
      "needed: remove it (rm -rf .venv) and run this again, with PYTHON=python3.X if needed."
fi

hash="$("$venv/bin/python" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$requirements")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  say "requirements already installed in .venv (requirements.txt unchanged)"
  exit 0
fi

started=$SECONDS
say "installing requirements.txt into .venv (TensorFlow is a large download: this can take a" \
    "few minutes; full output in .venv/pip-install.log)"
rm -f "$stamp"
(
  "$venv/bin/python" -m pip install --upgrade --progress-bar off pip \
    && "$venv/bin/python" -m pip install --progress-bar off -r "$requirements"
) >"$log" 2>&1 &
pip_pid=$!
trap 'kill "$pip_pid" 2>/dev/null; exit 130' INT TERM

# On a terminal, one status line redrawn in place: elapsed time and pip's latest step.
if [ -t 1 ]; then
  columns="$(tput cols 2>/dev/null || echo 80)"
  while kill -0 "$pip_pid" 2>/dev/null; do
    elapsed=$((SECONDS - started))
    last="$(grep -E '^(Collecting|Downloading|Installing|Building)' "$log" 2>/dev/null \
            | tail -n 1 | sed -e 's/ (from .*//' -e 's/^Installing collected packages:.*/Installing the packages/')" \
      || true
    line="$(printf 'setup_env: %d:%02d %s' $((elapsed / 60)) $((elapsed % 60)) "$last")"
    printf '\r%-*.*s' "$((columns - 1))" "$((columns - 1))" "$line"
    sleep 1
  done
  printf '\r%-*s\r' "$((columns - 1))" ""
fi

status=0
wait "$pip_pid" || status=$?
trap - INT TERM
if [ "$status" -ne 0 ]; then
  tail -n 25 "$log" >&2
  die "pip install failed (exit status $status); the full output is in $log"
fi
printf '%s\n' "$hash" >"$stamp"
elapsed=$((SECONDS - started))
say "installed requirements.txt in $((elapsed / 60)):$(printf '%02d' $((elapsed % 60)))"
