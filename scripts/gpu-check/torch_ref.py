"""Raw PyTorch reference for the GPU check: GPT-2 training (bf16 autocast, fused AdamW),
evaluation (fp32, loss over every position) and greedy generation with the KV cache at batch 1.

The model is Hugging Face's GPT2LMHeadModel when transformers is importable (what a PyTorch user
runs), else a plain PyTorch GPT-2 of the same shapes; both are created from a seed (no hub).
Prints one JSON line per figure and appends it to --out.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "tiny": dict(n_embd=64, n_layer=2, n_head=4, n_positions=128),
    "small": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024),
    "medium": dict(n_embd=1024, n_layer=24, n_head=16, n_positions=1024),
}
VOCAB = 50257


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.attn_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, past=None):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, 2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        causal = past is None and t > 1
        if hasattr(F, "scaled_dot_product_attention"):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:  # torch < 2.0 (Debian's 1.13, the local rehearsal)
            s = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h)
            if causal:
                s = s.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            a = s.softmax(-1) @ v
        x = x + self.attn_proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")), (k, v)


class PlainGPT2(nn.Module):
    def __init__(self, n_embd, n_layer, n_head, n_positions):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, n_embd), nn.Embedding(n_positions, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, past=None):
        start = 0 if past is None else past[0][0].shape[2]
        x = self.wte(ids) + self.wpe(torch.arange(start, start + ids.shape[1], device=ids.device))
        presents = []
        for i, blk in enumerate(self.h):
            x, kv = blk(x, None if past is None else past[i])
            presents.append(kv)
        return self.ln_f(x) @ self.wte.weight.t(), presents


def make_model(name, impl, dev):
    c = CONFIGS[name]
    if impl in ("auto", "hf"):
        try:
            from transformers import GPT2Config, GPT2LMHeadModel

            m = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, **c)).to(dev)
            return m, "transformers GPT2LMHeadModel"
        except ImportError:
            if impl == "hf":
                raise
    return PlainGPT2(**c).to(dev), "plain PyTorch GPT-2"


def logits_of(m, ids):
    out = m(ids)
    return out.logits if hasattr(out, "logits") else out[0]


def timed(fn, n, dev):
    fn()
    if dev == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if dev == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / n


def greedy(m, prompt, new_tokens):
    """Greedy decoding with the KV cache; HF's generate for GPT2LMHeadModel (min = max new tokens)."""
    if hasattr(m, "generate"):
        return m.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    logits, past = m(prompt)
    ids = [prompt]
    for _ in range(new_tokens):
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        ids.append(nxt)
        logits, past = m(nxt, past)
    return torch.cat(ids, 1)


def bench(name, a, emit):
    dev = a.device
    torch.manual_seed(0)
    m, impl = make_model(name, a.impl, dev)
    base = dict(config=name, device=dev, impl=impl, torch=torch.__version__)
    bt, tt = (1, 64) if a.quick else (8, 1024)
    steps = 2 if a.quick else (6 if name == "small" else 4)
    if "train" in a.kinds:
        fused = dict(fused=True) if dev == "cuda" else {}
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4, **fused)
        ids = torch.randint(0, VOCAB, (bt, tt), device=dev)
        bf16 = dev == "cuda"

        def step():
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
                lg = logits_of(m, ids)
            loss = F.cross_entropy(lg[:, :-1].float().reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        s = timed(step, steps, dev)
        emit(step="torch-train", precision="bf16" if bf16 else "fp32", batch=bt, ctx=tt, tokens_per_s=bt * tt / s, **base)
        del opt
    m.eval()
    if "eval" in a.kinds:
        ids = torch.randint(0, VOCAB, (bt, tt), device=dev)

        def ev():
            with torch.no_grad():
                lg = logits_of(m, ids)
                return F.cross_entropy(lg[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1)).item()

        s = timed(ev, steps, dev)
        emit(step="torch-eval", precision="fp32", batch=bt, ctx=tt, tokens_per_s=bt * tt / s, **base)
    if "generate" in a.kinds:
        n = 8 if a.quick else 128
        prompt = torch.randint(0, VOCAB, (1, 16), device=dev)
        with torch.no_grad():
            s = timed(lambda: greedy(m, prompt, n), 1 if a.quick else 3, dev)
        emit(step="torch-generate", batch=1, new_tokens=n, prompt_tokens=16, tokens_per_s=n / s, **base)
    del m
    if dev == "cuda":
        torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--configs", default="small,medium")
    p.add_argument("--kinds", default="train,eval,generate")
    p.add_argument("--impl", default="auto", choices=["auto", "hf", "plain"])
    p.add_argument("--quick", action="store_true", help="tiny shapes (the CPU rehearsal)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    a.kinds = a.kinds.split(",")

    def emit(**k):
        line = json.dumps(k)
        print(line, flush=True)
        with open(a.out, "a") as f:
            f.write(line + "\n")

    if a.device == "cuda":
        emit(step="torch-info", gpu=torch.cuda.get_device_name(0), torch=torch.__version__, cuda=torch.version.cuda)
    for name in a.configs.split(","):
        try:
            bench(name, a, emit)
        except Exception as e:  # one config failing must not lose the others
            emit(step="torch", config=name, error=repr(e)[:1500])


if __name__ == "__main__":
    main()
