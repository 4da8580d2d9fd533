#!/usr/bin/env sh
# Rebuilds the files of this folder from the source files (needs python3; CI does not run this, the outputs are committed).
# Usage: sh data/music-genre/make.sh [SOURCE_DIR]
set -eu
exec python3 "$(dirname "$0")/make.py" "$@"
