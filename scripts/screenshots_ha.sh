# shellcheck shell=bash
# Home Assistant 2026.10.4 for scripts/screenshots, in a Debian sid chroot.
#
# Why not the floor (2025.4.4) like scripts/develop: since 2026.3 Home Assistant
# serves a custom integration's brand/ images itself, and 2025.4 does not (its
# frontend asks brands.home-assistant.io, which has no images for Plex Butler),
# so on the floor users see no icon at all. The README's pictures must show what a
# user sees, icon included, without help from the script: they come from this
# version. It needs Python >= 3.14.2, which Debian 12 lacks, hence the chroot.
#
# The chroot is built once with debootstrap (about 5 minutes with the venv) and
# kept in SCREENSHOTS_CHROOT; its venv /opt/ha holds the pins of
# scripts/screenshots_requirements.txt (a stamp makes a rerun a no-op). Building
# and entering it (unshare, mount, chroot) need root.
# Source it from the repository root, after scripts/dev_common.sh.

SHOTS_ROOT=${SCREENSHOTS_CHROOT:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/plex-butler-screenshots}
SHOTS_REQUIREMENTS=scripts/screenshots_requirements.txt
# shellcheck disable=SC2034 # scripts/screenshots prints it
SHOTS_HA_VERSION=$(sed -n 's/^homeassistant==//p' "$SHOTS_REQUIREMENTS")

# shots_exec BIND_DIRS COMMAND...: run COMMAND in the chroot, in a private mount
# namespace (its mounts vanish with it) with /proc, /dev and a fresh /tmp. Each
# directory of the space-separated BIND_DIRS is mounted at the same path inside,
# so that paths and symlinks mean the same on both sides. The network is the
# host's: a server inside listens on the host's 127.0.0.1. The final process
# replaces the shell that calls this (no fork), so call it in a subshell:
# `(shots_exec ...)`, or `shots_exec ... &`, whose `$!` is then the command's PID.
shots_exec() {
  local binds=$1
  shift
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  exec unshare --mount --propagation private bash -c '
    set -e
    root=$1 binds=$2
    shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmpfs "$root/tmp"
    for dir in $binds; do
      mkdir -p "$root$dir"
      mount --bind "$dir" "$root$dir"
    done
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/opt/ha/bin:/usr/local/bin:/usr/bin:/bin \
      SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PYTHONDONTWRITEBYTECODE=1 "$@"
  ' _ "$SHOTS_ROOT" "$binds" "$@"
}

# shots_setup: build the chroot and its venv, or do nothing when they are current.
shots_setup() {
  local stamp=$SHOTS_ROOT/opt/ha/.requirements-stamp marker=$SHOTS_ROOT/.plex-butler-screenshots wanted
  if [[ $(id -u) != 0 ]]; then
    echo "screenshots: run as root: Home Assistant $SHOTS_HA_VERSION runs in a chroot (debootstrap, unshare, chroot)" >&2
    return 1
  fi
  wanted=$(sha256sum "$SHOTS_REQUIREMENTS" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
    return 0
  fi
  if [[ ! -x $SHOTS_ROOT/usr/bin/python3.14 || ! -x $SHOTS_ROOT/usr/bin/g++ ]]; then
    # Only ever delete a chroot this script built.
    if [[ -e $SHOTS_ROOT && ! -f $marker ]] && [[ -n $(ls -A "$SHOTS_ROOT") ]]; then
      echo "screenshots: $SHOTS_ROOT exists and is not our chroot; set SCREENSHOTS_CHROOT elsewhere" >&2
      return 1
    fi
    if ! command -v debootstrap >/dev/null; then
      echo "screenshots: installing debootstrap (apt-get)" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    echo "screenshots: building a Debian sid chroot with Python 3.14 in $SHOTS_ROOT (once, ~5 min with the venv)" >&2
    rm -rf "$SHOTS_ROOT"
    mkdir -p "$(dirname "$SHOTS_ROOT")"
    # The compilers build the wheels PyPI lacks for 3.14 (assist_pipeline's pymicro-vad).
    debootstrap --variant=minbase \
      --include=python3.14,python3.14-venv,python3.14-dev,gcc,g++,libc6-dev,ca-certificates \
      sid "$SHOTS_ROOT" http://deb.debian.org/debian >"$SHOTS_ROOT.log" 2>&1 || {
      echo "screenshots: debootstrap failed; see $SHOTS_ROOT.log" >&2
      return 1
    }
    touch "$marker"
  fi
  # HTTPS may pass a proxy whose CA this machine trusts: trust it inside too.
  cp /usr/local/share/ca-certificates/*.crt "$SHOTS_ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$SHOTS_ROOT" update-ca-certificates >/dev/null 2>&1 || true
  cp /etc/resolv.conf "$SHOTS_ROOT/etc/resolv.conf"
  echo "screenshots: installing $SHOTS_REQUIREMENTS into the chroot's /opt/ha" >&2
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  (shots_exec "$PWD" bash -c '
    set -e
    [[ -x /opt/ha/bin/python ]] || python3.14 -m venv /opt/ha
    /opt/ha/bin/pip install -q --disable-pip-version-check uv
    /opt/ha/bin/uv pip install -q --python /opt/ha/bin/python -r "$1"
  ' _ "$PWD/$SHOTS_REQUIREMENTS")
  echo "$wanted" >"$stamp"
}

# shots_write_config DIR HOST PORT: dev_write_config for 2026.10. Since 2026.x an
# `http:` block in YAML is moved into .storage/http as a *pending* setting that the
# UI asks to confirm (and reverts after 5 minutes), plus a repair notice. So the
# server's address goes straight into the store as the confirmed (stable) one.
shots_write_config() {
  local dir=$1 host=$2 port=$3
  dev_write_config "$dir" "$host" "$port"
  sed -i '/^http:$/,/^  server_port: /d' "$dir/configuration.yaml"
  cat >"$dir/.storage/http" <<EOF
{"version": 2, "minor_version": 2, "key": "http", "data": {
  "stable": {"server_host": ["$host"], "server_port": $port,
    "cors_allowed_origins": ["https://cast.home-assistant.io"],
    "login_attempts_threshold": -1, "ip_ban_enabled": true, "ssl_profile": "modern",
    "use_x_frame_options": true, "created_at": "2026-01-01T00:00:00+00:00",
    "error": null, "error_message": null},
  "pending": null, "yaml_migration_done": true}}
EOF
}

# shots_start_hass DIR HOST PORT LOG [NAME=VALUE...]: dev_start_hass, with the
# chroot's `hass`, its environment (otherwise empty, see shots_exec) plus NAME=VALUE.
shots_start_hass() {
  local dir=$1 host=$2 port=$3 log=$4
  shift 4
  if ! dev_port_free "$port"; then
    echo "screenshots: port $port is taken" >&2
    return 1
  fi
  shots_exec "$PWD $dir" env "$@" hass -c "$dir" --skip-pip >"$log" 2>&1 &
  DEV_PIDS+=("$!")
  dev_wait_http "http://$host:$port/manifest.json" 180 "$!"
}
