"""Checks an array job's output against a single run (tests/slurm/test_slurm_array.sh).

    compare_outputs.py MERGED.h5 SINGLE.h5 SHARD_1.h5 ... SHARD_N.h5

The merged file must hold the single run's groups with the same keys in the same (input)
order and values within TOLERANCE, and say shards=1; shard I of N must say so, hold at least
one protein, and the shards together must hold every protein exactly once. Prints what it
checked; exits 1 naming the first difference.
"""
import sys

import h5py
import numpy as np

TOLERANCE = 1e-5
# Root attributes that differ between a merged file and a single run by design.
RUN_SPECIFIC_ATTRIBUTES = {"command_line", "shard", "shards"}
GROUPS = ("per_residue", "per_protein", "contacts")


def fail(message):
    print(f"compare_outputs: {message}", file=sys.stderr)
    sys.exit(1)


def attribute(f, name):
    value = f.attrs[name]
    return value.decode() if isinstance(value, bytes) else value


def keys_in_file_order(group):
    # Creation order when the group tracks it, which is input order (README, "Output").
    return list(group.keys())


def main(merged_path, single_path, shard_paths):
    with h5py.File(merged_path, "r") as merged, h5py.File(single_path, "r") as single:
        if int(attribute(merged, "shards")) != 1:
            fail(f"{merged_path}: root attribute shards={attribute(merged, 'shards')}, expected 1")
        for name in sorted(set(single.attrs) - RUN_SPECIFIC_ATTRIBUTES):
            if name not in merged.attrs:
                fail(f"{merged_path}: root attribute {name} is missing")
            a, b = attribute(merged, name), attribute(single, name)
            if not np.array_equal(np.asarray(a), np.asarray(b)):
                fail(f"root attribute {name}: merged {a!r}, single run {b!r}")

        groups = [g for g in GROUPS if g in single]
        if not groups:
            fail(f"{single_path}: no groups of embeddings")
        if sorted(k for k in merged if k in GROUPS) != sorted(groups):
            fail(f"groups: merged {sorted(merged)}, single run {sorted(single)}")
        worst = 0.0
        for g in groups:
            keys = keys_in_file_order(single[g])
            merged_keys = keys_in_file_order(merged[g])
            if merged_keys != keys:
                first = next((i for i, (a, b) in enumerate(zip(merged_keys, keys)) if a != b),
                             min(len(keys), len(merged_keys)))
                fail(f"/{g}: {len(merged_keys)} keys merged, {len(keys)} in the single run; "
                     f"they first differ at position {first}")
            indices = [int(single[g][k].attrs["index"]) for k in keys]
            if indices != sorted(indices):
                fail(f"{single_path}: /{g} is not in input order")
            for k in keys:
                a, b = merged[g][k][()], single[g][k][()]
                if a.shape != b.shape or a.dtype != b.dtype:
                    fail(f"/{g}/{k}: merged {a.shape} {a.dtype}, single run {b.shape} {b.dtype}")
                for attr in ("original_id", "length", "index"):
                    if attribute(merged[g][k], attr) != attribute(single[g][k], attr):
                        fail(f"/{g}/{k}: attribute {attr} differs")
                difference = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)),
                                          initial=0.0))
                if not difference <= TOLERANCE:
                    fail(f"/{g}/{k}: values differ by up to {difference:g} (> {TOLERANCE:g})")
                worst = max(worst, difference)
        proteins = len(single[groups[0]])

    seen = {}
    for i, path in enumerate(shard_paths, start=1):
        with h5py.File(path, "r") as shard:
            got = (int(attribute(shard, "shard")), int(attribute(shard, "shards")))
            if got != (i, len(shard_paths)):
                fail(f"{path}: shard {got[0]} of {got[1]}, expected {i} of {len(shard_paths)}")
            keys = keys_in_file_order(shard[groups[0]])
            if not keys:
                fail(f"{path}: shard {i} holds no proteins")
            for k in keys:
                if k in seen:
                    fail(f"{k} is in both shard {seen[k]} and shard {i}")
                seen[k] = i
            print(f"shard {i}/{len(shard_paths)}: {len(keys)} proteins")
    if len(seen) != proteins:
        fail(f"the shards hold {len(seen)} proteins, the single run {proteins}")

    print(f"merged == single run: {proteins} proteins, groups {', '.join(groups)}, same keys "
          f"in the same order, largest difference {worst:.3g} (tolerance {TOLERANCE:g}), "
          f"shards=1")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        fail(__doc__.strip().splitlines()[2].strip())
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
