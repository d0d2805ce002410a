/**
 * Byte-pair merging, the bpe() of GPT-2's encoder.py, over integer symbols (a tokenizer's token ids) in O(n log n)
 * time and a few typed arrays of memory: no string is built per pair or per symbol.
 */

/** How much work one merge did (tests bound it by the word's length). */
export interface BpeWork {
  pushes: number;
  pops: number;
  merges: number;
}

/** A merge table over integer symbols. */
export interface PairMerges {
  /** The rank of merging symbol a with symbol b (the lowest merges first), or -1 where they do not merge. */
  rank(a: number, b: number): number;
  /** The symbol the merge of a and b makes (asked only of pairs with a rank). */
  merged(a: number, b: number): number;
}

/** A merge table in flat typed arrays, by open addressing on the pair: a lookup hashes two integers. */
export class PairTable implements PairMerges {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly ranks: Int32Array;
  private readonly made: Int32Array;
  private readonly mask: number;

  /** Room for `capacity` merges (a table at most half full). */
  constructor(capacity: number) {
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.mask = size - 1;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.ranks = new Int32Array(size);
    this.made = new Int32Array(size);
  }

  /** Sets the merge of a and b (symbols ≥ 0); a pair set twice keeps the later rank, as a Map would. */
  set(a: number, b: number, rank: number, made: number): void {
    const i = this.slot(a, b);
    this.left[i] = a;
    this.right[i] = b;
    this.ranks[i] = rank;
    this.made[i] = made;
  }

  rank(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.left[i] === -1 ? -1 : this.ranks[i];
  }

  merged(a: number, b: number): number {
    return this.made[this.slot(a, b)];
  }

