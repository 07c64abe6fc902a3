package dev.stiefel.bench;

import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.method.Gptq;
import dev.stiefel.quant.method.GptqSolver;
import dev.stiefel.quant.method.Hessian;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * GPTQ on one weight matrix ({@link GptqSolver}), W [rows, cols] under a Hessian of cols inputs, W4 g128 asymmetric:
 *
 * <ul>
 *   <li>{@code factor}: steps 1 and 3-5, dominated by H = R Rᵀ in f64 (one Cholesky factorization, n³/6
 *       multiply-adds);</li>
 *   <li>{@code columnLoop}: the column loop with a prepared factor (quantization, the in-block updates and the
 *       lazy batch products, rows·cols²/2 f32 multiply-adds in the products);</li>
 *   <li>{@code choleskyUL}: the f64 factorization alone, from the damped Hessian.</li>
 * </ul>
 * Shapes: {@code 2048x5632} is a TinyLlama-1.1B down_proj (the issue-19 figure), {@code 512x1024} a quick preset;
 * {@code -p shape=4096x11008} (a LLaMA-2-7B down_proj, about 5 GB of f64 work arrays) is accepted too. The Hessian is 2XᵀX/N of 1024 random tokens with per-feature scales and a
 * rank-64 correlation, so it is full rank and conditioned like a real one.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx12g"})
public class GptqBench {
    @Param({"2048x5632", "512x1024"})
    public String shape;

    private int rows, cols;
    private float[] w;
    private double[] h;
    private DMatrix damped;
    private Quantizer quantizer;
    private Gptq.Options options;
    private GptqSolver.HessianFactor factor;

    @Setup(Level.Trial)
    public void setUp() {
        String[] rc = shape.split("x");
        rows = Integer.parseInt(rc[0]);
        cols = Integer.parseInt(rc[1]);
        Random rnd = new Random(19);
        int tokens = 1024, rank = 64;
        Tensor x = Tensor.randn(rnd, tokens, cols).add(Tensor.randn(rnd, tokens, rank).matmul(Tensor.randn(rnd, rank, cols)));
        float[] xs = x.toFloatArray();
        float[] scale = new float[cols];
        for (int c = 0; c < cols; c++) scale[c] = (float) Math.exp(rnd.nextGaussian());
        for (int i = 0; i < xs.length; i++) xs[i] *= scale[i % cols];
        Hessian hessian = new Hessian(cols);
        hessian.add(Tensor.wrap(xs, tokens, cols));
        h = hessian.matrix();
        w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() / Math.sqrt(cols));
        quantizer = new Quantizer(QuantSpec.weights(4, false, 128));
        options = Gptq.Options.defaults();
        factor = GptqSolver.factor(h, cols, options, "bench");
        damped = new DMatrix(cols, cols, h.clone());
        double mean = 0;
        for (int i = 0; i < cols; i++) mean += h[i * cols + i];
        for (int i = 0; i < cols; i++) damped.data[i * cols + i] += 0.01 * mean / cols;
    }

    @Benchmark
    public GptqSolver.HessianFactor factor() {
        return GptqSolver.factor(h, cols, options, "bench");
    }

    @Benchmark
    public GptqSolver.Result columnLoop() {
        return GptqSolver.quantize(w, rows, factor, quantizer, options, "bench");
    }

    @Benchmark
    public DMatrix choleskyUL() {
        return Linalg.choleskyUL(damped);
    }
}
