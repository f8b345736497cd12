#!/usr/bin/env bash
# Prepare this checkout: the system packages the tests need (when root on Debian),
# then .venv with the project and its extras. Safe to run again: it only does what
# is missing. Used by `make demo` and `make test`.
#
#   scripts/bootstrap.sh [--system] [--extras dev]
set -euo pipefail
cd "$(dirname "$0")/.."

want_system=0
extras="dev"
while [ $# -gt 0 ]; do
  case "$1" in
    --system) want_system=1 ;;
    --extras) extras="$2"; shift ;;
    *) echo "bootstrap: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }

# --- system packages (Debian/Ubuntu, as root) ------------------------------------
apt_install() {  # apt_install PACKAGE... : as root on Debian, else say what is missing
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    return 1
  fi
}

pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

# nmap: network discovery tests; chromium: browser tests of the web pages;
# postgresql: the PostgreSQL server binaries (initdb/pg_ctl) the database tests start;
# fonts-wqy-microhei: Chinese glyphs in browser screenshots; systemd: `systemd-analyze verify`
# of the agent's unit; iproute2: `ip -j addr`, which the probe tests compare against.
# VPN audit (issue 6, tests/agent/test_vpn_real_stores.py): openvpn, strongswan-swanctl (swanctl;
# charon-systemd for the daemon), ocserv (ocpasswd) + openconnect (live test), ppp (pppd), whois (mkpasswd: yescrypt,
# bcrypt and NT hashes); openssl (`openssl passwd -6/-5/-1`).
if [ "$want_system" = 1 ]; then
  missing=()
  command -v nmap >/dev/null 2>&1 || missing+=(nmap)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  [ -x /usr/sbin/openvpn ] || missing+=(openvpn)
  [ -x /usr/sbin/swanctl ] || missing+=(strongswan-swanctl)
  [ -x /usr/sbin/charon-systemd ] || missing+=(charon-systemd)
  # live strongSwan test (tests/agent/test_vpn_live_strongswan.py): EAP-MSCHAPv2/XAuth, EAP-Identity
  # + kernel-libipsec, openssl (MD4/DES for MS-CHAPv2), pki
  [ -f /usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so ] || missing+=(libcharon-extauth-plugins)
  [ -f /usr/lib/ipsec/plugins/libstrongswan-eap-identity.so ] || missing+=(libcharon-extra-plugins)
  [ -f /usr/lib/ipsec/plugins/libstrongswan-openssl.so ] || missing+=(libstrongswan-standard-plugins)
  [ -x /usr/bin/pki ] || missing+=(strongswan-pki)
  command -v ocpasswd >/dev/null 2>&1 || missing+=(ocserv)
  [ -x /usr/sbin/openconnect ] || missing+=(openconnect)
  [ -x /usr/sbin/pppd ] || missing+=(ppp)
  command -v mkpasswd >/dev/null 2>&1 || missing+=(whois)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  # install-agent.sh on a booted Debian (tests/deploy/test_install_agent_vm.py, tests/support/debvm.py):
  # debootstrap makes the image, QEMU boots it, socat carries the guest's connections to loopback
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
  command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
  command -v mke2fs >/dev/null 2>&1 || missing+=(e2fsprogs)
  command -v socat >/dev/null 2>&1 || missing+=(socat)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" ||
      say "not root or not Debian: missing ${missing[*]}; the tests that need them will skip"
  fi
fi

# --- Python ------------------------------------------------------------------------
if [ ! -x .venv/bin/pip ]; then
  rm -rf .venv  # a half-made one (venv without pip) would fail every later run
  py=$(pick_python) || { apt_install python3 python3-venv && py=$(pick_python); } ||
    { echo "bootstrap: Python 3.11 or newer is needed (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  say "creating .venv with $($py --version)"
  if ! "$py" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv && "$py" -m venv .venv ||
      { echo "bootstrap: '$py -m venv' failed; install python3-venv" >&2; exit 1; }
  fi
fi

stamp=".venv/.watchpost-installed-$(sha256sum pyproject.toml | cut -c1-16)-$extras"
# dev includes agent and collector: a dev install serves `make demo` too
if [ ! -e "$stamp" ] && [ ! -e "${stamp%-*}-dev" ]; then
  say "installing watchpost[$extras] into .venv (first run takes a minute)"
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
         .venv/bin/python -m pip install --disable-pip-version-check -e ".[$extras]"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "bootstrap: installing the Python packages failed; the whole log is in $log" >&2
    exit 1
  fi
  rm -f .venv/.watchpost-installed-*
  touch "$stamp"
fi
