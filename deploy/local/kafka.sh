#!/usr/bin/env bash
# Local Apache Kafka (KRaft, combined broker+controller nodes on 127.0.0.1) from Maven Central jars.
# Usage: deploy/local/kafka.sh up|down|status|fetch       every node (all idempotent)
#        deploy/local/kafka.sh up|down|kill N              node N only (1..FENGQIAO_KAFKA_NODES)
# FENGQIAO_KAFKA_NODES=3 runs a three-node cluster (replication 3, min.insync.replicas=2);
# FENGQIAO_KAFKA_SASL=1 makes clients authenticate with SCRAM-SHA-512 and applies ACLs (docs/kafka.md).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIBS="$CACHE/kafka/libs"
case "$KAFKA_NODES" in 1|3) ;; *) die "FENGQIAO_KAFKA_NODES must be 1 or 3, not $KAFKA_NODES" ;; esac
# Each shape of cluster formats storage of its own, so switching shapes never mixes their metadata.
suffix=""; [ "$KAFKA_NODES" -gt 1 ] && suffix="-$KAFKA_NODES-nodes"
[ "$KAFKA_SASL" = 1 ] && suffix="$suffix-sasl"
KBASE="$STATE/kafka$suffix"
# The super user: brokers among themselves and with the controllers, and whoever creates topics and ACLs.
ADMIN_PASSWORD="${FENGQIAO_KAFKA_ADMIN_PASSWORD:-admin-local-secret}"
SERVICE_USERS=(intake mediation assessment)
# Fewer nodes, more heap each: three nodes stay within 2.5 GB on a developer's machine.
# FENGQIAO_KAFKA_JVM_OPTS: more JVM flags (the cluster tests start nodes with the quick compiler only).
JVM_OPTS="${FENGQIAO_KAFKA_JVM_OPTS:-}"
if [ "$KAFKA_NODES" -gt 1 ]; then HEAP="${FENGQIAO_KAFKA_HEAP:--Xms256m -Xmx768m}"
else HEAP="${FENGQIAO_KAFKA_HEAP:--Xms512m -Xmx1g}"; fi
# Replication of the internal topics and the default of created ones: the cluster's size, up to 3.
REPLICAS=$KAFKA_NODES; MIN_ISR=$(( KAFKA_NODES >= 3 ? 2 : 1 ))

# The single node keeps the layout it always had (.local/kafka); a cluster has one folder per node.
node_dir() { if [ "$KAFKA_NODES" -gt 1 ]; then echo "$KBASE/node$1"; else echo "$KBASE"; fi; }
node_port() { echo $(( KAFKA_PORT + $1 - 1 )); }
controller_port() { echo $(( KAFKA_CONTROLLER_PORT + $1 - 1 )); }
nodes() { seq 1 "$KAFKA_NODES"; }
bootstrap() { local n out=""; for n in $(nodes); do out="$out${out:+,}$KAFKA_HOST:$(node_port "$n")"; done; echo "$out"; }
password_of() { local var="FENGQIAO_KAFKA_${1^^}_PASSWORD"; echo "${!var:-$1-local-secret}"; }

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
  local dir; dir=$(node_dir "$1")
  [ -f "$dir/kafka.pid" ] || return 1
  local pid; pid=$(cat "$dir/kafka.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $dir/"
}
# Plaintext: the node answers Metadata and sees every node of the cluster. SASL: the node's client
# listener answers a SASL handshake offering SCRAM-SHA-512 (it opens once the broker has joined).
answers() {
  local args=("$KAFKA_HOST" "$(node_port "$1")")
  if [ "$KAFKA_SASL" = 1 ]; then args+=(--sasl); else args+=(--brokers "$KAFKA_NODES"); fi
  python3 "$ROOT/deploy/local/kafka_ready.py" "${args[@]}"
}

