#!/usr/bin/env bash
# Run every landscape experiment (docs/landscape.md): tables on stdout, JSON under results/landscape/,
# figures under docs/figures/landscape_*.png. About 27 min on 2 shared CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p results/landscape
for script in landscape_thm4 landscape_thm6 landscape_thm5 landscape_relu_fig6 landscape_refine_fig1 landscape_saddle_fig1; do
  start=$(date +%s)
  "$PY" "experiments/$script.py"
  echo "== $script: $(( $(date +%s) - start )) s wall"
done
# the same refinement study from GD cut off at 20 000 steps (points in transit; docs/landscape.md)
"$PY" experiments/landscape_refine_fig1.py --max-steps 20000
# the example in docs/landscape.md (run outside the repository, as a user would)
(cd /tmp && "$PY" -m dufm probe --point dnc) | tee results/landscape/probe_dnc_example.txt
