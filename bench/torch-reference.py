"""PyTorch CPU reference for the model-runtime benchmark (scripts/bench-ml.ts).

A plain PyTorch GPT-2 (the computation of Hugging Face's modeling_gpt2.py, eager attention) loaded from the
same model folder, doing what the builtin runtime is measured on, the way a PyTorch user would write it:
  train     AdamW (torch.optim.AdamW, decay on matrices and embeddings), clip_grad_norm_, batch x context windows
  evaluate  the sliding-window perplexity recipe, one window at a time, torch.no_grad
  generate  greedy decoding with a KV cache, batch 1
Only torch and numpy; the torch the bench runs is Debian's python3-torch (/usr/bin/python3).

  /usr/bin/python3 bench/torch-reference.py '<json task>'
task: {"phase", "modelDir", "tokensFile", "threads", ...phase settings}; prints one line "TORCH_RESULT {json}".
"""
import json
import math
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F32", spec["dtype"]
        a, b = spec["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype="<f4").reshape(spec["shape"])
        key = name[len("transformer."):] if name.startswith("transformer.") else name
        out[key] = torch.from_numpy(arr.copy())
    return out


class Gpt2(torch.nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v) for k, v in weights.items()})

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def gelu(self, x):
        if self.cfg.get("activation_function") == "gelu":
            return F.gelu(x)
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    def forward(self, ids, past=None):
        c = self.cfg
        d, h = c["n_embd"], c["n_head"]
        hd = d // h
        b, t = ids.shape
        p0 = 0 if past is None else past[0][0].shape[2]
        pos = torch.arange(p0, p0 + t)
        x = F.embedding(ids, self.w("wte.weight")) + F.embedding(pos, self.w("wpe.weight"))
        eps = c["layer_norm_epsilon"]
        presents = []
        causal = torch.tril(torch.ones(p0 + t, p0 + t, dtype=torch.bool))[p0:]
        for i in range(c["n_layer"]):
            pre = f"h.{i}."
            a = F.layer_norm(x, (d,), self.w(pre + "ln_1.weight"), self.w(pre + "ln_1.bias"), eps)
            qkv = torch.addmm(self.w(pre + "attn.c_attn.bias"), a.view(-1, d), self.w(pre + "attn.c_attn.weight"))
            q, k, v = qkv.view(b, t, 3 * d).split(d, dim=2)
            q, k, v = (z.view(b, t, h, hd).transpose(1, 2) for z in (q, k, v))
            if past is not None:
                k = torch.cat([past[i][0], k], dim=2)
                v = torch.cat([past[i][1], v], dim=2)
            presents.append((k, v))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
            s = torch.where(causal, s, torch.tensor(torch.finfo(s.dtype).min))
            ctx = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(b * t, d)
            x = x + torch.addmm(self.w(pre + "attn.c_proj.bias"), ctx, self.w(pre + "attn.c_proj.weight")).view(b, t, d)
            m = F.layer_norm(x, (d,), self.w(pre + "ln_2.weight"), self.w(pre + "ln_2.bias"), eps)
            f = self.gelu(torch.addmm(self.w(pre + "mlp.c_fc.bias"), m.view(-1, d), self.w(pre + "mlp.c_fc.weight")))
            x = x + torch.addmm(self.w(pre + "mlp.c_proj.bias"), f, self.w(pre + "mlp.c_proj.weight")).view(b, t, d)
        x = F.layer_norm(x, (d,), self.w("ln_f.weight"), self.w("ln_f.bias"), eps)
        return torch.matmul(x, self.w("wte.weight").t()), presents


def train(model, tokens, task):
    b, t, steps = task["batchSize"], task["contextLength"], task["steps"]
    decay = [p for n, p in model.p.items() if p.dim() >= 2]
    no_decay = [p for n, p in model.p.items() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=task["lr"]
    )
    starts = list(range(0, len(tokens) - t - 1, t))
    rng = np.random.default_rng(1)
    stamps, losses = [], []
    for step in range(steps):
        pick = rng.choice(len(starts), size=b, replace=len(starts) < b)
        win = torch.tensor(np.stack([tokens[starts[j] : starts[j] + t + 1] for j in pick]), dtype=torch.long)
        logits, _ = model(win[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        stamps.append(time.perf_counter())
    steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    return {"tokensPerSec": b * t / steady, "secPerStep": steady, "lossFirst": losses[0], "lossLast": losses[-1]}


def evaluate(model, tokens, task):
    ctx, stride = task["contextLength"], task["stride"]
    n = len(tokens)
    ids = torch.tensor(tokens, dtype=torch.long)
    t0 = time.perf_counter()
    nll, count, prev_end, begin = 0.0, 0, 0, 0
    with torch.no_grad():
        while prev_end < n - 1:
            end = min(begin + ctx, n - 1)
            if end > prev_end:
                trg = end - prev_end
                logits, _ = model(ids[begin:end].unsqueeze(0))
                labels = ids[begin + 1 : end + 1]
                lp = F.cross_entropy(logits[0, -trg:], labels[-trg:], reduction="sum")
                nll += lp.item()
                count += trg
            prev_end = end
            begin += stride
    sec = time.perf_counter() - t0
    return {"tokensPerSec": count / sec, "scoredTokens": count, "loss": nll / count}


def generate(model, prompts, task):
    max_new = task["maxNewTokens"]
    eos = task["eosTokenId"]
    total = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for ids in prompts:
            x = torch.tensor([ids], dtype=torch.long)
            past = None
            for _ in range(max_new):
                logits, past = model(x, past)
                nxt = int(torch.argmax(logits[0, -1]))
                total += 1
                if nxt == eos:
                    break
                x = torch.tensor([[nxt]], dtype=torch.long)
    sec = time.perf_counter() - t0
    return {"tokensPerSec": total / sec, "generatedTokens": total}


def main():
    task = json.loads(sys.argv[1])
    torch.set_num_threads(task["threads"])
    torch.manual_seed(1)
    cfg = json.load(open(f"{task['modelDir']}/config.json"))
    model = Gpt2(cfg, load_safetensors(f"{task['modelDir']}/model.safetensors"))
    data = json.load(open(task["tokensFile"]))
    if task["phase"] == "train":
        model.train()
        out = train(model, data["tokens"], task)
    elif task["phase"] == "evaluate":
        model.eval()
        # Warm-up pass on the first window, as the builtin bench warms up too.
        with torch.no_grad():
            model(torch.tensor([data["tokens"][: task["contextLength"]]], dtype=torch.long))
        out = evaluate(model, data["tokens"], task)
    else:
        model.eval()
        generate(model, data["prompts"][:1], {**task, "maxNewTokens": 2})
        out = generate(model, data["prompts"][: task["prompts"]], task)
    out["peakRssBytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["torch"] = torch.__version__
    out["threads"] = torch.get_num_threads()
    print("TORCH_RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
