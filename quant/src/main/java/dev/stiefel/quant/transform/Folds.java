package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Linear;

import dev.stiefel.tensor.linalg.DMatrix;

/** The f64 matrix operations transforms fold with; each returns a new matrix. */
final class Folds {
    private Folds() {}

    /** W·M: every row of W [out, in] times M (a reader of rotated activations). */
    static DMatrix timesRotation(DMatrix w, Rotation m, String name) {
        if (w.cols != m.size()) throw new IllegalArgumentException(name + ": " + w.shape() + " cannot be multiplied by a rotation of size " + m.size());
        DMatrix c = w.copy();
        m.multiplyRows(c.data, 0, c.rows);
        return c;
    }

    /** Mᵀ·W: the output side of W [out, in] rotated (a writer into a rotated stream): (Wᵀ·M)ᵀ. */
    static DMatrix rotationTransposedTimes(Rotation m, DMatrix w, String name) {
        if (w.rows != m.size()) throw new IllegalArgumentException(name + ": " + w.shape() + " cannot take a rotation of size " + m.size() + " on its rows");
        DMatrix t = w.transpose();
        m.multiplyRows(t.data, 0, t.rows);
        return t.transpose();
    }

    /** W with column j multiplied by s[j] (or divided, with divide). */
    static DMatrix scaleColumns(DMatrix w, double[] s, boolean divide, String name) {
        if (w.cols != s.length) throw new IllegalArgumentException(name + ": " + s.length + " column scales for " + w.shape());
        DMatrix c = w.copy();
        for (int r = 0; r < c.rows; r++)
            for (int j = 0; j < c.cols; j++) c.data[r * c.cols + j] = divide ? c.data[r * c.cols + j] / s[j] : c.data[r * c.cols + j] * s[j];
        return c;
    }

    /** W with row i multiplied by s[i] (or divided, with divide). */
    static DMatrix scaleRows(DMatrix w, double[] s, boolean divide, String name) {
        if (w.rows != s.length) throw new IllegalArgumentException(name + ": " + s.length + " row scales for " + w.shape());
        DMatrix c = w.copy();
        for (int r = 0; r < c.rows; r++)
            for (int j = 0; j < c.cols; j++) c.data[r * c.cols + j] = divide ? c.data[r * c.cols + j] / s[r] : c.data[r * c.cols + j] * s[r];
        return c;
    }

    /**
     * A linear layer's outputs scaled: W's row i and the bias's entry i multiplied by s[i] (or divided, with divide).
     * y = x·Wᵀ + b becomes y·diag(s), so the bias (Qwen2's q/k/v) is scaled with the rows; null when there is none.
     */
    static void scaleOutputs(DoubleWeights w, int layer, Linear which, double[] s, boolean divide) {
        w.setLinear(layer, which, scaleRows(w.linear(layer, which), s, divide, which.name()));
        double[] b = w.bias(layer, which);
        if (b != null) for (int i = 0; i < b.length; i++) b[i] = divide ? b[i] / s[i] : b[i] * s[i];
    }
}
