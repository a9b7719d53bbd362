# Starts the ClickHouse servers the tests talk to, on loopback, each with a private config and
# data folder under one temporary directory. Sourced by scripts/test after the build (it appends
# its stop command to the array `cleanup`); also usable by hand:
#   cleanup=(); source scripts/ci/start-clickhouse.sh; ...; ch_stop_all
#
# - a single node                      TALLY_CLICKHOUSE_URL
# - two shards forming the cluster     TALLY_CLICKHOUSE_CLUSTER (its name), TALLY_CLICKHOUSE_CLUSTER_URL
#   (the node queries go to: shard 1), TALLY_CLICKHOUSE_SHARDS (every shard's HTTP URL, in order)
# - a spare node, configured but not started, that the outage test starts and kills itself:
#   TALLY_CLICKHOUSE_SPARE_CONFIG, TALLY_CLICKHOUSE_SPARE_URL

ch_root=$(mktemp -d /tmp/tally-clickhouse.XXXXXX)
ch_pids=()

# A TCP port nobody listens on right now.
ch_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Writes the config of node $1 (HTTP port $2, TCP port $3, remote_servers XML $4) and prints its path.
ch_write_config() {
  local dir="$ch_root/$1"
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
EOF
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/server.log</log><errorlog>$dir/server.err.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$2</http_port>
  <tcp_port>$3</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <timezone>UTC</timezone>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <remote_servers>$4</remote_servers>
</yandex>
EOF
  echo "$dir/config.xml"
}

# Starts the server of config $1 in the background and waits (up to 30 s) until URL $2 answers.
ch_start() {
  clickhouse-server --config-file="$1" >"$(dirname "$1")/stdout.log" 2>&1 &
  ch_pids+=("$!")
  for _ in $(seq 1 300); do
    if curl -fsS "$2/ping" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "clickhouse-server ($1) did not answer on $2; its log:" >&2
  tail -n 30 "$(dirname "$1")/server.err.log" "$(dirname "$1")/stdout.log" >&2 || true
  return 1
}

# Stops every server this script (or the outage test, through its pid file) started, then
# removes the temporary directory.
ch_stop_all() {
  local spare_pid
  spare_pid=$(cat "$ch_root/spare/pid" 2>/dev/null || true)
  for pid in "${ch_pids[@]}" $spare_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in "${ch_pids[@]}" $spare_pid; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$ch_root"
}
cleanup+=("ch_stop_all")

ch_single_http=$(ch_free_port)
ch_shard1_http=$(ch_free_port)
ch_shard2_http=$(ch_free_port)
ch_spare_http=$(ch_free_port)
ch_shard1_tcp=$(ch_free_port)
ch_shard2_tcp=$(ch_free_port)
ch_cluster=tally_test
ch_remote="<$ch_cluster>
    <shard><replica><host>127.0.0.1</host><port>$ch_shard1_tcp</port></replica></shard>
    <shard><replica><host>127.0.0.1</host><port>$ch_shard2_tcp</port></replica></shard>
  </$ch_cluster>"

ch_start "$(ch_write_config single "$ch_single_http" "$(ch_free_port)" "")" "http://127.0.0.1:$ch_single_http"
ch_start "$(ch_write_config shard1 "$ch_shard1_http" "$ch_shard1_tcp" "$ch_remote")" "http://127.0.0.1:$ch_shard1_http"
ch_start "$(ch_write_config shard2 "$ch_shard2_http" "$ch_shard2_tcp" "$ch_remote")" "http://127.0.0.1:$ch_shard2_http"

export TALLY_CLICKHOUSE_URL="http://127.0.0.1:$ch_single_http"
export TALLY_CLICKHOUSE_CLUSTER="$ch_cluster"
export TALLY_CLICKHOUSE_CLUSTER_URL="http://127.0.0.1:$ch_shard1_http"
export TALLY_CLICKHOUSE_SHARDS="http://127.0.0.1:$ch_shard1_http,http://127.0.0.1:$ch_shard2_http"
export TALLY_CLICKHOUSE_SPARE_CONFIG
TALLY_CLICKHOUSE_SPARE_CONFIG=$(ch_write_config spare "$ch_spare_http" "$(ch_free_port)" "")
export TALLY_CLICKHOUSE_SPARE_URL="http://127.0.0.1:$ch_spare_http"
echo "clickhouse: single $TALLY_CLICKHOUSE_URL, cluster $ch_cluster via $TALLY_CLICKHOUSE_CLUSTER_URL (shards $TALLY_CLICKHOUSE_SHARDS)"
