package dev.stiefel.tensor;

import java.util.Random;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.fail;

/**
 * Naive f64 references for the tests. Values are read element by element through {@link Tensor#get}, which
 * uses only the view's offset and strides, never a kernel, so the reference is independent of what it checks.
 */
final class Ref {
    private Ref() {}

    /** The sizes every op is checked on. */
    static final int[] SIZES = {1, 7, 33, 257};

    static void forEachIndex(int[] shape, Consumer<int[]> body) {
        int n = (int) Shape.numel(shape);
        int[] idx = new int[shape.length];
        for (int e = 0; e < n; e++) {
            body.accept(idx);
            for (int d = shape.length - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
        }
    }

    /** Row-major f64 values of any view. */
    static double[] values(Tensor t) {
        double[] v = new double[t.numel()];
        int[] i = {0};
        forEachIndex(t.shape(), idx -> v[i[0]++] = t.get(idx));
        return v;
    }

    static int flat(int[] shape, int[] idx) {
        int f = 0;
        for (int d = 0; d < shape.length; d++) f = f * shape[d] + idx[d];
        return f;
    }

    /** Asserts |actual − expected| <= abs + rel·|expected| everywhere, reporting the worst element. */
    static void assertClose(Tensor actual, int[] expectedShape, double[] expected, double rel, double abs) {
        if (!java.util.Arrays.equals(actual.shape(), expectedShape))
            fail("shape " + Shape.str(actual.shape()) + ", expected " + Shape.str(expectedShape));
        double[] a = values(actual);
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < a.length; i++) {
            double e = expected[i];
            if (Double.isNaN(e) || Double.isNaN(a[i])) {
                if (Double.isNaN(e) != Double.isNaN(a[i])) fail("element " + i + ": " + a[i] + ", expected " + e);
                continue;
            }
            if (Double.isInfinite(e) || Double.isInfinite(a[i])) {
                if (a[i] != e) fail("element " + i + ": " + a[i] + ", expected " + e);
                continue;
            }
            double excess = Math.abs(a[i] - e) - (abs + rel * Math.abs(e));
            if (excess > worstExcess) { worstExcess = excess; worst = i; }
        }
        if (worst >= 0)
            fail("element " + worst + " of " + Shape.str(expectedShape) + ": " + a[worst] + ", expected " + expected[worst]
                    + " (|diff| " + Math.abs(a[worst] - expected[worst]) + " > " + (abs + rel * Math.abs(expected[worst])) + ")");
    }

    static void assertClose(Tensor actual, int[] expectedShape, double[] expected, double rel) {
        assertClose(actual, expectedShape, expected, rel, rel);
    }

    /**
     * The layouts every op is run on: a contiguous tensor, a transposed view and a strided slice, each
     * holding fresh random values of the requested shape.
     */
    static Tensor[] layouts(Random rnd, int[] shape, float lo, float hi) {
        Tensor plain = Tensor.uniform(rnd, lo, hi, shape);
        if (shape.length < 2) {
            Tensor wide = Tensor.uniform(rnd, lo, hi, shape.length == 0 ? new int[]{2} : new int[]{shape[0] * 2 + 1});
            Tensor strided = shape.length == 0 ? wide.select(0, 1) : wide.slice(0, 1, 1 + 2 * shape[0], 2);
            return new Tensor[]{plain, strided};
        }
        int nd = shape.length;
        int[] swapped = shape.clone();
        swapped[nd - 1] = shape[nd - 2];
        swapped[nd - 2] = shape[nd - 1];
        Tensor transposed = Tensor.uniform(rnd, lo, hi, swapped).transpose(nd - 2, nd - 1);
        int[] big = shape.clone();
        big[0] = shape[0] * 3;
        Tensor sliced = Tensor.uniform(rnd, lo, hi, big).slice(0, 2, 2 + 3 * (shape[0] - 1) + 1, 3);
        return new Tensor[]{plain, transposed, sliced};
    }
}
