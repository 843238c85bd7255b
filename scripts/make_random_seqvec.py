#!/usr/bin/python3
"""Writes a random-weight SeqVec (ELMo) in the layout SeqVec is distributed in: options.json
(the real SeqVec options by default) and weights.hdf5 with bilm-tf's dataset names and shapes.
For benchmarks: speed does not depend on the weights' values.

    /usr/bin/python3 scripts/make_random_seqvec.py /tmp/models/seqvec_random

Needs h5py and numpy (Debian: python3-h5py, python3-numpy); the tool itself never runs Python.
"""
import argparse
import json
import pathlib

import h5py
import numpy

# The options of the released SeqVec (UniRef50), as published with its weights.
SEQVEC_OPTIONS = {
    "bidirectional": True,
    "char_cnn": {"activation": "relu", "embedding": {"dim": 16},
                 "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
                 "max_characters_per_token": 50, "n_characters": 262, "n_highway": 2},
    "dropout": 0.1,
    "lstm": {"cell_clip": 3, "dim": 4096, "n_layers": 2, "proj_clip": 3, "projection_dim": 512,
             "use_skip_connections": True},
}


def write_weights(path, options, rng):
    cnn = options["char_cnn"]
    lstm = options["lstm"]
    dim = cnn["embedding"]["dim"]
    filters = sum(count for _, count in cnn["filters"])
    projection = lstm["projection_dim"]
    cell = lstm["dim"]

    def normal(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(numpy.float32)

    with h5py.File(path, "w") as f:
        f["char_embed"] = normal(cnn["n_characters"] - 1, dim, scale=1.0)
        for i, (width, count) in enumerate(cnn["filters"]):
            f[f"CNN/W_cnn_{i}"] = normal(1, width, dim, count)
            f[f"CNN/b_cnn_{i}"] = normal(count)
        for k in range(cnn["n_highway"]):
            for name in ("transform", "carry"):
                f[f"CNN_high_{k}/W_{name}"] = normal(filters, filters)
                f[f"CNN_high_{k}/b_{name}"] = normal(filters)
        f["CNN_proj/W_proj"] = normal(filters, projection)
        f["CNN_proj/b_proj"] = normal(projection)
        for direction in range(2):
            for layer in range(lstm["n_layers"]):
                cell_group = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                f[f"{cell_group}/W_0"] = normal(2 * projection, 4 * cell)
                f[f"{cell_group}/B"] = normal(4 * cell)
                f[f"{cell_group}/W_P_0"] = normal(cell, projection)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=pathlib.Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.directory.mkdir(parents=True, exist_ok=True)
    (args.directory / "options.json").write_text(json.dumps(SEQVEC_OPTIONS, indent=2) + "\n")
    write_weights(args.directory / "weights.hdf5", SEQVEC_OPTIONS, numpy.random.default_rng(args.seed))
    print(args.directory)


if __name__ == "__main__":
    main()
