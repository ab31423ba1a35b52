"""A deepdigits checkpoint read with nothing but Python's struct and json modules, as any
safetensors reader would: the header, the metadata, every tensor's bytes, and the rules of the
format (contiguous offsets, buffer ending at the end of the file).
Usage: safetensors_python.py DEEPDIGITS MNIST_DIR"""
import json
import os
import struct
import subprocess
import sys
import tempfile

dd, mnist = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "m.safetensors")
    subprocess.run([dd, "train", "--data", mnist, "--subset", "300", "--epochs", "2",
                    "--verbose", "0", "--device", "cpu", "--hidden", "20,15", "--bn", "after",
                    "--batch", "4", "--save", path], check=True)
    blob = open(path, "rb").read()

n = struct.unpack("<Q", blob[:8])[0]
check(n % 8 == 0, "header length %d is a multiple of 8" % n)
header = json.loads(blob[8:8 + n].decode("utf-8"))
meta = header.pop("__metadata__")
check(meta["format"] == "deepdigits-1", "format")
config, training = json.loads(meta["config"]), json.loads(meta["training"])
history = json.loads(meta["history"])
check(config["hidden"] == [20, 15] and config["bn"] == "after", "config %r" % config)
check(training["epochs_done"] == 2 and len(history) == 2, "epochs_done and history")
check(training["batch"] == 4 and training["subset"] == 300, "training %r" % training)

want = {}
for l, (fan_in, units) in enumerate([(784, 20), (20, 15), (15, 10)], 1):
    want["dense_%d.kernel" % l] = [fan_in, units]
    want["dense_%d.bias" % l] = [units]
    if l < 3:
        for t in ("gamma", "beta", "moving_mean", "moving_variance"):
            want["batch_normalization_%d.%s" % (l, t)] = [units]
check(set(header) == set(want), "tensor names %s" % sorted(header))

data = blob[8 + n:]
at = 0
for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    begin, end = e["data_offsets"]
    check(e["dtype"] == "F32", name + " dtype")
    check(e["shape"] == want.get(name), "%s shape %r" % (name, e["shape"]))
    count = 1
    for d in e["shape"]:
        count *= d
    check(begin == at and end - begin == 4 * count, name + " offsets")
    values = struct.unpack("<%df" % count, data[begin:end])
    check(all(v == v and abs(v) < 1e6 for v in values), name + " values finite")
    at = end
check(at == len(data), "buffer ends at the end of the file")
var = struct.unpack("<15f", data[header["batch_normalization_2.moving_variance"]["data_offsets"][0]:]
                    [:60])
check(all(v > 0 for v in var) and any(v != 1 for v in var), "moving variances trained")

print("safetensors_python: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
