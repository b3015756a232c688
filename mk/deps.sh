#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything the build and the guest need, idempotently.
#
# Host names of package mirrors are never written down: the Debian mirror is
# read from this machine's own apt configuration.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

die() { echo "deps: $*" >&2; exit 1; }
log() { echo "deps: $*" >&2; }

# Debian packages from the suites the machine already has.
APT_PKGS=(
	flex bison bc cpio kmod libelf-dev libssl-dev rsync ccache patch quilt
	clang-19 lld-19 llvm-19 libclang-19-dev
	"rustc-web=$RUSTC_WEB_VERSION" "rust-web-src=$RUSTC_WEB_VERSION"
	"rust-web-clippy=$RUSTC_WEB_VERSION"
	udev nvme-cli xfsprogs fio util-linux fdisk dmsetup e2fsprogs busybox-static
	# ip: virtme-ng's init brings the guest's lo up with it (NVMe/TCP
	# tests); tc shapes it for benchmarks.
	iproute2
	# Upstream blktests' check wants GNU awk (UPSTREAM.md: running the
	# cases there in the guest, which sees the host's programs).
	gawk
	# The BLOCK_URING_CMD_COPY test helpers (tools/testing/blktests/src)
	# and the io_uring bench row link liburing.
	liburing-dev
	lvm2 thin-provisioning-tools
	# EXTENDED COPY clients independent of the kernel's (tests/scsi/):
	# sg_copy_results, sg_xcopy, sg_inq; ddpt --xcopy.
	sg3-utils ddpt
	python3-matplotlib linux-perf python3-sphinx python3-yaml
	# virtiofsd (built by cargo below) links them.
	libcap-ng-dev libseccomp-dev
)

mirror_uri() {
	local uri
	uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || die "cannot find the Debian mirror in the apt configuration"
	echo "$uri"
}

apt_missing() {
	local p name want have
	for p in "$@"; do
		name=${p%%=*}
		want=${p#*=}
		[ "$want" = "$p" ] && want=
		have=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$name" 2>/dev/null || true)
		case "$have" in
		ii*) [ -z "$want" ] || [ "${have#ii }" = "$want" ] || [ "${have:3}" = "$want" ] || echo "$p" ;;
		*) echo "$p" ;;
		esac
	done
}

apt_updated=
apt_update_once() {
	[ -n "$apt_updated" ] && return
	log "apt-get update"
	apt-get update -qq >/dev/null || die "apt-get update failed"
	apt_updated=1
}

install_apt() {
	local missing
	missing=$(apt_missing "${APT_PKGS[@]}")
	[ -z "$missing" ] && return
	apt_update_once
	log "installing: $(echo $missing)"
	# shellcheck disable=SC2086
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
		>/dev/null; then
		# A maintainer script that failed once (seen with udev) usually
		# succeeds when dpkg finishes the configuration.
		log "apt-get install failed; finishing dpkg configuration and retrying"
		DEBIAN_FRONTEND=noninteractive dpkg --configure -a >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
			>/dev/null || die "apt-get install failed for: $(echo $missing)"
	fi
}

# QEMU 10.0 (Copy descriptor formats 0-3) comes from bookworm-backports.
install_qemu() {
	local have list=/etc/apt/sources.list.d/copy-offload-backports.list
	have=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
	[ "$have" = "$QEMU_VERSION" ] && return
	if [ ! -f "$list" ]; then
		echo "deb $(mirror_uri) bookworm-backports main" >"$list"
		apt_updated=
	fi
	apt_update_once
	log "installing qemu-system-x86 $QEMU_VERSION from bookworm-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t bookworm-backports "qemu-system-x86=$QEMU_VERSION" >/dev/null ||
		die "qemu-system-x86 $QEMU_VERSION is not installable from bookworm-backports"
}

install_bindgen() {
	local bin=$HOME/.cargo/bin/bindgen
	if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^bindgen $BINDGEN_VERSION\$"; then
		return
	fi
	log "cargo install bindgen-cli $BINDGEN_VERSION"
	cargo install -q bindgen-cli --version "=$BINDGEN_VERSION" --locked ||
		die "cargo install bindgen-cli $BINDGEN_VERSION failed"
}

# The guests' root file system: virtme-ng shares the host's through
# virtiofsd when it finds one, else through 9p. Under TCG a 9p root without
# a cache reads every program it runs over again; the tests run many short
# ones (dd, grep, udevadm, nvme), and with virtiofs and the guest's page
# cache they took 26 % less time. Debian 12 has no virtiofsd package.
install_virtiofsd() {
	local bin=$HOME/.cargo/bin/virtiofsd
	if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^virtiofsd $VIRTIOFSD_VERSION\$"; then
		return
	fi
	log "cargo install virtiofsd $VIRTIOFSD_VERSION"
	cargo install -q virtiofsd --version "=$VIRTIOFSD_VERSION" --locked ||
		die "cargo install virtiofsd $VIRTIOFSD_VERSION failed"
}

install_vng() {
	if command -v vng >/dev/null && [ "$(vng --version 2>/dev/null | awk '{print $NF}')" = "$VIRTME_NG_VERSION" ]; then
		return
	fi
	log "pip install virtme-ng==$VIRTME_NG_VERSION"
	python3 -m pip install -q "virtme-ng==$VIRTME_NG_VERSION" >/dev/null ||
		die "pip install virtme-ng==$VIRTME_NG_VERSION failed"
	command -v vng >/dev/null || die "vng is not on PATH after installing virtme-ng"
}

[ "$(id -u)" = 0 ] || die "must run as root to install packages"
install_apt
install_qemu
install_bindgen
install_virtiofsd
install_vng
