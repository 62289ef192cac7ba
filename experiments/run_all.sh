#!/usr/bin/env bash
# Run (or resume) every reproduction sweep and draw its figures; results go to results/<name>.
set -euo pipefail
cd "$(dirname "$0")/.."
for cfg in garrod2025_fig1 garrod2025_fig1_spectra garrod2025_thm1_theory sukenik2024_fig3_theory garrod2025_fig6 sukenik2024_fig2 sukenik2024_fig3_width \
           sukenik2024_fig3_lambda garrod2025_fig2_lambda garrod2025_fig2_width garrod2025_thm3_depth \
           sukenik2024_fig2_pytorch garrod2025_fig2_lambda_pytorch sukenik2024_fig3_width_pytorch garrod2025_thm3_depth_pytorch garrod2025_thm3_deep_pytorch \
           garrod2025_fig2_width_pytorch garrod2025_fig1_small_init_spectra gkt2026_depth gkt2026_width gkt2026_spectral_basin; do
  start=$(date +%s)
  dufm sweep "experiments/$cfg.toml"
  dufm plot "results/$cfg" > /dev/null
  echo "== $cfg: $(( $(date +%s) - start )) s wall"
done
