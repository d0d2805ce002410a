"""Training, evaluation and generation, step for step as the builtin runtime does them (offchain/ml/train.ts,
evaluate.ts, serve.ts). The TypeScript side has read and tokenized the inputs and validated the parameters;
it hands over the token ids (work/tokens.bin) and a plan (work/plan.json). Host syncs: at progress points only."""

import contextlib
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from gpt2 import GPT2, InputError, config_of, read_weights, write_folder
from sampling import Rng, Sampler


def progress(rt, **p):
    if rt.rank == 0:
        rt.emit(p)


def load_model(rt, plan):
    c = config_of(plan["config"])
    w = read_weights(plan["modelDir"], plan["tensors"])
    return GPT2(c, {k: v.to(rt.device) for k, v in w.items()}), c


def load_tokens(rt, work):
    ids = np.fromfile(f"{work}/tokens.bin", dtype="<i4")
    return torch.from_numpy(ids.astype(np.int64)).to(rt.device)


def autocast(rt, precision):
    if precision == "bf16" and rt.device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def window_starts(n, ctx):
    """train.ts windowStarts: windows of ctx + 1 tokens every ctx tokens."""
    return list(range(0, n - ctx, ctx))


def lr_at(s, p):
    """train.ts lrAt: linear warmup, then cosine decay to 10% of lr at the last step."""
    if p["warmupSteps"] > 0 and s < p["warmupSteps"]:
        return p["lr"] * (s + 1) / p["warmupSteps"]
    decay = max(1, p["steps"] - p["warmupSteps"])
    prog = min(1, (s - p["warmupSteps"]) / decay)
    return p["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def gather_windows(tokens, starts, ctx):
    """Inputs and targets [B, ctx] of the windows starting at `starts` (a device tensor [B])."""
    idx = starts[:, None] + torch.arange(ctx + 1, device=tokens.device)
    w = tokens[idx]
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def mean_loss(model, tokens, starts, ctx, batch):
    """train.ts meanLoss: mean next-token loss over the windows, in groups of `batch`, float32."""
    total = torch.zeros((), dtype=torch.float64, device=tokens.device)
    on_device = torch.tensor(starts, dtype=torch.int64).to(tokens.device)  # one copy, not one per group
    for i in range(0, len(starts), batch):
        x, y = gather_windows(tokens, on_device[i : i + batch], ctx)
        total += F.cross_entropy(model(x).float(), y.reshape(-1), reduction="sum").double()
    return float(total) / (len(starts) * ctx)


def fmt_js(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


class Batches:
    """The training windows in train.ts's order: each epoch a shuffle by Rng(seed, "epoch:<n>")."""

    def __init__(self, seed, starts, batch):
        self.seed, self.starts, self.batch = seed, starts, batch
        self.order, self.epoch, self.cursor = [], 0, 0

    def take(self, steps):
        out = []
        for _ in range(steps * self.batch):
            if self.cursor >= len(self.order):
                self.order = Rng(self.seed, f"epoch:{self.epoch}").shuffle(list(self.starts))
                self.epoch += 1
                self.cursor = 0
            out.append(self.order[self.cursor])
            self.cursor += 1
        return out


def make_optimizer(rt, model, p):
    decay, no_decay = model.decay_groups()
    groups = [{"params": decay, "weight_decay": p["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}]
    kw = {"lr": p["lr"], "betas": (p["beta1"], p["beta2"]), "eps": p["eps"]}
    if rt.device.type == "cuda" and rt.fused_adamw:
        kw["fused"] = True
    return torch.optim.AdamW(groups, **kw)


def train(rt, plan, work, out_dir):
    p = plan["train"]
    progress(rt, step=0, totalSteps=0, phase="load")
    model, c = load_model(rt, plan)
    tokens = load_tokens(rt, work)
    n_train, ctx, batch, steps = p["trainTokens"], p["contextLength"], p["batchSize"], p["steps"]
    train_tok, val_tok = tokens[:n_train], tokens[n_train:]
    train_starts = window_starts(n_train, ctx)
    val_starts = window_starts(len(tokens) - n_train, ctx)[: p["evalWindows"]]
    eval_starts = train_starts[: p["evalWindows"]]
    started = time.monotonic()
    progress(rt, step=0, totalSteps=steps, phase="validate")
    val_before = mean_loss(model, val_tok, val_starts, ctx, batch)
    train_before = mean_loss(model, train_tok, eval_starts, ctx, batch)

    net = model
    if rt.world > 1:
        if batch % rt.world != 0:
            raise InputError("PARAMS_INVALID", f"batchSize {batch} must be a multiple of the {rt.world} GPUs")
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=rt.device_ids)
    shard = batch // rt.world
    opt = make_optimizer(rt, model, p)
    params = list(model.parameters())
    batches = Batches(p["seed"], train_starts, batch)
    every = rt.progress_every
    losses, curve, stopped_by = None, [], "steps"
    t_train = time.monotonic()
    t_steady, steady_from = None, 0
    chunk, pending = None, 0
    for step in range(steps):
        if out_of_time(rt, p, started, step, every):
            stopped_by = "time"
            break
        k = step % every
        if k == 0:
            n = min(every, steps - step)
            chunk = rt.upload(torch.tensor(batches.take(n), dtype=torch.int64).view(n, batch))
            losses = torch.zeros(n, dtype=torch.float32, device=rt.device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, p)
        x, y = gather_windows(train_tok, chunk[k, rt.rank * shard : (rt.rank + 1) * shard], ctx)
        with autocast(rt, rt.precision):
            loss = F.cross_entropy(net(x).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if p["gradClip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, p["gradClip"])
        opt.step()
        losses[k] = loss.detach()
        pending = k + 1
        if pending == len(losses):
            curve += report(rt, losses, len(curve) + pending, steps, batch * ctx, t_train, started, p)
            pending = 0
            if t_steady is None:
                t_steady, steady_from = time.monotonic(), len(curve)
    if pending > 0:
        curve += report(rt, losses[:pending], len(curve) + pending, steps, batch * ctx, t_train, started, p)
    done = len(curve)
    train_sec = time.monotonic() - t_train
    rt.timing = {
        "trainSec": train_sec,
        "tokensPerSec": done * batch * ctx / max(train_sec, 1e-9),
        "steadyTokensPerSec": (done - steady_from) * batch * ctx / max(time.monotonic() - t_steady, 1e-9)
        if t_steady is not None and done > steady_from
        else None,
    }
    progress(rt, step=done, totalSteps=steps, phase="validate")
    val_after = mean_loss(model, val_tok, val_starts, ctx, batch)
    train_after = mean_loss(model, train_tok, eval_starts, ctx, batch)
    if rt.rank == 0:
        progress(rt, step=done, totalSteps=steps, phase="save")
        write_folder(out_dir, model, plan["files"], {**plan["provenance"], "steps": done})
    return {
        "lossCurve": curve,
        "stepsPlanned": steps,
        "stepsDone": done,
        "stoppedBy": stopped_by,
        "trainLossBefore": train_before,
        "trainLossAfter": train_after,
        "valLossBefore": val_before,
        "valLossAfter": val_after,
    }


def out_of_time(rt, p, started, step, every):
    """Past timeBudgetSec? With several GPUs, decided by all of them together at interval boundaries."""
    if p["timeBudgetSec"] is None:
        return False
    over = time.monotonic() - started >= p["timeBudgetSec"]
    if rt.world == 1:
        return over
    if step % every != 0:
        return False
    flag = torch.tensor([1.0 if over else 0.0], device=rt.device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item() > 0)


def report(rt, losses, done, steps, tokens_per_step, t_train, started, p):
    """The one host sync of a progress interval: the interval's losses (averaged over GPUs), checked finite."""
    if rt.world > 1:
        torch.distributed.all_reduce(losses)
        losses = losses / rt.world
    vals = losses.tolist()
    first = done - len(vals)
    for i, v in enumerate(vals):
        if not math.isfinite(v):
            raise InputError("PARAMS_INVALID", f"training diverged at step {first + i + 1} (loss {fmt_js(v)}); lower lr")
    elapsed = time.monotonic() - t_train
    eta = (steps - done) * elapsed / done
    if p["timeBudgetSec"] is not None:
        eta = min(eta, max(0.0, p["timeBudgetSec"] - (time.monotonic() - started)))
    tps = done * tokens_per_step / max(elapsed, 1e-9)
    progress(rt, step=done, totalSteps=steps, loss=vals[-1], tokensPerSec=tps, etaSec=eta, phase="train")
    return vals


@torch.no_grad()
def evaluate(rt, plan, work):
    """evaluate.ts: sliding windows; each scores its last `trg` labels; Σ −log softmax (float32 rows, float64 sum)."""
    e = plan["evaluate"]
    model, _ = load_model(rt, plan)
    tokens = load_tokens(rt, work)
    windows = e["windows"]
    total = torch.zeros((), dtype=torch.float64, device=rt.device)
    count = 0
    t0 = time.monotonic()
    t_steady, steady_from = None, 0
    # Every window's start on the device at once: a copy per group would block the host while the GPU drains.
    all_starts = rt.upload(torch.tensor([w[0] for w in windows], dtype=torch.int64))
    i = 0
    while i < len(windows):
        length = windows[i][1] - windows[i][0]
        j = i
        while j < len(windows) and j - i < rt.eval_batch and windows[j][1] - windows[j][0] == length:
            j += 1
        group = windows[i:j]
        x, y = gather_windows(tokens, all_starts[i:j], length)
        with autocast(rt, rt.inference_precision):
            h = model.hidden(x)
        # The head only on the scored rows, a chunk at a time (the CPU pays for every fresh large allocation). Each
        # token's −log softmax in float32 (as the head's logits are), summed in float64 like the builtin's: a float64
        # copy of the rows cost a pass over [rows, vocab] in memory for ~1e-6 per token.
        for b, (_, _, trg) in enumerate(group):
            hs, tg = h[b, length - trg :], y[b, length - trg :]
            for r in range(0, trg, rt.row_chunk):
                with autocast(rt, rt.inference_precision):
                    rows = F.linear(hs[r : r + rt.row_chunk], model.wte).float()
                total += F.cross_entropy(rows, tg[r : r + rt.row_chunk], reduction="none").double().sum()
            count += trg
        i = j
        progress(rt, step=i, totalSteps=len(windows), phase="evaluate")
        if t_steady is None:  # the first group paid for the device's warm-up (kernels, cuBLAS)
            sync(rt)
            t_steady, steady_from = time.monotonic(), count
    loss_sum = float(total)
    sec = time.monotonic() - t0
    rt.timing = {
        "evalSec": sec,
        "tokensPerSec": count / max(sec, 1e-9),
        "steadyTokensPerSec": steady(count - steady_from, t_steady),
    }
    return {"sum": loss_sum, "count": count}


@torch.no_grad()
def generate(rt, plan):
    """serve.ts generate: per prompt, KV cache; greedy, or sampled with the seed + i stream; stop at EOS."""
    g = plan["infer"]
    model, c = load_model(rt, plan)
    eos, max_new = c["eos_token_id"], g["maxNewTokens"]
    sample = g["temperature"] > 0
    out, generated = [], 0
    t0 = time.monotonic()
    # Warm-up: everything up to the first read-back of tokens (the prefill, the first kernels of each shape).
    warm = {"t": None, "n": 0}
    for i, ids in enumerate(g["prompts"]):
        caches = model.new_caches(1, len(ids) + max_new, rt.device, torch.float32)
        x = torch.tensor([ids], dtype=torch.int64, device=rt.device)
        if sample:
            sampler = Sampler((g["seed"] + i) % 2**32, g["temperature"], g["topK"], g["topP"])
            toks, reason = sampled(rt, model, x, caches, eos, max_new, sampler, warm, generated)
        else:
            toks, reason = greedy(rt, model, x, caches, eos, max_new, warm, generated)
        generated += len(toks) + (1 if reason == "eos" else 0)
        out.append({"tokens": toks, "finishReason": reason})
        progress(rt, step=i + 1, totalSteps=len(g["prompts"]), phase="generate")
    sec = time.monotonic() - t0
    rt.timing = {
        "generateSec": sec,
        "tokensPerSec": generated / max(sec, 1e-9),
        "steadyTokensPerSec": steady(generated - warm["n"], warm["t"]),
    }
    return {"generations": out, "generatedTokens": generated}


def next_logits(rt, model, x, caches, pos):
    """The last position's logits (float32) after feeding x at `pos`."""
    with autocast(rt, rt.inference_precision):
        h = model.hidden(x, caches, pos)
    return F.linear(h[0, -1].float(), model.wte)


def read_back(warm, n):
    """Tokens were read back to the host: the first time, the warm-up ends (`n` tokens generated by then)."""
    if warm["t"] is None:
        warm.update(t=time.monotonic(), n=n)


def greedy(rt, model, x, caches, eos, max_new, warm, before):
    """Greedy decoding. The tokens are read back every `rt.greedy_sync` steps (one host sync each, 8 on a GPU, 1 on
    the CPU), so the GPU runs ahead of Python meanwhile; tokens computed past an EOS are dropped (greedy: they never
    change the ones before it)."""
    pos, toks, pending = 0, [], []
    while len(toks) + len(pending) < max_new:
        nxt = torch.argmax(next_logits(rt, model, x, caches, pos)).view(1, 1)
        pos += x.shape[1]
        pending.append(nxt)
        x = nxt
        if len(pending) == rt.greedy_sync or len(toks) + len(pending) == max_new:
            got = torch.cat(pending).view(-1).tolist()
            read_back(warm, before + len(toks) + len(got))
            for tok in got:
                if tok == eos:
                    return toks, "eos"
                toks.append(tok)
            pending = []
    return toks, "length"


def sampled(rt, model, x, caches, eos, max_new, sampler, warm, before):
    """Sampling needs each step's logits on the host (the sampler is transformers.js's, bit for bit)."""
    pos, toks = 0, []
    while len(toks) < max_new:
        logits = next_logits(rt, model, x, caches, pos)
        pos += x.shape[1]
        tok = sampler.pick(logits.cpu().numpy())
        read_back(warm, before + len(toks) + 1)
        if tok == eos:
            return toks, "eos"
        toks.append(tok)
        x = torch.tensor([[tok]], dtype=torch.int64, device=rt.device)
    return toks, "length"


def sync(rt):
    if rt.device.type == "cuda":
        torch.cuda.synchronize(rt.device)


def steady(tokens, since):
    """Tokens per second after the warm-up (None when nothing came after it)."""
    return tokens / max(time.monotonic() - since, 1e-9) if since is not None and tokens > 0 else None
