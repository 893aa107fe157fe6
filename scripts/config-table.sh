#!/usr/bin/env bash
# Prints the configuration of each subcommand as Markdown tables, from the
# binary's own --help, so the README cannot drift from the code.
#   scripts/config-table.sh [bin]            print the tables
#   scripts/config-table.sh --write [bin]    replace them in README.md (from
#                                            the first "#### `gintoki" heading
#                                            to the next "## " heading)
set -euo pipefail
write=false
if [[ ${1:-} == --write ]]; then write=true; shift; fi
bin=${1:-bin/gintoki}

tables() {
  for cmd in serve gateway demo relay flush migrate seed; do
    "$bin" "$cmd" --help >/dev/null 2>&1 || continue
    printf '#### `gintoki %s`\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n' "$cmd"
    "$bin" "$cmd" --help | awk '
      /^  --/ { flag=$1; env=$2; gsub(/[(,]/,"",env); def=$0; sub(/.*default /,"",def); sub(/\)$/,"",def); getline; sub(/^ +/,"");
                if (flag=="--kafka-group") def="gintoki-<hostname>";
                gsub(/\|/, "\\|");
                printf "| `%s` | `%s` | `%s` | %s |\n", flag, env, def, $0 }'
    printf '\n'
  done
}

if ! $write; then
  tables
  exit 0
fi
new=$(mktemp)
tables >"$new"
awk -v tables="$new" '
  !done && /^#### `gintoki / { skipping=1; while ((getline line < tables) > 0) print line; done=1; next }
  skipping && /^## / { skipping=0 }
  !skipping { print }' README.md >README.md.tmp
mv README.md.tmp README.md
rm -f "$new"
