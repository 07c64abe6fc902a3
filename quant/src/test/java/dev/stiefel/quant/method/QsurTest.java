package dev.stiefel.quant.method;

import dev.stiefel.quant.transform.Rotation;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class QsurTest {

    @Test void logGammaMatchesFactorialsAndHalfIntegers() {
        assertThat(Qsur.logGamma(5)).isCloseTo(Math.log(24), within(1e-12));
        assertThat(Qsur.logGamma(0.5)).isCloseTo(0.5 * Math.log(Math.PI), within(1e-12));
        assertThat(Qsur.logGamma(33.5)).isCloseTo(Qsur.logGamma(32.5) + Math.log(32.5), within(1e-10));
    }

    @Test void twoDimensionsByHand() {
        // a circle of radius c in the square of side 2c: π/4, whatever σ and c
        Qsur q = Qsur.of(new double[2], DMatrix.diagonal(4, 4), 3);
        assertThat(Math.exp(q.log())).isCloseTo(Math.PI / 4, within(1e-12));
        // an ellipse with axes c·1 and c·2 in the square of side 4c: π·2/16
        Qsur e = Qsur.of(new double[2], DMatrix.diagonal(1, 4), 1.5);
        assertThat(Math.exp(e.log())).isCloseTo(Math.PI * 2 / 16, within(1e-12));
        // a mean shifts the cube: side 2·(|μ| + c·σ)
        Qsur m = Qsur.of(new double[]{1, 0}, DMatrix.diagonal(1, 1), 1);
        assertThat(Math.exp(m.log())).isCloseTo(Math.PI / 16, within(1e-12));
    }

    @Test void isotropicIsMaximalAndRandomCovariancesStayBelow() {
        Random rnd = new Random(3);
        for (int d : new int[]{1, 7, 33, 64}) {
            assertThat(Qsur.of(new double[d], DMatrix.diagonal(filled(d, 2.5)), 2).relative()).isCloseTo(1, within(1e-9));
            for (int trial = 0; trial < 5; trial++) {
                DMatrix a = DMatrix.random(d, d + 3, rnd);
                DMatrix cov = a.multiply(a.transpose());
                assertThat(Qsur.of(new double[d], cov, 2).relative()).isLessThanOrEqualTo(1 + 1e-9);
            }
        }
    }

    @Test void rotatingAnOutlierHeavyDistributionRaisesIt() {
        Random rnd = new Random(5);
        int d = 32, n = 4000;
        DMatrix x = new DMatrix(n, d);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < d; j++) x.data[r * d + j] = rnd.nextGaussian() * (j == 3 || j == 17 ? 20 : 1 + 0.1 * j);
        Qsur before = Qsur.ofSamples(x);
        DMatrix rotated = x.copy();
        Rotation.randomHadamard(d, 1).multiplyRows(rotated.data, 0, n);
        Qsur after = Qsur.ofSamples(rotated);
        // measured: 0.136 → 0.477
        System.out.printf("QSUR per dimension: outlier-heavy %.3f, after a random Hadamard %.3f%n", before.perDimension(), after.perDimension());
        assertThat(after.perDimension()).as("%s → %s", before.perDimension(), after.perDimension()).isGreaterThan(3 * before.perDimension());
        // isotropic samples come close to the maximum
        DMatrix iso = new DMatrix(n, d);
        for (int i = 0; i < iso.data.length; i++) iso.data[i] = rnd.nextGaussian();
        assertThat(Qsur.ofSamples(iso).perDimension()).isGreaterThan(0.95).isGreaterThan(after.perDimension());
        // rotation does not change the ellipsoid's volume, only the cube: same determinant, so the gain is all extent
        assertThat(Linalg.orthogonalityError(Rotation.randomHadamard(d, 1).matrix())).isLessThan(1e-12);
    }

    private static double[] filled(int d, double v) {
        double[] a = new double[d];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
