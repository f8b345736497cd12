#!/usr/bin/env bash
# Remove the Watchpost agent service. Keeps /var/lib/watchpost-agent (node key, queue) and
# /etc/watchpost unless --purge is given. Run as root.
set -euo pipefail
purge=0
[ "${1:-}" = "--purge" ] && purge=1
[ "$(id -u)" = 0 ] || { echo "uninstall-agent: run as root" >&2; exit 1; }
systemctl disable --now watchpost-agent 2>/dev/null || true
rm -f /etc/systemd/system/watchpost-agent.service
systemctl daemon-reload
rm -rf /opt/watchpost-agent
if [ "$purge" = 1 ]; then
  rm -rf /var/lib/watchpost-agent /etc/watchpost
  echo "removed the agent, its configuration, node key and queue"
else
  echo "removed the agent; kept /etc/watchpost and /var/lib/watchpost-agent (use --purge to remove them)"
fi
