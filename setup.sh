#!/usr/bin/env bash
# Set chemvlm up on a fresh Debian/Ubuntu machine (Debian's osra, a virtual environment with the CPU
# build of torch pinned through constraints.txt, the package), then run the main job: recognise and
# explain the bundled example image.
set -euo pipefail
cd "$(dirname "$0")"

# chromium (and its driver) run the web page test headless
if ! command -v osra >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq osra chromium chromium-driver >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev,train,ray]"

.venv/bin/chemvlm ask examples/uspto-US07314934-C00124.png "What is this molecule? Give its SMILES."
