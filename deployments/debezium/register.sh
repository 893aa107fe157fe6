#!/usr/bin/env bash
# Creates the Debezium MySQL connector, or updates it to connector.json when
# it already exists, then waits until it and its task run.
#
# PUT /connectors/<name>/config is used rather than POST /connectors because
# it is idempotent: the compose service that runs this script runs again on
# every `docker compose up`, and a POST would fail with 409 the second time.
#
# Environment (defaults fit deployments/docker-compose.yml):
#   CONNECT_URL       Kafka Connect REST endpoint   (http://connect:8083)
#   CONNECTOR_NAME    connector name                (gintoki-inventory)
#   CONNECTOR_CONFIG  file with the config object   (/debezium/connector.json)
#   WAIT_SECONDS      how long to wait for each step (120)
set -euo pipefail

connect_url=${CONNECT_URL:-http://connect:8083}
name=${CONNECTOR_NAME:-gintoki-inventory}
config=${CONNECTOR_CONFIG:-/debezium/connector.json}
wait_seconds=${WAIT_SECONDS:-120}
response=$(mktemp)
trap 'rm -f "$response"' EXIT

log() { printf 'register %s: %s\n' "$name" "$*" >&2; }

if [[ ! -r $config ]]; then
	log "cannot read the connector config $config"
	exit 1
fi

# Connect answers its REST API a little before its worker has joined the
# group; a PUT in that window fails with 409 (rebalance in progress), so the
# PUT itself is retried too.
deadline=$((SECONDS + wait_seconds))
until curl -fs -o /dev/null "$connect_url/connectors"; do
	if ((SECONDS >= deadline)); then
		log "Kafka Connect at $connect_url did not answer within ${wait_seconds}s"
		exit 1
	fi
	sleep 2
done

deadline=$((SECONDS + wait_seconds))
while :; do
	code=$(curl -sS -o "$response" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' -H 'Accept: application/json' \
		--data "@$config" "$connect_url/connectors/$name/config" || echo 000)
	case $code in
	200) log "updated"; break ;;
	201) log "created"; break ;;
	409 | 000 | 5??)
		if ((SECONDS >= deadline)); then
			log "PUT kept failing (HTTP $code): $(cat "$response")"
			exit 1
		fi
		sleep 2
		;;
	*)
		# 400 and the like: the config itself is wrong; retrying cannot help.
		log "rejected (HTTP $code): $(cat "$response")"
		exit 1
		;;
	esac
done

# The connector and its one task each report "state". Both RUNNING means the
# snapshot (or streaming) has started; FAILED carries the reason in "trace".
deadline=$((SECONDS + wait_seconds))
while :; do
	status=$(curl -fsS "$connect_url/connectors/$name/status" 2>/dev/null || true)
	running=$(grep -o '"state":"RUNNING"' <<<"$status" | wc -l || true)
	if [[ $status == *'"state":"FAILED"'* ]]; then
		log "failed: $status"
		exit 1
	fi
	if ((running >= 2)); then
		log "running"
		exit 0
	fi
	if ((SECONDS >= deadline)); then
		log "not running after ${wait_seconds}s: ${status:-no status}"
		exit 1
	fi
	sleep 2
done
