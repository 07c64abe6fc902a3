package dev.stiefel.quant.flat;

import dev.stiefel.autograd.Var;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.quant.transform.Site;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

/**
 * One layer's learned Kronecker transform x ↦ x·(A ⊗ B) at one site, run online after folding (the inverse lives in
 * the weights, or, for Q, is this transform); other layers pass through. A null factor is the identity. The factors
 * are kept in f64 (exact for the f64 reference, e.g. Q's P_k⁻ᵀ) and rounded once to f32 for the forward pass.
 */
public final class KroneckerOnline implements Online {
    private final Site site;
    private final int layer, rowSize;
    private final DMatrix left, right;
    private final Tensor left32, right32;

    public KroneckerOnline(Site site, int layer, DMatrix left, DMatrix right, int rowSize) {
        if (left == null && right == null) throw new IllegalArgumentException("kronecker online: no factor at " + site);
        int n1 = left == null ? 1 : left.rows, n2 = right == null ? 1 : right.rows;
        if (rowSize % (n1 * n2) != 0 || (left != null && right != null && n1 * n2 != rowSize))
            throw new IllegalArgumentException("kronecker online: factors " + n1 + "×" + n2 + " for rows of " + rowSize + " at " + site);
        this.site = site;
        this.layer = layer;
        this.rowSize = rowSize;
        this.left = left;
        this.right = right;
        this.left32 = left == null ? null : DoubleWeights.tensor(left);
        this.right32 = right == null ? null : DoubleWeights.tensor(right);
    }

    @Override public Site site() { return site; }

    public int layer() { return layer; }

    /** The left factor A (null: the identity). */
    public DMatrix left() { return left; }

    /** The right factor B (null: the identity). */
    public DMatrix right() { return right; }

    @Override public int rowSize() { return rowSize; }

    @Override public Var apply(int l, Var x) {
        return l != layer ? x : Kronecker.apply(x, left32 == null ? null : Var.of(left32), right32 == null ? null : Var.of(right32));
    }

    @Override public void apply(int l, double[] row, int offset) {
        if (l == layer) Kronecker.apply(left, right, row, offset, rowSize);
    }

    @Override public String describe() {
        return "layer " + layer + " " + site + ": x·(" + (left == null ? "I" : left.rows + "×" + left.rows) + " ⊗ "
                + (right == null ? "I" : right.rows + "×" + right.rows) + ")";
    }

    static DMatrix transposeInverse(Tensor p) { return MatrixInverse.inverse(p).transpose(); }
}
