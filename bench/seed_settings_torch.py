"""The seeds' settings at base size in PyTorch (CPU), for bench/seed-settings.ts to time side by side.

torch.nn written from the HF modeling files' semantics (modeling_vit.py, modeling_roberta.py,
modeling_gpt2.py, modeling_t5.py) and METHODS.md (routed LoRA, MixPHM with its redundancy and
relevance terms), not from peftgraph's code. Frozen weights are random (their values do not change
the time); the frozen vision tower runs under no_grad and every backbone weight has
requires_grad=False, as HF PEFT trains. Prints one JSON line: step times and parameter counts.

  python3 bench/seed_settings_torch.py --setting roberta|gpt2|t5 [--batch 4] [--steps 3] [--threads 2]
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--setting', required=True, choices=['roberta', 'gpt2', 't5'])
p.add_argument('--batch', type=int, default=4)
p.add_argument('--steps', type=int, default=3)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--len', type=int, default=32)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
B, D = a.batch, 768


def frozen(m):
    for q in m.parameters():
        q.requires_grad_(False)
    return m


# ---------------------------------------------------------------- PEFT modules (METHODS.md)
class Visual:
    """The routed visual feature x_R [B, 1, d] of the current batch."""
    x = None


def route_inner(xt, xv):
    return (xt * xv).sum(-1, keepdim=True) * xv


class RoutedLoRA(nn.Module):
    """y = W0 x + (alpha / r) * route(x A, x_R A) B (inner routing), A Kaiming-uniform, B zeros."""

    def __init__(self, base: nn.Linear, r=128, alpha=128):
        super().__init__()
        self.base = base
        self.A = nn.Parameter(torch.empty(base.in_features, r).uniform_(-1 / math.sqrt(base.in_features), 1 / math.sqrt(base.in_features)))
        self.B = nn.Parameter(torch.zeros(r, base.out_features))
        self.s = alpha / r

    def forward(self, x):
        xt = x @ self.A
        return self.base(x) + route_inner(xt, Visual.x @ self.A) @ self.B * self.s


class PHM(nn.Module):
    """y = x W + b, W = sum_i S_i kron (T_i U_i): S shared by the model, T [n, din/n, k], U [n, k, dout/n]."""

    def __init__(self, S, din, dout, n=4, k=8, experts=0):
        super().__init__()
        lead = (experts,) if experts else ()
        self.S, self.n, self.din, self.dout = S, n, din, dout
        g = math.sqrt(2)
        bt = g * math.sqrt(6 / (din // n + k))
        bu = g * math.sqrt(6 / (k + dout // n))
        self.T = nn.Parameter(torch.empty(*lead, n, din // n, k).uniform_(-bt, bt))
        self.U = nn.Parameter(torch.empty(*lead, n, k, dout // n).uniform_(-bu, bu))
        self.b = nn.Parameter(torch.zeros(*lead, dout))

    def weight(self, e=None):
        T, U = (self.T, self.U) if e is None else (self.T[e], self.U[e])
        W = T @ U  # [n, din/n, dout/n]
        return torch.einsum('iab,ice->acbe', self.S, W).reshape(self.din, self.dout)

    def forward(self, x, e=None):
        return x @ self.weight(e) + (self.b if e is None else self.b[e])


class MixPHM(nn.Module):
    """x + alpha * W_up_e(drop(gelu_tanh(W_down x))): a random expert per module and forward pass."""

    def __init__(self, S, d, r=64, experts=4):
        super().__init__()
        self.down = PHM(S, d, r)
        self.up = PHM(S, r, d, experts=experts)
        self.E = experts
        self.record = None

    def forward(self, x):
        e = int(torch.randint(self.E, ()))
        ha = self.up(F.dropout(F.gelu(self.down(x), approximate='tanh'), 0.5, self.training), e)
        self.record = (x, ha)
        return x + ha


def redundancy(h, ha, mask):
    """lambda * sum_{i != j} C_ij^2 / B, C = normalize(ha)^T normalize(h) over valid tokens."""
    keep = mask.reshape(-1) > 0
    hh = F.normalize(h.reshape(-1, h.shape[-1])[keep], dim=-1)
    hah = F.normalize(ha.reshape(-1, ha.shape[-1])[keep], dim=-1)
    C = hah.T @ hh
    off = C.pow(2).sum() - torch.diagonal(C).pow(2).sum()
    return 3.9e-3 * off / h.shape[0]


def relevance(ha, pooled):
    """JSD estimator between each token of ha and its sample's pooled final state: E_neg - E_pos."""
    s = torch.einsum('bld,cd->blc', ha, pooled)  # token of sample b against pooled of sample c
    eye = torch.eye(s.shape[0], dtype=torch.bool)[:, None, :].expand_as(s)
    pos = s[eye]
    neg = s[~eye]
    return (F.softplus(-neg) + neg).mean() - (-F.softplus(-pos)).mean()


