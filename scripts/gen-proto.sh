#!/usr/bin/env bash
# Regenerates the Go code of every .proto under proto/. Run from the repository root.
# The plugins are built from the versions pinned in go.mod's tool block, so the output
# depends only on go.mod and the protoc version, and CI can diff it against the commit.
set -euo pipefail

if [[ ! -f go.mod ]]; then
  echo "gen-proto.sh: run from the repository root" >&2
  exit 1
fi

command -v protoc >/dev/null || {
  echo "gen-proto.sh: protoc not found (Debian: apt-get install protobuf-compiler)" >&2
  exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$tmp/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

# Sorted so the invocation, and so the output, never depends on directory order.
mapfile -t protos < <(find proto -name '*.proto' -type f | LC_ALL=C sort)
if [[ ${#protos[@]} -eq 0 ]]; then
  echo "gen-proto.sh: no .proto files under proto/" >&2
  exit 1
fi

protoc \
  --proto_path=proto \
  --plugin=protoc-gen-go="$tmp/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$tmp/protoc-gen-go-grpc" \
  --go_out=proto --go_opt=paths=source_relative \
  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
  "${protos[@]}"
