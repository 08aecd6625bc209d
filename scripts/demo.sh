#!/usr/bin/env bash
# `make demo`: the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
exec "$BUILD/otlparrow" demo --dir data/demo
