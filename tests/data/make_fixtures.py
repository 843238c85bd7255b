#!/usr/bin/python3
"""Writes the small pickle and torch.save fixtures the unit tests read (run with Debian's
python3-torch: /usr/bin/python3 tests/data/make_fixtures.py). The outputs are committed, so the
tests never need Python; the values here are what tests/test_checkpoint.cpp expects."""
import argparse
import collections
import json
import pathlib
import pickle
import shutil
import struct

import numpy
import torch

HERE = pathlib.Path(__file__).resolve().parent
SHARED_ESM2 = HERE.parents[2] / "shared" / "testdata" / "esm2_tiny" / "hf"


def config_namespace():
    return argparse.Namespace(
        encoder_layers=2, encoder_embed_dim=32, dropout=0.1, arch="esm2", token_dropout=True,
        nothing=None, layers=[1, 2, 3], pair=(4, "five"), nested={"a": -7, "b": [1.5]},
        big=2**70, negative=-(2**40), raw=b"\x00\xff", choices={"x"}, text="gr\u00fc\u00df",
    )


def write_pickles():
    data = {"config": config_namespace(),
            "ordered": collections.OrderedDict([("first", 1), ("second", 2)]),
            "shared": None}
    shared = [1, 2]
    data["shared"] = (shared, shared)  # the memo must hand out the same list twice
    for protocol in range(0, 6):
        (HERE / f"pickle_protocol{protocol}.pkl").write_bytes(pickle.dumps(data, protocol=protocol))


def write_torch_files():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tensors = collections.OrderedDict()
    tensors["float32"] = base
    tensors["float16"] = base.to(torch.float16)
    tensors["bfloat16"] = base.to(torch.bfloat16)
    tensors["int64"] = torch.arange(5)
    tensors["transposed"] = base.t()               # non-contiguous view
    tensors["row"] = base[1]                       # shares base's storage, offset 4
    tensors["scalar"] = torch.tensor(3.5)
    tensors["empty"] = torch.zeros(0, 4)
    tensors["parameter"] = torch.nn.Parameter(torch.ones(2))
    checkpoint = {"model": tensors, "args": config_namespace()}
    torch.save(checkpoint, HERE / "tensors_protocol2.pt")
    torch.save(checkpoint, HERE / "tensors_protocol4.pt", pickle_protocol=4)


def write_pytorch_model_bin():
    """The esm2_tiny Hugging Face fixture re-saved as pytorch_model.bin (the other weights
    format of Hugging Face directories), so both formats are tested against expected.h5."""
    raw = (SHARED_ESM2 / "model.safetensors").read_bytes()
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_length])
    data = raw[8 + header_length:]
    state = collections.OrderedDict()
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = numpy.frombuffer(data[begin:end], dtype=numpy.float32).reshape(entry["shape"])
        state[name] = torch.from_numpy(array.copy())
    target = HERE / "esm2_tiny_pytorch_bin"
    target.mkdir(exist_ok=True)
    torch.save(state, target / "pytorch_model.bin")
    shutil.copy(SHARED_ESM2 / "config.json", target / "config.json")


if __name__ == "__main__":
    write_pickles()
    write_torch_files()
    write_pytorch_model_bin()
