#!/usr/bin/env python3
"""Sizes of the Rust code in src/: the median file length and the 90th percentile of function
lengths, with the longest functions named (issue 14's goals: file median <= 150 lines, function
p90 <= 40, none over 80 without a reason in its doc).

Lines are physical lines. A function runs from its `fn` line to its closing brace, found by
matching braces outside strings, chars and comments; test modules (`#[cfg(test)]` to the end of
the file, where they live here) are left out of the function counts, as are functions without a
body (trait declarations).

    scripts/code-size.py            # the figures
    scripts/code-size.py --top 20   # and the 20 longest functions
"""
import re
import statistics
import sys
from pathlib import Path

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip(line, in_block):
    """The line without strings, chars and comments; whether a block comment is still open."""
    out, i = [], 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 2, False
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            in_block, i = True, i + 2
            continue
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
            continue
        if c == "'" and re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
            continue
        out.append(c)
        i += 1
    return "".join(out), in_block


def functions(path):
    lines = path.read_text().splitlines()
    code, in_block = [], False
    for line in lines:
        s, in_block = strip(line, in_block)
        code.append(s)
    end = test_module_start(lines)
    found = []
    for start in range(end):
        m = FN.match(code[start])
        if not m:
            continue
        depth, opened = 0, False
        for j in range(start, end):
            if not opened and ";" in code[j] and "{" not in code[j]:
                break
            for ch in code[j]:
                if ch == "{":
                    depth, opened = depth + 1, True
                elif ch == "}":
                    depth -= 1
            if opened and depth == 0:
                found.append((j - start + 1, f"{path}:{start + 1} {m.group(6)}"))
                break
    return found


def test_module_start(lines):
    """Index of the line opening the file's inline test module, or the number of lines."""
    return next(
        (i for i, l in enumerate(lines[:-1])
         if l.strip() == "#[cfg(test)]" and lines[i + 1].strip().startswith("mod tests {")),
        len(lines),
    )


def code_lines(path):
    """Lines before the file's inline test module."""
    return test_module_start(path.read_text().splitlines())


def main():
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 10
    files = sorted(Path("src").rglob("*.rs"))
    sizes = [len(f.read_text().splitlines()) for f in files]
    # Test modules in files of their own (`mod tests;`) are tests, not code.
    code = [f for f in files if f.name != "tests.rs"]
    code_sizes = [code_lines(f) for f in code]
    fns = [f for path in code for f in functions(path)]
    lengths = sorted(n for n, _ in fns)
    p90 = lengths[int(0.9 * (len(lengths) - 1))]
    print(f"{len(files)} files: median {statistics.median(sizes):.0f} lines, largest {max(sizes)}")
    print(f"{len(code)} files of code (their test modules left out): median "
          f"{statistics.median(code_sizes):.0f} lines, largest {max(code_sizes)}")
    print(f"{len(fns)} functions: p90 {p90} lines, median {statistics.median(lengths):.0f}, "
          f"over 40: {sum(n > 40 for n in lengths)}, over 80: {sum(n > 80 for n in lengths)}")
    for n, name in sorted(fns, reverse=True)[:top]:
        print(f"  {n:4} {name}")


if __name__ == "__main__":
    main()