  private slot(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    let i = h & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== a || this.right[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }
}

/**
 * The bpe() of GPT-2's encoder.py, symbol for symbol, in O(n log n) for a word of n symbols (`symbols`, which it
 * overwrites); returns the merged symbols in order.
 *
 * The reference works in rounds: find the lowest rank r of any adjacent pair (A, B), then merge every
 * non-overlapping occurrence of A B in one left-to-right pass ("aaa" with a a gives aa a), and repeat.
 * Rescanning the word each round makes a long word quadratic. Here the word is a linked list of symbols,
 * and a min-heap keyed by (rank, left position) holds an entry for every adjacent pair that has a rank
 * (the invariant between rounds), plus stale entries, for pairs a merge has since changed, dropped when
 * popped. A round takes the heap's lowest rank r and pops every entry of rank r, merging the valid ones
 * in position order. That is the reference's round:
 *  - by the invariant, no current pair ranks below r, and one ranks r iff a valid entry does;
 *  - a rank names one pair (A, B), and a merge makes AB, longer than A and B, so the pairs a merge
 *    creates, (X, AB) and (AB, Y), never rank r: the round merges occurrences of the word it started on;
 *  - in position order, an occurrence is still valid iff the one just before it was not merged (which
 *    took its A): the reference's greedy left-to-right pass, overlapping runs where A = B included;
 *  - the pairs a round changes are pushed only when it ends, so one ranking below r (possible in a
 *    tokenizer.json whose merges are not in training order) waits for the next round, as in the reference.
 * A word of n symbols has n - 1 pairs and at most n - 1 merges, each changing two pairs: at most 3n
 * pushes, and as many pops. Memory: 12 bytes a symbol and 12 a heap entry.
 */
export function mergeSymbols(symbols: Int32Array, merges: PairMerges, work?: BpeWork): Int32Array {
  const word = new SymbolList(symbols);
  const n = word.length;
  const heap = new PairHeap(n);
  /** Pushes the pair whose left symbol starts at `left`, if it has a right neighbour and a rank. */
  const push = (left: number): void => {
    const right = word.next[left];
    if (right < 0 || right >= n) return;
    const rank = merges.rank(word.symbol[left], word.symbol[right]);
    if (rank >= 0) heap.push(rank, left, word.next[right]);
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  let count = 0;
  const changed: number[] = []; // left symbols of the pairs a round changes
  while (heap.size > 0) {
    const rank = heap.topRank();
    changed.length = 0;
    for (let left = popValid(heap, word, rank); left >= 0; left = popValid(heap, word, rank)) {
      word.merge(left, merges.merged(word.symbol[left], word.symbol[word.next[left]]));
      count++;
      // The pairs ending and starting at the merged symbol changed; the one ending there may be the pair
      // the round's previous merge started (abab: ab + ab), recorded already.
      const before = word.prev[left];
      if (before >= 0 && changed[changed.length - 1] !== before) changed.push(before);
      changed.push(left);
    }
    for (const left of changed) push(left); // only now, as they stand at the round's end: none has rank `rank`
  }
  if (work) Object.assign(work, { pushes: heap.pushes, pops: heap.pops, merges: count });
  return word.symbols();
}

/** Pops the entries of rank `rank` until one still describes a pair of the word: its left symbol, or -1. */
function popValid(heap: PairHeap, word: SymbolList, rank: number): number {
  while (heap.size > 0 && heap.topRank() === rank) {
    const { left, end } = heap.pop();
    const right = word.next[left]; // -1 if `left` was merged away, word.length if it is the last symbol
    if (right >= 0 && right < word.length && word.next[right] === end) return left;
  }
  return -1;
}

/**
 * bytePairMerge over strings: `token`'s characters are the symbols and `ranks` maps "A B" to the rank of merging
 * A with B (a tokenizer.json's merges, by index). The same merging as the tokenizer's, for tests and tools.
 */
export function bytePairMerge(token: string, ranks: ReadonlyMap<string, number>, work?: BpeWork): string[] {
  const names: string[] = [];
  const ids = new Map<string, number>();
  const intern = (s: string): number => {
    let id = ids.get(s);
    if (id === undefined) {
      id = names.length;
      names.push(s);
      ids.set(s, id);
    }
    return id;
  };
  const merges: PairMerges = {
    rank: (a, b) => ranks.get(names[a] + " " + names[b]) ?? -1,
    merged: (a, b) => intern(names[a] + names[b]),
  };
  const out = mergeSymbols(Int32Array.from(Array.from(token), intern), merges, work);
  return Array.from(out, (id) => names[id]);
}

/**
 * A word as a doubly linked list of symbols over its positions. A symbol is named by its first position and
 * spans up to the next symbol's start, so `next[i]` is where symbol i ends (`length` for the last one); a
 * merged-away symbol has next = prev = -1. A symbol only grows, by taking its right neighbour, so the end of
 * the pair starting at i, next[next[i]], grows each time that pair changes: (left, end) tells whether a heap
 * entry still describes the current pair.
 */
class SymbolList {
  readonly length: number;
  readonly symbol: Int32Array;
  readonly next: Int32Array;
  readonly prev: Int32Array;

  constructor(symbols: Int32Array) {
    this.length = symbols.length;
    this.symbol = symbols;
    this.next = new Int32Array(this.length);
    this.prev = new Int32Array(this.length);
    for (let i = 0; i < this.length; i++) {
      this.next[i] = i + 1;
      this.prev[i] = i - 1;
    }
  }

  /** Merges symbol `left` with the symbol after it into `made`. */
  merge(left: number, made: number): void {
    const right = this.next[left];
    const after = this.next[right];
    this.symbol[left] = made;
    this.next[left] = after;
    if (after < this.length) this.prev[after] = left;
    this.next[right] = this.prev[right] = -1;
  }

  symbols(): Int32Array {
    let count = 0;
    for (let i = 0; i < this.length; i = this.next[i]) count++;
    const out = new Int32Array(count);
    for (let i = 0, k = 0; i < this.length; i = this.next[i]) out[k++] = this.symbol[i];
    return out;
  }
}

/**
 * A binary min-heap of pair entries by (rank, left): the pair's rank, its left symbol's start and the pair's end,
 * held in the heap's own slots (three parallel arrays, no entry objects, no indirection: a sift compares neighbours
 * in memory). The arrays grow as needed.
 */
class PairHeap {
  pushes = 0;
  pops = 0;
  size = 0;
  private rank: Int32Array;
  private left: Int32Array;
  private end: Int32Array;
  private readonly popped = { left: 0, end: 0 };

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.rank = new Int32Array(c);
    this.left = new Int32Array(c);
    this.end = new Int32Array(c);
  }

  topRank(): number {
    return this.rank[0];
  }

  push(rank: number, left: number, end: number): void {
    this.pushes++;
    if (this.size === this.rank.length) this.grow();
    const { rank: r, left: l, end: e } = this;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (r[p] < rank || (r[p] === rank && l[p] < left)) break;
      r[i] = r[p];
      l[i] = l[p];
      e[i] = e[p];
      i = p;
    }
    r[i] = rank;
    l[i] = left;
    e[i] = end;
  }

  /** Removes the lowest entry (the heap must not be empty) and returns its pair. */
  pop(): { left: number; end: number } {
    const { rank: r, left: l, end: e } = this;
    this.popped.left = l[0];
    this.popped.end = e[0];
    this.pops++;
    const n = --this.size;
    const rank = r[n];
    const left = l[n];
    const end = e[n];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (r[c + 1] < r[c] || (r[c + 1] === r[c] && l[c + 1] < l[c]))) c++;
      if (rank < r[c] || (rank === r[c] && left < l[c])) break;
      r[i] = r[c];
      l[i] = l[c];
      e[i] = e[c];
      i = c;
    }
    r[i] = rank;
    l[i] = left;
    e[i] = end;
    return this.popped;
  }

  private grow(): void {
    const grow = (a: Int32Array): Int32Array => {
      const b = new Int32Array(Math.ceil(a.length * 1.5));
      b.set(a);
      return b;
    };
    this.rank = grow(this.rank);
    this.left = grow(this.left);
    this.end = grow(this.end);
  }
}
