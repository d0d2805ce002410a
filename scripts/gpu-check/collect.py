"""Collects the GPU check's JSON lines (raw PyTorch, the PyTorch executor, the builtin runtime on
WebGPU) into bench/results/gpu.json figures. Runs after every step, so a failing step loses nothing
already measured. Usage: collect.py OUT_DIR"""
import glob
import json
import os
import sys

KINDS = (("train", "train"), ("eval", "evaluation"), ("generate", "generation"))


def lines(out):
    rows = []
    for f in sorted(glob.glob(os.path.join(out, "*.jsonl"))):
        with open(f) as fh:
            for ln in fh:
                ln = ln.strip()
                if ln.startswith("{"):
                    try:
                        rows.append(json.loads(ln))
                    except ValueError:
                        pass
    return rows


def find(rows, step, config, **match):
    for r in rows:
        if r.get("step") == step and r.get("config") == config and "error" not in r:
            if all(r.get(k) == v for k, v in match.items()):
                return r
    return None


def error_of(rows, step, config):
    for r in rows:
        if r.get("step") in (step, step.split("-")[0]) and r.get("config") == config and "error" in r:
            return r["error"][:400]
    return "not measured (step missing or timed out)"


def main():
    out = sys.argv[1]
    rows = lines(out)
    run = {}
    for r in rows:
        if r.get("step") == "torch-info":
            run.update(gpu=r.get("gpu"), torch=r.get("torch"), cuda=r.get("cuda"))
        elif r.get("step") == "info" and "node" in r:
            run.update(node=r["node"], vulkanMissing=r.get("vulkan", {}).get("missing"))
        elif r.get("step") == "info" and "adapter" in r:
            run.update(adapter=r["adapter"] or r.get("error"))
    figs = []

    def fig(name, value, unit, params):
        figs.append({"name": name, "value": value, "unit": unit, "params": params})

    seen = {r.get("config") for r in rows}
    configs = [c for c in ("tiny", "small", "medium") if c in seen] or ["small", "medium"]
    for config in configs:
        for short, long in KINDS:
            ref = find(rows, f"torch-{short}", config)
            unit = "tokens/s"
            if ref:
                fig(f"{long} tokens/s, raw PyTorch ({config})", ref["tokens_per_s"], unit, {**ref, "device": ref.get("device", "cuda")})
            for who, step, dev, label in (
                ("executor", f"executor-{short}", "cuda", "raw PyTorch"),
                ("builtin", f"webgpu-{short}", "webgpu", "PyTorch"),
            ):
                got = find(rows, step, config)
                # The device the step ran on (a rehearsal runs them all on the CPU).
                params = {"device": (got or {}).get("device") or dev, "config": config}
                if got:
                    fig(f"{long} tokens/s, {'PyTorch executor' if who == 'executor' else 'builtin WebGPU'} ({config})",
                        got["tokens_per_s"], unit, {**got, **params})
                if got and ref:
                    params.update(tokensPerSec=got["tokens_per_s"], referenceTokensPerSec=ref["tokens_per_s"],
                                  reference=f"{ref.get('impl')} {ref.get('precision', '')}".strip())
                    fig(f"{long} vs {label}", got["tokens_per_s"] / ref["tokens_per_s"], "ratio", params)
                else:
                    why = error_of(rows, step, config) if not got else "no PyTorch reference"
                    fig(f"{long} vs {label}", None, "ratio", {**params, "error": why})
        # the previous WebGPU generation path (the serving graph), beside the fused decoding graph's figure above
        got, ref = find(rows, "webgpu-generate-serving", config), find(rows, "torch-generate", config)
        if got:
            params = {**got, "device": got.get("device", "webgpu"), "config": config}
            fig(f"generation tokens/s, builtin WebGPU serving graph ({config})", got["tokens_per_s"], "tokens/s", params)
            if ref:
                fig("generation (serving graph) vs PyTorch", got["tokens_per_s"] / ref["tokens_per_s"], "ratio",
                    {**params, "referenceTokensPerSec": ref["tokens_per_s"]})
        # evaluation on the fused forward, with how far its loss is from the serving graph's
        ref = find(rows, "torch-eval", config)
        for r in rows:
            if r.get("step") == "webgpu-eval-fused" and r.get("config") == config and "error" not in r and ref:
                params = {**r, "device": r.get("device", "webgpu"), "config": config,
                          "referenceTokensPerSec": ref["tokens_per_s"]}
                fig(f"evaluation (fused forward, batch {r['batch']}) vs PyTorch", r["tokens_per_s"] / ref["tokens_per_s"],
                    "ratio", params)
        # repeatability on the device (a verifier re-runs WebGPU receipts): 1 when a second run gave the same bits
        for r in rows:
            if r.get("step") == "webgpu-repeat" and r.get("config") == config:
                fig(f"{r['what']} repeats bit for bit, builtin WebGPU ({config})", 1 if r.get("same") else 0, "boolean",
                    {**r, "device": r.get("device", "webgpu"), "config": config})
        # onnxruntime's profile of the builtin runtime: GPU time per run where the adapter gave timestamps
        for r in rows:
            if r.get("step") == "webgpu-profile" and r.get("config") == config and "error" not in r:
                gpu = r.get("gpuMs") or 0
                what = "GPU ms per run" if gpu > 0 else "ms per run"
                fig(f"profile: {r['graph']} graph, {what} ({config})", gpu or r.get("lastRunMs"), "ms",
                    {**r, "device": r.get("device", "webgpu"), "config": config})
    for f in figs:
        f["params"]["run"] = run
    with open(os.path.join(out, "gpu.json"), "w") as fh:
        json.dump(figs, fh, indent=2)
        fh.write("\n")
    done = [f for f in figs if f["unit"] == "ratio" and f["value"] is not None]
    print(json.dumps({"step": "collect", "ratios": {f"{f['name']} [{f['params']['config']}]": round(f["value"], 3) for f in done},
                      "goals": goals(figs)}))


# Issue 13's goals, each "met", "missed" or "not measured", for GPT-2 small (the configs the goals name)
GOALS = (
    ("train vs raw PyTorch", "cuda", 0.9), ("evaluation vs raw PyTorch", "cuda", 0.9),
    ("generation vs raw PyTorch", "cuda", 0.9), ("evaluation vs PyTorch", "webgpu", 0.5),
    ("generation vs PyTorch", "webgpu", 1.0),
)


def goals(figs):
    def value(name, unit, device=None):
        for f in figs:
            p = f["params"]
            if f["name"] == name and f["unit"] == unit and p.get("config") == "small" and device in (None, p.get("device")):
                return f["value"]
        return None

    out = {}
    for name, device, least in GOALS:
        v = value(name, "ratio", device)
        out[f"{name} ≥ {least}"] = "not measured" if v is None else ("met" if v >= least else "missed") + f" ({v:.3f})"
    v = value("train tokens/s, PyTorch executor (small)", "tokens/s")
    out["PyTorch executor training ≥ 100k tokens/s"] = (
        "not measured" if v is None else ("met" if v >= 100_000 else "missed") + f" ({v:,.0f})")
    return out


if __name__ == "__main__":
    main()
