#!/usr/bin/python3
"""Writes a random-weight ESM-2 or ESM-1b checkpoint with the shapes of a released model, in
fair-esm's .pt layout: "encoder.sentence_encoder." names; for ESM-2 cfg["model"] as an
argparse.Namespace and rotary inv_freq rounded through float16 as in the released files; for
ESM-1b "args" as an argparse.Namespace, learned positions and a layer norm before the layers.
For benchmarks: no real weights are needed to measure speed.

    /usr/bin/python3 scripts/make_random_esm.py esm2_t12_35M_UR50D /tmp/models/

Needs PyTorch (Debian: python3-torch); the tool itself never runs Python.
"""
import argparse
import collections
import pathlib
import re

import torch

SHAPES = {  # name: (layers, width, heads), as in fair-esm's pretrained.py
    "esm2_t6_8M_UR50D": (6, 320, 20),
    "esm2_t12_35M_UR50D": (12, 480, 20),
    "esm2_t30_150M_UR50D": (30, 640, 20),
    "esm2_t33_650M_UR50D": (33, 1280, 20),
    "esm2_t36_3B_UR50D": (36, 2560, 40),
    "esm1b_t33_650M_UR50S": (33, 1280, 20),
}
ESM1B_POSITIONS = 1024  # and 2 more rows: the padding index is 1
VOCABULARY = 33


def random_state_dict(layers, width, heads, generator, esm1b):
    def normal(*shape):
        return torch.randn(*shape, generator=generator) * 0.02

    head_dim = width // heads
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    state = collections.OrderedDict()
    prefix = "encoder.sentence_encoder."
    state[prefix + "embed_tokens.weight"] = normal(VOCABULARY, width)
    for i in range(layers):
        layer = f"{prefix}layers.{i}."
        for projection in ("k_proj", "v_proj", "q_proj", "out_proj"):
            state[layer + f"self_attn.{projection}.weight"] = normal(width, width)
            state[layer + f"self_attn.{projection}.bias"] = normal(width)
        if not esm1b:
            state[layer + "self_attn.rot_emb.inv_freq"] = inv_freq.half().float()
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            state[layer + f"{norm}.weight"] = 1 + normal(width)
            state[layer + f"{norm}.bias"] = normal(width)
        state[layer + "fc1.weight"] = normal(4 * width, width)
        state[layer + "fc1.bias"] = normal(4 * width)
        state[layer + "fc2.weight"] = normal(width, 4 * width)
        state[layer + "fc2.bias"] = normal(width)
    if esm1b:
        state[prefix + "embed_positions.weight"] = normal(ESM1B_POSITIONS + 2, width)
        state[prefix + "emb_layer_norm_before.weight"] = 1 + normal(width)
        state[prefix + "emb_layer_norm_before.bias"] = normal(width)
    state[prefix + "emb_layer_norm_after.weight"] = 1 + normal(width)
    state[prefix + "emb_layer_norm_after.bias"] = normal(width)
    state["encoder.lm_head.weight"] = state[prefix + "embed_tokens.weight"]
    state["encoder.lm_head.bias"] = normal(VOCABULARY)
    state["encoder.lm_head.dense.weight"] = normal(width, width)
    state["encoder.lm_head.dense.bias"] = normal(width)
    state["encoder.lm_head.layer_norm.weight"] = 1 + normal(width)
    state["encoder.lm_head.layer_norm.bias"] = normal(width)
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(SHAPES))
    parser.add_argument("directory", type=pathlib.Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    layers, width, heads = SHAPES[args.name]
    generator = torch.Generator().manual_seed(args.seed)
    esm1b = args.name.startswith("esm1b")
    state = random_state_dict(layers, width, heads, generator, esm1b)
    if esm1b:
        config = argparse.Namespace(arch="roberta_large", encoder_layers=layers,
                                    encoder_embed_dim=width, encoder_ffn_embed_dim=4 * width,
                                    encoder_attention_heads=heads,
                                    max_positions=ESM1B_POSITIONS, token_dropout=True,
                                    final_bias=True, dropout=0.1)
        checkpoint = {"args": config, "model": state}
    else:
        config = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=width,
                                    encoder_ffn_embed_dim=4 * width,
                                    encoder_attention_heads=heads, token_dropout=True,
                                    arch="esm2")
        checkpoint = {"model": state, "cfg": {"model": config}}
    args.directory.mkdir(parents=True, exist_ok=True)
    path = args.directory / f"{args.name}.pt"
    torch.save(checkpoint, path)
    print(path)


if __name__ == "__main__":
    main()
