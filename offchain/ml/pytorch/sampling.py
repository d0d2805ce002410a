"""The builtin runtime's random streams and sampling rules, reproduced bit for bit where the arithmetic allows.

- `Rng` is offchain/ml/rng.ts (xoshiro128** seeded from sha256): it orders the training windows.
- `Sampler` is what transformers.js does in `model.generate` with the builtin's TopKTopP processor
  (offchain/ml/serve.ts): temperature in float32, top-k (ties: lower index first), top-p over the kept tokens,
  then the multinomial sampler: float32 softmax of the sorted candidates and one draw from Python's
  Mersenne Twister (`random.Random`), which transformers.js reproduces exactly. Given the same logits the
  same token comes out; the logits themselves differ from onnxruntime's in the last bits.
"""

import hashlib
import math
import random

import numpy as np

_M32 = 0xFFFFFFFF


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & _M32


class Rng:
    """xoshiro128**, seeded from sha256("posthuman-rng:<seed>:<label>") as rng.ts does."""

    def __init__(self, seed, label=""):
        h = hashlib.sha256(f"posthuman-rng:{seed}:{label}".encode("utf-8")).digest()
        s = [int.from_bytes(h[i : i + 4], "little") for i in (0, 4, 8, 12)]
        if s[0] | s[1] | s[2] | s[3] == 0:
            s[0] = 1
        self.s = s

    def next_u32(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & _M32, 7) * 9) & _M32
        t = (s1 << 9) & _M32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def next(self):
        hi = self.next_u32() >> 5
        lo = self.next_u32() >> 6
        return (hi * 67108864 + lo) / 9007199254740992

    def int(self, n):
        return math.floor(self.next() * n)

    def shuffle(self, arr):
        for i in range(len(arr) - 1, 0, -1):
            j = self.int(i + 1)
            arr[i], arr[j] = arr[j], arr[i]
        return arr


def _order_desc(row):
    """Indices by value, largest first, ties by lower index (the builtin's and onnxruntime's TopK order)."""
    return np.argsort(-row, kind="stable")


class Sampler:
    """One prompt's sampler: `seed` as transformers.js's `random.seed(seed)`; `pick(logits)` gives a token id."""

    def __init__(self, seed, temperature, top_k, top_p):
        self.rng = random.Random(seed)
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p

    def pick(self, logits):
        row = np.asarray(logits, dtype=np.float32)
        vocab = row.shape[0]
        if self.temperature != 1:
            row = (row.astype(np.float64) / self.temperature).astype(np.float32)
        if self.top_k > 0 or self.top_p < 1:
            row = self._top_k_top_p(row, vocab)
        k = min(self.top_k, vocab) if self.top_k > 0 else vocab
        order = _order_desc(row)[:k]
        values = row[order]
        # transformers.js softmax: exps rounded to float32, summed in float64 left to right, quotients in float32.
        exps = np.exp(values.astype(np.float64) - float(values[0])).astype(np.float32)
        total = float(np.cumsum(exps.astype(np.float64))[-1])
        probs = (exps.astype(np.float64) / total).astype(np.float32)
        # _weightedIndexWith: x = random() * Σp, then subtract the weights in order until x < 0.
        weight_sum = float(np.cumsum(probs.astype(np.float64))[-1])
        x = self.rng.random() * weight_sum
        walk = np.cumsum(np.concatenate(([x], -probs.astype(np.float64))))[1:]
        below = np.nonzero(walk < 0)[0]
        index = int(below[0]) if below.size > 0 else k - 1
        return int(order[index])

    def _top_k_top_p(self, row, vocab):
        """serve.ts TopKTopP: keep the k largest, then the smallest prefix whose probability reaches top_p."""
        k = min(self.top_k, vocab) if self.top_k > 0 else vocab
        order = _order_desc(row)[:k]
        keep = k
        if self.top_p < 1:
            kept = row[order].astype(np.float64)
            e = np.exp(kept - kept[0])
            z = float(np.cumsum(e)[-1])
            cum = np.cumsum(e / z)
            reach = np.nonzero(cum >= self.top_p)[0]
            keep = max(1, int(reach[0]) + 1 if reach.size > 0 else k)
        out = np.full(vocab, -np.inf, dtype=np.float32)
        out[order[:keep]] = row[order[:keep]]
        return out
