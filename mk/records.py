#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the rows the tests recorded (_copy_record) into the README's table.

    records.py RESULTS [README]

RESULTS is a make check results directory: records.tsv holds one row per
thing a test tried (test, device, what was tried, outcome seen) and
blktests/summary each test's verdict; RESULTS/lane2 holds the same for the
groups a second guest ran. Writes RESULTS/records.md, ordered by test; with
README, also replaces the table between the README's markers, so that the
README shows what the last full run tried and saw rather than a typed copy.
"""
import sys
from pathlib import Path

BEGIN = "<!-- records: begin (written by mk/records.py from make check) -->"
END = "<!-- records: end -->"


def cell(text):
    return text.replace("|", "\\|").strip()


def test_order(row):
    """Sort key of a row: its test's group, then its number (stable within)."""
    group, _, number = row.split("\t", 1)[0].partition("/")
    return (group, int(number) if number.isdigit() else 0)


def table(results):
    guests = [results] + sorted(d for d in results.glob("lane*") if d.is_dir())
    verdicts = {}
    for guest in guests:
        summary = guest / "blktests" / "summary"
        if summary.exists():
            for line in summary.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 2:
                    verdicts[fields[0]] = fields[1]
    kernel = (results / "uname").read_text().strip() if (results / "uname").exists() else "?"
    lines = [
        f"Kernel {kernel}; every row checked by the test named, whose verdict is the last column.",
        "",
        "| Test | Device | Tried | Seen | Test |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for guest in guests:
        records = guest / "records.tsv"
        if records.exists():
            rows.extend(records.read_text().splitlines())
    rows.sort(key=test_order)
    for row in rows:
        fields = row.split("\t")
        if len(fields) != 4:
            continue
        test, device, tried, seen = fields
        lines.append(f"| {test} | {cell(device)} | {cell(tried)} | {cell(seen)} "
                     f"| {verdicts.get(test, 'not run')} |")
    return "\n".join(lines) + "\n", len(rows)


def main():
    results = Path(sys.argv[1])
    text, count = table(results)
    (results / "records.md").write_text(text)
    if len(sys.argv) > 2 and count:
        readme = Path(sys.argv[2])
        old = readme.read_text()
        if BEGIN in old and END in old:
            head, rest = old.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            readme.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
    print(f"records: {count} rows in {results / 'records.md'}")


if __name__ == "__main__":
    main()
