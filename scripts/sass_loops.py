#!/usr/bin/env python3
"""The innermost loops of each kernel in an nvdisasm listing made with line information
(nvdisasm -gi): per loop, its instructions, how many of them are floating-point adds and FMAs,
how many load shared memory (LDS), generic memory (LD) or local memory (LDL: spills), and the
source lines most of them come from. A loop is the stretch from a branch target to a branch back
to it; an innermost loop contains no other. Usage: sass_loops.py LISTING [KERNEL-SUBSTRING]"""
import collections
import re
import sys

SECTION = re.compile(r"\.section\s+\.text\.([^,]+),")
SOURCE = re.compile(r'\s*//## File "([^"]+)", line (\d+)')
LABEL = re.compile(r"^(\.L_x_\d+):")
INSTRUCTION = re.compile(r"\s*/\*[0-9a-f]{4,}\*/\s+([^.].*?)\s*;")
BRANCH = re.compile(r"\bBRA\b.*`\((\.L_x_\d+)\)")
FLOAT_ADDS = re.compile(r"^(@!?U?P\w+\s+)?(FFMA|FADD|DFMA|DADD)\b")


def opcode(text):
    words = text.split()
    return (words[1] if words[0].startswith("@") else words[0]).split(".")[0]


def kernels(path):
    """{kernel: [(instruction, innermost source line)], {label: index}} from the listing."""
    found, kernel, line_of, fresh = {}, None, None, True
    for line in open(path, encoding="utf-8", errors="replace"):
        m = SECTION.search(line)
        if m:
            kernel = m.group(1)
            found[kernel] = ([], {})
            continue
        if kernel is None:
            continue
        insts, labels = found[kernel]
        m = SOURCE.match(line)
        if m:  # the first of a group is the innermost (the others say where it was inlined)
            if fresh:
                line_of = "%s:%s" % (m.group(1).split("/")[-1], m.group(2))
                fresh = False
            continue
        m = LABEL.match(line)
        if m:
            labels[m.group(1)] = len(insts)
            continue
        m = INSTRUCTION.match(line)
        if m:
            insts.append((m.group(1), line_of))
            fresh = True
    return {k: v for k, v in found.items() if v[0]}


def innermost_loops(insts, labels):
    loops = []
    for i, (text, _) in enumerate(insts):
        m = BRANCH.search(text)
        if m and labels.get(m.group(1), len(insts)) <= i:
            loops.append((labels[m.group(1)], i))
    return [(a, b) for a, b in sorted(set(loops))
            if not any(a <= c and d <= b and (c, d) != (a, b) for c, d in loops)]


def main():
    path = sys.argv[1]
    pattern = sys.argv[2] if len(sys.argv) > 2 else ""
    for kernel, (insts, labels) in kernels(path).items():
        if pattern not in kernel:
            continue
        ops = collections.Counter(opcode(t) for t, _ in insts)
        print("%s: %d instructions (LDS %d, LD %d, LDL %d, STL %d)"
              % (kernel, len(insts), ops["LDS"], ops["LD"], ops["LDL"], ops["STL"]))
        print("  %-7s %5s %5s %4s %4s %4s  %s" % ("at", "insts", "fp", "LDS", "LD", "LDL", "from"))
        for a, b in innermost_loops(insts, labels):
            body = insts[a:b + 1]
            n = collections.Counter(opcode(t) for t, _ in body)
            fp = sum(1 for t, _ in body if FLOAT_ADDS.match(t))
            where = collections.Counter(s for _, s in body).most_common(2)
            print("  %-7d %5d %5d %4d %4d %4d  %s" % (a, len(body), fp, n["LDS"], n["LD"], n["LDL"],
                                                     ", ".join("%s (%d)" % w for w in where)))


if __name__ == "__main__":
    main()
