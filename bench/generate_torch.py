"""Greedy decoding of a GPT-2-style decoder after one visual prefix token, in PyTorch CPU with
HF-style past_key_values (the keys and values of every earlier position kept per layer, one new
token per step), for bench/generate.ts. torch.nn written from GPT-2's semantics (pre-LN blocks,
gelu_new, learned positions, tied LM head), random weights, 2 threads by default, no end-of-sequence: every
sequence decodes `length` tokens. Prints the median seconds of `reps` decodes as JSON.

    python3 bench/generate_torch.py WIDTH DEPTH HEADS VOCAB LENGTH BATCH REPS [THREADS]
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
width, depth, heads, vocab, length, batch, reps = map(int, sys.argv[1:8])
threads = int(sys.argv[8]) if len(sys.argv) > 8 else 2
torch.set_num_threads(threads)
dh = width // heads


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(width)
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.proj = torch.nn.Linear(width, width)
        self.ln2 = torch.nn.LayerNorm(width)
        self.up = torch.nn.Linear(width, 4 * width)
        self.down = torch.nn.Linear(4 * width, width)

    def forward(self, h, past):
        b, t, _ = h.shape
        q, k, v = self.qkv(self.ln1(h)).split(width, dim=2)
        split = lambda x: x.view(b, t, heads, dh).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if t > 1:  # the prefill: causal within the new positions
            n = k.shape[2]
            causal = torch.ones(t, n, dtype=torch.bool).tril(n - t)
            scores = scores.masked_fill(~causal, float('-inf'))
        a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, width)
        h = h + self.proj(a)
        h = h + self.down(F.gelu(self.up(self.ln2(h)), approximate='tanh'))
        return h, (k, v)


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, width)
        self.pos = torch.nn.Embedding(length, width)
        self.blocks = torch.nn.ModuleList([Block() for _ in range(depth)])
        self.ln_f = torch.nn.LayerNorm(width)

    def forward(self, h, past):
        new = []
        for i, blk in enumerate(self.blocks):
            h, kv = blk(h, past[i] if past else None)
            new.append(kv)
        return F.linear(self.ln_f(h), self.tok.weight), new  # the tied head, as nn.Linear applies it


model = Decoder().eval()
prefix = torch.randn(batch, 1, width)


@torch.no_grad()
def decode():
    logits, past = model(prefix, None)  # the prefix runs once
    out = []
    for t in range(length):
        nxt = logits[:, -1].argmax(-1)
        out.append(nxt)
        if t == length - 1:
            break
        h = model.tok(nxt)[:, None] + model.pos.weight[t][None, None]
        logits, past = model(h, past)
    return torch.stack(out, 1)


decode()  # warm-up
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    decode()
    times.append(time.perf_counter() - t0)
print(json.dumps({'seconds': statistics.median(times)}))
