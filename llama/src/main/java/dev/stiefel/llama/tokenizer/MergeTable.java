package dev.stiefel.llama.tokenizer;

/**
 * BPE merge rules by the ids of their two halves: (left, right) → rank (the line of the merge in the file; lower
 * merges first) and the id of the merged token. Open addressing over one long key per pair, so a lookup in the merge
 * loop allocates nothing.
 */
final class MergeTable {
    private final long[] keys;
    private final int[] ranks, results;
    private final int mask;
    private int size;

    MergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 + 1)) << 1;
        keys = new long[capacity];
        ranks = new int[capacity];
        results = new int[capacity];
        java.util.Arrays.fill(keys, -1L);
        mask = capacity - 1;
    }

    private static long key(int left, int right) { return (long) left << 32 | (right & 0xffffffffL); }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        int slot = (int) (h >>> 32) & mask;
        while (keys[slot] != -1L && keys[slot] != key) slot = (slot + 1) & mask;
        return slot;
    }

    /** Adds a rule unless the pair already has one (the first, lowest-ranked rule wins). */
    void put(int left, int right, int rank, int result) {
        int s = slot(key(left, right));
        if (keys[s] != -1L) return;
        if (size + 1 > keys.length / 2) throw new IllegalStateException("merge table full");
        keys[s] = key(left, right);
        ranks[s] = rank;
        results[s] = result;
        size++;
    }

    /** The slot of the rule for (left, right), or -1; read it with {@link #rank} and {@link #result}. */
    int find(int left, int right) {
        int s = slot(key(left, right));
        return keys[s] == -1L ? -1 : s;
    }

    int rank(int slot) { return ranks[slot]; }

    int result(int slot) { return results[slot]; }

    int size() { return size; }
}
