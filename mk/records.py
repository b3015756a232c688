#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the rows the tests recorded (_copy_record) into the README's table.

    records.py RESULTS [README]

RESULTS is a make check results directory: records.tsv holds one row per
thing a test tried (test, device, what was tried, outcome seen) and
blktests/summary each test's verdict. Writes RESULTS/records.md; with README,
also replaces the table between the README's markers, so that the README
shows what the last full run tried and saw rather than a typed copy.
"""
import sys
from pathlib import Path

BEGIN = "<!-- records: begin (written by mk/records.py from make check) -->"
END = "<!-- records: end -->"


def cell(text):
    return text.replace("|", "\\|").strip()


def table(results):
    verdicts = {}
    summary = results / "blktests" / "summary"
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
    records = results / "records.tsv"
    rows = records.read_text().splitlines() if records.exists() else []
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