write_properties() {
  local n=$1 dir port cport listener quorum
  dir=$(node_dir "$n"); port=$(node_port "$n"); cport=$(controller_port "$n")
  listener=PLAINTEXT; [ "$KAFKA_SASL" = 1 ] && listener=SASL_PLAINTEXT
  # One node bootstraps a dynamic quorum of itself; a cluster names its three voters up front.
  if [ "$KAFKA_NODES" -gt 1 ]; then
    quorum="controller.quorum.voters=$(for m in $(nodes); do printf '%s@%s:%s,' "$m" "$KAFKA_HOST" "$(controller_port "$m")"; done | sed 's/,$//')"
  else
    quorum="controller.quorum.bootstrap.servers=$KAFKA_HOST:$cport"
  fi
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
$quorum
listeners=$listener://$KAFKA_HOST:$port,CONTROLLER://$KAFKA_HOST:$cport
advertised.listeners=$listener://$KAFKA_HOST:$port,CONTROLLER://$KAFKA_HOST:$cport
inter.broker.listener.name=$listener
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:$listener,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
log.dirs=$dir/data
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
  if [ "$KAFKA_NODES" -gt 1 ]; then
    # Later keys override the single node's above: replication follows the cluster, and an acks=all
    # write must reach two replicas, so one node lost never loses an acknowledged record.
    cat >>"$dir/server.properties" <<CLUSTER
default.replication.factor=$REPLICAS
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$REPLICAS
transaction.state.log.replication.factor=$REPLICAS
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$REPLICAS
share.coordinator.state.topic.min.isr=$MIN_ISR
# A node that comes back takes its partitions' leadership back soon, as a rolling restart expects.
leader.imbalance.check.interval.seconds=10
CLUSTER
  fi
  if [ "$KAFKA_SASL" = 1 ]; then
    # Clients and brokers: SCRAM-SHA-512, credentials in the cluster's metadata. Controllers: PLAIN for
    # the admin only (SCRAM cannot authenticate on the controller listener, KIP-631). Plaintext
    # transport: local only; production adds TLS (docs/kafka.md).
    cat >>"$dir/server.properties" <<SASL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$ADMIN_PASSWORD" user_admin="$ADMIN_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
SASL
  fi
}

# Storage is formatted once per node, every node with the same cluster id; SASL clusters start with
# the SCRAM credentials of the admin and of one principal per service.
format() {
  local n=$1 dir; dir=$(node_dir "$n")
  [ -f "$dir/data/meta.properties" ] && return 0
  local cp="$LIBS/*" flags=()
  [ "$KAFKA_NODES" -gt 1 ] || flags+=(--standalone)
  if [ "$KAFKA_SASL" = 1 ]; then
    flags+=(--add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]")
    for user in "${SERVICE_USERS[@]}"; do
      flags+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(password_of "$user")]")
    done
  fi
  # A short-lived JVM: the quick compiler only (it starts in about half the time on busy cores).
  java -XX:TieredStopAtLevel=1 -cp "$cp" -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.properties" \
    -Dkafka.logs.dir="$dir/logs" kafka.tools.StorageTool format "${flags[@]}" \
    -t "$(cat "$KBASE/cluster.id")" -c "$dir/server.properties" --ignore-formatted >"$dir/logs/format.log" 2>&1 \
    || die "formatting Kafka storage of node $n failed (see $dir/logs/format.log)"
}

