#!/usr/bin/env bash
# The whole local infrastructure: Kafka and PostgreSQL with one database per service.
# Usage: deploy/local/stack.sh up|down|status|env
# FENGQIAO_KAFKA_NODES=3 and FENGQIAO_KAFKA_SASL=1 reach deploy/local/kafka.sh (docs/kafka.md).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$ROOT/deploy/local"
SERVICES=(intake mediation assessment)

case "${1:-}" in
  up)
    "$HERE/kafka.sh" up
    if [ "$KAFKA_SASL" = 1 ]; then
      # Each service's ACLs, derived from the topic registry (shared/kafka/acls.py); needs the venv.
      [ -x "$ROOT/.venv/bin/python" ] || die "SASL needs the project's venv to apply the ACLs: run ./fengqiao test once, or make .venv"
      FENGQIAO_KAFKA_ADMIN_PASSWORD="${FENGQIAO_KAFKA_ADMIN_PASSWORD:-admin-local-secret}" \
        "$ROOT/.venv/bin/python" -m shared.kafka.acls apply --bootstrap-servers "$("$HERE/kafka.sh" bootstrap)"
    fi
    "$HERE/postgres.sh" up
    for s in "${SERVICES[@]}"; do "$HERE/postgres.sh" createdb "fengqiao_$s"; done
    ;;
  down)
    "$HERE/kafka.sh" down
    "$HERE/postgres.sh" down
    ;;
  status)
    rc=0
    "$HERE/kafka.sh" status || rc=1
    "$HERE/postgres.sh" status || rc=1
    exit $rc
    ;;
  env)
    # Addresses of the local stack, read by the tests (deploy/local/infrastructure.py) and benchmarks.
    echo "export FENGQIAO_KAFKA_BOOTSTRAP_SERVERS=$("$HERE/kafka.sh" bootstrap)"
    echo "export FENGQIAO_POSTGRES_URL=postgresql://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT"
    ;;
  *) die "usage: $0 up|down|status|env" ;;
esac
