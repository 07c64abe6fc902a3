package dev.stiefel.llama.tokenizer;

import java.util.Arrays;

/**
 * The work queue of both merge loops: candidate merges of two adjacent symbols, best first. "Best" is the highest
 * priority (a SentencePiece score, or minus a BPE merge rank), and among equal priorities the leftmost pair, which is
 * the order SentencePiece's and llama.cpp's queues use. A candidate also records the merged length so the loop can
 * recognise one made stale by an earlier merge of either symbol. A binary max-heap over parallel primitive arrays,
 * reused across calls, so encoding allocates nothing per candidate.
 */
final class PairHeap {
    private double[] priority = new double[64];
    private int[] left = new int[64], right = new int[64], length = new int[64];
    private int size;

    boolean isEmpty() { return size == 0; }

    void clear() { size = 0; }

    void push(double p, int l, int r, int len) {
        if (size == priority.length) grow();
        int i = size++;
        // sift up: move parents that rank below the new candidate down one level
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!before(p, l, priority[parent], left[parent])) break;
            move(parent, i);
            i = parent;
        }
        set(i, p, l, r, len);
    }

    // The best candidate's fields, valid until the next pop.
    int topLeft, topRight, topLength;

    /** Removes the best candidate into {@link #topLeft}, {@link #topRight}, {@link #topLength}. */
    void pop() {
        topLeft = left[0];
        topRight = right[0];
        topLength = length[0];
        size--;
        if (size == 0) return;
        double p = priority[size];
        int l = left[size], r = right[size], len = length[size];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) break;
            if (child + 1 < size && before(priority[child + 1], left[child + 1], priority[child], left[child])) child++;
            if (!before(priority[child], left[child], p, l)) break;
            move(child, i);
            i = child;
        }
        set(i, p, l, r, len);
    }

    private static boolean before(double p1, int l1, double p2, int l2) {
        return p1 > p2 || (p1 == p2 && l1 < l2);
    }

    private void move(int from, int to) {
        set(to, priority[from], left[from], right[from], length[from]);
    }

    private void set(int i, double p, int l, int r, int len) {
        priority[i] = p;
        left[i] = l;
        right[i] = r;
        length[i] = len;
    }

    private void grow() {
        int n = priority.length * 2;
        priority = Arrays.copyOf(priority, n);
        left = Arrays.copyOf(left, n);
        right = Arrays.copyOf(right, n);
        length = Arrays.copyOf(length, n);
    }
}
