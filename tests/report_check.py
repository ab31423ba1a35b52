#!/usr/bin/env python3
"""Checks what `deepdigits report RUNS` wrote against the run files it read, computing every
expected number from them (config.json, history.csv), from the MNIST test set and from `deepdigits
predict`, never from the report: the results table (order, values) in report.md and report.html
alike, the best run, its confusion matrix, accuracy and misclassified count, the grid of the
first misclassified digits, each model's Keras code, and (plots given) the gnuplot data files,
the columns the scripts plot and the names the plots show.
Prints one line per failure. Usage: report_check.py DEEPDIGITS RUNS STDOUT_OF_REPORT [plots]"""
import csv
import gzip
import html.parser
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from xml.etree import ElementTree

dd, runs_dir, stdout_file = sys.argv[1:4]
plots = len(sys.argv) > 4 and sys.argv[4] == "plots"
failures = []


def fail(msg):
    failures.append(msg)


# The runs, as report finds them: RUNS/*/ with all three files, in the table's order (baseline
# first, then by name, byte for byte).
runs = []
for sub in sorted(os.listdir(runs_dir)):
    d = os.path.join(runs_dir, sub)
    if all(os.path.isfile(os.path.join(d, f))
           for f in ("config.json", "history.csv", "model.safetensors")):
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(d, "history.csv")) as f:
            hist = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        runs.append({"cfg": cfg, "hist": hist, "dir": d})
runs.sort(key=lambda r: (r["cfg"]["name"] != "baseline", r["cfg"]["name"].encode()))
for r in runs:
    h = r["hist"]
    acc = [row["val_acc"] for row in h]
    r["final"] = acc[-1]
    r["best"] = max(acc)
    r["best_epoch"] = acc.index(r["best"]) + 1  # the first epoch that reached it
    seconds = 0.0
    for row in h:
        seconds += row["train_seconds"] + row["eval_seconds"]
    r["seconds"] = seconds / len(h)
    # Dense layers with both diagnostic columns (none for a run trained --no-diagnostics).
    r["layers"] = 0
    while (f"grad_rms_dense_{r['layers'] + 1}" in h[0]
           and f"saturated_dense_{r['layers'] + 1}" in h[0]):
        r["layers"] += 1
# The best run: the highest final val_acc (not the highest val_acc of any epoch); of equals, the
# first in the table.
best = max(runs, key=lambda r: r["final"])

with open(os.path.join(runs_dir, "report.md")) as f:
    md = f.read()
with open(os.path.join(runs_dir, "report.html")) as f:
    page = f.read()
with open(stdout_file) as f:
    out = f.read()


def md_cells(line):
    """The cells of a markdown table row, '\\|' and '\\\\' read back as '|' and '\\'."""
    cells, cell, i = [], "", 2
    body = line[: -2] if line.endswith(" |") else line
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in "|\\":
            cell += body[i + 1]
            i += 2
        elif body.startswith(" | ", i):
            cells.append(cell)
            cell, i = "", i + 3
        else:
            cell += body[i]
            i += 1
    return cells + [cell]


def md_tables(text):
    """Each table of TEXT as (header, rule, rows): lists of cells, the rule as its line."""
    tables, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header, rule, rows = md_cells(lines[i]), lines[i + 1], []
            i += 2
            while i < len(lines) and lines[i].startswith("| "):
                rows.append(md_cells(lines[i]))
                i += 1
            tables.append((header, rule, rows))
        else:
            i += 1
    return tables