start_node() {
  local n=$1 dir port cport; dir=$(node_dir "$n"); port=$(node_port "$n"); cport=$(controller_port "$n")
  running "$n" && return 0
  port_taken "$port" && die "port $port is taken by another process: stop it or set FENGQIAO_KAFKA_PORT"
  port_taken "$cport" && die "port $cport is taken by another process: stop it or set FENGQIAO_KAFKA_CONTROLLER_PORT"
  write_properties "$n"
  format "$n"  # done already when `up` prepared the nodes side by side
  # Every partition keeps segment and index files open: allow as many files as the system lets us.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  # setsid: the broker outlives the shell that started it and ignores its Ctrl-C.
  # shellcheck disable=SC2086
  setsid java $HEAP -XX:+UseG1GC $JVM_OPTS -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$ROOT/deploy/local/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

wait_answering() {
  local n=$1 dir; dir=$(node_dir "$n")
  # A cluster starts its nodes side by side on shared cores: it gets longer than a single node.
  for _ in $(seq 1 $(( KAFKA_NODES > 1 ? 240 : 120 ))); do
    answers "$n" && return 0
    running "$n" || die "kafka node $n exited during start-up (see $dir/logs/server.log and $dir/logs/stdout.log)"
    sleep 0.5
  done
  die "kafka node $n did not answer within $(( KAFKA_NODES > 1 ? 120 : 60 )) s (see $dir/logs/server.log)"
}

up() {
  local only=${1:-} n todo
  todo=$(if [ -n "$only" ]; then echo "$only"; else nodes; fi)
  local all=1
  for n in $todo; do running "$n" && answers "$n" || all=0; done
  if [ "$all" = 1 ]; then say "kafka already up on $(bootstrap)"; return 0; fi
  need java "install a Java 17 runtime (apt-get install -y openjdk-17-jre-headless)"
  need python3 "install Python 3 (apt-get install -y python3)"
  fetch
  mkdir -p "$KBASE"
  if [ ! -f "$KBASE/cluster.id" ]; then
    # What `kafka-storage random-uuid` prints (a UUID in URL-safe base64), without starting a JVM for it.
    python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' \
      >"$KBASE/cluster.id"
  fi
  # Storage of new nodes is formatted side by side: a JVM each, seconds each on busy cores.
  local pids=()
  for n in $todo; do
    running "$n" || { write_properties "$n"; format "$n" & pids+=($!); }
  done
  for pid in "${pids[@]}"; do wait "$pid" || exit 1; done
  for n in $todo; do start_node "$n"; done
  for n in $todo; do wait_answering "$n"; done
  say "kafka up on $(bootstrap) ($KAFKA_NODES node(s)$([ "$KAFKA_SASL" = 1 ] && echo ', SASL/SCRAM-SHA-512'); logs: $(node_dir "${only:-1}")/logs/server.log)"
}

# SIGTERM (a controlled shutdown: leadership moves away first) or, with kill, SIGKILL.
stop_node() {
  local n=$1 signal=$2 dir; dir=$(node_dir "$n")
  if running "$n"; then
    local pid; pid=$(cat "$dir/kafka.pid")
    kill "-$signal" "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "kafka node $n stopped ($signal)"
  else
    say "kafka node $n not running"
  fi
  rm -f "$dir/kafka.pid"
}

down() {
  local n
  if [ -n "${1:-}" ]; then stop_node "$1" TERM; return; fi
  # Side by side: nodes stopped one after another would each wait for the next to take leadership.
  for n in $(nodes); do stop_node "$n" TERM & done
  wait
}

status() {
  local n rc=0 dir
  for n in $(nodes); do
    dir=$(node_dir "$n")
    local name="kafka"; [ "$KAFKA_NODES" -gt 1 ] && name="kafka node $n"
    if running "$n" && answers "$n"; then echo "$name: up on $KAFKA_HOST:$(node_port "$n") (pid $(cat "$dir/kafka.pid"))"
    elif running "$n"; then echo "$name: starting or not answering (pid $(cat "$dir/kafka.pid"))"; rc=1
    else echo "$name: down"; rc=1; fi
  done
  return $rc
}

node_arg() {
  [ -z "${1:-}" ] && return 0
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$KAFKA_NODES" ] \
    || die "no node $1: nodes are 1..$KAFKA_NODES"
  echo "$1"
}

case "${1:-}" in
  up) up "$(node_arg "${2:-}")" ;;
  down) down "$(node_arg "${2:-}")" ;;
  kill) [ -n "${2:-}" ] || die "usage: $0 kill N"; stop_node "$(node_arg "$2")" KILL ;;
  status) status ;; fetch) fetch ;;
  bootstrap) bootstrap ;;
  *) die "usage: $0 up|down|status|fetch|bootstrap, or up|down|kill N for node N" ;;
esac
