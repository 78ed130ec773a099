#!/usr/bin/env bash
# Runs the README's operator walkthrough as printed: the part of README.md between
# <!-- operator-walkthrough:start --> and <!-- operator-walkthrough:end -->.
#
# For each ```bash block of that part, in order: start the service with the command the part names
# (`dotnet run --project src/Keybrake.BudgetService`, from the repository root, on an empty data/), run every
# command of the block in one shell, so exports carry over, stop the service by its process id, and move on.
# Blocks are alternatives (the CLI, then curl): each starts from a fresh service.
#
# Every command must succeed: the CLI exits 0, and curl answers 2xx (curl runs with --fail-with-body). Some
# commands also have their output checked (expect_output below). A line added to a block is run and checked
# for success with no change here; a command whose output says something particular can get a pattern below.
#
# Two things differ from a reader's terminal, both said in the log: `keybrake` is the CLI this checkout built
# (the block's install line is skipped: CI does not install global tools), and when the README's ports
# 7411/7412 are taken on the machine, free ones are used in their place.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

out=artifacts/ci/walkthrough
rm -rf "$out"
mkdir -p "$out"
transcript=$out/transcript.log
: > "$transcript"

run_pid=""
service_pid=""
service_log=""

stop_service() {
  if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
    kill -TERM "$service_pid"
    for _ in $(seq 1 300); do kill -0 "$service_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$service_pid" 2>/dev/null && kill -KILL "$service_pid"
  fi
  if [ -n "$run_pid" ]; then
    kill -0 "$run_pid" 2>/dev/null && kill -TERM "$run_pid"
    wait "$run_pid" 2>/dev/null
  fi
  service_pid=""
  run_pid=""
}

cleanup() {
  stop_service
  # Only what this script created: it refuses to start when data/ or audit.csv were there before.
  rm -rf data audit.csv
}

fail() {
  echo "operator walkthrough failed: $1"
  if [ -n "$service_log" ] && [ -f "$service_log" ]; then
    echo "-- the service's log (last lines):"
    tail -n 20 "$service_log"
  fi
  cleanup
  exit 1
}

# Patterns a command's output must contain, by how the command starts (first match wins).
expect_output() {
  case "$1" in
    "keybrake keys create"*) echo "Brake key: vault_key_" ;;
    "keybrake spend"*) echo "Total: " ;;
    "keybrake keys revoke"*) echo "revoked" ;;
    "keybrake keys restore"*) echo "restored" ;;
    "keybrake reservations"*) echo "No unsettled reservations" ;;
    "curl"*"-X POST \$R/v1/keys "*) echo '"brakeKey": *"vault_key_' ;;
    "curl"*"/revoke"*) echo '"revoked": *true' ;;
    "curl"*"/v1/spend"*) echo '"rows"' ;;
    *) echo "" ;;
  esac
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    port_free "$port" && { echo "$port"; return; }
  done
  fail "no free port found"
}

[ -e data ] && fail "data/ already exists in the repository root; move it aside (the walkthrough starts from an empty data/)"
[ -e audit.csv ] && fail "audit.csv already exists in the repository root; move it aside"

section=$(awk '/<!-- operator-walkthrough:start -->/ { on = 1; next } /<!-- operator-walkthrough:end -->/ { on = 0 } on' README.md)
[ -n "$section" ] || fail "README.md has no <!-- operator-walkthrough:start/end --> section"

start_command=$(grep -o 'dotnet run --project src/Keybrake.BudgetService[^`]*' <<< "$section" | head -n 1)
[ -n "$start_command" ] || fail "the section does not say how to start the service (dotnet run --project src/Keybrake.BudgetService)"

awk -v dir="$out" '/^```bash$/ { n++; on = 1; next } /^```/ { on = 0; next } on { print > (dir "/block-" n ".sh") }' <<< "$section"
blocks=$(ls "$out"/block-*.sh 2>/dev/null | sort -V)
[ -n "$blocks" ] || fail "the section has no bash block"

grpc_port=7411
rest_port=7412
port_arguments=""
if ! port_free 7411 || ! port_free 7412; then
  grpc_port=$(free_port)
  rest_port=$(free_port)
  port_arguments=" -- --BudgetService:Port=$grpc_port --BudgetService:RestPort=$rest_port"
  echo "ports 7411/7412 are taken on this machine: using $grpc_port/$rest_port in their place"
fi

cli_dll=$(ls "$repo"/artifacts/bin/Keybrake.Cli/*/Keybrake.Cli.dll 2>/dev/null | head -n 1)
[ -n "$cli_dll" ] || fail "the CLI is not built (dotnet build Keybrake.Client.sln first)"
keybrake() { dotnet "$cli_dll" "$@"; }
curl() { command curl --fail-with-body --max-time 60 "$@"; }

start_service() {
  rm -rf data
  service_log=$out/service-$1.log
  echo "\$ $start_command$port_arguments &" >> "$transcript"
  bash -c "exec $start_command$port_arguments" > "$service_log" 2>&1 &
  run_pid=$!
  for _ in $(seq 1 1200); do
    kill -0 "$run_pid" 2>/dev/null || fail "the service exited before it answered"
    service_pid=$(pgrep -P "$run_pid" -f Keybrake.BudgetService | head -n 1)
    if [ -n "$service_pid" ] && [ -f data/admin-token ] &&
      [ "$(command curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rest_port/v1/keys")" = 401 ]; then
      break
    fi
    sleep 0.1
  done
  [ -n "$service_pid" ] || fail "the service did not start within 120 s"
  [ -f data/admin-token ] || fail "the service keeps no data/admin-token in the repository root"
  [ -e src/Keybrake.BudgetService/data ] && fail "the service put its data in src/Keybrake.BudgetService/data, not data/"
  echo "  service process $service_pid (dotnet run $run_pid), log in $service_log"
}

step=0
for block in $blocks; do
  name=$(basename "$block" .sh)
  echo "== $name"
  start_service "$name"

  # Logical lines: a trailing backslash continues the command on the next line.
  commands=$(awk '{ if (sub(/\\$/, "")) { held = held $0; next } print held $0; held = "" }' "$block")
  while IFS= read -r command; do
    case "$command" in
      "" | "#"*) continue ;;
      *"dotnet tool install"*)
        echo "  (skipped, CI does not install global tools: $command)"
        continue
        ;;
    esac
    [ "$grpc_port" = 7411 ] || command=${command//127.0.0.1:7411/127.0.0.1:$grpc_port}
    [ "$rest_port" = 7412 ] || command=${command//127.0.0.1:7412/127.0.0.1:$rest_port}
    step=$((step + 1))
    output=$out/step-$step.out
    echo "\$ $command" | tee -a "$transcript"
    eval "$command" > "$output" 2>&1 < /dev/null
    status=$?
    cat "$output" >> "$transcript"
    [ -s "$output" ] && [ -n "$(tail -c 1 "$output")" ] && echo >> "$transcript"
    [ "$status" -eq 0 ] || { cat "$output"; fail "'$command' exited $status"; }
    pattern=$(expect_output "$command")
    if [ -n "$pattern" ] && ! grep -Eiq -- "$pattern" "$output"; then
      cat "$output"
      fail "'$command' did not print what the walkthrough promises (/$pattern/)"
    fi
  done <<< "$commands"

  stop_service
done

cleanup
echo "operator walkthrough: $step commands in $(wc -w <<< "$blocks") blocks ran as printed (transcript: $transcript)"
