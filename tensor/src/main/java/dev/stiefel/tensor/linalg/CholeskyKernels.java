package dev.stiefel.tensor.linalg;

import dev.stiefel.tensor.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The O(n³) work of the Cholesky family in f64 (factorization, triangular inverse, Gram product W·Wᵀ), as blocked,
 * register-tiled Vector API kernels that keep the order of every sum.
 *
 * <p>Every entry these kernels compute is a textbook recurrence: it starts from its input value (or +0) and loses one
 * product at a time, k = 0, 1, 2, ..., each product rounded and then subtracted (no fused multiply-add, no partial
 * sums), and is finally divided by a pivot. The blocking only decides <em>when</em> an entry receives its next
 * products, never which ones or in what order, so every result is bitwise the one of the plain scalar loops (the
 * tests keep those loops as references). Where a register tile covers a few entries whose sums start later than the
 * tile's (the triangles of a diagonal tile), the extra products are exact zeros: subtracting ±0 from a value that is
 * not -0 leaves it unchanged, and none of these sums can be -0, since they start from +0 or a nonzero value and
 * x − y rounds to -0 only when x is -0.
 *
 * <p>The register tile is {@link #MR} rows by {@link #NR} columns (four vectors): 24 accumulators, four B vectors and
 * a broadcast A value, which fit the 32 AVX-512 registers; on narrower machines the same code is correct, with spills.
 * One broadcast per four multiplies: in isolation this tile ran at 45.6 f64 GFLOP/s on one Zen 4 core against 39.7 for
 * 8 rows × 2 vectors (one broadcast per two), the same products in the same order.
 * Without FMA each step costs a multiply and a subtract per accumulator: on cores with separate multiply and add pipes
 * (Zen 4/5) that is the fma rate.
 */
final class CholeskyKernels {
    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Rows of the register tile (the micro-kernel is written for exactly 6). */
    static final int MR = 6;
    /** Columns of the register tile: four vectors. */
    static final int NR = 4 * L;
    /**
     * Rows per block of the factorization: each block's rows are solved right of its square with n·BLOCK²/2
     * vector-streamed multiply-adds, and the rest of its panel loses the block's products.
     */
    static final int BLOCK = 96;
    /**
     * Rows per panel of the factorization, the depth of the trailing update: the trailing matrix (for n = 5632 far
     * larger than L3) is read and written once per panel, 15 times rather than the 59 times blocks of 96 would take.
     */
    static final int PANEL = 4 * BLOCK;
    /**
     * Depth of one k slice of the Gram product: C is read and written once per slice, and the two packed operands of a
     * slice (KC × n doubles each) stay in L3.
     */
    static final int KC = 512;
    /**
     * Columns a row-by-row solve keeps in registers: three vectors, so that a row's three independent subtraction chains
     * cover the add latency (with two, each step would wait on it), while a chunk of the inverse, which every row sweeps
     * from its diagonal down, stays in a 1 MiB L2 up to about 5400 rows (four vectors would spill to L3 from 4096).
     */
    static final int ROW_CHUNK = 3 * L;

    private CholeskyKernels() {}

    // ------------------------------------------------------------------------------------------- micro-kernel

    /**
     * C[{@link #MR} × {@link #NR} tile at cIdx, rows ldc apart] −= A·B over steps [p0, p1): step p of the A panel holds
     * MR values (row r at aOff + p·MR + r), of the B panel NR values (from bOff + p·NR). Every c_rj loses a_rp·b_pj for
     * p = p0, p0+1, ... in turn, multiply then subtract. The 24 accumulators are plain locals so C2 keeps them in
     * registers.
     */
    static void subtractTile(int p0, int p1, double[] ap, int aOff, double[] bp, int bOff, double[] c, int cIdx, int ldc) {
        final int i1 = cIdx + ldc, i2 = i1 + ldc, i3 = i2 + ldc, i4 = i3 + ldc, i5 = i4 + ldc;
        DoubleVector c00 = DoubleVector.fromArray(S, c, cIdx), c01 = DoubleVector.fromArray(S, c, cIdx + L), c02 = DoubleVector.fromArray(S, c, cIdx + 2 * L), c03 = DoubleVector.fromArray(S, c, cIdx + 3 * L);
        DoubleVector c10 = DoubleVector.fromArray(S, c, i1), c11 = DoubleVector.fromArray(S, c, i1 + L), c12 = DoubleVector.fromArray(S, c, i1 + 2 * L), c13 = DoubleVector.fromArray(S, c, i1 + 3 * L);
        DoubleVector c20 = DoubleVector.fromArray(S, c, i2), c21 = DoubleVector.fromArray(S, c, i2 + L), c22 = DoubleVector.fromArray(S, c, i2 + 2 * L), c23 = DoubleVector.fromArray(S, c, i2 + 3 * L);
        DoubleVector c30 = DoubleVector.fromArray(S, c, i3), c31 = DoubleVector.fromArray(S, c, i3 + L), c32 = DoubleVector.fromArray(S, c, i3 + 2 * L), c33 = DoubleVector.fromArray(S, c, i3 + 3 * L);
        DoubleVector c40 = DoubleVector.fromArray(S, c, i4), c41 = DoubleVector.fromArray(S, c, i4 + L), c42 = DoubleVector.fromArray(S, c, i4 + 2 * L), c43 = DoubleVector.fromArray(S, c, i4 + 3 * L);
        DoubleVector c50 = DoubleVector.fromArray(S, c, i5), c51 = DoubleVector.fromArray(S, c, i5 + L), c52 = DoubleVector.fromArray(S, c, i5 + 2 * L), c53 = DoubleVector.fromArray(S, c, i5 + 3 * L);
        for (int p = p0; p < p1; p++) {
            int ai = aOff + p * MR, bi = bOff + p * NR;
            DoubleVector b0 = DoubleVector.fromArray(S, bp, bi), b1 = DoubleVector.fromArray(S, bp, bi + L),
                    b2 = DoubleVector.fromArray(S, bp, bi + 2 * L), b3 = DoubleVector.fromArray(S, bp, bi + 3 * L), a;
            a = DoubleVector.broadcast(S, ap[ai]);     c00 = c00.sub(a.mul(b0)); c01 = c01.sub(a.mul(b1)); c02 = c02.sub(a.mul(b2)); c03 = c03.sub(a.mul(b3));
            a = DoubleVector.broadcast(S, ap[ai + 1]); c10 = c10.sub(a.mul(b0)); c11 = c11.sub(a.mul(b1)); c12 = c12.sub(a.mul(b2)); c13 = c13.sub(a.mul(b3));
            a = DoubleVector.broadcast(S, ap[ai + 2]); c20 = c20.sub(a.mul(b0)); c21 = c21.sub(a.mul(b1)); c22 = c22.sub(a.mul(b2)); c23 = c23.sub(a.mul(b3));
            a = DoubleVector.broadcast(S, ap[ai + 3]); c30 = c30.sub(a.mul(b0)); c31 = c31.sub(a.mul(b1)); c32 = c32.sub(a.mul(b2)); c33 = c33.sub(a.mul(b3));
            a = DoubleVector.broadcast(S, ap[ai + 4]); c40 = c40.sub(a.mul(b0)); c41 = c41.sub(a.mul(b1)); c42 = c42.sub(a.mul(b2)); c43 = c43.sub(a.mul(b3));
            a = DoubleVector.broadcast(S, ap[ai + 5]); c50 = c50.sub(a.mul(b0)); c51 = c51.sub(a.mul(b1)); c52 = c52.sub(a.mul(b2)); c53 = c53.sub(a.mul(b3));
        }
        c00.intoArray(c, cIdx); c01.intoArray(c, cIdx + L); c02.intoArray(c, cIdx + 2 * L); c03.intoArray(c, cIdx + 3 * L);
        c10.intoArray(c, i1);   c11.intoArray(c, i1 + L); c12.intoArray(c, i1 + 2 * L); c13.intoArray(c, i1 + 3 * L);
        c20.intoArray(c, i2);   c21.intoArray(c, i2 + L); c22.intoArray(c, i2 + 2 * L); c23.intoArray(c, i2 + 3 * L);
        c30.intoArray(c, i3);   c31.intoArray(c, i3 + L); c32.intoArray(c, i3 + 2 * L); c33.intoArray(c, i3 + 3 * L);
        c40.intoArray(c, i4);   c41.intoArray(c, i4 + L); c42.intoArray(c, i4 + 2 * L); c43.intoArray(c, i4 + 3 * L);
        c50.intoArray(c, i5);   c51.intoArray(c, i5 + L); c52.intoArray(c, i5 + 2 * L); c53.intoArray(c, i5 + 3 * L);
    }

    /**
     * {@link #subtractTile} on the mr × nr corner of a tile that may stand out of C: the valid entries go through a
     * scratch tile (the same operations on the same values), the rest of the scratch tile is discarded.
     */
    private static void subtractTile(int p0, int p1, double[] ap, int aOff, double[] bp, int bOff, double[] c, int cIdx, int ldc,
                                     int mr, int nr, double[] scratch) {
        if (mr == MR && nr == NR) {
            subtractTile(p0, p1, ap, aOff, bp, bOff, c, cIdx, ldc);
            return;
        }
        Arrays.fill(scratch, 0.0);
        for (int r = 0; r < mr; r++) System.arraycopy(c, cIdx + r * ldc, scratch, r * NR, nr);
        subtractTile(p0, p1, ap, aOff, bp, bOff, scratch, 0, NR);
        for (int r = 0; r < mr; r++) System.arraycopy(scratch, r * NR, c, cIdx + r * ldc, nr);
    }

    /**
     * Packs a steps × cols operand into strips of {@code width} columns, step-major: column q of strip s at step p goes
     * to dst[(s·steps + p)·width + q] as sign·x[off + p·stepStride + (s·width + q)·colStride]; columns past cols are
     * zero. A B panel is packed with width NR, an A panel (whose rows are the "columns" here) with width MR.
     */
    private static void packStrips(double[] x, int off, int stepStride, int colStride, int steps, int cols, int width,
                                   double sign, double[] dst) {
        for (int s = 0, strips = (cols + width - 1) / width; s < strips; s++) {
            int base = s * steps * width, c0 = s * width, w = Math.min(width, cols - c0);
            for (int p = 0; p < steps; p++) {
                int d = base + p * width, src = off + p * stepStride + c0 * colStride;
                for (int q = 0; q < w; q++) dst[d + q] = sign * x[src + q * colStride];
                for (int q = w; q < width; q++) dst[d + q] = 0;
            }
        }
    }

    private static int roundUp(int x, int r) { return (x + r - 1) / r * r; }

    // --------------------------------------------------------------------------------------- factorization

    /**
     * Factors the symmetric positive definite n × n matrix held in u (row-major, upper triangle read) in place into the
     * upper U with A = UᵀU; the part below the diagonal is zeroed. Right-looking by panels of {@link #PANEL} rows, each
     * factored by blocks of {@link #BLOCK} rows: with
     * U's rows u_k, A = Σ_k u_kᵀ u_k, so u_ij = (a_ij − Σ_{k<i} u_ki·u_kj) / u_ii, the products subtracted in increasing
     * k. Each block factors its diagonal square, solves its rows to the right of it, then the trailing matrix loses the
     * block's products in one register-tiled pass.
     *
     * @throws IllegalArgumentException naming {@code op} and the pivot, when a pivot is not positive
     */
    static void factorUpper(String op, double[] u, int n) {
        int depth = Math.min(n, PANEL), width = roundUp(Math.max(n - Math.min(n, BLOCK), 0), Math.max(NR, MR));
        double[] aPack = new double[depth * width], bPack = new double[depth * width];
        for (int p0 = 0; p0 < n; p0 += PANEL) {
            int p1 = Math.min(n, p0 + PANEL);
            for (int b0 = p0; b0 < p1; b0 += BLOCK) {
                int b1 = Math.min(p1, b0 + BLOCK);
                factorDiagonalBlock(op, u, n, b0, b1);
                solveBlockRows(u, n, b0, b1);
                if (b1 < p1) subtractBlockProducts(u, n, b0, b1, p1, aPack, bPack);   // the panel's later rows
            }
            if (p1 < n) subtractBlockProducts(u, n, p0, p1, n, aPack, bPack);        // the trailing matrix
        }
        for (int i = 1; i < n; i++) Arrays.fill(u, i * n, i * n + i, 0.0);
    }

    /** The square [b0, b1)² of the block, unblocked: row k is scaled by its pivot's root, then the later rows lose it. */
    private static void factorDiagonalBlock(String op, double[] u, int n, int b0, int b1) {
        for (int k = b0; k < b1; k++) {
            int rk = k * n;
            double pivot = u[rk + k];
            if (!(pivot > 0))
                throw new IllegalArgumentException(op + ": " + n + "x" + n + " matrix is not positive definite"
                        + " (pivot " + k + " is " + pivot + ")");
            double r = Math.sqrt(pivot);
            u[rk + k] = r;
            for (int j = k + 1; j < b1; j++) u[rk + j] /= r;
            for (int i = k + 1; i < b1; i++) {
                double f = u[rk + i];
                int ri = i * n;
                for (int j = i; j < b1; j++) u[ri + j] -= f * u[rk + j];
            }
        }
    }

    /**
     * The block's rows right of its square: u_ij = (u_ij − Σ_{k=b0}^{i−1} u_ki·u_kj) / u_ii for j ≥ b1, row after row
     * (row i needs the finished rows above it), {@link #ROW_CHUNK} columns at a time in registers; chunks in parallel.
     */
    private static void solveBlockRows(double[] u, int n, int b0, int b1) {
        int cols = n - b1, chunks = (cols + ROW_CHUNK - 1) / ROW_CHUNK, bs = b1 - b0;
        Parallel.forRange(chunks, Linalg.grain((long) ROW_CHUNK * bs * bs / 2), (ch0, ch1) -> {
            for (int ch = ch0; ch < ch1; ch++) {
                int j = b1 + ch * ROW_CHUNK;
                for (int i = b0; i < b1; i++) {
                    if (j + ROW_CHUNK <= n) solveRowChunk(u, n, b0, i, j);
                    else for (int jj = j; jj < n; jj++) {
                        double x = u[i * n + jj];
                        for (int k = b0; k < i; k++) x -= u[k * n + i] * u[k * n + jj];
                        u[i * n + jj] = x / u[i * n + i];
                    }
                }
            }
        });
    }

    /**
     * u_ij for the {@link #ROW_CHUNK} columns j.. of row i: (u_ij − Σ_{k=b0}^{i−1} u_ki·u_kj) / u_ii in three registers.
     * (The vector loops live in small methods called many times, which C2 compiles whole and early, rather than in long
     * loops that would wait for an on-stack replacement.)
     */
    private static void solveRowChunk(double[] u, int n, int b0, int i, int j) {
        final int ri = i * n;
        DoubleVector x0 = DoubleVector.fromArray(S, u, ri + j), x1 = DoubleVector.fromArray(S, u, ri + j + L);
        DoubleVector x2 = DoubleVector.fromArray(S, u, ri + j + 2 * L);
        for (int k = b0; k < i; k++) {
            DoubleVector a = DoubleVector.broadcast(S, u[k * n + i]);
            int rk = k * n + j;
            x0 = x0.sub(a.mul(DoubleVector.fromArray(S, u, rk)));
            x1 = x1.sub(a.mul(DoubleVector.fromArray(S, u, rk + L)));
            x2 = x2.sub(a.mul(DoubleVector.fromArray(S, u, rk + 2 * L)));
        }
        DoubleVector d = DoubleVector.broadcast(S, u[ri + i]);
        x0.div(d).intoArray(u, ri + j);
        x1.div(d).intoArray(u, ri + j + L);
        x2.div(d).intoArray(u, ri + j + 2 * L);
    }

    /**
     * Rows [b1, rowEnd) (their upper part, columns ≥ b1, in whole tiles) lose the products of rows [b0, b1):
     * u_ij −= Σ_{k=b0}^{b1−1} u_ki·u_kj. Both operands are rows [b0, b1) right of b1, packed once as A tiles and B
     * strips; row tiles are split across threads by equal work (a tile's row reaches from the diagonal to n).
     */
    private static void subtractBlockProducts(double[] u, int n, int b0, int b1, int rowEnd, double[] aPack, double[] bPack) {
        final int m = rowEnd - b1, cols = n - b1, kc = b1 - b0, tiles = (m + MR - 1) / MR;
        packStrips(u, b0 * n + b1, n, 1, kc, cols, NR, 1.0, bPack);
        packStrips(u, b0 * n + b1, n, 1, kc, m, MR, 1.0, aPack);
        Linalg.forEqualWork(tiles, t -> (double) (cols - t * MR) * kc * MR, (t0, t1) -> {
            double[] scratch = new double[MR * NR];
            for (int t = t0; t < t1; t++) {
                int i0 = t * MR, mr = Math.min(MR, m - i0);
                for (int s = i0 / NR; s * NR < cols; s++) {
                    int j0 = s * NR;
                    subtractTile(0, kc, aPack, t * kc * MR, bPack, s * kc * NR, u, (b1 + i0) * n + b1 + j0, n,
                            mr, Math.min(NR, cols - j0), scratch);
                }
            }
        });
    }

    // ------------------------------------------------------------------------------------ triangular inverse

    /**
     * W = U⁻¹ for an upper-triangular n × n U with a positive diagonal (a Cholesky factor), by back substitution on the
     * columns of the identity: w_iq = (δ_iq − Σ_{k=i+1}^{q} u_ik·w_kq) / u_ii, products subtracted in increasing k, rows
     * bottom-up. Row i needs every later row finished, so the parallelism is across columns: {@link #ROW_CHUNK} columns
     * at a time are held in a contiguous buffer while the rows of U stream past, one register row per i. The sums run
     * to the chunk's last row, adding exact zeros (w_kq = 0 for k > q) that change nothing. W's lower triangle is zero.
     */
    static double[] invertUpper(double[] u, int n) {
        double[] w = new double[n * n];
        int chunks = (n + ROW_CHUNK - 1) / ROW_CHUNK;
        Linalg.forEqualWork(chunks, ch -> {
            double rows = Math.min(n, (ch + 1) * ROW_CHUNK);
            return rows * rows * ROW_CHUNK / 2;
        }, (ch0, ch1) -> {
            double[] buf = new double[Math.min(n, ch1 * ROW_CHUNK) * ROW_CHUNK];
            for (int ch = ch0; ch < ch1; ch++) {
                int q0 = ch * ROW_CHUNK, rows = Math.min(n, q0 + ROW_CHUNK), width = rows - q0;
                Arrays.fill(buf, 0, rows * ROW_CHUNK, 0.0);
                for (int c = 0; c < width; c++) buf[(q0 + c) * ROW_CHUNK + c] = 1;
                for (int i = rows - 1; i >= 0; i--) backSubstituteRow(u, n, i, rows, buf);
                for (int i = 0; i < rows; i++) System.arraycopy(buf, i * ROW_CHUNK, w, i * n + q0, width);
            }
        });
        return w;
    }

    /** Row i of a chunk held in buf: (row i − Σ_{k=i+1}^{rows−1} u_ik·row k) / u_ii, in three registers. */
    private static void backSubstituteRow(double[] u, int n, int i, int rows, double[] buf) {
        final int ri = i * n, bi = i * ROW_CHUNK;
        DoubleVector x0 = DoubleVector.fromArray(S, buf, bi), x1 = DoubleVector.fromArray(S, buf, bi + L);
        DoubleVector x2 = DoubleVector.fromArray(S, buf, bi + 2 * L);
        for (int k = i + 1; k < rows; k++) {
            DoubleVector a = DoubleVector.broadcast(S, u[ri + k]);
            int bk = k * ROW_CHUNK;
            x0 = x0.sub(a.mul(DoubleVector.fromArray(S, buf, bk)));
            x1 = x1.sub(a.mul(DoubleVector.fromArray(S, buf, bk + L)));
            x2 = x2.sub(a.mul(DoubleVector.fromArray(S, buf, bk + 2 * L)));
        }
        DoubleVector d = DoubleVector.broadcast(S, u[ri + i]);
        x0.div(d).intoArray(buf, bi);
        x1.div(d).intoArray(buf, bi + L);
        x2.div(d).intoArray(buf, bi + 2 * L);
    }

    // ------------------------------------------------------------------------------------------ Gram product

    /**
     * C = W·Wᵀ for an upper-triangular n × n W, written into c (n × n, overwritten): c_ij = Σ_{k ≥ max(i,j)} w_ik·w_jk,
     * summed from +0 in increasing k. The upper tiles are computed as C −= (−W)·Wᵀ (x + y and x − (−y) are the same
     * IEEE operation) in k slices of {@link #KC}; within a slice only rows and columns below pc + kc have terms, and a
     * tile's terms start at max(i0, j0). The lower triangle is then mirrored, so C is exactly symmetric.
     */
    static void timesOwnTransposeUpper(double[] w, int n, double[] c) {
        Arrays.fill(c, 0.0);
        int width = roundUp(n, Math.max(NR, MR));
        double[] aPack = new double[KC * width], bPack = new double[KC * width];
        for (int pc = 0; pc < n; pc += KC) {
            final int kc = Math.min(KC, n - pc), reach = pc + kc, tiles = (reach + MR - 1) / MR, slice = pc;
            packStrips(w, pc, 1, n, kc, reach, NR, 1.0, bPack);    // B[p][j] = w[j][pc + p]
            packStrips(w, pc, 1, n, kc, reach, MR, -1.0, aPack);   // A[i][p] = −w[i][pc + p]
            Linalg.forEqualWork(tiles, t -> (double) (reach - t * MR) * kc * MR, (t0, t1) -> {
                double[] scratch = new double[MR * NR];
                for (int t = t0; t < t1; t++) {
                    int i0 = t * MR, mr = Math.min(MR, reach - i0);
                    for (int s = i0 / NR; s * NR < reach; s++) {
                        int j0 = s * NR, p0 = Math.max(0, Math.max(i0, j0) - slice);
                        subtractTile(p0, kc, aPack, t * kc * MR, bPack, s * kc * NR, c, i0 * n + j0, n,
                                mr, Math.min(NR, reach - j0), scratch);
                    }
                }
            });
        }
        mirrorUpper(c, n);
    }

    /** c_ji = c_ij for j > i, by tile pairs so the column-wise writes stay in cache. */
    private static void mirrorUpper(double[] c, int n) {
        UpperTiles.forEach(n, false, (i, from, to) -> { for (int j = from; j < to; j++) c[j * n + i] = c[i * n + j]; });
    }
}
