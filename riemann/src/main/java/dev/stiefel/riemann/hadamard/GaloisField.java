package dev.stiefel.riemann.hadamard;

/**
 * The finite field GF(q), q = p^k, as Paley's constructions need it: elements are the integers 0 .. q−1, read
 * as polynomials over GF(p) of degree &lt; k (digit i in base p is the coefficient of xⁱ), multiplied modulo a
 * monic irreducible polynomial of degree k found by trial division. For k = 1 this is arithmetic mod p.
 */
final class GaloisField {
    final int p, k, q;
    /** Coefficients c_0 .. c_{k−1} of the modulus x^k + c_{k−1}x^{k−1} + ... + c_0. */
    private final int[] modulus;

    private GaloisField(int p, int k, int[] modulus) {
        this.p = p;
        this.k = k;
        this.q = (int) Math.pow(p, k);
        this.modulus = modulus;
    }

    /** GF(q); throws unless q is a prime power. */
    static GaloisField of(int q) {
        int p = primePowerBase(q);
        if (p == 0) throw new IllegalArgumentException("GF(" + q + "): " + q + " is not a prime power");
        int k = 0;
        for (int r = q; r > 1; r /= p) k++;
        return new GaloisField(p, k, k == 1 ? new int[]{0} : irreducible(p, k));
    }

    /** The prime p when q = p^k with k ≥ 1, else 0. */
    static int primePowerBase(int q) {
        if (q < 2) return 0;
        int p = 2;
        while ((long) p * p <= q && q % p != 0) p++;
        if (q % p != 0) p = q; // q is prime
        int r = q;
        while (r % p == 0) r /= p;
        return r == 1 ? p : 0;
    }

    int add(int a, int b) { return k == 1 ? (a + b) % p : digitwise(a, b, 1); }

    int sub(int a, int b) { return k == 1 ? (a - b + p) % p : digitwise(a, b, p - 1); }

    /** a + sign·b digit by digit mod p (sign = p − 1 subtracts). */
    private int digitwise(int a, int b, int sign) {
        int r = 0, place = 1;
        for (int i = 0; i < k; i++) {
            r += ((a % p + sign * (b % p)) % p) * place;
            a /= p; b /= p; place *= p;
        }
        return r;
    }

    int mul(int a, int b) {
        if (k == 1) return (int) ((long) a * b % p);
        int[] x = digits(a), y = digits(b), prod = new int[2 * k - 1];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) prod[i + j] = (prod[i + j] + x[i] * y[j]) % p;
        // reduce from the top: x^d = x^{d−k}·x^k = −x^{d−k}·(c_{k−1}x^{k−1} + ... + c_0)
        for (int d = 2 * k - 2; d >= k; d--) {
            int c = prod[d];
            if (c == 0) continue;
            prod[d] = 0;
            for (int i = 0; i < k; i++) prod[d - k + i] = ((prod[d - k + i] - c * modulus[i]) % p + p) % p;
        }
        int r = 0;
        for (int i = k - 1; i >= 0; i--) r = r * p + prod[i];
        return r;
    }

    private int[] digits(int a) {
        int[] d = new int[k];
        for (int i = 0; i < k; i++) { d[i] = a % p; a /= p; }
        return d;
    }

    /** χ(a) for every element: 0 at 0, +1 at the nonzero squares, −1 elsewhere (the quadratic character). */
    byte[] quadraticCharacter() {
        byte[] chi = new byte[q];
        java.util.Arrays.fill(chi, (byte) -1);
        chi[0] = 0;
        for (int a = 1; a < q; a++) chi[mul(a, a)] = 1;
        return chi;
    }

    /** The first monic irreducible polynomial of degree k over GF(p), in the order of its coefficients. */
    private static int[] irreducible(int p, int k) {
        int count = (int) Math.pow(p, k);
        for (int code = 0; code < count; code++) {
            int[] f = new int[k + 1];
            int c = code;
            for (int i = 0; i < k; i++) { f[i] = c % p; c /= p; }
            f[k] = 1;
            if (f[0] != 0 && hasNoFactor(f, p, k)) return java.util.Arrays.copyOf(f, k);
        }
        throw new IllegalStateException("no irreducible polynomial of degree " + k + " over GF(" + p + ")"); // cannot happen
    }

    /** True when no monic polynomial of degree 1 .. k/2 divides f (then f of degree k is irreducible). */
    private static boolean hasNoFactor(int[] f, int p, int k) {
        for (int d = 1; d <= k / 2; d++) {
            int count = (int) Math.pow(p, d);
            for (int code = 0; code < count; code++) {
                int[] g = new int[d + 1];
                int c = code;
                for (int i = 0; i < d; i++) { g[i] = c % p; c /= p; }
                g[d] = 1;
                if (isZero(remainder(f, g, p))) return false;
            }
        }
        return true;
    }

    /** f mod g over GF(p), g monic. */
    private static int[] remainder(int[] f, int[] g, int p) {
        int[] r = f.clone();
        int dg = g.length - 1;
        for (int d = r.length - 1; d >= dg; d--) {
            int c = r[d];
            if (c == 0) continue;
            for (int i = 0; i <= dg; i++) r[d - dg + i] = ((r[d - dg + i] - c * g[i]) % p + p) % p;
        }
        return java.util.Arrays.copyOf(r, dg);
    }

    private static boolean isZero(int[] a) {
        for (int v : a) if (v != 0) return false;
        return true;
    }
}