# ---------------------------------------------------------------- towers (HF semantics)
class Block(nn.Module):
    """One transformer layer: pre- or post-LN, optional causal mask, erf or tanh GELU."""

    def __init__(self, d=768, heads=12, ff=3072, eps=1e-12, pre=True, act='gelu', causal=False):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.up, self.down = nn.Linear(d, ff), nn.Linear(ff, d)
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.h, self.pre, self.act, self.causal = heads, pre, act, causal
        self.ffn_hook = None

    def attn(self, x, mask):
        Bn, L, d = x.shape
        sp = lambda t: t.reshape(Bn, L, self.h, d // self.h).transpose(1, 2)
        s = sp(self.q(x)) @ sp(self.k(x)).transpose(-1, -2) / math.sqrt(d // self.h)
        s = s + (1 - mask[:, None, None, :]) * -1e9
        if self.causal:
            s = s.masked_fill(torch.triu(torch.ones(L, L, dtype=torch.bool), 1), float('-inf'))
        return self.o((s.softmax(-1) @ sp(self.v(x))).transpose(1, 2).reshape(Bn, L, d))

    def ffn(self, x):
        y = self.down(F.gelu(self.up(x), approximate='tanh' if self.act == 'gelu_new' else 'none'))
        return self.ffn_hook(y) if self.ffn_hook else y

    def forward(self, x, mask):
        if self.pre:
            x = x + self.attn(self.ln1(x), mask)
            return x + self.ffn(self.ln2(x))
        x = self.ln1(x + self.attn(x, mask))
        return self.ln2(x + self.ffn(x))


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(3 * 16 * 16, D)
        self.cls = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 197, D) * 0.02)
        self.layers = nn.ModuleList(Block() for _ in range(12))
        self.ln = nn.LayerNorm(D, eps=1e-12)
        self.pool = nn.Linear(D, D)

    def forward(self, img):
        Bn = img.shape[0]
        x = img.unfold(2, 16, 16).unfold(3, 16, 16).permute(0, 2, 3, 1, 4, 5).reshape(Bn, 196, -1)
        x = torch.cat([self.cls.expand(Bn, 1, D), self.patch(x)], 1) + self.pos
        ones = torch.ones(Bn, 197)
        for L in self.layers:
            x = L(x, ones)
        x = self.ln(x)
        return x, torch.tanh(self.pool(x[:, 0]))


def lora_qv(layers, r=128):
    for L in layers:
        L.q, L.v = RoutedLoRA(frozen(L.q), r, r), RoutedLoRA(frozen(L.v), r, r)


