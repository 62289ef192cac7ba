#!/usr/bin/env bash
# Copy the PNG figures of every reproduction into docs/figures/<sweep>/ for docs/reproduction.md.
set -euo pipefail
cd "$(dirname "$0")/.."
for d in results/*/figures; do
  name=$(basename "$(dirname "$d")")
  mkdir -p "docs/figures/$name"
  cp "$d"/*.png "docs/figures/$name/"
done
ls docs/figures/*
