#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Report of `make bench` from what the guest measured.

    bench-report.py RESULTS_DIR

Reads RESULTS_DIR/results.jsonl (copy_bench's lines and mk/guest-bench.sh's),
host.txt (bench.sh) and dmesg.txt; writes RESULTS_DIR/results.md,
RESULTS_DIR/bench.png and, with lvm2 rows, RESULTS_DIR/bench-lvm.png; prints
the tables, the NVMe/TCP row beside the published NVMe/TCP numbers, one
"pass" or "miss" line per target ("not run" for targets of devices or methods
a subset run left out or that were skipped) and summary lines for the README.
Runs again on the host without a boot. Exit status 1 when a step failed, a
copy did not do what its method claims, the kernel logged a report, the
NVMe/TCP link was not shaped or there are no measurements; a missed target
does not change it.
"""
import json
import re
import shlex
import statistics
import sys
from collections import defaultdict
from pathlib import Path

GIB = 1 << 30
MIB = 1 << 20
METHODS = ["rw", "splice", "onload", "offload"]
METHOD_NAMES = {
    "rw": "read+write O_DIRECT",
    "splice": "copy_file_range buffered",
    "onload": "BLKCOPY onload",
    "offload": "BLKCOPY offload",
}
DEVICES = ["rnull", "nullb", "nullbslow", "nvme", "nvmeloop", "nvmetcp", "tcmloop"]
DEVICE_NAMES = {
    "rnull": "rnull (memory)",
    "nullb": "null_blk (memory)",
    "nvme": "QEMU NVMe",
    "nvmeloop": "nvme-loop to rnull",
    "nvmetcp": "NVMe/TCP on lo to rnull, shaped link",
    "tcmloop": "sd on tcm_loop to rnull",
    "pvmove": "rnull, two partitions as PVs (pvmove)",
    "thin": "thin pool on rnull (snapshot copy on write)",
}
MEMORY_BACKED = ["rnull", "nullb"]
# Devices behind a shaped link: the sizes only, no range counts or 4 KiB latency runs.
LINK_DEVICES = ["nvmetcp"]
# The published NVMe/TCP numbers this series' nvmetcp row is set beside.
PUBLISHED_TCP = {"offload": 2677, "rw": 104, "mbit": 1000, "size": MIB,
                 "source": "2024 upstream series' cover letter, NVMe/TCP, 1 MiB copies, 1 Gb/s"}
TCP_TARGET = 10         # nvmetcp offload / read+write at 1 MiB copies, at least
# The devices with 4 KiB latency targets and range count targets (these
# measured on BENCH_RANGE_DEVICES): the tcm_loop disk has its own targets,
# offload against read+write; nvmetcp (LINK_DEVICES) runs the sizes only,
# and nullbslow is in the queue depth row only.
RANGE_DEVICES = ["rnull", "nullb", "nvme", "nvmeloop"]
# The lvm2 rows: dm-kcopyd's copies, offloaded and read and written.
LVM_USERS = ["pvmove", "thin"]
LVM_NAMES = {
    "pvmove": "pvmove",
    "thin": "thin snapshot copy on write",
}
LVM_MODES = ["offload", "kcopyd"]
LVM_MODE_NAMES = {
    "offload": "offload",
    "kcopyd": "kcopyd read+write (copy_max_bytes 0)",
}
KERNEL_REPORT = re.compile(r"WARNING:|BUG:|Oops|KASAN:|UBSAN:|Call Trace:|blocked for more than")


def size_name(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def fmt(v, digits=3):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:.0f}"


def load(results):
    rows, problems = [], []
    path = results / "results.jsonl"
    if path.exists():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            try:
                rows.append(json.loads(line))
            except ValueError:
                problems.append(f"results.jsonl:{n}: not JSON: {line[:80]}")
    info = {}
    if (results / "host.txt").exists():
        for line in (results / "host.txt").read_text().splitlines():
            key, _, value = line.partition("=")
            info[key] = value
    return rows, info, problems


def net_cpu(r, idle):
    """CPU seconds (user, kernel) of measurement r beyond what the idle guest uses in as long."""
    return (max(0.0, r["cpu_user"] - idle[0] * r["secs"]),
            max(0.0, r["cpu_sys"] - idle[1] * r["secs"]))


def call_secs(r):
    """Seconds per call of repetition r."""
    return r["secs"] / r["calls"]


class Group:
    """The repetitions of one measurement: device, method, size, ranges."""

    def __init__(self, reps, idle):
        self.reps = reps
        self.mibs = [r["bytes"] / r["secs"] / MIB for r in reps if r["secs"] > 0]
        self.call_secs = statistics.median(call_secs(r) for r in reps)
        self.mib = statistics.median(self.mibs) if self.mibs else None
        gib = [r["bytes"] / GIB for r in reps]
        net = [net_cpu(r, idle) for r in reps]
        self.sys = statistics.median(c[1] / g for c, g in zip(net, gib))
        self.user = statistics.median(c[0] / g for c, g in zip(net, gib))
        self.p50 = statistics.median(r["lat_p50_us"] for r in reps)
        self.p99 = statistics.median(r["lat_p99_us"] for r in reps)
        self.bad = sum(r["check"] != "ok" for r in reps)

    def spread(self):
        return f"{fmt(min(self.mibs))}-{fmt(max(self.mibs))}" if self.mibs else "-"


def paired_ratio(reps, base, value):
    """The median of value(r) / value(b) over the repetitions r of reps and b of base with the same
    number, which the bench makes one after the other (the emulator's slow spells then hit both);
    None when no repetition pairs up."""
    by_rep = {b["rep"]: value(b) for b in base}
    pairs = [value(r) / by_rep[r["rep"]] for r in reps if by_rep.get(r["rep"])]
    return statistics.median(pairs) if pairs else None


def ratio_to_one(g, one):
    """Time per call of range run g over that of the one-range run, repetition by repetition, or
    of the medians when no repetition pairs up."""
    ratio = paired_ratio(g.reps, one.reps, call_secs)
    return ratio if ratio is not None else g.call_secs / one.call_secs


def analyse(rows):
    copies = defaultdict(list)
    per_range = defaultdict(list)
    mem = defaultdict(list)
    bad, memcpy, devices, fails, guest, idle = [], [], {}, [], {}, []
    cpu_runs = defaultdict(list)
    latency = defaultdict(list)
    suspend, lvm, skips = [], [], []
    links = {"link": [], "qdisc": []}
    for r in rows:
        kind = r.get("kind")
        if kind == "memcpy" and r["secs"] > 0:
            memcpy.append(r["size"] / r["secs"] / MIB)
        elif kind == "idle" and r["secs"] > 0:
            idle.append(r)
        elif kind == "cpu":
            if r["check"] != "ok":
                bad.append(f"{r['dev']} {r['method']} CPU run rep {r['rep']}: {r['check']}")
            else:
                cpu_runs[r["dev"], r["method"]].append(r)
        elif kind == "device":
            devices[r["dev"]] = r
        elif kind == "fail":
            fails.append(f"{r['dev']}: {r['what']}")
        elif kind == "guest":
            guest = r
        elif kind == "suspend":
            if r["check"] != "ok":
                bad.append(f"{r['dev']} suspend {r['suspend_ms']} ms rep {r['rep']}: {r['check']}")
            suspend.append(r)
        elif kind == "lvm":
            if r["check"] != "ok":
                bad.append(f"{r['dev']} {r['mode']} rep {r['rep']}: {r['check']}")
            lvm.append(r)
        elif kind == "skip":
            skips.append((r["dev"], r["why"]))
        elif kind in links:
            links[kind].append(r)
        elif kind == "latency":
            if r["check"] != "ok":
                bad.append(f"{r['dev']} {r['method']} latency rep {r['rep']}: {r['check']}")
            else:
                latency[r["dev"], r["method"]].append(r)
        elif kind in ("copy", "mem"):
            if r["check"] != "ok":
                bad.append(f"{r['dev']} {r['method']} {size_name(r['size'])} x{r['ranges']}"
                           f" rep {r['rep']}: {r['check']}")
            key = (r["dev"], r["method"], r["size"], r["ranges"])
            if kind == "mem":
                mem[key].append(r)
            elif r.get("rounds", 1) > 1:
                # The range runs: each repetition makes the same call several times.
                per_range[key + (r.get("gather", 0),)].append(r)
            else:
                copies[key].append(r)
    # CPU seconds per second of the idle guest, user and kernel.
    secs = sum(r["secs"] for r in idle)
    idle_rate = (sum(r["cpu_user"] for r in idle) / secs, sum(r["cpu_sys"] for r in idle) / secs) \
        if secs else (0.0, 0.0)
    groups = {k: Group(v, idle_rate) for k, v in copies.items()}
    per_range = {k: Group(v, idle_rate) for k, v in per_range.items()}
    return groups, per_range, mem, memcpy, devices, fails, bad, guest, idle_rate, cpu_runs, latency, suspend, \
        lvm, skips, links


def suspend_table(runs):
    """Rows of the dm suspend runs: each suspend length against the copies without one."""
    plain = {r["rep"]: r for r in runs if r["suspend_ms"] == 0}
    rows = []
    for ms in sorted({r["suspend_ms"] for r in runs}):
        reps = [r for r in runs if r["suspend_ms"] == ms]
        ratios = [r["secs"] / plain[r["rep"]]["secs"] for r in reps
                  if ms and r["rep"] in plain and plain[r["rep"]]["secs"] > 0]
        secs = statistics.median(r["secs"] for r in reps)
        rows.append([f"{ms} ms" if ms else "none", size_name(reps[0]["size"]), size_name(reps[0]["chunk"]),
                     f"{secs * 1e3:.0f}", fmt(reps[0]["size"] / secs / MIB),
                     f"{statistics.median(ratios):.2f}" if ratios else "-",
                     fmt(statistics.median(r["offloaded"] for r in reps) / MIB),
                     fmt(statistics.median(r["onloaded"] for r in reps) / MIB),
                     f"{sum(r['within'] for r in reps)}/{len(reps)}" if ms else "-",
                     "ok" if all(r["check"] == "ok" for r in reps) else "FAILED"])
    return rows


def lvm_runs(runs, dev, mode, ok=True):
    """The runs of lvm2 row dev in mode: those whose checks passed (ok), or all of them."""
    return [r for r in runs if r["dev"] == dev and r["mode"] == mode and (r["check"] == "ok" or not ok)]


def secs_per_gib(r):
    return r["secs"] * GIB / r["bytes"]


def lvm_table(runs, idle):
    """Rows of the lvm2 table, and per row the ratios offload / kcopyd read+write: {dev: (time, CPU)},
    None where not measured. The numbers come from the runs whose checks passed. Time: the median
    of each offload repetition's wall time per GiB over that of the kcopyd run made after it; CPU:
    offload's CPU per GiB over all its repetitions, net of the idle guest, over kcopyd's."""
    rows, ratios = [], {}
    devs = [d for d in LVM_USERS if any(r["dev"] == d for r in runs)] + \
        sorted({r["dev"] for r in runs} - set(LVM_USERS))
    for dev in devs:
        ok = {m: lvm_runs(runs, dev, m) for m in LVM_MODES}
        cpu = {m: sum(cpu_per_gib(reps, idle)) for m, reps in ok.items() if reps}
        t = paired_ratio(ok["offload"], ok["kcopyd"], secs_per_gib) if ok["offload"] and ok["kcopyd"] else None
        c = cpu["offload"] / cpu["kcopyd"] if "offload" in cpu and cpu.get("kcopyd") else None
        ratios[dev] = (t, c)
        for mode in LVM_MODES:
            every = lvm_runs(runs, dev, mode, ok=False)
            if not every:
                continue
            failed = [r["check"] for r in every if r["check"] != "ok"]
            copy = size_name(every[0]["bytes"])
            if every[0].get("block"):
                copy += f" in {size_name(every[0]['block'])} blocks"
            row = [LVM_NAMES.get(dev, dev), copy, LVM_MODE_NAMES.get(mode, mode), len(every)]
            good = ok[mode]
            if good:
                per_gib = [secs_per_gib(r) for r in good]
                user, kernel = cpu_per_gib(good, idle)

                def ratio(v):
                    return f"{v:.2f}" if mode == "offload" and v is not None else "-"
                row += [fmt(statistics.median(per_gib)), f"{fmt(min(per_gib))}-{fmt(max(per_gib))}",
                        fmt(statistics.median(r["bytes"] / r["secs"] / MIB for r in good)), ratio(t),
                        f"{kernel:.3f}", f"{user:.3f}", f"{kernel + user:.3f}", ratio(c),
                        fmt(statistics.median(r["offloaded"] for r in good) / MIB),
                        fmt(statistics.median(r["fallback"] for r in good) / MIB)]
            else:
                row += ["-"] * 10
            rows.append(row + [f"{len(failed)} FAILED: {failed[0]}" if failed else "ok"])
    return rows, ratios


def lvm_summary(runs, ratios):
    """Offload / kcopyd read+write of each lvm2 row, for the summary."""
    parts = []
    for dev, (t, c) in ratios.items():
        size = size_name(next(r["bytes"] for r in runs if r["dev"] == dev))
        parts.append(f"{LVM_NAMES.get(dev, dev)} {size}: time "
                     + (f"{t:.2f}x" if t is not None else "-") + ", CPU " + (f"{c:.2f}x" if c is not None else "-"))
    return "lvm2, offload / kcopyd read+write, per GiB: " + ("; ".join(parts) or "no data")


def plot_lvm(path, runs, idle, title):
    """Bars of the lvm2 rows: wall time and guest CPU time per GiB, offload and kcopyd."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no lvm2 plot: matplotlib is missing"
    devs = [d for d in LVM_USERS if any(lvm_runs(runs, d, m) for m in LVM_MODES)]
    if not devs:
        return "no lvm2 plot: no runs whose checks passed"
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    width = 0.38
    for i, mode in enumerate(LVM_MODES):
        xs, med, lo, hi, kern, usr = [], [], [], [], [], []
        for j, dev in enumerate(devs):
            good = lvm_runs(runs, dev, mode)
            if not good:
                continue
            per_gib = [secs_per_gib(r) for r in good]
            m = statistics.median(per_gib)
            user, kernel = cpu_per_gib(good, idle)
            xs.append(j + (i - 0.5) * width)
            med.append(m)
            lo.append(m - min(per_gib))
            hi.append(max(per_gib) - m)
            kern.append(kernel)
            usr.append(user)
        if not xs:
            continue
        label = LVM_MODE_NAMES[mode]
        left.bar(xs, med, width, yerr=[lo, hi], capsize=3, color=f"C{i}", label=label)
        right.bar(xs, kern, width, color=f"C{i}", label=f"{label}, kernel")
        right.bar(xs, usr, width, bottom=kern, color=f"C{i}", alpha=0.4, label=f"{label}, user")
    for ax, ylabel in ((left, "wall s per GiB copied (median, min-max)"),
                       (right, "guest CPU s per GiB copied")):
        ax.set_xticks(range(len(devs)), [f"{LVM_NAMES[d]}\n{size_name(next(r['bytes'] for r in runs if r['dev'] == d))}"
                                         for d in devs], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle(f"lvm2 (dm-kcopyd): offload vs read+write; {title}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return f"lvm2 plot: {path}"


def cpu_per_gib(reps, idle):
    """(user, kernel) CPU seconds per GiB over all of reps, net of the idle guest."""
    gib = sum(r["bytes"] for r in reps) / GIB
    net = [net_cpu(r, idle) for r in reps]
    return sum(c[0] for c in net) / gib, sum(c[1] for c in net) / gib


def reps_note(g):
    return f"{len(g.reps)}, {g.bad} FAILED check" if g.bad else str(len(g.reps))


def verdict(ok):
    return "pass" if ok else "miss"


def latency_target(latency, groups, dev):
    """The 4 KiB latency target of dev: (pass, detail) or None without measurements. Compares the
    p50 of each offload repetition with that of the read+write repetition made just before it (the
    latency runs); from the size runs when the bench made no latency runs."""
    off, rw = latency.get((dev, "offload")), latency.get((dev, "rw"))
    if off and rw:
        ratio = paired_ratio(off, rw, lambda r: r["lat_p50_us"])
        if ratio is not None:
            med = [statistics.median(r[k] for r in reps) for reps in (off, rw)
                   for k in ("lat_p50_us", "lat_p99_us")]
            return ratio <= 1.0, (f"offload {med[0]:.0f} us, read+write {med[2]:.0f} us, in turn: "
                                  f"{ratio:.2f}x (p99 {med[1]:.0f} / {med[3]:.0f} us)")
    off, rw = groups.get((dev, "offload", 4096, 1)), groups.get((dev, "rw", 4096, 1))
    if not off or not rw:
        return None
    return off.p50 <= rw.p50, (f"offload {off.p50:.0f} us, read+write {rw.p50:.0f} us"
                               f" (p99 {off.p99:.0f} / {rw.p99:.0f} us)")


def targets(groups, per_range, mem, memcpy_mib, range_bytes, cpu_runs, idle, latency, tcp):
    """One line per target: (name, pass or miss, detail). per_range is keyed by device, method,
    size, ranges and whether the destinations are gathered into one run; gathered copies are
    shown next to the target, which is for ranges with gaps on both sides. tcp: tcp_comparison()."""
    out = []

    def sizes(dev, method, minimum=0):
        return sorted(s for (d, m, s, n) in groups if d == dev and m == method and n == 1 and s >= minimum)

    def over_rw(dev, factor):
        """Offload at least factor times read+write's throughput, copies of 1 MiB and more."""
        common = [s for s in sizes(dev, "offload", MIB) if (dev, "rw", s, 1) in groups]
        name = f"{dev} offload >= {factor}x read+write O_DIRECT, copies >= 1 MiB"
        if not common:
            return name, "miss", "no measurements"
        ratios = [(groups[dev, "offload", s, 1].mib / groups[dev, "rw", s, 1].mib, s) for s in common]
        worst = min(ratios)
        return name, verdict(worst[0] >= factor), (f"worst {worst[0]:.2f}x at {size_name(worst[1])} ("
                                                   + ", ".join(f"{size_name(s)} {x:.2f}x" for x, s in ratios) + ")")

    def cpu_under(dev, base, base_name, limit, limit_name):
        """Offload's CPU per GiB in the long runs at most limit times that of method base."""
        name = f"{dev} offload CPU/GiB <= {limit_name} of {base_name}'s, long runs"
        cpu = {m: sum(cpu_per_gib(cpu_runs[dev, m], idle))
               for m in ("offload", base) if cpu_runs.get((dev, m))}
        if len(cpu) < 2 or not cpu[base]:
            return name, "miss", "no measurements" if len(cpu) < 2 else f"{base_name} used no measurable CPU"
        ratio = cpu["offload"] / cpu[base]
        return name, verdict(ratio <= limit), (f"offload {cpu['offload']:.3f} s/GiB, {base_name} "
                                               f"{cpu[base]:.3f} s/GiB: {ratio:.3f}")

    for dev in MEMORY_BACKED:
        out.append(over_rw(dev, 3))
        name = f"{dev} offload >= 1/2 of one CPU's memcpy, copies >= 1 MiB"
        offl = [(groups[dev, "offload", s, 1].mib / memcpy_mib, s) for s in sizes(dev, "offload", MIB)] \
            if memcpy_mib else []
        if not offl:
            out.append((name, "miss", "no measurements"))
        else:
            worst = min(offl)
            out.append((name, verdict(worst[0] >= 0.5), f"worst {worst[0]:.2f} of {memcpy_mib:.0f} MiB/s at "
                        f"{size_name(worst[1])} (" + ", ".join(f"{size_name(s)} {x:.2f}" for x, s in offl) + ")"))

    # CPU per GiB from the long runs: the guest's CPU accounting counts
    # ticks, too coarse for the copies of the main table.
    out.append(cpu_under("nvme", "onload", "onload", 0.1, "1/10"))

    # sd on tcm_loop: EXTENDED COPY, which LIO hands to rnull (block
    # sharing), against reading and writing through sd, tcm_loop and LIO.
    out.append(over_rw("tcmloop", 2))
    out.append(cpu_under("tcmloop", "rw", "read+write", 0.25, "1/4"))

    for dev in RANGE_DEVICES:
        name = f"{dev} 4 KiB offload p50 latency <= read+write pair"
        result = latency_target(latency, groups, dev)
        if result is None:
            out.append((name, "miss", "no measurements"))
        else:
            out.append((name, verdict(result[0]), result[1]))

    for dev in RANGE_DEVICES:
        for method in ("offload", "onload"):
            one, many = per_range.get((dev, method, range_bytes, 1, 0)), per_range.get((dev, method, range_bytes, 256, 0))
            if method == "onload" and not (one and many):
                continue        # not a target, shown when measured
            name = f"{dev} {method} 256 ranges <= 1.5x one range, {size_name(range_bytes)}"
            if not one or not many:
                out.append((name, "miss", "no measurements"))
            else:
                ratio = ratio_to_one(many, one)
                out.append((name, verdict(ratio <= 1.5), f"{many.call_secs * 1e3:.1f} ms vs "
                            f"{one.call_secs * 1e3:.1f} ms: {ratio:.2f}x"))
            gather = per_range.get((dev, method, range_bytes, 256, 1))
            if one and gather:
                ratio = ratio_to_one(gather, one)
                out.append((f"{dev} {method} 256 ranges gathered into one destination <= 1.5x one range, "
                            f"{size_name(range_bytes)}", verdict(ratio <= 1.5),
                            f"{gather.call_secs * 1e3:.1f} ms: {ratio:.2f}x"))

    out.append(tcp_target(tcp))

    for dev in MEMORY_BACKED:
        by_method = defaultdict(dict)
        for (d, m, s, n), reps in mem.items():
            if d == dev:
                by_method[m][s] = max(r["mem_peak_kib"] - r["mem_idle_kib"] for r in reps)
        name = f"{dev} 1 GiB onload raises kernel memory <= 4 MiB"
        grow = by_method.get("onload", {}).get(GIB)
        if grow is None:
            out.append((name, "miss", "no measurement"))
        else:
            out.append((name, verdict(grow <= 4096), f"peak {grow} KiB over idle"))
        for method in ("rw", "onload", "offload"):
            peaks = by_method.get(method, {})
            name = f"{dev} {method}: no allocation per byte copied"
            if len(peaks) < 2:
                out.append((name, "miss", "needs two sizes"))
                continue
            small, large = min(peaks), max(peaks)
            diff = peaks[large] - peaks[small]
            out.append((name, verdict(diff <= 1024),
                        f"peak {peaks[small]} KiB at {size_name(small)}, {peaks[large]} KiB at "
                        f"{size_name(large)} (limit: 1 MiB more)"))
    return out


def config_list(config, var):
    """The words of shell variable var in the bench's config (written with printf %q), or None
    when it is not set."""
    m = re.search(rf"^{var}=(.*)$", config, re.M)
    return " ".join(shlex.split(m.group(1))).split() if m else None


def not_run(verdicts, config):
    """Marks targets without measurements as "not run" when the config left out their device or
    a method they compare (make bench BENCH_DEVICES=... runs a subset), or the devices part of the
    bench (BENCH_ONLY); a device or method that was asked for and measured nothing still misses."""
    lists = {var: config_list(config, var)
             for var in ("BENCH_DEVICES", "BENCH_MEM_DEVICES", "BENCH_CPU_DEVICES", "BENCH_RANGE_DEVICES",
                         "BENCH_METHODS", "BENCH_ONLY")}
    out = []
    for name, v, detail in verdicts:
        dev = name.split()[0]
        dev_var = "BENCH_MEM_DEVICES" if "kernel memory" in name or "per byte" in name else \
            "BENCH_CPU_DEVICES" if "CPU/GiB" in name else \
            "BENCH_RANGE_DEVICES" if " ranges " in name else "BENCH_DEVICES"
        methods = [m for m in ("offload", "onload", "rw") if m in name] + (["rw"] if "read+write" in name else [])
        missing = [f"{dev} not in {var}" for var in dict.fromkeys(("BENCH_DEVICES", dev_var))
                   if lists[var] is not None and dev not in lists[var]] + \
            [f"{m} not in BENCH_METHODS" for m in dict.fromkeys(methods)
             if lists["BENCH_METHODS"] is not None and m not in lists["BENCH_METHODS"]] + \
            (["devices not in BENCH_ONLY"] if lists["BENCH_ONLY"] and "devices" not in lists["BENCH_ONLY"] else [])
        if v == "miss" and detail.startswith(("no measurement", "needs two sizes")) and missing:
            v, detail = "not run", ", ".join(missing)
        out.append((name, v, detail))
    return out


def rate_name(mbit):
    return f"{mbit // 1000} Gb/s" if mbit % 1000 == 0 else f"{mbit} Mb/s"


def rate_mib(mbit):
    """The payload a link of mbit Mbit/s carries at most, in MiB/s (headers left out)."""
    return mbit * 1e6 / 8 / MIB


def tcp_comparison(groups, links, skips, config):
    """What the nvmetcp row measured, for its section, its target and the summary: a dict with the
    link's rate (mbit), the shaper, offload and read+write at 1 MiB copies (Group or None), the
    raw reads through the link and without it (MiB/s or None), the shaper's counters and
    "shaping": "held", "FAILED" (a shaped read above the rate: lo was not shaped), "emulator"
    (the guest reads about the rate or less without shaping, so the link is not what limits)
    or None when there was no link check."""
    link = links["link"][-1] if links["link"] else None
    m = re.search(r"^BENCH_TCP_MBIT=(\d+)$", config, re.M)
    mbit = link["mbit"] if link else int(m.group(1)) if m else PUBLISHED_TCP["mbit"]
    out = {"mbit": mbit, "rate": rate_mib(mbit), "link": link, "shaper": link["shaper"] if link else None,
           "qdisc": links["qdisc"][-1] if links["qdisc"] else None,
           "skip": next((why for dev, why in skips if dev == "nvmetcp"), None),
           "offload": groups.get(("nvmetcp", "offload", PUBLISHED_TCP["size"], 1)),
           "rw": groups.get(("nvmetcp", "rw", PUBLISHED_TCP["size"], 1)),
           "shaped": None, "unshaped": None, "shaping": None}
    if link:
        out["shaped"] = link["bytes"] / link["secs_shaped"] / MIB if link["secs_shaped"] else None
        out["unshaped"] = link["bytes"] / link["secs_unshaped"] / MIB if link.get("secs_unshaped") else None
        if out["shaped"] is None or out["shaped"] > 1.05 * out["rate"]:
            out["shaping"] = "FAILED"
        elif out["unshaped"] is not None and out["unshaped"] < 1.1 * out["rate"]:
            out["shaping"] = "emulator"
        else:
            out["shaping"] = "held"
    out["ratio"] = out["offload"].mib / out["rw"].mib \
        if out["offload"] and out["rw"] and out["offload"].mib and out["rw"].mib else None
    return out


def link_check(tcp):
    """One sentence on the link check of the nvmetcp row."""
    link = tcp["link"]
    if not link:
        return "Link check: none (the device did not get that far)."
    rate = f"{rate_name(tcp['mbit'])}, {tcp['rate']:.1f} MiB/s"
    shaped = f"{tcp['shaped']:.1f} MiB/s" if tcp["shaped"] else "-"
    unshaped = f"{tcp['unshaped']:.1f} MiB/s" if tcp["unshaped"] else "not measured"
    text = (f"Link check: an O_DIRECT read of {link['bytes'] >> 20} MiB ran at {shaped} through the shaped "
            f"link ({rate}; tc {tcp['shaper']}) and {unshaped} without shaping: ")
    if tcp["shaping"] == "FAILED":
        return text + "**the shaping FAILED**, the read ran faster than the link allows, so this row is not " \
            f"at {rate_name(tcp['mbit'])}."
    if tcp["shaping"] == "emulator":
        return text + "the guest reads about that fast or slower without the shaping, so the emulator, not the " \
            f"link, sets the pace, and this row says little about a {rate_name(tcp['mbit'])} link."
    return text + f"the shaping holds ({tcp['shaped'] / tcp['rate'] * 100:.0f} % of the rate)."


def tcp_section(tcp, config):
    """The section that sets the nvmetcp row beside the published NVMe/TCP numbers."""
    pub = PUBLISHED_TCP
    pub_ratio = pub["offload"] / pub["rw"]
    rw_ceiling = tcp["rate"] / 2
    title = f"## NVMe/TCP at {rate_name(pub['mbit'])}: this series vs published"
    intro = ("nvmet over NVMe/TCP on the guest's loopback interface (127.0.0.1) to a memory-backed rnull disk "
             "(which executes an offloaded copy by sharing blocks), the host connected with nvme-cli, lo shaped "
             f"to {rate_name(tcp['mbit'])} with tc; 1 MiB copies, medians. Published: "
             f"{pub['source']}. offload / link rate: offload MiB/s over what the link carries at most "
             f"({tcp['rate']:.1f} MiB/s at {rate_name(tcp['mbit'])}), which compares the offloads without the "
             "read+write baseline.")
    if tcp["skip"]:
        return [title, "", f"Not run: skipped: {tcp['skip']}.", ""]
    devices, only = config_list(config, "BENCH_DEVICES"), config_list(config, "BENCH_ONLY")
    left_out = ([] if devices is None or "nvmetcp" in devices else ["nvmetcp not in BENCH_DEVICES"]) + \
        (["devices not in BENCH_ONLY"] if only and "devices" not in only else [])
    if not tcp["offload"] and not tcp["rw"] and not tcp["link"] and left_out:
        return [title, "", f"Not run: {', '.join(left_out)}.", ""]

    def cell(g):
        return fmt(g.mib) if g and g.mib else "-"
    ours = tcp["offload"].mib / tcp["rate"] if tcp["offload"] and tcp["offload"].mib else None
    status = {"FAILED": "**shaping FAILED**", "emulator": "emulator-bound", "held": "link-bound"}.get(
        tcp["shaping"], "no link check")
    rows = [[f"this series (TCG guest; {status})", f"lo, tc {tcp['shaper']}" if tcp["shaper"] else "lo, not shaped",
             cell(tcp["offload"]),
             cell(tcp["rw"]), f"{tcp['ratio']:.1f}x" if tcp["ratio"] else "-",
             f"{ours:.1f}" if ours else "-"],
            [f"published ({pub['source']})", rate_name(pub["mbit"]), pub["offload"], pub["rw"],
             f"{pub_ratio:.1f}x", f"{pub['offload'] / rate_mib(pub['mbit']):.1f}"]]
    md = [title, "", intro, ""]
    md += table(["", "link", "offload MiB/s", "read+write MiB/s", "offload / read+write", "offload / link rate"],
                rows) + [""]
    md += [link_check(tcp), ""]
    q = tcp["qdisc"]
    if q and q.get("sent_bytes") is not None:
        md += [f"Shaper counters over the shaped part: {q['sent_bytes'] / MIB:.0f} MiB in {q['sent_pkts']} packets, "
               f"{q['dropped']} dropped, {q['overlimits']} overlimits"
               + (" (drops cost TCP retransmissions: the numbers above suffer)." if q["dropped"] else "."), ""]
    rw = tcp["rw"]
    md += [f"Read+write here: copy_bench reads 1 MiB, then writes it, so each MiB copied crosses the link twice, "
           f"one direction at a time: at most {rw_ceiling:.1f} MiB/s, half the rate, on a half- or full-duplex "
           "link alike (lo's one qdisc makes it half-duplex)"
           + (f"; measured {rw.mib:.1f} MiB/s, {rw.mib / rw_ceiling * 100:.0f} % of that." if rw and rw.mib else ".")
           + f" The published {pub['rw']} MiB/s of read+write read and wrote {pub['rw']} MiB/s each, "
           f"{pub['rw'] / rate_mib(pub['mbit']) * 100:.0f} % of {rate_name(pub['mbit'])} in both directions at "
           "once: reads and writes overlapped on a full-duplex link. Against such a baseline the ratio here "
           f"would be smaller by up to {pub['rw'] / rw_ceiling:.2f}x; offload / link rate does not depend on it.", ""]
    return md


def tcp_target(tcp):
    """The nvmetcp target: offload at least TCP_TARGET times read+write at 1 MiB copies, through the
    shaped link."""
    name = (f"nvmetcp offload >= {TCP_TARGET}x read+write O_DIRECT, 1 MiB copies, "
            f"{rate_name(tcp['mbit'])} link")
    if tcp["skip"]:
        return name, "not run", f"skipped: {tcp['skip']}"
    if tcp["ratio"] is None:
        return name, "miss", "no measurements at 1 MiB"
    detail = (f"offload {tcp['offload'].mib:.0f} MiB/s, read+write {tcp['rw'].mib:.1f} MiB/s: {tcp['ratio']:.1f}x "
              f"(published {PUBLISHED_TCP['offload'] / PUBLISHED_TCP['rw']:.1f}x)")
    if tcp["shaping"] == "FAILED":
        return name, "miss", detail + "; the shaping FAILED, the link was not " + rate_name(tcp["mbit"])
    if tcp["shaping"] is None:
        return name, "miss", detail + "; no link check"
    return name, verdict(tcp["ratio"] >= TCP_TARGET), detail


def tcp_summary(tcp):
    """The nvmetcp row beside the published one, for the summary; None without measurements."""
    if tcp["ratio"] is None:
        return None
    pub = PUBLISHED_TCP
    shaping = {"FAILED": "; the shaping FAILED",
               "emulator": "; emulator-bound (the guest reads about the link's rate without shaping)"}.get(
        tcp["shaping"], "")
    return (f"NVMe/TCP at {rate_name(tcp['mbit'])}, 1 MiB copies: offload {tcp['offload'].mib:.0f} MiB/s, "
            f"read+write {tcp['rw'].mib:.1f} MiB/s, {tcp['ratio']:.1f}x (published {pub['offload']} / "
            f"{pub['rw']} MiB/s, {pub['offload'] / pub['rw']:.1f}x); raw read through the link "
            + (f"{tcp['shaped']:.1f} MiB/s" if tcp["shaped"] else "-") + shaping)


def summary(groups):
    """Offload / read+write throughput at the largest size both have, per device."""
    parts = []
    for dev in DEVICES:
        common = [s for (d, m, s, n) in groups if d == dev and m == "offload" and n == 1
                  and (dev, "rw", s, 1) in groups]
        if common:
            s = max(common)
            parts.append(f"{dev} {groups[dev, 'offload', s, 1].mib / groups[dev, 'rw', s, 1].mib:.2f}x"
                         f" ({size_name(s)})")
    return "offload / userspace read+write O_DIRECT throughput: " + (", ".join(parts) or "no data")


def qd_runs(rows):
    """The queue depth row's runs, by (dev, method, size, depth), and its failed checks."""
    runs, bad = defaultdict(list), []
    for r in rows:
        if r.get("kind") != "qd":
            continue
        if r["check"] != "ok":
            bad.append(f"{r['dev']} {r['method']} {size_name(r['size'])} QD {r['qd']} rep {r['rep']}: "
                       f"{r['check']}")
        elif r["secs"] > 0 and r["bytes"] > 0:
            runs[r["dev"], qd_method(r), r["size"], r["qd"]].append(r)
    return runs, bad


def qd_method(r):
    """"blkcopy", or "uring" and its ring when it is not the plain one waiting for one completion."""
    if r["method"] != "uring":
        return r["method"]
    ring, wait = r.get("ring", "plain"), r.get("wait", 1)
    return "uring" + ("" if ring == "plain" else f" {ring}") + \
        ("" if wait == 1 else " polled" if wait == 0 else f" wait {wait}")


QD_MIN_CPU_SECS = 1.0


def joint_shares(r, limit=5):
    """The largest shares of a traced run by what CPUs 0 and 1 ran together, as "SW 0.41, ..."."""
    joint = sorted(r.get("joint", {}).items(), key=lambda kv: -kv[1])[:limit]
    return ", ".join(f"{k} {v:.2f}" for k, v in joint) or "-"


def qd_stat_table(rows):
    """Events per copy of the queue depth runs made under perf stat (BENCH_QD_STAT): for each run
    but its repetition, the events of all its repetitions over their copies."""
    counts, copies, events = defaultdict(lambda: defaultdict(int)), defaultdict(dict), []
    for r in rows:
        if r.get("kind") != "qdstat" or not r["copies"]:
            continue
        run = r["run"].rsplit("-", 1)[0]
        counts[run][r["event"]] += r["count"]
        copies[run][r["run"]] = r["copies"]
        if r["event"] not in events:
            events.append(r["event"])
    out = [[run] + [fmt(counts[run][e] / sum(copies[run].values())) for e in events] for run in counts]
    return ["run"] + [e.split(":")[-1] for e in events], out


def qd_table(runs, idle):
    """Rows of the queue depth table and the targets at QD 32: one io_uring thread against as many
    BLKCOPY threads as commands in flight, throughput (median of the runs, each over the BLKCOPY
    run of its repetition) and CPU per GiB (over all runs, less the idle guest's)."""
    rows, verdicts = [], []
    keys = sorted({(d, s, q, m) for d, m, s, q in runs if m != "blkcopy"},
                  key=lambda k: (DEVICES.index(k[0]) if k[0] in DEVICES else 9, k[1], k[2], k[3]))
    for dev, size, depth, method in keys:
        uring, threads = runs.get((dev, method, size, depth), []), runs.get((dev, "blkcopy", size, depth), [])
        cells, cpu_secs = [], []
        for reps in (uring, threads):
            if reps:
                mib = statistics.median(r["bytes"] / r["secs"] / MIB for r in reps)
                user, kernel = cpu_per_gib(reps, idle)
                cells.append((mib, user + kernel))
                cpu_secs.append((user + kernel) * sum(r["bytes"] for r in reps) / GIB)
            else:
                cells.append((None, None))
                cpu_secs.append(0.0)
        ratio = paired_ratio(uring, threads, lambda r: r["bytes"] / r["secs"]) if uring and threads else None
        # /proc/stat charges a tick to what runs at the tick: a side that used less than a second
        # of CPU over its runs (a device whose latency, not the CPU, bounds the copies) is not
        # measured well enough to compare.
        cpu_measured = min(cpu_secs) >= QD_MIN_CPU_SECS
        cpu_ratio = cells[0][1] / cells[1][1] if cpu_measured and cells[0][1] and cells[1][1] else None
        # The submitting thread's own CPU time over the run's time (copy_qd's "thread_cpu", absent
        # in runs before it had it): 1.0 is a vCPU kept busy.
        busy = [r["thread_cpu"] / r["secs"] for r in uring if "thread_cpu" in r]
        rows.append([dev, size_name(size), depth, method, fmt(cells[0][0]), fmt(cells[0][1]),
                     fmt(statistics.median(busy)) if busy else "-", fmt(cells[1][0]),
                     fmt(cells[1][1]), fmt(ratio), fmt(cpu_ratio), f"{len(uring)}/{len(threads)}"])
        if depth == 32:
            name = f"{dev} {size_name(size)} QD 32: one io_uring thread vs 32 BLKCOPY threads" + \
                ("" if method == "uring" else f" ({method})")
            if ratio is not None and not cpu_measured:
                verdicts.append((name, verdict(ratio >= 1.0),
                                 f"throughput x{ratio:.2f} (target >= 1); CPU too little to compare "
                                 f"({cpu_secs[0]:.2f} s and {cpu_secs[1]:.2f} s over the runs, "
                                 f"under {QD_MIN_CPU_SECS:g} s)"))
            elif ratio is None or cpu_ratio is None:
                verdicts.append((name, "miss", "no measurement of both"))
            else:
                verdicts.append((name, verdict(ratio >= 1.0 and cpu_ratio < 1.0),
                                 f"throughput x{ratio:.2f} (target >= 1), CPU/GiB x{cpu_ratio:.2f} (target < 1)"))
    return rows, verdicts


def qd_not_run(verdicts, config):
    """Queue depth targets of devices or parts a subset run left out are "not run"."""
    only, devs = config_list(config, "BENCH_ONLY"), config_list(config, "BENCH_QD_DEVICES")
    out = []
    for name, v, detail in verdicts:
        dev = name.split()[0]
        missing = (["qd not in BENCH_ONLY"] if only and "qd" not in only else []) + \
            ([f"{dev} not in BENCH_QD_DEVICES"] if devs is not None and dev not in devs else [])
        out.append((name, "not run", ", ".join(missing)) if v == "miss" and missing and
                   detail.startswith("no measurement") else (name, v, detail))
    return out


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def plot(path, groups, memcpy_mib, title, link_mib=None):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is missing (mk/deps.sh installs it for /usr/bin/python3)"
    devs = [d for d in DEVICES if any(k[0] == d for k in groups)]
    if not devs:
        return "no plot: no measurements"
    fig, axes = plt.subplots(2, len(devs), figsize=(4.2 * len(devs), 7.5), squeeze=False)
    for col, dev in enumerate(devs):
        top, bottom = axes[0][col], axes[1][col]
        ticks = set()
        for method in METHODS:
            keys = sorted(k for k in groups if k[0] == dev and k[1] == method and k[3] == 1)
            if not keys:
                continue
            xs = [k[2] for k in keys]
            g = [groups[k] for k in keys]
            med = [x.mib for x in g]
            err = [[m - min(x.mibs) for m, x in zip(med, g)], [max(x.mibs) - m for m, x in zip(med, g)]]
            top.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=METHOD_NAMES[method])
            bottom.plot(xs, [x.sys + x.user for x in g], marker="o", label=METHOD_NAMES[method])
            ticks.update(xs)
        if memcpy_mib and dev in MEMORY_BACKED:
            top.axhline(memcpy_mib, color="grey", ls="--", lw=1, label="memcpy, one CPU")
            top.axhline(memcpy_mib / 2, color="grey", ls=":", lw=1, label="half of it")
        if link_mib and dev in LINK_DEVICES:
            top.axhline(link_mib, color="grey", ls="--", lw=1, label="the link's rate")
            top.axhline(link_mib / 2, color="grey", ls=":", lw=1, label="read+write through it, at most")
            top.legend(fontsize=7)
        top.set_title(DEVICE_NAMES[dev])
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(ticks), [size_name(t) for t in sorted(ticks)])
            ax.minorticks_off()
            ax.set_xlabel("bytes per copy")
            ax.grid(True, alpha=0.3)
        top.set_yscale("log")
        # CPU time is counted in ticks: a copy may show none at all.
        bottom.set_yscale("symlog", linthresh=0.01)
        bottom.set_ylim(bottom=0)
        top.set_ylabel("MiB/s (median, min-max)")
        bottom.set_ylabel("guest CPU s per GiB (kernel + user)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return f"plot: {path}"


def main():
    if len(sys.argv) != 2:
        print("usage: bench-report.py RESULTS_DIR", file=sys.stderr)
        return 2
    results = Path(sys.argv[1])
    rows, info, problems = load(results)
    groups, per_range, mem, memcpy, devices, fails, bad, guest, idle_rate, cpu_runs, latency, suspend, \
        lvm, skips, links = analyse(rows)
    # Targets and plot only from measurements whose every check passed.
    good = {k: g for k, g in groups.items() if not g.bad}
    per_range_good = {k: g for k, g in per_range.items() if not g.bad}
    mem_good = {k: reps for k, reps in mem.items() if all(r["check"] == "ok" for r in reps)}
    memcpy_mib = statistics.median(memcpy) if memcpy else None
    config = (results / "config").read_text() if (results / "config").exists() else ""
    m = re.search(r"^BENCH_RANGE_BYTES=(\d+)([KMG]?)$", config, re.M)
    range_bytes = int(m.group(1)) << " KMG".index(m.group(2) or " ") * 10 if m else 16 * MIB
    dmesg = results / "dmesg.txt"
    reports = [l for l in dmesg.read_text(errors="replace").splitlines() if KERNEL_REPORT.search(l)] \
        if dmesg.exists() else []
    guest_rc = (results / "guest-rc").read_text().strip() if (results / "guest-rc").exists() else None

    memory = f"{guest['mem_kib'] / (1 << 20):.3g} GiB" if "mem_kib" in guest else info.get("guest_memory", "?")
    title = (f"kernel {guest.get('kernel', info.get('kernel', '?'))}, QEMU {info.get('accel', '?').upper()}, "
             f"guest {guest.get('cpus', info.get('guest_cpus', '?'))} vCPUs {memory}; "
             f"host {info.get('host_cpu', '?')}, {info.get('host_cores', '?')} cores")
    md = ["# make bench", "", title, "",
          f"{info.get('qemu', '')}; commit {info.get('commit', '?')}; {info.get('date', '')}; "
          f"host load before the run {info.get('host_load', '?')}", ""]
    md += [f"Memory copy, one CPU (memcpy of {size_name(rows_size(rows))}): "
           + (f"{memcpy_mib:.0f} MiB/s (min-max {min(memcpy):.0f}-{max(memcpy):.0f})" if memcpy else "not measured"),
           ""]

    dev_rows = [[d, DEVICE_NAMES.get(d, d), r["path"], size_name(r["bytes"]), r["lbs"],
                 size_name(r["copy_max_hw_bytes"]) if r["copy_max_hw_bytes"] else "0"]
                for d, r in devices.items()]
    md += ["## Devices", ""] + table(["dev", "what", "path", "size", "LBA", "copy_max_hw_bytes"], dev_rows) + [""]
    nvme = {k: re.search(rf"^NVME_NS1_{k}=(\d+)$", config, re.M) for k in ("MSSRL", "MCL", "MSRC")}
    if "nvme" in devices and all(nvme.values()):
        md += [f"QEMU NVMe namespace 1 Copy limits: MSSRL {nvme['MSSRL'].group(1)} and MCL "
               f"{nvme['MCL'].group(1)} blocks, {int(nvme['MSRC'].group(1)) + 1} ranges per command.", ""]

    main_rows = []
    for (dev, method, size, n), g in sorted(groups.items(), key=lambda kv: (
            DEVICES.index(kv[0][0]) if kv[0][0] in DEVICES else 9, kv[0][2], METHODS.index(kv[0][1]))):
        if n != 1:
            continue
        main_rows.append([dev, size_name(size), method, fmt(g.mib), g.spread(),
                          f"{g.mib / memcpy_mib:.2f}" if memcpy_mib and g.mib else "-",
                          fmt(g.sys), fmt(g.user), fmt(g.p50), fmt(g.p99), reps_note(g)])
    md += ["## Throughput, CPU and latency", "",
           "Medians over repetitions; each repetition copies at least BENCH_MIN_BYTES in calls of the size "
           "given. CPU: guest-wide from /proc/stat (all CPUs, kernel threads included), seconds per GiB "
           "copied, less what the idle guest uses in as long (measured before the copies: "
           f"{idle_rate[0]:.3f} user and {idle_rate[1]:.3f} kernel CPU seconds per second). "
           "Latency: per call (rw: one read+write pair per buffer). nvmetcp, behind its shaped link: at least "
           "BENCH_TCP_MIN_BYTES per repetition, the sizes only (no range counts or latency runs).", ""]
    md += table(["dev", "size", "method", "MiB/s", "min-max", "of memcpy", "kernel s/GiB", "user s/GiB",
                 "p50 us", "p99 us", "reps"], main_rows) + [""]

    tcp = tcp_comparison(good, links, skips, config)
    md += tcp_section(tcp, config)

    range_rows = []
    for (dev, method, size, n, gather), g in sorted(per_range.items(), key=lambda kv: (
            DEVICES.index(kv[0][0]) if kv[0][0] in DEVICES else 9,) + kv[0][1:]):
        one = per_range.get((dev, method, size, 1, 0))
        dst = "-" if n == 1 else "one run" if gather else "gaps"
        range_rows.append([dev, method, n, dst, f"{g.call_secs * 1e3:.1f}", fmt(g.mib), g.spread(),
                           f"{ratio_to_one(g, one):.2f}" if one else "-", reps_note(g)])
    rounds = next((g.reps[0]["rounds"] for g in per_range.values()), 1)
    md += [f"## Ranges per call ({size_name(range_bytes)} per call)", "",
           "Source ranges have gaps between them; destination ranges too (gaps), or follow each other "
           "(one run: a gathering copy, one command on NVMe, whose Copy command has one destination). "
           f"Each repetition makes the same call {rounds} times; ms: median time per call. "
           "x one range: time per call over that of one range of the same size, the median of the "
           "ratios of repetitions made one after the other.", ""]
    md += table(["dev", "method", "ranges", "destinations", "ms", "MiB/s", "min-max", "x one range", "reps"],
                range_rows) + [""]

    if cpu_runs:
        cpu_rows = []
        for (dev, method), reps in sorted(cpu_runs.items()):
            user, kernel = cpu_per_gib(reps, idle_rate)
            mib = statistics.median(r["bytes"] / r["secs"] / MIB for r in reps)
            cpu_rows.append([dev, method, size_name(reps[0]["size"]), size_name(reps[0]["bytes"]), fmt(mib),
                             f"{kernel:.3f}", f"{user:.3f}", f"{kernel + user:.3f}", len(reps)])
        md += ["## CPU time in long runs", "",
               "Each repetition copies the same range again and again, so that the guest's tick-based CPU "
               "accounting sees enough ticks; CPU seconds per GiB over all repetitions, less the idle guest's.", ""]
        md += table(["dev", "method", "call", "per rep", "MiB/s", "kernel s/GiB", "user s/GiB", "total s/GiB",
                     "reps"], cpu_rows) + [""]

    mem_rows = [[d, m, size_name(s), max(r["mem_idle_kib"] for r in reps) >> 10,
                 max(r["mem_peak_kib"] - r["mem_idle_kib"] for r in reps),
                 "ok" if (d, m, s, n) in mem_good else "FAILED"]
                for (d, m, s, n), reps in sorted(mem.items())]
    md += ["## Kernel memory during one copy", "",
           "MemTotal - MemFree - Buffers - Cached - SwapCached - AnonPages, sampled every 2 ms; "
           "the device's own data is allocated before (every block written once).", ""]
    md += table(["dev", "method", "size", "idle MiB", "peak over idle KiB", "check"], mem_rows) + [""]

    if suspend:
        md += ["## A dm suspend during a copy", "",
               "BLKCOPY on dm-linear over rnull, without a suspend and with one that begins a quarter of the "
               "way through (by the time of the copy before it), in turn. Medians; x none: time over that "
               "of the copy without a suspend made just before; offloaded and onloaded: the dm disk's "
               "copy_stats; within: copies the suspend began in. A chunk dm refuses while suspended is "
               "copied by the kernel, then the devices go on; before, the kernel copied the rest of the "
               "copy.", ""]
        md += table(["suspend", "copy", "chunk", "ms", "MiB/s", "x none", "offloaded MiB", "onloaded MiB",
                     "within", "check"], suspend_table(suspend)) + [""]

    lvm_ratios = {}
    lvm_skips = [why for dev, why in skips if dev not in DEVICES]
    if lvm or lvm_skips:
        lvm_rows, lvm_ratios = lvm_table(lvm, idle_rate)
        md += ["## lvm2: pvmove and thin snapshot copy on write", "",
               "dm-kcopyd's copies as lvm2 makes them, on rnull, offloaded (the disk's copy limits) and read "
               "and written by kcopyd (copy_max_bytes 0), one run of each in turn. pvmove: an LV moves "
               "between two PVs on partitions of one disk (dm-raid1 copies it region by region); the time is "
               "pvmove's, start to exit, lvm's metadata updates, suspends and 1-second polling included. "
               "Thin: each run takes a snapshot of a thin volume, then one program writes 4 KiB to each pool "
               "block of the volume, one write after the other, and dm-thin copies each whole block first; "
               "the time is the writes'. Per GiB copied; medians over the repetitions whose checks passed. "
               "x kcopyd: offload over kcopyd, for time the median of each repetition over the kcopyd run "
               "made after it, for CPU over all repetitions. CPU: guest-wide, less the idle guest's, as above. "
               "Offloaded and fallback: the copy_stats of the copies' destination (the disk for pvmove, the "
               "pool device for thin), per run. Checked after each run: the data (sha256), and that an "
               "offload offloaded about all it copied and a kcopyd run nothing.", ""]
        if lvm_rows:
            md += table(["user", "copy", "mode", "reps", "s/GiB", "min-max", "MiB/s", "x kcopyd",
                         "kernel s/GiB", "user s/GiB", "total s/GiB", "CPU x kcopyd", "offloaded MiB",
                         "fallback MiB", "check"], lvm_rows) + [""]
        md += [f"- skipped: {why}" for why in lvm_skips] + ([""] if lvm_skips else [])

    qd, qd_bad = qd_runs(rows)
    qd_verdicts = []
    if qd:
        qd_rows, qd_verdicts = qd_table(qd, idle_rate)
        md += ["## Queue depth: BLOCK_URING_CMD_COPY from one thread against BLKCOPY threads", "",
               "Copies of one size kept N at a time in flight, offloaded, for a fixed time per run: by one "
               "thread with N BLOCK_URING_CMD_COPY commands in flight (io_uring), and by N threads each making "
               "one BLKCOPY call after the other; one run of each in turn. MiB/s: median over the runs; x "
               "threads: io_uring over BLKCOPY threads, throughput the median of each run over the BLKCOPY "
               "run of its repetition, CPU/GiB over all runs. CPU: guest-wide, less the idle guest's, as "
               "above; io_uring thread busy: its own CPU time over the run's (1 is a vCPU). Target at "
               "QD 32: the io_uring thread at least as fast, with less CPU per GiB.", ""]
        md += table(["dev", "size", "QD", "ring", "io_uring MiB/s", "io_uring CPU s/GiB", "io_uring thread busy",
                     "threads MiB/s",
                     "threads CPU s/GiB", "x threads", "CPU x threads", "runs"], qd_rows) + [""]
        md += ["Ring: uring is a ring set up with flags 0 that waits for one completion per "
               "io_uring_enter(); defer: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN; "
               "async: flags 0, every command with IOSQE_ASYNC (issued from io_uring's io-wq workers); "
               "coop: IORING_SETUP_COOP_TASKRUN; wait N: "
               "N completions per io_uring_enter(); polled: never waits, polls the completion queue "
               "(BENCH_QD_RINGS).", ""]
        if config_list(config, "VM_APPEND"):
            md += [f"Guest booted with the added kernel parameters `{' '.join(config_list(config, 'VM_APPEND'))}` "
                   "(VM_APPEND).", ""]
        if config_list(config, "BENCH_QD_PIN"):
            md += ["BENCH_QD_PIN: every io_uring run pinned, its thread on CPU 0 and the unbound "
                   "workqueues' workers (the blk_copy issuers) on CPU 1; the BLKCOPY threads are not.", ""]
        traces = [r for r in rows if r.get("kind") == "qdtrace" and r.get("work_items")]
        if traces:
            md += ["Traced runs (BENCH_QD_TRACE=1, perf record of blk_copy work items and scheduler "
                   "switches; run: device-method-size-QD-rep): how long a blk_copy work item waited "
                   "from queueing to running, how often the copy_qd thread and kworkers were woken and how "
                   "long a wake-up took to run, each CPU's idle share and the copy_qd thread's share "
                   "off its CPU.", ""]
            md += table(["run", "work items", "wait p50 us", "wait p90 us", "thread wake-ups",
                         "thread wake p50 us", "kworker wake-ups", "kworker wake p50 us", "CPU 0 idle",
                         "CPU 1 idle", "thread off CPU", "CPU 0 + CPU 1"],
                        [[r["run"], r["work_items"], fmt(r["work_wait_p50_us"]), fmt(r["work_wait_p90_us"]),
                          r.get("wakeups_thread", "-"), fmt(r.get("wake_thread_p50_us")),
                          r.get("wakeups_kworker", "-"), fmt(r.get("wake_kworker_p50_us")),
                          fmt(r["idle_cpu0"]), fmt(r["idle_cpu1"]), fmt(r["thread_off"]), joint_shares(r)]
                         for r in traces]) + [""]
            md += ["CPU 0 + CPU 1: shares of the run by what the two CPUs ran together, the largest first "
                   "(S the copy_qd thread, W a kworker, I idle, O anything else; SW: copy_qd on CPU 0 and a "
                   "kworker on CPU 1).", ""]
        stat_header, stat_rows = qd_stat_table(rows)
        if stat_rows:
            md += ["Events per copy (perf stat over the whole guest during each run, BENCH_QD_STAT=1; "
                   "run: device-method-size-QD):", ""]
            md += table(stat_header, stat_rows) + [""]
    elif config_list(config, "BENCH_QD_DEVICES"):
        qd_verdicts = [(f"{d} {s} QD 32: one io_uring thread vs 32 BLKCOPY threads", "miss", "no measurement")
                       for d in config_list(config, "BENCH_QD_DEVICES") if d not in ("0", "none")
                       for s in (config_list(config, "BENCH_QD_SIZES") or [])]
    bad += qd_bad
    verdicts = not_run(targets(good, per_range_good, mem_good, memcpy_mib, range_bytes, cpu_runs, idle_rate,
                               latency, tcp), config) + qd_not_run(qd_verdicts, config)
    target_lines = [f"{v}: {name}: {detail}" for name, v, detail in verdicts]
    md += ["## Targets", ""] + [f"- {l}" for l in target_lines] + [""]
    summ = summary(good)
    md += ["## Summary", "", summ, ""]
    if lvm_ratios:
        md += [lvm_summary(lvm, lvm_ratios), ""]
    if tcp_summary(tcp):
        md += [tcp_summary(tcp), ""]

    trouble = [f"step failed: {f}" for f in fails] + [f"check failed: {b}" for b in bad] + \
        [f"kernel report: {l}" for l in reports[:10]] + problems
    if tcp["shaping"] == "FAILED":
        trouble.append(f"nvmetcp: the {rate_name(tcp['mbit'])} shaping of lo failed: a read through it ran at "
                       + (f"{tcp['shaped']:.1f} MiB/s" if tcp["shaped"] else "an unknown rate")
                       + f", above the rate's {tcp['rate']:.1f} MiB/s")
    if guest_rc not in (None, "0"):
        trouble.append("guest timed out" if guest_rc == "124" else f"guest exited {guest_rc}")
    if not groups and not suspend and not lvm and not qd:
        trouble.append("no copy measurements")
    if trouble:
        md += ["## Problems", ""] + [f"- {t}" for t in trouble] + [""]

    (results / "results.md").write_text("\n".join(md))
    note = plot(results / "bench.png", good, memcpy_mib, title, tcp["rate"] if tcp["link"] else None)
    if lvm:
        note += "; " + plot_lvm(results / "bench-lvm.png", lvm, idle_rate, title)
    print("\n".join(md[2:]))
    print(f"report: {results / 'results.md'}; {note}")
    return 1 if trouble else 0


def rows_size(rows):
    return next((r["size"] for r in rows if r.get("kind") == "memcpy"), 0)


if __name__ == "__main__":
    sys.exit(main())
