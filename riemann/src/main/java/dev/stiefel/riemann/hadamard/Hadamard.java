package dev.stiefel.riemann.hadamard;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Hadamard matrices: n×n matrices H of ±1 with H Hᵀ = n I. Orders come from four constructions, combined by
 * Kronecker products (if H₁, H₂ are Hadamard, so is H₁ ⊗ H₂):
 *
 * <ul>
 *   <li>Sylvester (1867): H_{2n} = [[H_n, H_n], [H_n, −H_n]], so every power of two; entry (i, j) is
 *       (−1)^popcount(i AND j).</li>
 *   <li>Paley I (Paley, "On orthogonal matrices", J. Math. Phys. 1933): order q + 1 for a prime power
 *       q ≡ 3 (mod 4), from the quadratic character of GF(q).</li>
 *   <li>Paley II (same paper): order 2(q + 1) for a prime power q ≡ 1 (mod 4).</li>
 *   <li>Williamson (Duke Math. J. 1944): order 4m from four symmetric circulant ±1 matrices; {@link Williamson}
 *       holds the orders where Paley fails below 184 (92, 116, 156, 172).</li>
 * </ul>
 *
 * Every multiple of 4 up to 184 is covered, and with powers of two every hidden and feed-forward size of the
 * LLaMA family (4096, 5120, 8192 = 2^13, 11008 = 2^6·172, 13824 = 2^7·108, 14336 = 2^9·28, 5632 = 2^7·44, ...).
 * {@link #matrix} returns the form {@link HadamardMatrix} = H_{2^k} ⊗ B with the smallest block B, which is what
 * the fast transform wants; {@link HadamardTransform#orthogonal} adds a fallback for orders with no construction.
 */
public final class Hadamard {
    private Hadamard() {}

    /** Blocks (the non-Sylvester factor) already looked for, by order; empty when there is no construction. */
    private static final Map<Integer, Optional<Block>> BLOCKS = new ConcurrentHashMap<>();
    /** Largest block built: 16384² bytes is 256 MiB. */
    static final int MAX_BLOCK = 16384;

    /**
     * A Hadamard matrix of order n, as H_{2^k} ⊗ B with the largest power of two 2^k for which a block B of
     * order n / 2^k can be constructed. Throws when no construction here reaches n (every n that is not 1, 2 or
     * a multiple of 4, where none exists, and multiples of 4 such as 188 = 4·47 that need constructions not
     * implemented here).
     */
    public static HadamardMatrix matrix(int n) {
        HadamardMatrix h = find(n);
        if (h == null)
            throw new IllegalArgumentException("Hadamard: no Hadamard matrix of order " + n + " can be constructed here"
                    + (n > 2 && n % 4 != 0 ? " (none exists: a Hadamard order above 2 is a multiple of 4)"
                    : " (Sylvester, Paley I/II and the Williamson table do not reach it)")
                    + "; HadamardTransform.orthogonal(n, seed) falls back to a random orthogonal block");
        return h;
    }

    /** Whether {@link #matrix} can build order n. */
    public static boolean isKnown(int n) { return find(n) != null; }

    private static HadamardMatrix find(int n) {
        if (n < 1) throw new IllegalArgumentException("Hadamard: order must be >= 1, got " + n);
        int twos = Integer.numberOfTrailingZeros(n);
        for (int k = twos; k >= 0; k--) { // smallest block first
            int m = n >> k;
            if (m > MAX_BLOCK) break;
            Block b = block(m);
            if (b != null) return new HadamardMatrix(1 << k, m, b.entries, k == 0 ? b.name : "Sylvester(" + (1 << k) + ") ⊗ " + b.name);
        }
        return null;
    }

    private record Block(byte[] entries, String name) {}

    /** A Hadamard matrix of order m built without splitting off Sylvester factors, or null. */
    private static Block block(int m) {
        Optional<Block> b = BLOCKS.get(m);
        if (b == null) {
            b = Optional.ofNullable(construct(m));
            BLOCKS.put(m, b);
        }
        return b.orElse(null);
    }

    private static Block construct(int m) {
        if (m == 1) return new Block(new byte[]{1}, "[1]");
        if (m == 2) return new Block(sylvester(2), "Sylvester(2)");
        if (m % 4 != 0) return null;
        int q = m - 1;
        if (q % 4 == 3 && GaloisField.primePowerBase(q) != 0) return new Block(paleyI(q), "PaleyI(" + q + ")");
        q = m / 2 - 1;
        if (q % 4 == 1 && GaloisField.primePowerBase(q) != 0) return new Block(paleyII(q), "PaleyII(" + q + ")");
        if (Williamson.has(m / 4)) return new Block(Williamson.matrix(m / 4), "Williamson(" + m / 4 + ")");
        // a product of two smaller orders, each of them built in full (Sylvester factors included)
        for (int a = 4; (long) a * a <= m; a += 4) {
            if (m % a != 0) continue;
            HadamardMatrix x = find(a), y = x == null ? null : find(m / a);
            if (y != null) return new Block(kronecker(x.dense(), a, y.dense(), m / a), "(" + x.construction() + ") ⊗ (" + y.construction() + ")");
        }
        return null;
    }

    // ------------------------------------------------------------------ constructions (row-major ±1 bytes)

    /** Sylvester's H_n for a power of two n: entry (i, j) = (−1)^popcount(i AND j). */
    public static byte[] sylvester(int n) {
        if (n < 1 || Integer.bitCount(n) != 1) throw new IllegalArgumentException("Sylvester: order must be a power of two, got " + n);
        byte[] h = new byte[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) h[i * n + j] = (byte) ((Integer.bitCount(i & j) & 1) == 0 ? 1 : -1);
        return h;
    }

    /**
     * Paley's first construction, of order q + 1 for a prime power q ≡ 3 (mod 4). With χ the quadratic
     * character of GF(q), the Jacobsthal matrix Q_xy = χ(x − y) is skew-symmetric (χ(−1) = −1) with
     * Q Qᵀ = qI − J and Q J = 0; bordering it gives S = [[0, 1ᵀ], [−1, Q]] with S Sᵀ = qI, and H = I + S.
     * Row and column 0 are the border; row 1 + x is the field element x.
     */
    public static byte[] paleyI(int q) {
        if (q % 4 != 3) throw new IllegalArgumentException("Paley I: needs q ≡ 3 (mod 4), got " + q);
        GaloisField f = GaloisField.of(q);
        byte[] chi = f.quadraticCharacter();
        int n = q + 1;
        byte[] h = new byte[n * n];
        for (int j = 1; j < n; j++) { h[j] = 1; h[j * n] = -1; }
        for (int x = 0; x < q; x++)
            for (int y = 0; y < q; y++) h[(x + 1) * n + y + 1] = chi[f.sub(x, y)];
        for (int i = 0; i < n; i++) h[i * n + i] = 1; // H = I + S, S has a zero diagonal
        return h;
    }

    /**
     * Paley's second construction, of order 2(q + 1) for a prime power q ≡ 1 (mod 4). Now χ(−1) = 1, so the
     * bordered C = [[0, 1ᵀ], [1, Q]] is a symmetric conference matrix (zero diagonal, C Cᵀ = qI), and H replaces
     * each zero of C by [[1, −1], [−1, −1]] and each ±1 by ±[[1, 1], [1, −1]].
     */
    public static byte[] paleyII(int q) {
        if (q % 4 != 1) throw new IllegalArgumentException("Paley II: needs q ≡ 1 (mod 4), got " + q);
        GaloisField f = GaloisField.of(q);
        byte[] chi = f.quadraticCharacter();
        int c = q + 1, n = 2 * c;
        byte[] h = new byte[n * n];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++) {
                int cij = i == j ? 0 : i == 0 || j == 0 ? 1 : chi[f.sub(i - 1, j - 1)];
                int r = 2 * i * n + 2 * j;
                if (cij == 0) {
                    h[r] = 1; h[r + 1] = -1; h[r + n] = -1; h[r + n + 1] = -1;
                } else {
                    h[r] = (byte) cij; h[r + 1] = (byte) cij; h[r + n] = (byte) cij; h[r + n + 1] = (byte) -cij;
                }
            }
        return h;
    }

    /** The Kronecker product A ⊗ B of an a×a and a b×b matrix: entry (i·b + k, j·b + l) = A_ij·B_kl. */
    public static byte[] kronecker(byte[] a, int na, byte[] b, int nb) {
        if (a.length != na * na || b.length != nb * nb)
            throw new IllegalArgumentException("kronecker: expected " + na + "² and " + nb + "² entries, got " + a.length + " and " + b.length);
        int n = na * nb;
        byte[] h = new byte[n * n];
        for (int i = 0; i < na; i++)
            for (int j = 0; j < na; j++) {
                byte s = a[i * na + j];
                for (int k = 0; k < nb; k++)
                    for (int l = 0; l < nb; l++) h[(i * nb + k) * n + j * nb + l] = (byte) (s * b[k * nb + l]);
            }
        return h;
    }
}
