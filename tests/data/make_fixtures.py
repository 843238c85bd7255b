#!/usr/bin/python3
"""Writes the small pickle and torch.save fixtures the unit tests read (run with Debian's
python3-torch: /usr/bin/python3 tests/data/make_fixtures.py). The outputs are committed, so the
tests never need Python; the values here are what tests/test_checkpoint.cpp expects."""
import argparse
import collections
import pathlib
import pickle

import torch

HERE = pathlib.Path(__file__).resolve().parent


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


if __name__ == "__main__":
    write_pickles()
    write_torch_files()
