package dev.stiefel.bench;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.opencl.OpenClBackend;
import dev.stiefel.opencl.Transfers;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.method.OstQuant;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.packed.PackedMatrix;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Collectors;

/**
 * The device checks of {@code bench/scripts/h200_opencl_check.sh}, one JSON line per measurement on stdout:
 * <pre>
 *   info                                   the backends and OpenCL devices seen
 *   sgemm M N K [--transpose-b] [--reps R]  C = A·B (B = Wᵀ of a row-major W [N, K] with --transpose-b) on the current
 *                                          backend with resident operands; best and median seconds, GFLOP/s, and the
 *                                          max relative error of 64 sampled entries against an f64 dot product
 *   packed N K BITS GROUP [--tokens T] [--reps R]
 *                                          x·Wᵀ with W [N, K] packed (BITS-bit codes, asymmetric, GROUP columns a group, 0 per
 *                                          row) and resident as stored, x [T, K] (default 1: a decode step); best and median
 *                                          seconds, GB/s of packed weight bytes, and the max relative error of 64 sampled
 *                                          entries against an f64 dot product with W's values
 *   ost-step PRESET SEQLEN [--reps R]       one OSTQuant learning step (W4A4KV4, KL-Top, batch 1, Hadamard start) on synthetic weights of
 *                                          a SyntheticWeights preset: learn() over one window minus its two evaluations, and
 *                                          the megabytes learn() moved to and from the device
 *   parity                                 the OpenCL parity tests (opencl-kernels' test classes) on this device
 * </pre>
 * The backend is the usual {@code -Dstiefel.backend} (with {@code -Dstiefel.opencl.platform/device}).
 */
