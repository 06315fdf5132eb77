#!/usr/bin/env python3
"""Counts the blocks of six or more lines that stand twice in the tests.

Usage: scripts/count-test-duplicates.py [--min-lines N] [--list] [DIR ...]   (default DIR: tests)

A block is a run of at least N (default 6) consecutive significant lines that stands, the same to
the letter after white space is folded, in two places: two test files, or two places of one file
that do not overlap. Blank lines, comments, lone punctuation and `use`/`mod` lines are not
significant (they are the same everywhere and say nothing). Each pair of places counts once, however
long the run. This is the figure issue 19 asks to halve; it counts exact repeats only (code of the
same shape with other names is not counted).

Written here because the count must be reproducible from a clean clone with nothing but python3;
no packaged clone detector counts "pairs of duplicated blocks between test files" this way.
"""

import os
import re
import sys
from collections import defaultdict

PUNCT = re.compile(r"^[\s{}()\[\];,.]*$")


def significant(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for no, raw in enumerate(f, 1):
            line = " ".join(raw.split())
            if not line or line.startswith("//") or PUNCT.match(line):
                continue
            if line.startswith(("use ", "pub use ", "mod ", "pub mod ", "#[")):
                continue
            out.append((no, line))
    return out


def main(argv):
    min_lines, listing, dirs = 6, False, []
    it = iter(argv)
    for a in it:
        if a == "--min-lines":
            min_lines = int(next(it))
        elif a == "--list":
            listing = True
        else:
            dirs.append(a)
    dirs = dirs or ["tests"]
    files = {}
    for d in dirs:
        for root, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith(".rs"):
                    p = os.path.join(root, n)
                    files[p] = significant(p)
    windows = defaultdict(list)
    for p, lines in files.items():
        for i in range(len(lines) - min_lines + 1):
            key = "\n".join(l for _, l in lines[i : i + min_lines])
            windows[key].append((p, i))
    # A pair of places is a diagonal (file a, file b, offset): consecutive matching windows on
    # one diagonal are one block.
    diag = defaultdict(set)
    for places in windows.values():
        if len(places) < 2:
            continue
        for x in range(len(places)):
            for y in range(x + 1, len(places)):
                (pa, ia), (pb, ib) = sorted((places[x], places[y]))
                if pa == pb and abs(ia - ib) < min_lines:
                    continue  # overlapping places of one file
                diag[(pa, pb, ib - ia)].add(ia)
    blocks = []
    for (pa, pb, off), starts in diag.items():
        run = None
        for i in sorted(starts):
            if run and i == run[1] + 1:
                run[1] = i
            else:
                if run:
                    blocks.append((pa, pb, off, run))
                run = [i, i]
        blocks.append((pa, pb, off, run))
    if listing:
        for pa, pb, off, (s, e) in sorted(blocks):
            la, lb = files[pa], files[pb]
            end = e + min_lines - 1
            print(f"{pa}:{la[s][0]}-{la[end][0]} ~ {pb}:{lb[s + off][0]}-{lb[end + off][0]}")
    print(f"{len(blocks)} duplicated blocks of {min_lines}+ lines in {len(files)} files")


if __name__ == "__main__":
    main(sys.argv[1:])
