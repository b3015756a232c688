# SPDX-License-Identifier: GPL-2.0
#
# How this repository runs kbuild: LLVM 19, Debian's rustc with clippy,
# bindgen-cli from ~/.cargo, ccache and a fixed build timestamp. Sourced by
# build-kernel.sh and series-check.sh.
#
#   kbuild_env BUILD SRC OBJ   export the environment and set the array
#                              kmake: make for tree SRC into OBJ

kbuild_env() {
	local build=$1 src=$2 obj=$3
	export CCACHE_DIR=$build/ccache
	export CCACHE_BASEDIR=$build
	export CCACHE_NOHASHDIR=1
	export LIBCLANG_PATH=/usr/lib/llvm-19/lib
	export KBUILD_BUILD_TIMESTAMP="Sun Nov 22 00:00:00 UTC 2026"
	export KBUILD_BUILD_USER=copy-offload KBUILD_BUILD_HOST=build
	# ccache through a wrapper directory: CC must stay a single word, as
	# rustc uses the host compiler as its linker.
	mkdir -p "$build/ccache-bin" "$CCACHE_DIR"
	ln -sf "$(command -v ccache)" "$build/ccache-bin/clang-19"
	case ":$PATH:" in
	*":$build/ccache-bin:"*) ;;
	*) export PATH=$build/ccache-bin:$PATH ;;
	esac
	kmake=(make -C "$src" O="$obj" LLVM=-19
	       RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTFMT="$HOME/.cargo/bin/rustfmt"
	       CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver
	       BINDGEN="$HOME/.cargo/bin/bindgen" -j"${JOBS:-$(nproc)}")
}
