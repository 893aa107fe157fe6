#!/usr/bin/env bash
# Prints the configuration of each subcommand as Markdown tables, from the
# binary's own --help, so the README cannot drift from the code.
set -euo pipefail
bin=${1:-bin/gintoki}
for cmd in serve gateway demo relay migrate seed; do
  "$bin" "$cmd" --help >/dev/null 2>&1 || continue
  printf '\n#### `gintoki %s`\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n' "$cmd"
  "$bin" "$cmd" --help | awk '
    /^  --/ { flag=$1; env=$2; gsub(/[(,]/,"",env); def=$0; sub(/.*default /,"",def); sub(/\)$/,"",def); getline; sub(/^ +/,""); 
              if (flag=="--kafka-group") def="gintoki-<hostname>";
              printf "| `%s` | `%s` | `%s` | %s |\n", flag, env, def, $0 }'
done
