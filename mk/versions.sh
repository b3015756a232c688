# SPDX-License-Identifier: GPL-2.0
# Pinned versions of everything fetched from the package registries.
LINUX_VERSION=7.3.4
LINUX_SOURCE_PKG=linux-source-7.3
LINUX_SOURCE_DEB_VERSION=7.3.4-1~bpo13+1
LINUX_SOURCE_SUITE=trixie-backports
LINUX_SOURCE_SHA256=703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3
RUSTC_WEB_VERSION=1.96.0+dfsg1-1~deb12u2
QEMU_VERSION=1:10.0.2+ds-2+deb13u1~bpo12+1
BINDGEN_VERSION=0.72.1
VIRTME_NG_VERSION=1.42
