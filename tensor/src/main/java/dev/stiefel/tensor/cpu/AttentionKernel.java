package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.UnaryOp;

import java.util.Arrays;

/**
 * Multi-head attention forward and backward on the CPU (see {@link dev.stiefel.tensor.Attention} for the
 * equations and layouts). Each head's Q, K, V is a strided {@link StridedMatrix} view of the token-major
 * tensors, and the head's output (or gradient) is written by {@link Sgemm} straight into its columns of the
 * token-major result through the row stride ldc: there is no permute copy in or out. The score rows are
 * scaled, masked and normalised in place in the probability buffer, in three vector passes.
 *
 * <p>Threads: like {@link CpuBackend#matmul}, products below {@link Sgemm#PARALLEL_MIN} run one per thread,
 * split by head (forward) or by key/value head (backward, whose dK and dV sum over the query heads of a
 * group); larger ones run one at a time on every thread.
 */
final class AttentionKernel {
    private AttentionKernel() {}

    /** A tensor [..., T, heads, D] seen as batch-flattened heads: element (b, t, h, j). */
    private record Heads(float[] data, int[] batchOffsets, int tokens, int heads, int dim, int tokenStride, int headStride, int dimStride) {
        static Heads of(Tensor t) {
            int nd = t.dim();
            int[] s = t.shape(), st = t.strides();
            int batches = Shape.prod(s, 0, nd - 3);
            int[] offs = new int[batches], idx = new int[nd - 3];
            for (int b = 0; b < batches; b++) {
                int off = t.offset();
                for (int d = 0; d < nd - 3; d++) off += idx[d] * st[d];
                offs[b] = off;
                for (int d = nd - 4; d >= 0; d--) { if (++idx[d] < s[d]) break; idx[d] = 0; }
            }
            return new Heads(CpuBackend.data(t), offs, s[nd - 3], s[nd - 2], s[nd - 1], st[nd - 3], st[nd - 2], st[nd - 1]);
        }

        /** Head h of batch b as a [tokens, dim] matrix. */
        StridedMatrix head(int b, int h) {
            return StridedMatrix.of(data, batchOffsets[b] + (long) h * headStride, tokens, dim, tokenStride, dimStride);
        }
    }

    static Tensor[] forward(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        Heads qh = Heads.of(q), kh = Heads.of(k), vh = Heads.of(v);
        int nd = q.dim(), tq = qh.tokens, h = qh.heads, tk = kh.tokens, dv = vh.dim, group = h / kh.heads;
        int batches = qh.batchOffsets.length;
        int[] lead = Arrays.copyOf(q.shape(), nd - 3);
        Tensor out = Tensor.zeros(Shape.concat(lead, new int[]{tq, h, dv}));
        Tensor probs = Tensor.zeros(Shape.concat(lead, new int[]{h, tq, tk}));
        if (out.numel() == 0 || probs.numel() == 0) return new Tensor[]{out, probs};
        float[] od = CpuBackend.data(out), pd = CpuBackend.data(probs);
        float[] md = mask == null ? null : CpuBackend.data(mask);
        int mo = mask == null ? 0 : mask.offset();
        boolean perThread = (long) tq * tk * Math.max(qh.dim, dv) < Sgemm.PARALLEL_MIN;
        int inner = perThread ? 1 : Parallel.threads();
        Parallel.forRange(batches * h, perThread ? Parallel.threads() : 1, 1, (from, to) -> {
            for (int task = from; task < to; task++) {
                int b = task / h, hh = task % h, g = hh / group, po = task * tq * tk;
                StridedMatrix p = StridedMatrix.of(pd, po, tq, tk, tk, 1);
                Sgemm.gemm(qh.head(b, hh), kh.head(b, g).transpose(), pd, po, tk, false, inner);   // S = Q_h·K_gᵀ
                Parallel.forRange(tq, inner, Math.max(1, (1 << 13) / tk), (r0, r1) -> {
                    for (int i = r0; i < r1; i++) {                                                // P = softmax(scale·S + mask)
                        int row = po + i * tk;
                        float m = VectorKernels.scaleAddMax(pd, row, scale, md, mo + i * tk, tk);
                        double sum = VectorKernels.expShiftedSum(pd, row, m, pd, row, tk);
                        ElementwiseKernels.unary(UnaryOp.DIV_SCALAR, pd, row, pd, row, tk, (float) sum, 0);
                    }
                });
                Sgemm.gemm(p, vh.head(b, g), od, (b * tq * h + hh) * dv, h * dv, false, inner);     // O_h = P·V_g
            }
        });
        return new Tensor[]{out, probs};
    }

    static Tensor[] backward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor gradOut, float scale) {
        Heads qh = Heads.of(q), kh = Heads.of(k), vh = Heads.of(v), goh = Heads.of(gradOut);
        int tq = qh.tokens, h = qh.heads, d = qh.dim, tk = kh.tokens, kvHeads = kh.heads, dv = vh.dim, group = h / kvHeads;
        int batches = qh.batchOffsets.length;
        Tensor dq = Tensor.zeros(q.shape()), dk = Tensor.zeros(k.shape()), dvT = Tensor.zeros(v.shape());
        if (dq.numel() == 0 || dk.numel() == 0 || tq * tk == 0) return new Tensor[]{dq, dk, dvT};
        float[] dqd = CpuBackend.data(dq), dkd = CpuBackend.data(dk), dvd = CpuBackend.data(dvT), pd = CpuBackend.data(probs);
        int pBase = probs.offset();
        boolean perThread = (long) tq * tk * Math.max(d, dv) < Sgemm.PARALLEL_MIN;
        int inner = perThread ? 1 : Parallel.threads();
        Parallel.forRange(batches * kvHeads, perThread ? Parallel.threads() : 1, 1, (from, to) -> {
            float[] ds = new float[tq * tk]; // dP, then dS, of one head
            StridedMatrix dsm = StridedMatrix.of(ds, 0, tq, tk, tk, 1);
            for (int task = from; task < to; task++) {
                int b = task / kvHeads, g = task % kvHeads;
                StridedMatrix kg = kh.head(b, g), vg = vh.head(b, g);
                int dkOff = (b * tk * kvHeads + g) * d, dvOff = (b * tk * kvHeads + g) * dv;
                for (int hh = g * group; hh < (g + 1) * group; hh++) {
                    int po = pBase + (b * h + hh) * tq * tk;
                    StridedMatrix p = StridedMatrix.of(pd, po, tq, tk, tk, 1), dO = goh.head(b, hh), qm = qh.head(b, hh);
                    boolean first = hh == g * group;
                    Sgemm.gemm(dO, vg.transpose(), ds, 0, tk, false, inner);                       // dP = dO·V_gᵀ
                    Parallel.forRange(tq, inner, Math.max(1, (1 << 13) / tk), (r0, r1) -> {         // dS = scale·P⊙(dP − Σ dP⊙P)
                        for (int i = r0; i < r1; i++) VectorKernels.softmaxBackwardRow(pd, po + i * tk, ds, i * tk, ds, i * tk, tk, scale);
                    });
                    Sgemm.gemm(dsm, kg, dqd, (b * tq * h + hh) * d, h * d, false, inner);            // dQ_h = dS·K_g
                    Sgemm.gemm(dsm.transpose(), qm, dkd, dkOff, kvHeads * d, !first, inner);         // dK_g += dSᵀ·Q_h
                    Sgemm.gemm(p.transpose(), dO, dvd, dvOff, kvHeads * dv, !first, inner);          // dV_g += Pᵀ·dO_h
                }
            }
        });
        return new Tensor[]{dq, dk, dvT};
    }
}
