#!/usr/bin/env bash
# Rebuild relay-v1.sqlite3 and relay-v1.json (see README.md) with the relay of commit
# 22c1ff2, the last one before the versioned schema:
#   git worktree add /tmp/old-relay 22c1ff2
#   (cd /tmp/old-relay && CARGO_TARGET_DIR=/tmp/old-relay-target cargo build -p careplan-relay)
#   crates/careplan-relay/tests/data/make-relay-v1.sh /tmp/old-relay-target/debug/careplan-relay
# It runs the old `careplan-relay demo`, then, over mutual TLS with curl, logs in as the
# second demo office, downloads and acknowledges one received file and saves a draft with
# two files, so the store holds every kind of row the old schema had.
set -euo pipefail
BIN=${1:?usage: make-relay-v1.sh PATH-TO-OLD-careplan-relay}
OUT=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
PORT=${PORT:-18943}
"$BIN" demo --data "$DIR" --listen "127.0.0.1:$PORT" >"$DIR/relay.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 600); do [ -f "$DIR/demo.json" ] && break; sleep 0.2; done
O=$(jq -c '.offices[1]' "$DIR/demo.json")
P=$(jq -r .profile <<<"$O")
URL="https://127.0.0.1:$PORT/api/v1"
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert "$DIR/pki/ca.crt" --cert "$P/client.crt" --key "$P/client.key" "$URL/notices" && break
  sleep 0.2
done
TOKEN=
api() { # METHOD PATH [JSON]
  curl -sS --fail-with-body --cacert "$DIR/pki/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
    -X "$1" ${TOKEN:+-H "Authorization: Bearer $TOKEN"} -H 'Content-Type: application/json' \
    ${3:+--data-binary "$3"} "$URL$2"
}
TOKEN=$(api POST /login/personal "$(jq -c '{user_id: .personal_user, password: .personal_password}' <<<"$O")" | jq -r .token)
TOKEN=$(api POST /login/office "$(jq -c '{user_id: .office_user, password: .office_password}' <<<"$O")" | jq -r .token)
FILE=$(api GET /received | jq -r '.[0].files[0].id')
SHA=$(api GET "/files/$FILE" | sha256sum | cut -d' ' -f1)
api POST "/files/$FILE/ack" "{\"sha256\":\"$SHA\"}" >/dev/null
TO=$(jq -r '.offices[0].office' "$DIR/demo.json")
FROM=$(jq -r .office <<<"$O")
A=$(printf '1,"\x83\x65\x83\x58\x83\x67"\r\n' | base64 -w0)   # "テスト" in MS932
B=$(printf 'attachment\r\n' | base64 -w0)
api PUT /drafts/draft-v1 "{\"saved_at\":\"2026-04-01T09:30:00+09:00\",\"terminal\":\"受付PC\",\"message\":\"4月分の実績です\",\"to_office\":\"$TO\",\"files\":[{\"name\":\"R7_${FROM}_${TO}_20260401093000.CSV\",\"data\":\"$A\"},{\"name\":\"メモ.txt\",\"data\":\"$B\"}]}" >/dev/null
kill "$PID"
wait "$PID" 2>/dev/null || true
sqlite3 "$DIR/relay.sqlite3" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
cp "$DIR/relay.sqlite3" "$OUT/relay-v1.sqlite3"
jq --arg file "$FILE" '{acknowledged_file: $file, draft: {office: .offices[1].office, id: "draft-v1"},
  offices: [.offices[] | {office, name, personal_user, personal_password, office_user, office_password}]}' \
  "$DIR/demo.json" >"$OUT/relay-v1.json"
ls -l "$OUT/relay-v1.sqlite3" "$OUT/relay-v1.json"
