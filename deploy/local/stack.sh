#!/usr/bin/env bash
# The whole local infrastructure: Kafka and PostgreSQL with one database per service.
# Usage: deploy/local/stack.sh up|down|status|env
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$ROOT/deploy/local"
SERVICES=(intake mediation assessment)

case "${1:-}" in
  up)
    "$HERE/kafka.sh" up
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
    # Addresses of the local stack, read by the tests and benchmarks (deploy/local/infrastructure.py).
    echo "export FENGQIAO_KAFKA_BOOTSTRAP_SERVERS=$KAFKA_HOST:$KAFKA_PORT"
    echo "export FENGQIAO_POSTGRES_URL=postgresql://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT"
    ;;
  *) die "usage: $0 up|down|status|env" ;;
esac
