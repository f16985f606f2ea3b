#!/bin/sh
# Install the Debian packages checksync needs to build, test and run its demo.
#
#   contrib/install-deps.sh
#
# Idempotent: only packages that are not installed yet are installed, and
# `apt-get update` runs only when something is missing. Run as root on
# Debian 12 (bookworm). Exit status is non-zero on any failure.
#
# redis-server, memcached, etcd-server and nginx-light are programs the
# tests checkpoint (t800-real, t810-etcd, t820-nginx):
# each test starts its own instance on its own port. The packages' own
# services are not started by the install (a policy-rc.d that denies
# starts is put in place for it when the system has none), and when this
# script installed them, they are stopped and disabled.
set -eu

PACKAGES="
build-essential autoconf automake libtool pkg-config
libprotobuf-c-dev protobuf-c-compiler libzstd-dev libcap-dev
libnl-3-dev libnl-route-3-dev libdw-dev libelf-dev libnftables-dev nftables
bats golang-go golang-github-patrickmn-go-cache-dev
iproute2 procps util-linux bsdutils tmux jq curl
redis-server redis-tools memcached
etcd-server etcd-client
nginx-light
"
# packages that come with a service of their own, which must not run, as
# PACKAGE or PACKAGE:SERVICE when the service is named otherwise
SERVICES="redis-server memcached etcd-server:etcd nginx-light:nginx"

say() { echo "install-deps: $*"; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

command -v dpkg-query >/dev/null 2>&1 ||
	die "dpkg-query not found: this script supports Debian 12 only"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
	say "all required packages are installed"
	exit 0
fi

say "missing packages:$missing"
[ "$(id -u)" -eq 0 ] || die "must run as root to install:$missing"

export DEBIAN_FRONTEND=noninteractive
say "running apt-get update"
apt-get update -q || die "apt-get update failed"

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d before starting a
# service; exit status 101 means "do not"
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# checksync install-deps.sh: no service starts during the install\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
	trap 'rm -f "$policy"' EXIT
fi
say "installing:$missing"
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing ||
	die "apt-get install failed for:$missing"
if [ -n "$own_policy" ]; then
	rm -f "$policy"
	trap - EXIT
fi

# The services of packages installed just now: stopped (in case something
# started them anyway) and disabled. A service installed before is left
# alone: it may be someone's.
for entry in $SERVICES; do
	pkg=${entry%%:*}
	svc=${entry#*:}
	case " $missing " in *" $pkg "*) ;; *) continue ;; esac
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || say "warning: cannot disable the $svc service"
	elif [ -x "/etc/init.d/$svc" ]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
		update-rc.d "$svc" disable >/dev/null 2>&1 || true
	fi
	say "the $svc service is stopped and disabled: tests start their own instances"
done

# Verify: a package apt could not install must not pass silently.
still=""
for pkg in $missing; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || still="$still $pkg"
done
[ -z "$still" ] || die "still not installed after apt-get:$still"
say "installed:$missing"
