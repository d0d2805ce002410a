"""GPT-2 in plain PyTorch, and the Hugging Face folder it is read from and written to.

The folder is the one offchain/ml/checkpoint.ts reads and writes: config.json, model.safetensors with
Conv1D weights [in, out] under GPT-2's names (with or without `transformer.`), the head tied to `wte`.
safetensors is a u64 little-endian header length, a JSON header and the raw little-endian bytes. Reading,
the TypeScript side parses config.json and that header and hands over what they say (plan.json).
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F


class InputError(Exception):
    """A bad input: reported as outputs/error.json {code, message}, as the builtin runtime reports it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def tensor_specs(c):
    d, f = c["n_embd"], c["n_inner"]
    specs = [("wte.weight", [c["vocab_size"], d]), ("wpe.weight", [c["n_positions"], d])]
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        specs += [
            (p + "ln_1.weight", [d]),
            (p + "ln_1.bias", [d]),
            (p + "attn.c_attn.weight", [d, 3 * d]),
            (p + "attn.c_attn.bias", [3 * d]),
            (p + "attn.c_proj.weight", [d, d]),
            (p + "attn.c_proj.bias", [d]),
            (p + "ln_2.weight", [d]),
            (p + "ln_2.bias", [d]),
            (p + "mlp.c_fc.weight", [d, f]),
            (p + "mlp.c_fc.bias", [f]),
            (p + "mlp.c_proj.weight", [f, d]),
            (p + "mlp.c_proj.bias", [d]),
        ]
    specs += [("ln_f.weight", [d]), ("ln_f.bias", [d])]
    return specs


def config_of(plan_config):
    """The fields this runtime uses of the config the TypeScript side validated and normalized (plan.json)."""
    c = plan_config
    return {k: c[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
                              "activation_function", "layer_norm_epsilon", "eos_token_id")}


def _decode(dtype, raw, shape, name):
    if dtype == "F32":
        arr = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F64":
        arr = np.frombuffer(raw, dtype="<f8").astype(np.float32)
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise InputError("MODEL_INVALID", f"{name} has dtype {dtype}, expected a float type")
    return torch.from_numpy(arr.astype(np.float32, copy=True).reshape(shape))


def read_weights(model_dir, table):
    """The canonical float32 tensors of model.safetensors, read at the byte ranges the TypeScript side validated
    (plan.json's tensor table): this runtime parses no safetensors header of its own."""
    with open(f"{model_dir}/model.safetensors", "rb") as fh:
        buf = fh.read()
    return {
        name: _decode(e["dtype"], memoryview(buf)[e["begin"] : e["end"]], e["shape"], name) for name, e in table.items()
    }


def write_safetensors(path, named):
    """Byte for byte what safetensors.ts writes: header keys sorted, data in the given order, F32."""
    entries, offset, blobs = {}, 0, []
    for name, t in named:
        data = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4", copy=False).tobytes()
        entries[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header = {"__metadata__": {"format": "pt"}}
    for k in sorted(entries):
        header[k] = entries[k]
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    while (8 + len(text.encode("utf-8"))) % 8 != 0:
        text += " "
    head = text.encode("utf-8")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(head)))
        fh.write(head)
        for b in blobs:
            fh.write(b)


def write_folder(out_dir, model, files, provenance):
    """An HF folder: the weights from `model`, the other files as the TypeScript side prepared them."""
    import os

    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(f"{out_dir}/model.safetensors", [("transformer." + n, t) for n, t in model.named_tensors()])
    for name, text in files.items():
        with open(f"{out_dir}/{name}", "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    with open(f"{out_dir}/posthuman.json", "w", encoding="utf-8", newline="") as fh:
        fh.write(json.dumps(provenance, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def has_sdpa():
    return hasattr(F, "scaled_dot_product_attention")


class GPT2(torch.nn.Module):
    """GPT-2 with Conv1D weights kept as stored ([in, out]), so saving writes them back unchanged."""

    def __init__(self, c, weights):
        super().__init__()
        self.c = c
        self.names = [n for n, _ in tensor_specs(c)]
        self.params = torch.nn.ParameterList([torch.nn.Parameter(weights[n]) for n in self.names])
        self.d, self.h = c["n_embd"], c["n_head"]
        self.eps = c["layer_norm_epsilon"]
        self.approx = "none" if c["activation_function"] == "gelu" else "tanh"
        self.sdpa = has_sdpa()
        self._bind()

    def _bind(self):
        p = list(self.params)
        self.wte, self.wpe = p[0], p[1]
        self.layers = [p[2 + 12 * i : 14 + 12 * i] for i in range(self.c["n_layer"])]
        self.ln_f = p[-2:]

    def named_tensors(self):
        return list(zip(self.names, self.params))

    def decay_groups(self):
        """AdamW's decoupled weight decay applies to tensors of rank ≥ 2 (train.ts)."""
        return [p for p in self.params if p.dim() >= 2], [p for p in self.params if p.dim() < 2]

    def _attend(self, q, k, v, causal):
        if self.sdpa:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
        if causal:
            t = q.shape[-2]
            mask = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
            att = att.masked_fill(mask, float("-inf"))
        return torch.matmul(torch.softmax(att, dim=-1), v)

    def _block(self, x, layer, cache=None, pos=0):
        """One transformer block on x [B, T, d]; with `cache` (k, v [B, H, maxT, hd]) it appends at `pos`."""
        ln1w, ln1b, aw, ab, pw, pb, ln2w, ln2b, fw, fb, f2w, f2b = layer
        b, t, d = x.shape
        hd = d // self.h
        a = F.layer_norm(x, (d,), ln1w, ln1b, self.eps)
        qkv = torch.addmm(ab, a.reshape(b * t, d), aw).view(b, t, 3, self.h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if cache is None:
            y = self._attend(q, k, v, True)
        else:
            ck, cv = cache
            ck[:, :, pos : pos + t] = k
            cv[:, :, pos : pos + t] = v
            y = self._attend(q, ck[:, :, : pos + t], cv[:, :, : pos + t], pos == 0 and t > 1)
        y = y.transpose(1, 2).reshape(b * t, d)
        x = x + torch.addmm(pb, y, pw).view(b, t, d)
        m = F.layer_norm(x, (d,), ln2w, ln2b, self.eps)
        f = F.gelu(torch.addmm(fb, m.reshape(b * t, d), fw), approximate=self.approx)
        return x + torch.addmm(f2b, f, f2w).view(b, t, d)

    def hidden(self, idx, caches=None, pos=0):
        """Final hidden states [B, T, d] for token ids [B, T] (positions from `pos`)."""
        t = idx.shape[1]
        x = F.embedding(idx, self.wte) + self.wpe[pos : pos + t]
        for i, layer in enumerate(self.layers):
            x = self._block(x, layer, None if caches is None else caches[i], pos)
        return F.layer_norm(x, (self.d,), self.ln_f[0], self.ln_f[1], self.eps)

    def forward(self, idx):
        """Logits [B·T, V] (the head is the tied embedding)."""
        h = self.hidden(idx)
        return F.linear(h.reshape(-1, self.d), self.wte)

    def new_caches(self, batch, length, device, dtype):
        hd = self.d // self.h
        shape = (batch, self.h, length, hd)
        return [
            (torch.empty(shape, device=device, dtype=dtype), torch.empty(shape, device=device, dtype=dtype))
            for _ in self.layers
        ]
