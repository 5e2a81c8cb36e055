# Common paths, ports and error handling for the local launchers (sourced, not run).
# Every address can be moved with an environment variable; the defaults match the code's defaults.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${FENGQIAO_STATE_DIR:-$ROOT/.local}"
CACHE="${FENGQIAO_CACHE_DIR:-$ROOT/.cache}"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${FENGQIAO_KAFKA_PORT:-19092}"
# One node by default; 3 runs a cluster of combined broker+controller nodes on consecutive ports
# (node n listens on KAFKA_PORT+n-1 and its controller on KAFKA_CONTROLLER_PORT+n-1).
KAFKA_NODES="${FENGQIAO_KAFKA_NODES:-1}"
# One node: the controller sits next to the broker (19093); several: 100 above, clear of the brokers.
KAFKA_CONTROLLER_PORT="${FENGQIAO_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + (KAFKA_NODES > 1 ? 100 : 1)))}"
# 1: clients authenticate with SASL/SCRAM-SHA-512 (plaintext transport) and ACLs apply (docs/kafka.md).
KAFKA_SASL="${FENGQIAO_KAFKA_SASL:-0}"
PG_HOST=127.0.0.1
PG_PORT="${FENGQIAO_PG_PORT:-15432}"
PG_USER=fengqiao
PG_PASSWORD="${FENGQIAO_PG_PASSWORD:-fengqiao}"

# One line on stderr saying what is wrong and how to fix it, then a non-zero exit.
die() { echo "fengqiao: $*" >&2; exit 1; }
say() { echo "fengqiao: $*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

# True when something already listens on 127.0.0.1:$1.
port_taken() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}