class Tables(html.parser.HTMLParser):
    """The tables of an HTML page as lists of rows of cell texts (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = ""
        elif self.cell is not None:
            self.cell += f"<{tag}>"  # a tag inside a cell: text that was not escaped

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


tables = md_tables(md)
parser = Tables()
parser.feed(page)
if len(tables) != 2 or len(parser.tables) != 2:
    fail(f"{len(tables)} tables in report.md, {len(parser.tables)} in report.html; want 2 each "
         "(results, confusion matrix)")
    print("\n".join(failures))
    sys.exit(0)  # nothing more to read in them
for header, rule, _ in tables:
    if rule != "|" + "---|" * len(header):
        fail(f"report.md: the rule '{rule}' does not have the {len(header)} columns of its "
             f"header {header}")
for (header, _, rows), html_rows in zip(tables, parser.tables):
    if [header] + rows != html_rows:
        fail(f"report.md and report.html differ in a table: {[header] + rows} vs {html_rows}")

m = re.search(r"^# deepdigits report: (\d+) models?$", md, re.M)
if not m or int(m.group(1)) != len(runs):
    fail(f"report.md's title does not count {len(runs)} models")

# The results table: one row per run, in order, each number from the run's own files.
_, _, rows = tables[0]
want = []
for r in runs:
    c = r["cfg"]
    want.append([c["name"], c["description"], f"{c['params_total']} ({c['params_trainable']})",
                 str(c["batch"]), str(len(r["hist"])), f"{r['final']:.4f}",
                 f"{r['best']:.4f} ({r['best_epoch']})", f"{r['seconds']:.2f} s",
                 f"{c['device']}: {c['device_name']}"])
if len(rows) != len(want):
    fail(f"the results table has {len(rows)} rows for {len(want)} runs")
for got, exp in zip(rows, want):
    if got != exp:
        fail(f"results row {got}, want {exp}")

name = best["cfg"]["name"]
if f"\n## Best model: {name}\n" not in md:
    fail(f"report.md does not name {name} (final val_acc {best['final']}) the best model")
if f"; best {name} (val_acc {best['final']:.4f})" not in out:
    fail(f"report's output does not name {name} the best, val_acc {best['final']:.4f}: {out}")
if f"{name} reached the highest final val_acc, {best['final']:.4f} (" not in md:
    fail("report.md does not give the best model's final val_acc")

# The confusion matrix: row t holds every test image labelled t, so the rows sum to the label
# counts of the test set; its diagonal is what the accuracy and the misclassified count say.
data = best["cfg"]["data"]
lf = os.path.join(data, "t10k-labels-idx1-ubyte")
with (open(lf, "rb") if os.path.exists(lf) else gzip.open(lf + ".gz")) as f:
    labels = f.read()[8:]
header, _, rows = tables[1]
if header != ["true \\ predicted"] + [str(p) for p in range(10)]:
    fail(f"confusion matrix header {header}")
matrix = [[int(v) for v in row[1:]] for row in rows]
if [row[0] for row in rows] != [str(t) for t in range(10)] or any(len(r) != 10 for r in matrix):
    fail(f"confusion matrix rows are not the digits 0-9 with 10 counts each: {rows}")
    matrix = [[0] * 10 for _ in range(10)]
for t in range(10):
    if sum(matrix[t]) != labels.count(t):
        fail(f"confusion row {t} sums to {sum(matrix[t])}; the test set has {labels.count(t)} {t}s")
total, right = len(labels), sum(matrix[t][t] for t in range(10))
# The lab validates on the test set: the best run's final weights score its final val_acc again
# (these runs were trained on the CPU, as the report evaluates them).
if f"{right / total:.4f}" != f"{best['final']:.4f}":
    fail(f"the confusion matrix scores {right / total:.4f}, not the best run's final val_acc "
         f"{best['final']:.4f}: another model's matrix?")
m = re.search(r"accuracy ([0-9.]+), (\d+) misclassified", md)
if not m or m.group(1) != f"{right / total:.4f}" or int(m.group(2)) != total - right:
    fail(f"report.md states {m and m.groups()}; the matrix says accuracy {right / total:.4f}, "
         f"{total - right} misclassified")


def png_gray(path):
    """An 8-bit grey PNG (as report writes it) as (width, height, rows of bytes)."""
    with open(path, "rb") as f:
        blob = f.read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(blob):
        n, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        chunk = blob[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], bytearray(w)
    for y in range(h):
        kind, line = raw[y * (w + 1)], bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
        for x in range(w):
            a = line[x - 1] if x else 0
            b, c = prev[x], prev[x - 1] if x else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows


# plots/misclassified.png: a 10x10 grid of cells, each a test image (black on white, twice its
# size) over its label "true>predicted" in 3x5 glyphs drawn 2x: the first misclassified test
# images in test-set order, as many as fit, as `deepdigits predict` classifies them with the best
# run's model.
GLYPHS = [[7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 7, 1, 7], [5, 5, 7, 1, 1],
          [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 1, 1, 1], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7],
          [4, 2, 1, 2, 4]]
img = os.path.join(data, "t10k-images-idx3-ubyte")
with (open(img, "rb") if os.path.exists(img) else gzip.open(img + ".gz")) as f:
    images = f.read()[16:]
w, h, px = png_gray(os.path.join(runs_dir, "plots", "misclassified.png"))
cell_w, cell_h = 28 * 2 + 4, 28 * 2 + 14
if (w, h) != (10 * cell_w, 10 * cell_h):
    fail(f"misclassified.png is {w}x{h}, not a 10x10 grid of {cell_w}x{cell_h} cells")
else:
    def glyph(x0, y0):
        bits = [sum((px[y0 + 2 * r][x0 + 2 * c] == 0) << (2 - c) for c in range(3))
                for r in range(5)]
        return GLYPHS.index(bits) if bits in GLYPHS else None

    shown = []  # (image, truth, predicted) of each cell
    for k in range(100):
        x0, y0 = (k % 10) * cell_w + 2, (k // 10) * cell_h
        lx, ly = x0 + (56 - 22) // 2, y0 + 56 + 2
        if glyph(lx + 8, ly) != 10:
            break  # no '>': an empty cell, no more misclassified images
        shown.append((bytes(255 - px[y0 + y][x0 + x] for y in range(0, 56, 2)
                            for x in range(0, 56, 2)), glyph(lx, ly), glyph(lx + 16, ly)))
    # Predict test images in order until 100 misclassified (or the test set's end).
    want, start = [], 0
    with tempfile.TemporaryDirectory() as pgm:
        while len(want) < 100 and start < total:
            files = []
            for i in range(start, min(start + 500, total)):
                files.append(os.path.join(pgm, f"{i}.pgm"))
                with open(files[-1], "wb") as f:
                    f.write(b"P5\n28 28\n255\n" + images[i * 784:(i + 1) * 784])
            res = subprocess.run([dd, "predict", "--model",
                                  os.path.join(best["dir"], "model.safetensors")] + files,
                                 capture_output=True, text=True, check=True)
            for i, line in enumerate(res.stdout.splitlines(), start):
                p = int(line.split(":")[1].split()[0])
                if p != labels[i] and len(want) < 100:
                    want.append((images[i * 784:(i + 1) * 784], labels[i], p))
            start += 500
    if len(shown) != min(100, total - right):
        fail(f"misclassified.png shows {len(shown)} images; {total - right} were misclassified")
    for k, (got, exp) in enumerate(zip(shown, want)):
        if got != exp:
            fail(f"misclassified.png cell {k} shows a test image labelled {got[1]}>{got[2]}"
                 f"{'' if got[0] == exp[0] else ' (not the image predict finds)'}; want the "
                 f"next misclassified, labelled {exp[1]}>{exp[2]}")
            break

# Every model's Keras code: its epochs and batch size, a Dense layer per hidden layer of
# config.json, then the output's 10; an optimizer line only for a learning rate other than the
# lab's (variant 0's: variants_all.sh sets none), and then with the run's.
lab_lr = next(r["cfg"]["lr"] for r in runs if r["cfg"]["variant"] == 0)
for r in runs:
    c = r["cfg"]
    at = md.find(f"\n### {c['name']}: {c['description']}\n")
    block = re.search(r"```python\n(.*?)```", md[at:], re.S) if at >= 0 else None
    code = block.group(1) if block else ""
    units = [int(u) for u in re.findall(r"keras\.layers\.Dense\((\d+)", code)]
    if units != c["hidden"] + [10]:
        fail(f"{c['name']}: the Keras code's Dense layers are {units}, config.json has "
             f"{c['hidden']} and the output")
    for line in (f"EPOCHS = {c['epochs']}", f"BATCH_SIZE = {c['batch']}"):
        if not re.search(rf"^{line}\b", code, re.M):
            fail(f"{c['name']}: the Keras code lacks {line}")
    lr = re.findall(r"SGD\(learning_rate=([0-9.e-]+)\)", code)
    if lr != ([] if c["lr"] == lab_lr else [f"{c['lr']:g}"]):
        fail(f"{c['name']}: the Keras code sets the learning rate {lr}, config.json {c['lr']}")


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-12)


if plots:
    pd = os.path.join(runs_dir, "plots", "data")
    # data/final.dat: per run, in the table's order, its index, data-file stem, final and best.
    with open(os.path.join(pd, "final.dat")) as f:
        final = [line.split() for line in f]
    if len(final) != len(runs):
        fail(f"data/final.dat has {len(final)} rows for {len(runs)} runs")
    for i, (r, row) in enumerate(zip(runs, final)):
        stem = row[1]
        if row[0] != str(i) or row[2:] != [f"{r['final']:.6f}", f"{r['best']:.6f}"]:
            fail(f"data/final.dat row {row}, want {i} {stem} {r['final']:.6f} {r['best']:.6f}")
        # data/STEM.dat: the run's history, epoch by epoch.
        cols = ["epoch", "loss", "acc", "val_loss", "val_acc"] + \
            [f"grad_rms_dense_{l}" for l in range(1, r["layers"] + 1)] + \
            [f"saturated_dense_{l}" for l in range(1, r["layers"] + 1)]
        with open(os.path.join(pd, stem + ".dat")) as f:
            dat = [[float(v) for v in line.split()] for line in f if not line.startswith("#")]
        exp = [[row[c] for c in cols] for row in r["hist"]]
        if len(dat) != len(exp) or any(len(a) != len(b) or not all(map(close, a, b))
                                       for a, b in zip(dat, exp)):
            fail(f"data/{stem}.dat is not {r['cfg']['name']}'s history {cols}: {dat} vs {exp}")
        # data/layers/STEM.dat: per layer, grad_rms and saturated at the first and last epoch.
        with open(os.path.join(pd, "layers", stem + ".dat")) as f:
            dat = [[float(v) for v in line.split()] for line in f if not line.startswith("#")]
        first, last = r["hist"][0], r["hist"][-1]
        exp = [[l, first[f"grad_rms_dense_{l}"], last[f"grad_rms_dense_{l}"],
                first[f"saturated_dense_{l}"], last[f"saturated_dense_{l}"]]
               for l in range(1, r["layers"] + 1)]
        if len(dat) != len(exp) or any(not all(map(close, a, b)) for a, b in zip(dat, exp)):
            fail(f"data/layers/{stem}.dat: {dat}, want {exp}")
    with open(os.path.join(pd, "confusion.dat")) as f:
        if [[int(v) for v in line.split()] for line in f] != matrix:
            fail("data/confusion.dat is not report.md's confusion matrix")

    # The scripts plot the columns their data files name.
    def script(name):
        with open(os.path.join(runs_dir, "plots", "scripts", name + ".gp")) as f:
            return f.read()

    run_cols = "epoch loss acc val_loss val_acc".split()
    layer_cols = "layer grad_rms_first grad_rms_last saturated_first saturated_last".split()
    if f"u 1:{run_cols.index('val_acc') + 1} " not in script("val_acc"):
        fail("val_acc.gp does not plot the val_acc column")
    bars = script("final_val_acc")
    if not re.search(r"'data/final\.dat' u 1:3:xtic\(.*\) w boxes t 'final val_acc', "
                     r"'' u 1:4 w p pt 7 t 'best val_acc'", bars):
        fail("final_val_acc.gp does not plot final.dat's columns 3 (final) and 4 (best)")
    for name, first in (("grad_rms", "grad_rms_first"), ("saturation", "saturated_first")):
        c = layer_cols.index(first) + 1
        got = re.findall(r"'\.dat' u 1:(\d+) ", script(name))
        if got[:2] != [str(c), str(c + 1)]:
            fail(f"{name}.gp plots columns {got} of the layer data, want {c} and {c + 1}")

    # The plots name the runs as named, in the table's order: the key of val_acc.svg, the bars
    # of final_val_acc.svg; each run's curves are titled with its name and description.
    def svg_texts(name):
        tree = ElementTree.parse(os.path.join(runs_dir, "plots", name + ".svg"))
        return ["".join(e.itertext()).strip() for e in tree.iter() if e.tag.endswith("text")]

    names = [r["cfg"]["name"] for r in runs]
    for name in ("val_acc", "final_val_acc"):
        texts = svg_texts(name)
        at = texts.index(names[0]) if names[0] in texts else 0
        if texts[at:at + len(names)] != names:
            fail(f"{name}.svg does not show the runs {names}: {texts}")
    for r, row in zip(runs, final):
        title = f"{r['cfg']['name']}: {r['cfg']['description']}"
        if title not in svg_texts(row[1] + "-curves"):
            fail(f"{row[1]}-curves.svg is not titled '{title}'")

for msg in failures:
    print(msg)