public final class OpenClCheck {
    private OpenClCheck() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) throw new IllegalArgumentException("usage: OpenClCheck info | sgemm M N K [--transpose-b] [--reps R] | packed N K BITS GROUP [--tokens T] [--reps R] "
                + "| ost-step PRESET SEQLEN [--reps R] | parity");
        Backend b = Backends.current();
        switch (args[0]) {
            case "info" -> {
                System.out.printf(Locale.ROOT, "{\"check\":\"info\",\"backend\":\"%s\",\"available\":\"%s\"}%n", b.name(), String.join(",", Backends.names()));
                for (String d : Backends.describe()) System.out.printf("{\"check\":\"device\",\"line\":\"%s\"}%n", d.replace("\"", "'"));
            }
            case "sgemm" -> sgemm(b, Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]), has(args, "--transpose-b"), option(args, "--reps", 10));
            case "packed" -> packed(b, Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    option(args, "--tokens", 1), option(args, "--reps", 20));
            case "ost-step" -> ostStep(b, args[1], Integer.parseInt(args[2]), option(args, "--reps", 2));
            case "parity" -> System.exit(parity() ? 0 : 1);
            default -> throw new IllegalArgumentException("unknown check " + args[0]);
        }
    }

    private static boolean has(String[] args, String flag) { return List.of(args).contains(flag); }

    private static int option(String[] args, String flag, int dflt) {
        for (int i = 0; i + 1 < args.length; i++) if (args[i].equals(flag)) return Integer.parseInt(args[i + 1]);
        return dflt;
    }

    private static Tensor uniform(long seed, int rows, int cols) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = new float[rows * cols];
        for (int i = 0; i < d.length; i++) d[i] = (float) (r.nextDouble() * 2 - 1);
        return Tensor.wrap(d, rows, cols);
    }

    /** A device backend's transfers so far (none on the CPU). */
    private static Transfers transfers(Backend b) {
        return b instanceof OpenClBackend cl ? cl.transfers() : new Transfers(0, 0, 0, 0);
    }

    /** A device backend's kernel launches so far, by kernel (none on the CPU). */
    private static Map<String, Long> launches(Backend b) {
        return b instanceof OpenClBackend cl ? cl.launches() : Map.of();
    }

    private static Map<String, Long> minus(Map<String, Long> now, Map<String, Long> earlier) {
        Map<String, Long> d = new HashMap<>();
        now.forEach((k, v) -> { long n = v - earlier.getOrDefault(k, 0L); if (n > 0) d.put(k, n); });
        return d;
    }

    /** The n kernels launched most often, as a JSON object. */
    private static String topKernels(Map<String, Long> launched, int n) {
        return launched.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(n)
                .map(e -> "\"" + e.getKey() + "\":" + e.getValue()).collect(Collectors.joining(",", "{", "}"));
    }

    /** Waits for the device's queue (nothing to wait for on the CPU). */
    private static void finish(Backend b) {
        if (b instanceof OpenClBackend cl) cl.finish();
    }

    /**
     * Runs {@code op} once to warm up (kernel compilation, buffers), then {@code secs.length} times, each waited for;
     * fills {@code secs} with the times, sorted; returns the last result.
     */
    private static Tensor timed(Backend b, double[] secs, java.util.function.Supplier<Tensor> op) throws Exception {
        Tensor out = op.get();
        finish(b);
        for (int r = 0; r < secs.length; r++) {
            long t0 = System.nanoTime();
            out = op.get();
            finish(b);
            secs[r] = (System.nanoTime() - t0) / 1e9;
        }
        java.util.Arrays.sort(secs);
        return out;
    }

    /** Element (i, j) of a matrix operand. */
    private interface Entry { float at(int i, int j); }

    /** The largest |C[i, j] − Σ_p A[i, p]·B[p, j]| / Σ_p |A[i, p]·B[p, j]| (f64 sums) over 64 sampled entries of C [m, n]. */
    private static double worstSampledError(float[] c, int m, int n, int k, Entry a, Entry b) {
        Random rnd = new Random(3);
        double worst = 0;
        for (int s = 0; s < 64; s++) {
            int i = rnd.nextInt(m), j = rnd.nextInt(n);
            double dot = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double x = (double) a.at(i, p) * b.at(p, j);
                dot += x;
                mag += Math.abs(x);
            }
            worst = Math.max(worst, Math.abs(c[i * n + j] - dot) / mag);
        }
        return worst;
    }

    static void sgemm(Backend b, int m, int n, int k, boolean transposeB, int reps) throws Exception {
        Tensor a = uniform(1, m, k), w = transposeB ? uniform(2, n, k) : uniform(2, k, n);
        Tensor da = b.resident(a), dw = b.resident(w);
        Tensor rhs = transposeB ? dw.t() : dw;
        double[] secs = new double[reps];
        Tensor c = timed(b, secs, () -> da.matmul(rhs));
        float[] av = a.toFloatArray(), wv = w.toFloatArray();
        double worst = worstSampledError(c.toFloatArray(), m, n, k, (i, p) -> av[i * k + p], (p, j) -> transposeB ? wv[j * k + p] : wv[p * n + j]);
        double flops = 2.0 * m * n * k;
        System.out.printf(Locale.ROOT, "{\"check\":\"sgemm\",\"backend\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"transpose_b\":%b,\"best_s\":%.6f,\"median_s\":%.6f,"
                        + "\"gflops\":%.1f,\"max_rel_error\":%.3g}%n", b.name(), m, n, k, transposeB, secs[0], secs[reps / 2], flops / secs[0] / 1e9, worst);
    }

    static void packed(Backend b, int n, int k, int bits, int group, int tokens, int reps) throws Exception {
        Tensor w = uniform(2, n, k);
        int g = group == 0 ? k : group, groups = (k + g - 1) / g, max = (1 << bits) - 1;
        float[] v = w.toFloatArray(), scales = new float[n * groups], zeros = new float[n * groups];
        for (int r = 0; r < n; r++) // min-max asymmetric per group: values in [-1, 1)
            for (int q = 0; q < groups; q++) {
                scales[r * groups + q] = 2f / max;
                zeros[r * groups + q] = (max + 1) / 2;
            }
        PackedMatrix pm = PackedMatrix.quantize(v, n, k, bits, group, false, scales, zeros);
        Tensor x = uniform(1, tokens, k), dx = b.resident(x), dw = b.resident(PackedStorage.tensor(pm));
        double[] secs = new double[reps];
        Tensor y = timed(b, secs, () -> dx.matmul(dw.t()));
        float[] xv = x.toFloatArray(), values = pm.dequantize();
        double worst = worstSampledError(y.toFloatArray(), tokens, n, k, (t, p) -> xv[t * k + p], (p, j) -> values[j * k + p]);
        System.out.printf(Locale.ROOT, "{\"check\":\"packed\",\"backend\":\"%s\",\"n\":%d,\"k\":%d,\"bits\":%d,\"group\":%d,\"tokens\":%d,\"weight_bytes\":%d,"
                        + "\"best_s\":%.6f,\"median_s\":%.6f,\"gb_per_s\":%.1f,\"max_rel_error\":%.3g}%n", b.name(), n, k, bits, group, tokens, pm.bytes(),
                secs[0], secs[reps / 2], pm.bytes() / secs[0] / 1e9, worst);
    }

    static void ostStep(Backend b, String preset, int seqLen, int reps) throws Exception {
        LlamaConfig c = SyntheticWeights.preset(preset);
        LlamaWeights host = SyntheticWeights.create(c, DType.F32, 1);
        LlamaWeights fp = host.map(b::resident);
        int[] window = new int[seqLen];
        Random rnd = new Random(5);
        for (int i = 0; i < seqLen; i++) window[i] = rnd.nextInt(c.vocabSize());
        CalibrationData calib = new CalibrationData(List.of(window), "random tokens", 5);
        QuantConfig config = QuantConfig.parse("W4A4KV4");
        // the random Hadamard start: WOMI's f64 Gram matrices take hours on a CPU at this size, and the step costs the same
        OstQuant.Options o = OstQuant.Options.ostquant().withEpochs(1).withBatch(1).withInit(OstQuant.Init.HADAMARD);
        List<Double> steps = new ArrayList<>();
        double loss = Double.NaN;
        long[] moved = new long[4];
        Map<String, Long> launched = Map.of();
        for (int r = 0; r <= reps; r++) { // the first is a warm-up
            var view = OstQuant.initialView(fp, config, o);
            long t0 = System.nanoTime();
            double evalLoss = OstQuant.evaluate(fp, view, calib, config, o);
            long t1 = System.nanoTime();
            Transfers before = transfers(b);
            Map<String, Long> launchedBefore = launches(b);
            OstQuant.Learning l = OstQuant.learn(fp, view, calib, config, o, ProgressFactory.SILENT);
            finish(b);
            long t2 = System.nanoTime();
            Transfers during = transfers(b).minus(before);
            moved[0] = during.uploadBytes();
            moved[1] = during.downloadBytes();
            moved[2] = during.uploads();
            moved[3] = during.downloads();
            launched = minus(launches(b), launchedBefore);
            loss = l.lossBefore();
            if (r > 0) steps.add(((t2 - t1) - 2.0 * (t1 - t0)) / 1e9);
            if (Math.abs(evalLoss - l.lossBefore()) > 1e-6 * Math.abs(evalLoss))
                System.out.printf(Locale.ROOT, "{\"check\":\"ost-step\",\"warning\":\"evaluate %s != lossBefore %s\"}%n", evalLoss, l.lossBefore());
        }
        steps.sort(null);
        System.out.printf(Locale.ROOT, "{\"check\":\"ost-step\",\"backend\":\"%s\",\"preset\":\"%s\",\"seqlen\":%d,\"threads\":%d,\"best_step_s\":%.3f,"
                + "\"loss_before\":%.6f,\"learn_up_mb\":%.1f,\"learn_down_mb\":%.1f,\"learn_uploads\":%d,\"learn_downloads\":%d,\"learn_launches\":%d,\"top_kernels\":%s}%n", b.name(), preset, seqLen,
                dev.stiefel.tensor.Parallel.threads(), steps.get(0), loss, moved[0] / 1e6, moved[1] / 1e6, moved[2], moved[3],
                launched.values().stream().mapToLong(Long::longValue).sum(), topKernels(launched, 8));
    }

    static boolean parity() {
        var request = LauncherDiscoveryRequestBuilder.request().selectors(
                DiscoverySelectors.selectClass("dev.stiefel.opencl.OpParityTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.ReferenceTestsOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.LlamaOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.PackedOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.SgemmTilingsOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.ExtremaGradientOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.SumOfSquaresOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.FakeQuantOnOpenClTest"),
                DiscoverySelectors.selectClass("dev.stiefel.opencl.DeviceParametersTest")).build();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(request, listener);
        var s = listener.getSummary();
        s.printTo(new PrintWriter(System.err));
        s.printFailuresTo(new PrintWriter(System.err), 30);
        System.out.printf(Locale.ROOT, "{\"check\":\"parity\",\"succeeded\":%d,\"failed\":%d,\"skipped\":%d}%n",
                s.getTestsSucceededCount(), s.getTotalFailureCount(), s.getTestsSkippedCount());
        return s.getTotalFailureCount() == 0 && s.getTestsSkippedCount() == 0 && s.getTestsSucceededCount() > 0;
    }
}
