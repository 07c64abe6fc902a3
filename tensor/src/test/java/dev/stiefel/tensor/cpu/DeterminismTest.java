package dev.stiefel.tensor.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The same call gives the same bits: whether the JIT has compiled the kernels yet or not (the Vector API's
 * intrinsics and its Java fallbacks must not be told apart), and however many threads a product is split over.
 * See {@link VectorMath} for why this needed care.
 *
 * <p>The cases ({@link DeterminismCases}) run in two JVMs of their own, started side by side before the tests: in
 * this one, earlier tests may already have compiled the kernels, and its first calls would not be interpreted.
 * <ul>
 *   <li>a fresh JVM calls every case {@value #ROUNDS} times after the first. It runs with {@code -Xbatch} (a call
 *       that triggers a compilation waits for it) and thresholds scaled down to a tenth, so the kernels pass
 *       through the interpreter, C1 and C2 within these calls, at the same calls on every run, however busy the
 *       machine (checked with {@code -XX:+PrintCompilation}: every kernel method reaches C2);</li>
 *   <li>a JVM with {@code -Xint}, where every Vector API operation takes its Java fallback, and one thread.</li>
 * </ul>
 */
class DeterminismTest {
    /** Calls of every case after the first in the compiling JVM. */
    private static final int ROUNDS = 400;

    private static Process compiling, interpreting;

    @BeforeAll static void startCaseJvms() throws IOException {
        compiling = startCases("-Xbatch", "-XX:CompileThresholdScaling=0.1", "repeat", String.valueOf(ROUNDS));
        interpreting = startCases("-Xint", "-Dstiefel.threads=1");
    }

    @AfterAll static void stopCaseJvms() {
        for (Process p : new Process[]{compiling, interpreting}) if (p != null) p.destroy();
    }

    @Test void aFreshJvmGetsTheSameBitsOnEveryCallWhileTheJitCompilesTheKernels() throws IOException, InterruptedException {
        List<String> output = output(compiling);
        List<String> changed = output.stream().filter(l -> l.startsWith("changed ")).limit(20).toList();
        assertThat(changed).as("calls whose bits differed from the case's first call (case, call)").isEmpty();
        assertThat(hashes(output, "last ")).as("hashes of each case's bits, the fresh JVM's last calls against this JVM's")
                .isEqualTo(hashesHere());
    }

    @Test void theInterpreterGivesTheSameBitsAsCompiledCode() throws IOException, InterruptedException {
        assertThat(hashes(output(interpreting), "")).as("hashes of each case's bits, -Xint against the compiling JVM's last calls")
                .isEqualTo(hashes(output(compiling), "last "));
    }

    /**
     * An element's result does not depend on where it sits: in a whole vector or in the masked tail, at any lane,
     * beside any other values. The same 37 values are shifted by 0..2L places behind a prefix of other values,
     * and each op's result for them must be the same bits every time (and those of VectorMath on whole vectors).
     */
    @Test void elementResultsDoNotDependOnTheirPosition() {
        int lanes = VectorMath.F.length();
        Random r = new Random(3);
        float[] values = new float[37];
        for (int i = 0; i < values.length; i++) values[i] = (float) (r.nextGaussian() * 8);
        float[] positive = new float[values.length];
        for (int i = 0; i < values.length; i++) positive[i] = Math.abs(values[i]) + 1e-3f;
        // a few lanes that send their whole vector down the functions' other path (subnormal or overflowing
        // results, subnormal or infinite arguments, NaN): the lanes beside them must not notice
        values[4] = -95f;
        values[17] = 88.5f;
        values[29] = Float.NaN;
        positive[9] = 1e-40f;
        positive[23] = Float.POSITIVE_INFINITY;
        Map<String, UnaryOperator<Tensor>> ops = new LinkedHashMap<>();
        ops.put("exp", Tensor::exp);
        ops.put("tanh", Tensor::tanh);
        ops.put("sigmoid", Tensor::sigmoid);
        ops.put("silu", Tensor::silu);
        ops.put("swiglu", t -> t.swiglu(t));
        ops.put("log", Tensor::log);
        ops.put("pow", t -> t.pow(1.7f));
        for (Map.Entry<String, UnaryOperator<Tensor>> op : ops.entrySet()) {
            float[] in = op.getKey().equals("log") || op.getKey().equals("pow") ? positive : values;
            float[] reference = null;
            for (int shift = 0; shift <= 2 * lanes; shift++) {
                float[] padded = new float[shift + in.length];
                Arrays.fill(padded, 0, shift, 0.5f);
                System.arraycopy(in, 0, padded, shift, in.length);
                float[] out = op.getValue().apply(Tensor.of(padded, padded.length)).toFloatArray();
                float[] mine = Arrays.copyOfRange(out, shift, out.length);
                if (reference == null) reference = mine;
                else assertThat(mine).as("%s of the same values shifted by %d", op.getKey(), shift).isEqualTo(reference);
            }
        }
        float[] direct = VectorMathTest.apply(VectorMath::exp, values);
        assertThat(Tensor.of(values, values.length).exp().toFloatArray()).as("Tensor.exp against VectorMath.exp").isEqualTo(direct);
    }

