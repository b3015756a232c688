#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn what a `make check` guest left behind into one result per test.

Reads RESULTS/ (written by mk/guest-check.sh and mk/check.sh) and
RESULTS/lane2/ (the guest that ran the other groups at the same time, if
any) and prints a line per test, then why each failed test failed (a few
lines each, so that the last lines of a CI log name it), then "N passed,
N failed, N skipped". Exit status 1 when anything failed.

Sources of results:
  - boot (lane2/boot for the second guest): the guest reached the test
    command and the kernel log up to the first test is free of reports
    (WARNING, BUG, KASAN, lockdep, ...);
  - kunit/<suite>.<case>: KTAP lines in the first guest's kernel log;
  - <group>/<NNN>: the blktests-format runner's summary;
  - harness/*: the self-tests that must fail (written by check.sh as
    harness.txt, "name pass|fail reason").
"""
import re
import sys
from pathlib import Path

REPORT = re.compile(
    r"WARNING:|BUG:|Oops|KASAN:|UBSAN:|general protection fault|"
    r"possible circular locking|possible recursive locking|inconsistent lock state|"
    r"suspicious RCU usage|lockdep is turned off|bad unlock balance|held lock freed|"
    r"blocked for more than|Kernel panic|kernel BUG at|"
    r"Call Trace:")
MARKER = "run blktests "
# Lines of a failed case's reasons repeated at the end.
REASON_LINES = 14
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def kernel_log(results):
    path = results / "dmesg.txt"
    if not path.exists():
        return None
    return [TIMESTAMP.sub("", l) for l in path.read_text(errors="replace").splitlines()]


def kunit(log):
    """(name, status, detail) per KUnit case, from KTAP in the kernel log."""
    suites = {}
    out = []
    for line in log:
        m = re.match(r"^(\s*)# Subtest: (\S+)", line)
        if m:
            suites[len(m.group(1))] = m.group(2)
            continue
        m = re.match(r"^(\s+)(not ok|ok) \d+ (\S+)(.*)$", line)
        if not m:
            continue
        indent, verdict, name, rest = m.groups()
        suite = suites.get(len(indent))
        if suite is None or "# Subtest" in name:
            continue
        if "SKIP" in rest:
            status = "skip"
        else:
            status = "pass" if verdict == "ok" else "fail"
        out.append((f"kunit/{suite}.{name}", status, rest.strip(" #")))
    return out


def blktests_reasons(results):
    """{group/NNN: [reason lines]} from the runner's log (blktests.log)."""
    path = results / "blktests.log"
    reasons = {}
    if not path.exists():
        return reasons
    current = None
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"^(\S+/\S+) .*\[failed\]$", line)
        if m:
            current = reasons.setdefault(m.group(1), [])
        elif current is not None and line.startswith("    "):
            if not line.strip().startswith("runtime "):
                current.append(line.strip())
        else:
            current = None
    return reasons


def guest_rows(results, prefix, want_kunit):
    """The boot row, KUnit's and the runner's rows of one guest."""
    rows = []
    log = kernel_log(results)
    guest_rc = (results / "guest-rc").read_text().strip() if (results / "guest-rc").exists() else "?"

    if log is None:
        why = "guest timed out" if guest_rc == "124" else f"guest exited {guest_rc} without results"
        rows.append((prefix + "boot", "fail", why + f"; see {results / 'console.log'}"))
    else:
        boot = []
        for line in log:
            if line.startswith(MARKER) or MARKER in line:
                break
            boot.append(line)
        bad = [l for l in boot if REPORT.search(l)]
        rows.append((prefix + "boot", "fail" if bad else "pass",
                     ("kernel report before the tests: " + bad[0]) if bad else ""))
        if want_kunit:
            cases = kunit(log)
            if not cases:
                rows.append(("kunit", "fail", "no KUnit results in the kernel log"))
            rows.extend(cases)

    summary = results / "blktests" / "summary"
    if summary.exists():
        for line in summary.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                detail = ""
                if parts[1] == "fail":
                    detail = f"see {results / 'blktests'}"
                rows.append((parts[0], parts[1], detail))
    elif log is not None:
        rows.append((prefix + "blktests", "fail", "the runner left no summary"))
    return rows


def main():
    results = Path(sys.argv[1])
    lanes = sorted(d for d in results.glob("lane*") if d.is_dir())
    rows = guest_rows(results, "", True)
    for lane in lanes:
        rows.extend(guest_rows(lane, lane.name + "/", False))

    harness = results / "harness.txt"
    if harness.exists():
        for line in harness.read_text().splitlines():
            name, status, *why = line.split(" ", 2)
            rows.append((name, status, why[0] if why else ""))

    words = {"pass": "passed", "fail": "failed", "skip": "skipped"}
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for name, status, detail in rows:
        counts[status] = counts.get(status, 0) + 1
        print(f"{name:<60} [{words.get(status, status)}]" + (f"  {detail}" if detail and status != "pass" else ""))
    reasons = {}
    for guest in [results] + lanes:
        reasons.update(blktests_reasons(guest))
    for name, status, detail in rows:
        if status != "fail":
            continue
        print(f"failed: {name}" + (f"  {detail}" if detail else ""))
        lines = reasons.get(name, [])
        for line in lines[:REASON_LINES]:
            print(f"    {line[:200]}")
        if len(lines) > REASON_LINES:
            print(f"    ... {len(lines) - REASON_LINES} more lines in blktests.log")
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
