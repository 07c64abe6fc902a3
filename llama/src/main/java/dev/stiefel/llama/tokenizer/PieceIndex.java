package dev.stiefel.llama.tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * Token text → id, looked up by a region of a string without cutting it out: the merge loops ask "is text[a, b) a
 * token?" for every adjacent pair of symbols, and a substring per question would be most of their allocation.
 * Open addressing with linear probing over a power-of-two table; the hash is {@link String#hashCode()}'s, computed
 * over the region. Later duplicates of a text are ignored (the first id wins).
 */
final class PieceIndex {
    private final String[] keys;
    private final int[] ids;
    private final int mask;

    PieceIndex(List<String> tokens) {
        int capacity = Integer.highestOneBit(Math.max(4, tokens.size() * 2 + 1)) << 1;
        keys = new String[capacity];
        ids = new int[capacity];
        mask = capacity - 1;
        for (int id = 0; id < tokens.size(); id++) {
            String t = tokens.get(id);
            if (t == null) continue;
            int slot = t.hashCode() & mask;
            while (keys[slot] != null && !keys[slot].equals(t)) slot = (slot + 1) & mask;
            if (keys[slot] == null) {
                keys[slot] = t;
                ids[slot] = id;
            }
        }
    }

    /** The id of {@code text}, or -1. */
    int get(String text) { return get(text, 0, text.length()); }

    /** The id of the token spelled by {@code text[start, end)}, or -1. */
    int get(CharSequence text, int start, int end) {
        int h = 0;
        for (int i = start; i < end; i++) h = 31 * h + text.charAt(i);
        int length = end - start;
        for (int slot = h & mask; ; slot = (slot + 1) & mask) {
            String key = keys[slot];
            if (key == null) return -1;
            if (key.length() == length && key.hashCode() == h && regionEquals(key, text, start)) return ids[slot];
        }
    }

    private static boolean regionEquals(String key, CharSequence text, int start) {
        if (text instanceof String s) return s.regionMatches(start, key, 0, key.length());
        for (int i = 0; i < key.length(); i++) if (key.charAt(i) != text.charAt(start + i)) return false;
        return true;
    }

    @Override public String toString() { return "PieceIndex[" + Arrays.stream(keys).filter(k -> k != null).count() + " pieces]"; }
}
