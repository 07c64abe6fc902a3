package dev.stiefel.tensor.cpu;

/** Quickselect (Hoare, 1961) on longs: the partial ordering top-k needs before sorting only k keys. */
final class Select {
    private Select() {}

    /** Reorders keys[0..n) so that its k smallest keys come first, in any order. Expected O(n). */
    static void smallestFirst(long[] keys, int n, int k) {
        int lo = 0, hi = n - 1;
        while (lo < hi) {
            long pivot = median(keys[lo], keys[(lo + hi) >>> 1], keys[hi]);
            int i = lo, j = hi;
            while (i <= j) {
                while (keys[i] < pivot) i++;
                while (keys[j] > pivot) j--;
                if (i <= j) { long t = keys[i]; keys[i] = keys[j]; keys[j] = t; i++; j--; }
            }
            // now keys[lo..j] <= pivot <= keys[i..hi]; keep narrowing the side that holds position k-1
            if (k - 1 <= j) hi = j;
            else if (k - 1 >= i) lo = i;
            else return;
        }
    }

    private static long median(long a, long b, long c) {
        return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    }
}
