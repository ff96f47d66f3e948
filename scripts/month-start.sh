#!/bin/sh
# Month-start simulator (issue 13): builds the relay and the simulator in release and runs
# it (three topologies, then 50 clients on SQLite). Options go to the simulator, e.g.
#   scripts/month-start.sh --offices 500 --hold 3000
#   scripts/month-start.sh --only sqlite,clients
# Needs PostgreSQL and haproxy (installed with apt-get when missing, as root). Figures:
# docs/performance.md, "Month-start simulator (issue 13)".
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p careplan-relay --bin careplan-relay --example month_start
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/examples/month_start" "$@"
