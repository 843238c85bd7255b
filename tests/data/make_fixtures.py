#!/usr/bin/python3
"""Writes the small pickle and torch.save fixtures the unit tests read (run with Debian's
python3-torch: /usr/bin/python3 tests/data/make_fixtures.py). The outputs are committed, so the
tests never need Python; the values here are what tests/test_checkpoint.cpp expects."""
import argparse
import collections
import io
import json
import pathlib
import pickle
import shutil
import struct
import zipfile

import numpy
import torch

HERE = pathlib.Path(__file__).resolve().parent
ESM2_TINY_HF = HERE / "esm2_tiny" / "hf"


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


class _Storage:
    """Stands for a float32 storage of 4 elements, archive key "0"."""


class _Tensor:
    """Unpickles as torch._utils._rebuild_tensor_v2(storage, 0, size, stride, ...)."""

    def __init__(self, storage, size, stride):
        self.storage, self.size, self.stride = storage, size, stride

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, self.stride, False, collections.OrderedDict()))


class _HostilePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", 4)
        return None


def write_hostile_torch_files():
    """torch.save-like archives that must be rejected with a clear error, never a crash: a
    tensor rebuilt from something that is not a storage, one reaching past its storage, and
    one whose size overflows 64 bits."""
    cases = {
        "forged_storage": _Tensor(None, (2,), (1,)),
        "past_storage": _Tensor(_Storage(), (2**62,), (1,)),
        "overflowing_size": _Tensor(_Storage(), (2**40, 2**40), (2**40, 1)),
    }
    for name, tensor in cases.items():
        buffer = io.BytesIO()
        _HostilePickler(buffer, protocol=2).dump({"model": {"w": tensor}})
        with zipfile.ZipFile(HERE / f"{name}.pt", "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(f"{name}/data.pkl", buffer.getvalue())
            archive.writestr(f"{name}/data/0", struct.pack("<4f", 1, 2, 3, 4))
            archive.writestr(f"{name}/version", "3\n")


def write_pytorch_model_bin():
    """The esm2_tiny Hugging Face fixture re-saved as pytorch_model.bin (the other weights
    format of Hugging Face directories), so both formats are tested against expected.h5."""
    raw = (ESM2_TINY_HF / "model.safetensors").read_bytes()
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
    shutil.copy(ESM2_TINY_HF / "config.json", target / "config.json")


if __name__ == "__main__":
    write_pickles()
    write_torch_files()
    write_hostile_torch_files()
    write_pytorch_model_bin()