class RobertaVQA(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos, self.typ = nn.Embedding(50265, D), nn.Embedding(514, D), nn.Embedding(1, D)
        self.eln = nn.LayerNorm(D, eps=1e-5)
        self.layers = nn.ModuleList(Block(eps=1e-5, pre=False) for _ in range(12))
        self.pool = nn.Linear(D, D)
        frozen(self)
        lora_qv(self.layers)
        self.fc1, self.hln, self.fc2 = nn.Linear(D, 2 * D), nn.LayerNorm(2 * D), nn.Linear(2 * D, 3129)

    def forward(self, ids, mask, xr, targets):
        pos = (torch.cumsum(mask, 1) * mask).long() + 1  # RoBERTa: padding_idx + 1 + index among real tokens
        x = self.eln(self.tok(ids) + self.pos(pos) + self.typ(torch.zeros_like(ids)))
        x = torch.cat([xr, x], 1)
        m = torch.cat([torch.ones(ids.shape[0], 1), mask], 1)
        for L in self.layers:
            x = L(x, m)
        pooled = torch.tanh(self.pool(x[:, 0]))
        logits = self.fc2(F.gelu(self.hln(self.fc1(pooled))))
        return F.binary_cross_entropy_with_logits(logits, targets, reduction='sum') / ids.shape[0]


class Gpt2Caption(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(50257, D), nn.Embedding(1024, D)
        self.layers = nn.ModuleList(Block(eps=1e-5, act='gelu_new', causal=True) for _ in range(12))
        self.lnf = nn.LayerNorm(D, eps=1e-5)
        frozen(self)
        lora_qv(self.layers)

    def forward(self, ids, mask, xr):
        Bn, L = ids.shape
        x = self.wte(ids) + self.wpe(torch.arange(L))
        x = torch.cat([xr, x], 1)
        m = torch.cat([torch.ones(Bn, 1), mask], 1)
        for Lr in self.layers:
            x = Lr(x, m)
        logits = self.lnf(x)[:, :-1] @ self.wte.weight.T  # position t predicts token t (after the prefix)
        ce = F.cross_entropy(logits.reshape(-1, 50257), ids.reshape(-1), reduction='none')
        return (ce * mask.reshape(-1)).sum() / mask.sum()


class T5Layer(nn.Module):
    """T5's attention (unscaled, relative bias added), RMS norms, ReLU FFN; cross-attention in the decoder."""

    def __init__(self, decoder, S):
        super().__init__()
        self.att = nn.ModuleList(nn.Linear(D, D, bias=False) for _ in range(4))
        self.cross = nn.ModuleList(nn.Linear(D, D, bias=False) for _ in range(4)) if decoder else None
        self.wi, self.wo = nn.Linear(D, 3072, bias=False), nn.Linear(3072, D, bias=False)
        self.norms = nn.ParameterList(nn.Parameter(torch.ones(D)) for _ in range(3 if decoder else 2))
        frozen(self)
        self.mix = MixPHM(S, D)

    @staticmethod
    def rms(x, w):
        return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)

    @staticmethod
    def mha(lin, x, kv, bias):
        Bn, L, _ = x.shape
        sp = lambda t: t.reshape(Bn, -1, 12, 64).transpose(1, 2)
        s = sp(lin[0](x)) @ sp(lin[1](kv)).transpose(-1, -2) + bias
        return lin[3]((s.softmax(-1) @ sp(lin[2](kv))).transpose(1, 2).reshape(Bn, L, D))

    def forward(self, x, bias, mem=None, mbias=None):
        x = x + self.mha(self.att, self.rms(x, self.norms[0]), self.rms(x, self.norms[0]), bias)
        if self.cross is not None:
            y = self.rms(x, self.norms[1])
            x = x + self.mha(self.cross, y, mem, mbias)
        return x + self.mix(self.wo(F.relu(self.wi(self.rms(x, self.norms[-1])))))


def buckets(rel, bidirectional, nb=32, md=128):
    out = torch.zeros_like(rel)
    if bidirectional:
        nb //= 2
        out += (rel > 0).long() * nb
        n = rel.abs()
    else:
        n = -torch.clamp(rel, max=0)
    exact = nb // 2
    large = exact + (torch.log(n.float() / exact + 1e-9) / math.log(md / exact) * (nb - exact)).long()
    return out + torch.where(n < exact, n, torch.clamp(large, max=nb - 1))


class VlT5(nn.Module):
    """ViT region tokens (7 x 7 patch-grid means) embedded as VL-T5 does, then T5-base with MixPHM after every FFN."""

    def __init__(self):
        super().__init__()
        self.S = nn.Parameter(torch.randn(4, 4, 4) * 0.01)
        self.shared = frozen(nn.Embedding(32128, D))
        self.enc = nn.ModuleList(T5Layer(False, self.S) for _ in range(12))
        self.dec = nn.ModuleList(T5Layer(True, self.S) for _ in range(12))
        self.relE, self.relD = frozen(nn.Embedding(32, 12)), frozen(nn.Embedding(32, 12))
        self.lnE, self.lnD = nn.Parameter(torch.ones(D), requires_grad=False), nn.Parameter(torch.ones(D), requires_grad=False)
        self.vproj, self.vln, self.vpos = frozen(nn.Linear(D, D)), frozen(nn.LayerNorm(D)), nn.Parameter(torch.zeros(49, D), requires_grad=False)

    def bias(self, table, Lq, Lk, bidirectional):
        rel = torch.arange(Lk)[None, :] - torch.arange(Lq)[:, None]
        return table(buckets(rel, bidirectional)).permute(2, 0, 1)[None]

    def forward(self, regions, ids, mask, tgt, tmask, pooled_text_for_rel=True):
        Bn = ids.shape[0]
        v = T5Layer.rms(self.vproj(regions), self.vln.weight) + self.vpos
        x = torch.cat([v, self.shared(ids)], 1)
        m = torch.cat([torch.ones(Bn, 49), mask], 1)
        eb = self.bias(self.relE, x.shape[1], x.shape[1], True) + (1 - m[:, None, None, :]) * -1e9
        for L in self.enc:
            x = L(x, eb)
        mem = T5Layer.rms(x, self.lnE)
        y = self.shared(torch.cat([torch.zeros(Bn, 1, dtype=torch.long), tgt[:, :-1]], 1))
        T = y.shape[1]
        db = self.bias(self.relD, T, T, False) + torch.triu(torch.full((T, T), -1e9), 1)
        mb = (1 - m[:, None, None, :]) * -1e9
        for L in self.dec:
            y = L(y, db, mem, mb)
        y = T5Layer.rms(y, self.lnD)
        logits = (y * D**-0.5) @ self.shared.weight.T
        ce = F.cross_entropy(logits.reshape(-1, 32128), tgt.reshape(-1), reduction='none')
        task = (ce * tmask.reshape(-1)).sum() / tmask.sum()
        # Regularizers per stack (METHODS.md): redundancy and relevance, averaged over layers, stacks halved.
        reg = 0
        for layers, final, msk in ((self.enc, mem, m), (self.dec, y, tmask)):
            pooled = (final * msk[..., None]).sum(1) / msk.sum(1, keepdim=True)
            red = sum(redundancy(*L.mix.record, msk) for L in layers) / len(layers)
            rel = sum(relevance(L.mix.record[1], pooled) for L in layers) / len(layers)
            reg = reg + 0.5 * (0.1 * red + 0.02 * rel)
        return task + reg


# ---------------------------------------------------------------- one step, timed
vit = frozen(ViT()).eval()
Lt = a.len
img = torch.randn(B, 3, 224, 224)
ids = torch.randint(4, 250, (B, Lt))
mask = torch.ones(B, Lt)
mask[:, Lt * 3 // 4:] = 0
if a.setting == 'roberta':
    model = RobertaVQA()
    targets = torch.zeros(B, 3129)
    targets[:, 7] = 1
elif a.setting == 'gpt2':
    model = Gpt2Caption()
else:
    model = VlT5()
    tgt = torch.randint(4, 250, (B, 8))
    tmask = torch.ones(B, 8)
trainable = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW(trainable, lr=1e-4, eps=1e-6, weight_decay=0.01)
times, losses = [], []
for step in range(a.steps):
    t0 = time.perf_counter()
    with torch.no_grad():
        hidden, pooled = vit(img)
    Visual.x = pooled[:, None, :]
    if a.setting == 'roberta':
        loss = model(ids, mask, Visual.x, targets)
    elif a.setting == 'gpt2':
        loss = model(ids, mask, Visual.x)
    else:
        # 7 x 7 regions of the 14 x 14 patch grid, each the mean of its 2 x 2 patches.
        regions = hidden[:, 1:].reshape(B, 7, 2, 7, 2, D).mean((2, 4)).reshape(B, 49, D)
        loss = model(regions, ids, mask, tgt, tmask)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 5.0)
    opt.step()
    times.append(time.perf_counter() - t0)
    losses.append(float(loss))
total = sum(q.numel() for q in model.parameters()) + sum(q.numel() for q in vit.parameters())
print(json.dumps({'setting': a.setting, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'batch': B, 'first': times[0], 'later': times[1:], 'losses': losses, 'trainable': sum(q.numel() for q in trainable), 'total': total}))
