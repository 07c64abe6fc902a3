package dev.stiefel.llama.tokenizer;

import java.util.Arrays;

/** A growable int array: the ids an encoder produces. */
final class IntList {
    private int[] a;
    private int size;

    IntList(int capacity) { a = new int[Math.max(4, capacity)]; }

    void add(int v) {
        if (size == a.length) a = Arrays.copyOf(a, a.length * 2);
        a[size++] = v;
    }

    void addAll(int[] values) {
        for (int v : values) add(v);
    }

    int size() { return size; }

    int last() { return a[size - 1]; }

    int[] toArray() { return Arrays.copyOf(a, size); }
}
