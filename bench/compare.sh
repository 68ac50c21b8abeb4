#!/usr/bin/env bash
# The first side-by-side figures' scenarios (fan-in QoS 0 and 1, fan-out), Iot broker vs Mosquitto, alternating.
# Usage: bash bench/compare.sh   (env: SECONDS_PER_RUN=10 ROUNDS=2 SKIP_BROKER_BUILD=1, as for compare-all.sh)
# compare-all.sh does the work; this keeps the command of the earlier sections of docs/benchmarks.md running.
set -euo pipefail
exec env SCENARIOS="${SCENARIOS:-fanin0 fanin1 fanout}" bash "$(dirname "${BASH_SOURCE[0]}")/compare-all.sh" "$@"
