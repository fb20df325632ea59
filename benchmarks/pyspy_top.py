"""Top functions of a py-spy ``--format raw`` profile (collapsed stacks), by own and
cumulative samples.

    .venv/bin/python benchmarks/pyspy_top.py /tmp/prof.txt [--top 25] [--lines]

Own = samples where the function is the innermost frame; cumulative = samples whose
stack contains it (counted once per stack, so recursion does not inflate it).  Without
``--lines`` frames are merged per function (file:line dropped).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def frame_key(frame: str, keep_lines: bool) -> str:
    frame = frame.strip()
    if not keep_lines:
        frame = _LINE.sub(")", frame)
    return frame.replace(str(Path.cwd()) + "/", "")


def analyse(path: Path, keep_lines: bool) -> tuple[int, Counter[str], Counter[str]]:
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(f, keep_lines) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith(
            "thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            cumulative[f] += count
    return total, own, cumulative


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--lines", action="store_true", help="keep line numbers")
    args = p.parse_args()
    total, own, cumulative = analyse(args.profile, args.lines)
    print(f"{args.profile}: {total} samples")
    for title, counter in (("own", own), ("cumulative", cumulative)):
        print(f"\nby {title} time")
        for name, n in counter.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {n:7d}  {name}")


if __name__ == "__main__":
    main()
