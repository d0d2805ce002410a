#!/usr/bin/env python3
"""The PyTorch executor's program (needs only torch and numpy).

    run.py <jobDir>    runs the job prepared in <jobDir>/.torch/ (plan.json, tokens.bin) by offchain/ml/torch-executor.ts;
                       writes outputs/result.json (outputs/model/ for train) and .torch/timing.json; prints
                       `PROGRESS {json}` lines; on bad input writes outputs/error.json {code, message} and exits 2.
    run.py probe       prints what this Python has: {"torch", "cuda", "cudnn", "gpu", ...} as JSON.
    run.py --nproc N <jobDir>   the same job data parallel over N processes (one GPU each; gloo on the CPU):
                       starts the ranks itself, as `torchrun --standalone --nproc_per_node N run.py <jobDir>` does.

With WORLD_SIZE > 1 (torchrun, or --nproc) training is data parallel: every rank takes its slice of each batch,
gradients are averaged, rank 0 writes the outputs and reports progress.
"""

import json
import math
import os
import sys
import time
import traceback

# cuBLAS is deterministic only with a fixed workspace; this must be set before CUDA starts.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def probe():
    import numpy
    import torch

    cuda = torch.cuda.is_available()
    info = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpuCount": torch.cuda.device_count() if cuda else 0,
        "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        "cpuThreads": torch.get_num_threads(),
    }
    print(json.dumps(info), flush=True)


class Runtime:
    """Device, precision and determinism settings of one run, and how it reports."""

    def __init__(self, s):
        import inspect

        import torch

        from gpt2 import InputError

        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        want = s.get("device", "auto")
        cuda = torch.cuda.is_available()
        if want == "cuda" and not cuda:
            raise InputError("DEVICE_UNAVAILABLE", "the PyTorch executor was told to use CUDA, but torch sees no GPU")
        if want == "cuda" or (want == "auto" and cuda):
            torch.cuda.set_device(local)
            self.device, self.device_ids = torch.device("cuda", local), [local]
        else:
            self.device, self.device_ids = torch.device("cpu"), None
        torch.set_num_threads(int(s.get("threads", 1)))
        if s.get("deterministic", True):
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            # Deterministic mode also fills every torch.empty with NaN; nothing here reads memory it did not write.
            try:
                import torch.utils.deterministic as det

                det.fill_uninitialized_memory = False
            except ImportError:
                pass  # torch < 2.1 fills nothing
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if self.world > 1:
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        on_gpu = self.device.type == "cuda"
        self.precision = s.get("precision", "bf16") if on_gpu else "fp32"
        self.inference_precision = s.get("inferencePrecision", "fp32") if on_gpu else "fp32"
        self.eval_batch = int(s.get("evalBatch", 8))
        self.row_chunk = 4096 if on_gpu else 64  # evaluation rows through the head at once (fixed per device)
        self.greedy_sync = int(s.get("greedySync") or (8 if on_gpu else 1))  # greedy tokens between two reads
        self.progress_every = int(s.get("progressEvery") or (25 if on_gpu else 1))
        self.fused_adamw = "fused" in inspect.signature(torch.optim.AdamW).parameters
        self.timing = {}

    def emit(self, p):
        sys.stdout.write("PROGRESS " + json.dumps(p) + "\n")
        sys.stdout.flush()

    def upload(self, t):
        """A host tensor onto the device without waiting for the queue (pinned memory, async copy)."""
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t


def finite_or_none(value):
    """A figure that overflowed (inf, nan) as null, as the TypeScript side writes it: a result, not an error."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(finite_or_none(value), allow_nan=False) + "\n")


def run(job_dir):
    from gpt2 import InputError

    outputs = os.path.join(job_dir, "outputs")
    work = os.path.join(job_dir, ".torch")
    os.makedirs(outputs, exist_ok=True)
    try:
        import jobs

        with open(os.path.join(work, "plan.json"), encoding="utf-8") as fh:
            plan = json.load(fh)
        rt = Runtime(plan["settings"])
        t0 = time.monotonic()
        kind = plan["kind"]
        if kind == "train":
            result = jobs.train(rt, plan, work, os.path.join(outputs, "model"))
        elif kind == "evaluate":
            result = jobs.evaluate(rt, plan, work)
        elif kind == "infer":
            result = jobs.generate(rt, plan)
        else:
            raise InputError("JOB_INVALID", f"unknown job kind {kind}")
        if rt.rank == 0:
            write_json(os.path.join(outputs, "result.json"), result)
            timing = {**rt.timing, "totalSec": time.monotonic() - t0, "device": str(rt.device), "world": rt.world}
            write_json(os.path.join(work, "timing.json"), timing)
        return 0
    except InputError as e:
        if int(os.environ.get("RANK", "0")) == 0:
            write_json(os.path.join(outputs, "error.json"), {"code": e.code, "message": e.message})
        sys.stderr.write(f"{e.code}: {e.message}\n")
        return 2
    except Exception:  # noqa: BLE001 - anything else is the executor's failure, reported with its trace
        traceback.print_exc()
        return 1


def launch(nproc, job_dir):
    """Starts `nproc` ranks of this program on this host (what torchrun --standalone does) and waits for them."""
    import signal
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc))
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), job_dir], env=env))

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    codes = [None] * nproc
    while any(c is None for c in codes):
        for i, p in enumerate(procs):
            if codes[i] is None and p.poll() is not None:
                codes[i] = p.returncode
                if p.returncode != 0:
                    stop()  # one rank failed: the others would wait for it forever
        time.sleep(0.05)
    return codes[0] if codes[0] != 0 else max(codes, key=abs)


def main(argv):
    if len(argv) == 4 and argv[1] == "--nproc":
        return launch(int(argv[2]), argv[3])
    if len(argv) != 2:
        sys.stderr.write("usage: run.py <jobDir> | run.py probe\n")
        return 64
    if argv[1] == "probe":
        probe()
        return 0
    return run(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