    /** pow is Math.pow per element, bit for bit (the square too, which takes the vector multiply). */
    @Test void powGivesMathPowsBits() {
        Random r = new Random(8);
        float[] x = new float[101];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * 5);
        x[3] = 0f; x[4] = -0f; x[5] = Float.POSITIVE_INFINITY; x[6] = Float.NEGATIVE_INFINITY; x[7] = Float.NaN; x[8] = 1e-40f;
        Tensor t = Tensor.of(x, x.length);
        for (float p : new float[]{2f, 1.7f, -0.5f, 3f, 0f}) {
            float[] got = t.pow(p).toFloatArray(), viaTensor = t.pow(Tensor.full(p, x.length)).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                float want = (float) Math.pow(x[i], p);
                assertThat(Float.floatToIntBits(got[i])).as("pow(%s, %s)", x[i], p).isEqualTo(Float.floatToIntBits(want));
                assertThat(Float.floatToIntBits(viaTensor[i])).as("pow(%s, tensor %s)", x[i], p).isEqualTo(Float.floatToIntBits(want));
            }
        }
    }

    @Test void productsDoNotDependOnTheThreadCount() {
        Random r = new Random(77);
        // blocked products large enough to be split (Sgemm.PARALLEL_MIN), by column panels and by row panels,
        // with edge tiles in both directions
        for (int[] mnk : new int[][]{{101, 703, 500}, {703, 101, 500}}) {
            float[] a = random(r, mnk[0] * mnk[2]), b = random(r, mnk[2] * mnk[1]);
            assertSameForAllThreadCounts("gemm " + Arrays.toString(mnk), t -> {
                float[] c = new float[mnk[0] * mnk[1]];
                Sgemm.gemm(StridedMatrix.rowMajor(a, mnk[0], mnk[2]), StridedMatrix.rowMajor(b, mnk[2], mnk[1]), c, 0, mnk[1], false, t);
                return c;
            });
        }
        // a few rows times Wᵀ: W's rows are split, in groups of four plus leftovers
        float[] x = random(r, 5 * 2000), w = random(r, 1101 * 2000);
        assertSameForAllThreadCounts("gemm few rows", t -> {
            float[] c = new float[5 * 1101];
            Sgemm.gemm(StridedMatrix.rowMajor(x, 5, 2000), StridedMatrix.rowMajor(w, 1101, 2000).transpose(), c, 0, 1101, false, t);
            return c;
        });
        // matrix-vector products: rows in groups of four plus leftovers, and sums of columns with scalar tails,
        // whose boundaries move with the split
        float[] m = random(r, 1030 * 2050), v = random(r, 2050), vt = random(r, 1030);
        assertSameForAllThreadCounts("gemv rows", t -> {
            float[] y = new float[1030];
            Sgemv.gemv(StridedMatrix.rowMajor(m, 1030, 2050), v, 0, y, 0, false, t);
            return y;
        });
        assertSameForAllThreadCounts("gemv columns", t -> {
            float[] y = new float[2050];
            Sgemv.gemv(StridedMatrix.rowMajor(m, 1030, 2050).transpose(), vt, 0, y, 0, false, t);
            return y;
        });
        short[] half = new short[1030 * 1030];
        for (int i = 0; i < half.length; i++) half[i] = Half.floatToBf16((float) r.nextGaussian());
        float[] rows = random(r, 3 * 1030);
        assertSameForAllThreadCounts("bf16 gemv", t -> {
            float[] y = new float[3 * 1030];
            HalfGemv.run(rows, 0, 3, 1030, half, null, 0, 1030, DType.BF16, 1030, y, 0, t);
            return y;
        });
        float[] tokens = random(r, 40 * 1030);
        assertSameForAllThreadCounts("bf16 prefill", t -> {
            float[] c = new float[1030 * 40];
            Sgemm.gemm(new HalfGemv.Rows(java.lang.foreign.MemorySegment.ofArray(half), 0, 1030, 1030, 1030, true),
                    StridedMatrix.of(tokens, 0, 1030, 40, 1, 1030), c, 0, 40, t);
            return c;
        });
    }

    // ------------------------------------------------------------ helpers

    /** The cases' hashes in this JVM, one call each. */
    private static Map<String, String> hashesHere() {
        Map<String, String> out = new LinkedHashMap<>();
        DeterminismCases.all().forEach((name, c) -> out.put(name, Long.toHexString(DeterminismCases.hash(c.get()))));
        return out;
    }

    /** Starts {@link DeterminismCases#main} in a new JVM: the arguments starting with '-' are JVM options, the rest its own. */
    private static Process startCases(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-cp", System.getProperty("java.class.path")));
        List<String> mainArgs = new ArrayList<>();
        for (String a : args) (a.startsWith("-") ? cmd : mainArgs).add(a);
        cmd.add(DeterminismCases.class.getName());
        cmd.addAll(mainArgs);
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    private static final Map<Process, List<String>> outputs = new HashMap<>();

    /** The lines a case JVM printed, once it has finished. */
    private static synchronized List<String> output(Process p) throws IOException, InterruptedException {
        List<String> done = outputs.get(p);
        if (done != null) return done;
        // read on another thread: readAllBytes returns only when the child exits, so waiting on it here could never time out
        var read = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try { return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8); }
            catch (IOException e) { throw new java.io.UncheckedIOException(e); }
        });
        boolean finished = p.waitFor(120, TimeUnit.SECONDS);
        if (!finished) p.destroyForcibly();
        assertThat(finished).as("the case JVM finished within 120 s").isTrue();
        String output = read.join();
        assertThat(p.exitValue()).as("exit status of %s; its output:%n%s", p.info().commandLine().orElse("the case JVM"), output).isZero();
        outputs.put(p, output.lines().toList());
        return outputs.get(p);
    }

    /** The {@code name=hash} lines with the given prefix ("" for the first calls, "last " for the last ones). */
    private static Map<String, String> hashes(List<String> lines, String prefix) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : lines) {
            int eq = line.lastIndexOf('=');
            if (eq < 0 || line.startsWith("changed ") || line.startsWith("last ") != prefix.equals("last ")) continue;
            out.put(line.substring(prefix.length(), eq), line.substring(eq + 1));
        }
        return out;
    }

    private interface Product { float[] run(int threads); }

    private static void assertSameForAllThreadCounts(String what, Product p) {
        float[] one = p.run(1);
        for (int t = 2; t <= 4; t++)
            assertThat(Arrays.equals(p.run(t), one)).as("%s on %d threads gives the bits of one thread", what, t).isTrue();
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }
}
