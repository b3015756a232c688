# SPDX-License-Identifier: GPL-2.0
#
# Boot a kernel of build/obj-$FLAVOR with virtme-ng and QEMU's NVMe device.
# Sourced by check.sh, run.sh and bench.sh.
#
#   vm_boot TIMEOUT LOG CMD...   boot, run CMD in the guest, return its exit
#                                status; 124 when the guest did not finish
#                                within TIMEOUT seconds
#   VM_ACCEL                     "kvm" or "tcg", set by vm_probe_accel
#   VM_APPEND                    more kernel parameters (for a measurement,
#                                for example idle=poll), none by default
#   VM_NVME_DIR                  where the NVMe namespaces' backing files are
#                                made (default build/vm); guests that run at
#                                the same time need one each
#
# The guest sees the host's root file system read-only (so this repository
# and the host's tools) and $VM_RWDIR read-write, through virtiofs: vng
# finds the virtiofsd that make deps installs in ~/.cargo/bin (without one
# it falls back to 9p, which makes the tests slower; check.sh says which).

# QEMU NVMe controller with three namespaces that support Copy. MSSRL and MCL
# are in logical blocks, MSRC is 0's based. Each value differs from the
# others so a parser that mixes them up is caught. Namespace 3 has the
# logical block size of namespace 1, so that copies between the two can be
# offloaded (descriptor format 2h); namespace 2's differs, so copies between
# it and the others fall back. In namespaces 1 and 2 MSSRL is the smaller
# limit, in namespace 3 MCL is.
NVME_SERIAL=copyoff0
NVME_NS1_LBS=4096 NVME_NS1_MSSRL=64 NVME_NS1_MCL=256 NVME_NS1_MSRC=15
NVME_NS2_LBS=512 NVME_NS2_MSSRL=128 NVME_NS2_MCL=1024 NVME_NS2_MSRC=7
NVME_NS3_LBS=4096 NVME_NS3_MSSRL=48 NVME_NS3_MCL=40 NVME_NS3_MSRC=31
NVME_NAMESPACES="1 2 3"
NVME_NS_SIZE=256M

: "${VM_MEMORY:=3G}" "${VM_CPUS:=2}"

vm_nvme_config() {
	local v n
	echo "NVME_SERIAL=$NVME_SERIAL"
	for n in $NVME_NAMESPACES; do
		for v in LBS MSSRL MCL MSRC; do
			v=NVME_NS${n}_$v
			echo "$v=${!v}"
		done
	done
}

vm_nvme_opts() {
	local dir=$1 n lbs
	mkdir -p "$dir"
	printf -- '-device nvme,serial=%s,id=nvmec0' "$NVME_SERIAL"
	for n in $NVME_NAMESPACES; do
		# Fresh sparse backing files every boot: tests start from zeroes.
		rm -f "$dir/nvme-ns$n.img"
		truncate -s "$NVME_NS_SIZE" "$dir/nvme-ns$n.img"
		lbs=NVME_NS${n}_LBS
		printf -- ' -drive file=%s,if=none,id=nvm%s,format=raw' "$dir/nvme-ns$n.img" "$n"
		printf -- ' -device nvme-ns,drive=nvm%s,bus=nvmec0,nsid=%s' "$n" "$n"
		printf -- ',logical_block_size=%s,physical_block_size=%s' "${!lbs}" "${!lbs}"
		eval printf -- "',mssrl=%s,mcl=%s,msrc=%s'" \
			"\$NVME_NS${n}_MSSRL" "\$NVME_NS${n}_MCL" "\$NVME_NS${n}_MSRC"
	done
}

# Run "$@" in its own process group; kill the group after $1 seconds and
# return 124 then. With VM_TIMEOUT_AFTER set to a file's path, the seconds
# count from when that file appears (or from an hour after the start).
vm_run_timeout() {
	local secs=$1 pid watcher rc expired
	shift
	expired=$(mktemp)
	rm -f "$expired"
	setsid "$@" </dev/null &
	pid=$!
	( if [ -n "${VM_TIMEOUT_AFTER:-}" ]; then
		for ((i = 0; i < 3600; i++)); do
			[ -e "$VM_TIMEOUT_AFTER" ] && break
			sleep 1
		done
	  fi
	  sleep "$secs"; touch "$expired"; kill -TERM -- -"$pid" 2>/dev/null; sleep 5
	  kill -KILL -- -"$pid" 2>/dev/null ) &
	watcher=$!
	rc=0
	wait "$pid" || rc=$?
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	if [ -e "$expired" ]; then
		rm -f "$expired"
		rc=124
	fi
	return "$rc"
}

vm_boot_raw() {
	local accel=$1 timeout=$2 log=$3
	shift 3
	local opts=(--run "$VM_OBJ" --memory "$VM_MEMORY" --cpus "$VM_CPUS" --verbose
		    --append "no5lvl panic=-1 printk.devkmsg=on${VM_APPEND:+ $VM_APPEND}"
		    "--qemu-opts=$(vm_nvme_opts "${VM_NVME_DIR:-$VM_DIR}")")
	[ -n "${VM_RWDIR:-}" ] && opts+=(--rwdir "$VM_RWDIR")
	[ "$accel" = tcg ] && opts+=(--disable-kvm)
	vm_run_timeout "$timeout" env PATH="$HOME/.cargo/bin:$PATH" \
		vng "${opts[@]}" --exec "$*" >"$log" 2>&1
}

# KVM on this machine is nested and has crashed 7.3 guests: use it only when
# a short boot with it works. The answer is kept until the host reboots.
vm_probe_accel() {
	local cache=$VM_DIR/accel boot_id
	boot_id=$(cat /proc/sys/kernel/random/boot_id)
	if [ -f "$cache" ] && [ "$(head -n1 "$cache")" = "$boot_id" ]; then
		VM_ACCEL=$(tail -n1 "$cache")
		return
	fi
	VM_ACCEL=tcg
	# Under KVM the check kernel boots in seconds; where KVM hangs, every
	# second of this timeout is lost once per host boot.
	if [ -w /dev/kvm ] && vm_boot_raw kvm 25 "$VM_DIR/kvm-probe.log" 'echo kvm-probe-ok' &&
	   grep -q kvm-probe-ok "$VM_DIR/kvm-probe.log"; then
		VM_ACCEL=kvm
	fi
	printf '%s\n%s\n' "$boot_id" "$VM_ACCEL" >"$cache"
}

vm_boot() {
	vm_boot_raw "$VM_ACCEL" "$@"
}

vm_init() {
	VM_FLAVOR=$1
	VM_OBJ=$BUILD/obj-$VM_FLAVOR
	VM_DIR=$BUILD/vm
	mkdir -p "$VM_DIR"
	[ -f "$VM_OBJ/arch/x86/boot/bzImage" ] || { echo "no kernel in $VM_OBJ; run make kernel" >&2; return 1; }
	vm_probe_accel
}
