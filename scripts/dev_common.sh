# shellcheck shell=bash
# Pieces shared by scripts/develop and scripts/screenshots: prepare the venv for a
# real Home Assistant run, write a minimal config, start the Plex simulator and
# Home Assistant in the background, wait for them, and stop them by PID.
# Source it from the repository root; it defines functions and DEV_PIDS only.

DEV_PIDS=()

# The test venv (scripts/bootstrap) plus what a UI run needs, pinned in
# scripts/dev_requirements.txt; a stamp makes the second run a no-op.
dev_setup_venv() {
  scripts/bootstrap
  local stamp=.venv/.dev-requirements-stamp wanted
  wanted=$(cat requirements_test.txt scripts/dev_requirements.txt | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
    return 0
  fi
  echo "develop: installing the Home Assistant frontend into .venv" >&2
  .venv/bin/uv pip install -q --python .venv/bin/python \
    -r requirements_test.txt -r scripts/dev_requirements.txt
  echo "$wanted" >"$stamp"
}

# dev_port_free PORT: true when nothing listens on 127.0.0.1:PORT.
dev_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# dev_free_port: print a port nobody listens on (the kernel picks it).
dev_free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dev_write_config DIR HOST PORT: a minimal configuration.yaml and a link to the
# integration. A configuration.yaml without our first line is yours and is kept.
dev_write_config() {
  local dir=$1 host=$2 port=$3 marker="# Written by scripts/develop"
  mkdir -p "$dir/custom_components" "$dir/.storage"
  ln -sfn "$PWD/custom_components/plex_butler" "$dir/custom_components/plex_butler"
  # The core settings are below, so mark that onboarding step done up front: the
  # step would also add met, radio_browser and google_translate, which need the
  # internet and packages this venv leaves out.
  if [[ ! -f $dir/.storage/onboarding ]]; then
    printf '%s\n' '{"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": ["core_config"]}}' \
      >"$dir/.storage/onboarding"
  fi
  if [[ -f $dir/configuration.yaml ]] && [[ $(head -n1 "$dir/configuration.yaml") != "$marker"* ]]; then
    echo "develop: keeping your $dir/configuration.yaml (it lacks the '$marker' line)" >&2
    return 0
  fi
  cat >"$dir/configuration.yaml" <<EOF
$marker; edit freely after deleting this line.
homeassistant:
  name: Plex Butler dev
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: Europe/Amsterdam
  country: NL
  currency: EUR
  language: en
frontend:
config:
api:
onboarding:
system_log:
http:
  server_host: $host
  server_port: $port
logger:
  default: warning
  logs:
    custom_components.plex_butler: debug
    # Camera support (unused here) complains once that libturbojpeg is missing.
    homeassistant.components.camera.img_util: critical
EOF
}

# dev_start_simulator PORT TOKEN LOG [extra args...]: start the Plex simulator, printing each request
# in the background (its lines go to LOG, or the terminal if LOG is "-").
dev_start_simulator() {
  local port=$1 token=$2 log=$3
  shift 3
  if ! dev_port_free "$port"; then
    echo "develop: port $port is taken; set PLEX_PORT to another one" >&2
    return 1
  fi
  if [[ $log == - ]]; then
    PYTHONPATH=. .venv/bin/python -m tests.plex_simulator --print-requests --port "$port" --token "$token" "$@" &
  else
    PYTHONPATH=. .venv/bin/python -m tests.plex_simulator --print-requests --port "$port" --token "$token" "$@" >"$log" 2>&1 &
  fi
  DEV_PIDS+=("$!")
  dev_wait_http "http://127.0.0.1:$port/identity" 30 "$!"
}

# dev_start_hass DIR HOST PORT LOG: start `hass` in the background, then wait
# until the frontend answers (onboarding and the API are set up before it).
dev_start_hass() {
  local dir=$1 host=$2 port=$3 log=$4
  if ! dev_port_free "$port"; then
    echo "develop: port $port is taken; set HA_PORT to another one" >&2
    return 1
  fi
  if [[ $log == - ]]; then
    .venv/bin/hass -c "$dir" --skip-pip &
  else
    .venv/bin/hass -c "$dir" --skip-pip >"$log" 2>&1 &
  fi
  DEV_PIDS+=("$!")
  dev_wait_http "http://$host:$port/manifest.json" 120 "$!"
}

# dev_wait_http URL SECONDS PID: poll URL until it answers, failing early if PID dies.
dev_wait_http() {
  local url=$1 seconds=$2 pid=$3 deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "develop: the process behind $url exited before answering" >&2
      return 1
    fi
    sleep 0.3
  done
  echo "develop: $url did not answer within ${seconds}s" >&2
  return 1
}

# dev_stop_all: SIGTERM every process we started, SIGKILL what is left after 20 s.
dev_stop_all() {
  local pid deadline=$((SECONDS + 20))
  ((${#DEV_PIDS[@]})) || return 0
  for pid in "${DEV_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${DEV_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  DEV_PIDS=()
}
