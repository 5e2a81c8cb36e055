#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller on 127.0.0.1) from Maven Central jars.
# Usage: deploy/local/kafka.sh up|down|status|fetch   (all idempotent)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KDIR="$STATE/kafka"
LIBS="$CACHE/kafka/libs"
PIDFILE="$KDIR/kafka.pid"

fetch() {
  [ -f "$LIBS/.complete" ] && return 0
  need java "install a Java 17 runtime (apt-get install -y openjdk-17-jre-headless)"
  need mvn "install Maven (apt-get install -y maven)"
  mkdir -p "$CACHE"
  say "fetching Kafka jars from Maven Central into $LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$CACHE/kafka-fetch.log" 2>&1 \
    || die "could not fetch Kafka jars from Maven Central (see $CACHE/kafka-fetch.log): check the network or Maven's settings.xml mirror"
  touch "$LIBS/.complete"
}

# The pid must still be our broker: after a reboot the pidfile may name some other process.
running() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $KDIR/"
}
answers() { python3 "$ROOT/deploy/local/kafka_ready.py" "$KAFKA_HOST" "$KAFKA_PORT"; }

write_properties() {
  mkdir -p "$KDIR/data" "$KDIR/logs"
  cat >"$KDIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KDIR/data
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly (shared.kafka.topics) with their partition counts, as in production.
auto.create.topics.enable=false
log.retention.hours=168
log.segment.bytes=134217728
PROPS
}

up() {
  if running && answers; then say "kafka already up on $KAFKA_HOST:$KAFKA_PORT"; return 0; fi
  need java "install a Java 17 runtime (apt-get install -y openjdk-17-jre-headless)"
  need python3 "install Python 3 (apt-get install -y python3)"
  fetch
  if ! running; then
    port_taken "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process: stop it or set FENGQIAO_KAFKA_PORT"
    port_taken "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT is taken by another process: stop it or set FENGQIAO_KAFKA_CONTROLLER_PORT"
    write_properties
    local cp="$LIBS/*"
    if [ ! -f "$KDIR/data/meta.properties" ]; then
      local cluster_id
      cluster_id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
      java -cp "$cp" -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.properties" \
        -Dkafka.logs.dir="$KDIR/logs" kafka.tools.StorageTool format --standalone \
        -t "$cluster_id" -c "$KDIR/server.properties" --ignore-formatted >"$KDIR/logs/format.log" 2>&1 \
        || die "formatting Kafka storage failed (see $KDIR/logs/format.log)"
    fi
    # Every partition keeps segment and index files open: allow as many files as the system lets us.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # setsid: the broker outlives the shell that started it and ignores its Ctrl-C.
    setsid java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
      -Dkafka.logs.dir="$KDIR/logs" -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.properties" \
      -cp "$cp" kafka.Kafka "$KDIR/server.properties" >"$KDIR/logs/stdout.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 120); do
    if answers; then say "kafka up on $KAFKA_HOST:$KAFKA_PORT (logs: $KDIR/logs/server.log)"; return 0; fi
    running || die "kafka exited during start-up (see $KDIR/logs/server.log and $KDIR/logs/stdout.log)"
    sleep 0.5
  done
  die "kafka did not answer a metadata request within 60 s (see $KDIR/logs/server.log)"
}

down() {
  if running; then
    local pid; pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "kafka stopped"
  else
    say "kafka not running"
  fi
  rm -f "$PIDFILE"
}

status() {
  if running && answers; then echo "kafka: up on $KAFKA_HOST:$KAFKA_PORT (pid $(cat "$PIDFILE"))"
  elif running; then echo "kafka: starting or not answering (pid $(cat "$PIDFILE"))"; return 1
  else echo "kafka: down"; return 1; fi
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;; fetch) fetch ;;
  *) die "usage: $0 up|down|status|fetch" ;;
esac
