#!/usr/bin/env bash
# Kept for the old name: the cold-start bench is bench/cold-start.ts (interleaved runs, wall and CPU time).
cd "$(dirname "$0")/.." && exec bun bench/cold-start.ts "$@"
