#!/usr/bin/env bash
# What a user sees in a real terminal: the command run in tmux at 80 and 60 columns on generated
# Windows-1252 files (two multipart, three small) with --local, the screen captured while the bars
# run and after the run. Writes OUT/screen-<columns>-{during,after}.txt.
#   bash scripts/terminal-screens.sh [OUT]      (default: a temporary folder, printed at the end)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
OUT=${1:-$(mktemp -d)}
WORK=/tmp/async-ingest-demo  # a fixed name: the screens show the same paths each time
rm -rf "$WORK"
trap 'tmux kill-session -t ai-screens 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$OUT" "$WORK/exports"
"$PY" - "$WORK/exports" <<'PYEOF'
import sys
from pathlib import Path
root = Path(sys.argv[1])
row = "tt{:07d};Ação e Reação nº {:d};Coração especial;2001;Drama\r\n"
for name, rows in (("movies-catalogue-2026.csv", 700_000), ("ratings_export_full.csv", 500_000),
                   ("genres.csv", 2_000), ("people.csv", 3_000), ("titles-short.csv", 1_000)):
    (root / name).write_bytes(("id;title;note;year;genre\r\n" + "".join(row.format(i, i) for i in range(rows))).encode("cp1252"))
PYEOF
for columns in 80 60; do
    tmux kill-session -t ai-screens 2>/dev/null || true
    tmux new-session -d -s ai-screens -x "$columns" -y 24 -c "$ROOT"
    tmux send-keys -t ai-screens "clear; $PY -m async_ingest $WORK/exports --local --local-dir $WORK/s3-$columns --bwlimit 12MiB; echo EXIT=\$?" Enter
    sleep 9
    tmux capture-pane -p -t ai-screens > "$OUT/screen-$columns-during.txt"
    for _ in $(seq 1 120); do
        tmux capture-pane -p -S -200 -t ai-screens | grep -q "^EXIT=" && break
        sleep 1
    done
    tmux capture-pane -p -S -200 -t ai-screens > "$OUT/screen-$columns-after.txt"
    tmux kill-session -t ai-screens
done
echo "screens in $OUT"
