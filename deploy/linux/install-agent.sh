#!/usr/bin/env bash
# Install (or upgrade) the Watchpost agent on a Debian-family PC (Debian, Ubuntu, Kylin, UOS)
# as a systemd service. Run as root:
#
#   install-agent.sh --server https://watchpost.example.internal --secret-file /root/secret \
#                    [--ca-bundle /path/city-ca.pem] [--proxy http://proxy:3128|none] \
#                    [--source PATH] [--find-links DIR]
#
# --source: a watchpost wheel, sdist or source checkout (default: the checkout this script is in).
# --find-links: a folder of wheels for PCs without access to a package index.
#
# It creates a virtualenv under /opt/watchpost-agent, writes /etc/watchpost/agent.toml,
# enrolls (unless the PC is enrolled already: an upgrade keeps the node key and the spool
# in /var/lib/watchpost-agent), installs and starts watchpost-agent.service.
set -euo pipefail

server="" secret_file="" ca_bundle="" proxy="" find_links=""
source_path="$(cd "$(dirname "$0")/../.." && pwd)"
prefix=/opt/watchpost-agent
config=/etc/watchpost/agent.toml
data=/var/lib/watchpost-agent
unit_dir=/etc/systemd/system

while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift ;;
    --secret-file) secret_file="$2"; shift ;;
    --ca-bundle) ca_bundle="$2"; shift ;;
    --proxy) proxy="$2"; shift ;;
    --source) source_path="$2"; shift ;;
    --find-links) find_links="$2"; shift ;;
    --prefix) prefix="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install-agent: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*"; }
die() { echo "install-agent: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
command -v systemctl >/dev/null || die "systemd is needed"
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || die "Python 3.11 or newer is needed (apt-get install python3 python3-venv)"

upgrade=0
[ -e "$data/node.key" ] && upgrade=1
if [ "$upgrade" = 0 ]; then
  [ -n "$server" ] || die "--server is needed for a first installation"
  [ -r "$secret_file" ] || die "--secret-file is needed for a first installation"
fi

say "virtualenv in $prefix"
[ -x "$prefix/venv/bin/pip" ] || "$python" -m venv "$prefix/venv"
pip_args=(--quiet --disable-pip-version-check)
[ -n "$find_links" ] && pip_args+=(--no-index --find-links "$find_links")
"$prefix/venv/bin/pip" install "${pip_args[@]}" --upgrade "${source_path}[agent]"

if systemctl is-active --quiet watchpost-agent; then
  say "stopping the running agent for the upgrade (its queue stays on disk)"
  systemctl stop watchpost-agent
fi

install -d -m 0755 /etc/watchpost
install -d -m 0700 "$data"
if [ -n "$ca_bundle" ]; then
  # the agent reads the CA file on every connection: keep a copy that outlives the installer's
  # medium (a USB stick, a download folder); a new --ca-bundle on an upgrade replaces it
  [ -r "$ca_bundle" ] || die "cannot read the CA bundle $ca_bundle"
  [ "$ca_bundle" -ef /etc/watchpost/ca.pem ] || install -m 0644 "$ca_bundle" /etc/watchpost/ca.pem
  ca_bundle=/etc/watchpost/ca.pem
fi
if [ "$upgrade" = 0 ]; then
  say "enrolling with $server"
  args=(--config "$config" enroll --server "$server" --secret - --data-dir "$data")
  [ -n "$ca_bundle" ] && args+=(--ca-bundle "$ca_bundle")
  [ -n "$proxy" ] && args+=(--proxy "$proxy")
  "$prefix/venv/bin/watchpost-agent" "${args[@]}" < "$secret_file"
else
  say "already enrolled: keeping the node key and the queue in $data"
fi

sed "s#/opt/watchpost-agent/venv#$prefix/venv#" "$(dirname "$0")/watchpost-agent.service" \
  > "$unit_dir/watchpost-agent.service"
systemctl daemon-reload
systemctl enable --now watchpost-agent
say "installed; 'systemctl status watchpost-agent' and '$prefix/venv/bin/watchpost-agent --config $config status'"
