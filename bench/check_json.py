"""deepdigits-bench's --json, read as a user's script would: the machine, one record per (model,
batch, backend) with the fields issue 5 names, self-consistent figures, rows marked skipped where
no GPU is, and the --lab record; then the steps and runs each record says were timed: --quick's,
an explicit --steps and --repeats over them, and the default steps on a smaller training set.
Usage: check_json.py DEEPDIGITS_BENCH MNIST_DIR"""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

bench, mnist = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bench.json")
    run = subprocess.run([bench, "--quick", "--models", "0,20", "--batch", "1,32", "--lab",
                          "--lab-epochs", "1", "--data", mnist, "--json", path],
                         capture_output=True, text=True)
    check(run.returncode == 0, "the bench exited %d: %s" % (run.returncode, run.stderr))
    with open(path) as f:
        doc = json.load(f)

for key in ("date", "device", "cpu", "results"):
    check(key in doc, "no top-level %r" % key)
cells = [r for r in doc["results"] if r["model"] != "lab"]
labs = [r for r in doc["results"] if r["model"] == "lab"]
want = {(m, b, be) for m in ("baseline", "variant-20") for b in (1, 32)
        for be in ("cpu", "cuda", "cuda-fused", "cuda-fused-2sm", "cuda-fused-4sm",
                   "cuda-fused-pipe")}
got = {(r["model"], r["batch"], r["backend"]) for r in cells}
check(got == want, "cells %s, want %s" % (sorted(got), sorted(want)))

timed = ("steps", "repeats", "us_per_step", "us_min", "us_max", "spread", "samples_per_s", "epoch_seconds",
         "speedup_vs_cpu", "flops_per_step", "bytes_per_step", "floor_us", "times_floor")
for r in cells:
    name = "%s batch %d %s" % (r["model"], r["batch"], r["backend"])
    if "skipped" in r:
        no_device = r["backend"] != "cpu" and doc["device"] == "none"
        bn_batch1 = r["model"] == "variant-20" and r["batch"] == 1  # BN cannot train at batch 1
        # On a GPU the fused engine may decline a cell (e.g. no clusters before sm_90), saying why.
        declined = r["backend"].startswith("cuda-fused") and doc["device"] != "none"
        check("no CUDA device" in r["skipped"] if no_device
              else (bn_batch1 and "BN" in r["skipped"]) or (declined and r["skipped"]),
              name + ": skipped for %r" % r["skipped"])
        continue
    for key in timed:
        check(key in r, name + ": no %r" % key)
    if any(key not in r for key in timed):
        continue
    us = r["us_per_step"]
    check(0 < r["us_min"] <= us <= r["us_max"], name + ": median outside min..max")
    check(abs(r["samples_per_s"] - r["batch"] * 1e6 / us) <= 1e-3 * r["samples_per_s"] + 0.1,
          name + ": samples/s is not batch / step time")
    check(0 < r["floor_us"] <= us and r["flops_per_step"] > 0 and r["bytes_per_step"] > 0,
          name + ": the floor is missing or above the measured time")
    check((r["speedup_vs_cpu"] is None) == (r["backend"] == "cpu"),
          name + ": speedup_vs_cpu %r" % r["speedup_vs_cpu"])
    check((r["steps"], r["repeats"]) == (20, 3),
          name + ": --quick timed %r steps x %r runs, not 20 x 3" % (r["steps"], r["repeats"]))

check(len(labs) == 1, "%d lab records, want 1" % len(labs))
for r in labs:
    check(r.get("epochs") == 1 and r.get("seconds", 0) > 0, "lab record %r" % r)



def idx(folder, name):
    """The IDX file NAME in FOLDER, as the loader finds it: NAME, else NAME.gz."""
    path = os.path.join(folder, name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    with gzip.open(path + ".gz") as f:
        return f.read()


def plans(args, data):
    """(batch, steps, repeats) of each CPU record of the baseline's bench with ARGS on DATA."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.json")
        run = subprocess.run([bench, "--device", "cpu", "--models", "0", "--data", data,
                              "--json", path] + args, capture_output=True, text=True)
        check(run.returncode == 0, "%s: exited %d: %s" % (args, run.returncode, run.stderr))
        if run.returncode != 0:
            return []
        with open(path) as f:
            rows = json.load(f)["results"]
    return [(r["batch"], r.get("steps"), r.get("repeats")) for r in rows]


# An explicit --steps or --repeats wins over --quick's 20 x 3 (--quick overrode them, silently).
got = plans(["--quick", "--steps", "7", "--repeats", "2", "--batch", "1,32"], mnist)
check(got == [(1, 7, 2), (32, 7, 2)], "--quick --steps 7 --repeats 2 timed %r" % got)

# The default steps are an epoch of full batches of the training set loaded (they were of 60000
# images whatever was loaded), between 20 and 2000: on 1000 training images, 1000 steps at
# batch 1, 100 at batch 10, and 20 (not 10) at batch 100.
with tempfile.TemporaryDirectory() as few:
    images, labels = idx(mnist, "t10k-images-idx3-ubyte"), idx(mnist, "t10k-labels-idx1-ubyte")
    for name, data in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        with open(os.path.join(few, name), "wb") as f:
            f.write(data)
    n = struct.pack(">I", 1000)
    with open(os.path.join(few, "train-images-idx3-ubyte"), "wb") as f:
        f.write(images[:4] + n + images[8:16] + images[16:16 + 1000 * 28 * 28])
    with open(os.path.join(few, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(labels[:4] + n + labels[8:8 + 1000])
    got = plans(["--batch", "1,10,100", "--repeats", "1"], few)
    check(got == [(1, 1000, 1), (10, 100, 1), (100, 20, 1)],
          "on 1000 training images the default steps were %r" % got)

print("bench_json: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
