package dev.stiefel.quant.flat;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.quant.pipeline.BlockDriver;
import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.quant.pipeline.BlockwiseCalibration;
import dev.stiefel.quant.pipeline.BlockwiseCalibration.Trainer;
import dev.stiefel.quant.transform.Site;
import dev.stiefel.riemann.RiemannianAdam;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * FlatQuant (Sun et al., <i>FlatQuant: Flatness Matters for LLM Quantization</i>, ICML 2025) and, over the same
 * machinery, adaptive layer-wise transform selection by differentiable search (Pham et al., arXiv 2511.17809: its first, differentiable
 * selection method).
 *
 * <p>Block by block ({@link BlockwiseCalibration}, trained on the full-precision inputs as the reference's
 * {@code cali_flat_quant}): the block's learnable transforms ({@link FlatBlock}: Kronecker factors at the q/k/v,
 * gate/up and down inputs, per-head V/O and Q/K transforms, per-channel scales, LWC and LAC) minimise the MSE between
 * the full-precision block's outputs and the quantized block's, with AdamW (transforms and scales at lr, clipping at
 * 10·lr, weight decay 0.01 as torch's default, cosine decay to lr·1e-3 over all steps) and Riemannian Adam for
 * orthogonal factors; then the transforms are folded ({@link FlatLayer}) and the weights quantized with the learned
 * clipping. The Kronecker products and the Q/K transform stay online ({@link FlatRuntime}).
 *
 * <p>A plan gives each block a {@link TransformKind}: all AFFINE is FlatQuant, all ROTATION learns orthogonal factors
 * from Hadamard starts, NONE keeps only scales and clipping. The search mode trains, per block, the three candidates
 * at once inside a mixture y = Σ_k π_k·block_k(x) with π = softmax((α + g)/τ) (Gumbel noise g, temperature τ
 * annealed geometrically over the search epochs), keeps argmax α and fine-tunes that candidate alone.
 */
public final class FlatQuant implements Method {

    /**
     * @param epochs           training epochs per block (fine-tuning epochs after a search), 15 as the reference
     * @param lr               transforms' learning rate, 5e-3 as the reference's scripts; clipping gets 10·lr
     * @param batch            samples per step, 4 as the reference's {@code cali_bsz}
     * @param scales           per-channel scales ({@code --add_diag})
     * @param alpha            SmoothQuant-style initialisation of the scales ({@code diag_alpha} 0.3)
     * @param lwc              learnable weight clipping
     * @param lac              learnable activation clipping
     * @param affineForm       SVD (the reference's default) or FREE ({@code --direct_inv}) for AFFINE factors
     * @param plan             a kind per block; null: all AFFINE (search mode ignores it)
     * @param searchEpochs     epochs of the mixture before the argmax (search mode)
     * @param searchWarmup     of those, the first epochs in which the logits stay at 0 (the candidates train in a
     *                         uniform mixture first, as DARTS-style searches warm up)
     * @param temperature      the mixture's starting temperature τ0
     * @param finalTemperature its temperature in the last search epoch
     * @param gumbel           Gumbel-softmax (noise on the logits) rather than a plain softmax
     * @param searchLr         Adam's rate for the mixture logits
     * @param seed             random orthogonal starts and Gumbel noise
     */
    public record Options(int epochs, double lr, int batch, boolean scales, double alpha, boolean lwc, boolean lac,
                          Factor.Form affineForm, List<TransformKind> plan, int searchEpochs, int searchWarmup, double temperature,
                          double finalTemperature, boolean gumbel, double searchLr, long seed) {
        public Options {
            if (searchWarmup < 0 || searchWarmup > searchEpochs)
                throw new IllegalArgumentException("flatquant: search warm-up must be in [0, search epochs], got " + searchWarmup + " of " + searchEpochs);
            if (epochs < 0 || searchEpochs < 0) throw new IllegalArgumentException("flatquant: epochs must be >= 0, got " + epochs + ", search " + searchEpochs);
            if (!(lr >= 0 && Double.isFinite(lr)) || !(searchLr >= 0 && Double.isFinite(searchLr)))
                throw new IllegalArgumentException("flatquant: learning rates must be finite and >= 0, got " + lr + ", search " + searchLr);
            if (batch < 1) throw new IllegalArgumentException("flatquant: batch must be >= 1, got " + batch);
            if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("flatquant: alpha must be in [0, 1], got " + alpha);
            if (affineForm == Factor.Form.ORTHOGONAL) throw new IllegalArgumentException("flatquant: affine factors are SVD or FREE, not orthogonal");
            if (!(temperature > 0 && finalTemperature > 0)) throw new IllegalArgumentException("flatquant: temperatures must be > 0");
            plan = plan == null ? null : List.copyOf(plan);
        }

        /** The reference's W4A4KV4 script: 15 epochs, lr 5e-3, batch 4, scales (α 0.3), LWC, LAC, SVD factors. */
        public static Options defaults() {
            return new Options(15, 5e-3, 4, true, 0.3, true, true, Factor.Form.SVD, null, 5, 0, 1.0, 0.1, true, 5e-2, 0);
        }

        public Options withEpochs(int e) { return new Options(e, lr, batch, scales, alpha, lwc, lac, affineForm, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withLr(double r) { return new Options(epochs, r, batch, scales, alpha, lwc, lac, affineForm, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withBatch(int b) { return new Options(epochs, lr, b, scales, alpha, lwc, lac, affineForm, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withAffineForm(Factor.Form f) { return new Options(epochs, lr, batch, scales, alpha, lwc, lac, f, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withPlan(List<TransformKind> p) { return new Options(epochs, lr, batch, scales, alpha, lwc, lac, affineForm, p, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withClipping(boolean w, boolean a) { return new Options(epochs, lr, batch, scales, alpha, w, a, affineForm, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withScales(boolean on, double a) { return new Options(epochs, lr, batch, on, a, lwc, lac, affineForm, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, seed); }

        public Options withSearch(int e, double t0, double t1, boolean g, double rate) {
            return new Options(epochs, lr, batch, scales, alpha, lwc, lac, affineForm, plan, e, Math.min(searchWarmup, e), t0, t1, g, rate, seed);
        }

        public Options withSearchWarmup(int w) {
            return new Options(epochs, lr, batch, scales, alpha, lwc, lac, affineForm, plan, searchEpochs, w, temperature, finalTemperature, gumbel, searchLr, seed);
        }

        public Options withSeed(long s) { return new Options(epochs, lr, batch, scales, alpha, lwc, lac, affineForm, plan, searchEpochs, searchWarmup, temperature, finalTemperature, gumbel, searchLr, s); }
    }

    /** The candidates of the search, in the order of the mixture's logits. */
    public static final List<TransformKind> CANDIDATES = List.of(TransformKind.AFFINE, TransformKind.ROTATION, TransformKind.NONE);

    private final String name;
    private final Options options;
    private final boolean search;
    private final Function<LlamaWeights, List<TransformKind>> planner;

    private FlatQuant(String name, Options options, boolean search, Function<LlamaWeights, List<TransformKind>> planner) {
        this.name = name;
        this.options = options;
        this.search = search;
        this.planner = planner;
    }

    /** FlatQuant itself: every block AFFINE (or the options' plan, if one is given). */
    public static FlatQuant flatquant(Options o) {
        return new FlatQuant("flatquant", o, false, w -> o.plan() != null ? o.plan() : Collections.nCopies(w.config().layers(), TransformKind.AFFINE));
    }

    /** Every block with orthogonal Kronecker factors learned on the Stiefel manifold. */
    public static FlatQuant rotation(Options o) {
        return new FlatQuant("flatquant-rotation", o.withPlan(null), false, w -> Collections.nCopies(w.config().layers(), TransformKind.ROTATION));
    }

    /** A given plan (one kind per block), under a name of its own. */
    public static FlatQuant withPlan(String name, List<TransformKind> plan, Options o) {
        if (plan == null) throw new IllegalArgumentException(name + ": needs a plan");
        List<TransformKind> p = List.copyOf(plan);
        return new FlatQuant(name, o.withPlan(p), false, w -> p);
    }

    /**
     * A plan decided from the full-precision weights when the method runs (the outlier-guided rule: weight kurtosis and
     * a robust z-score per block), under a name of its own; the report records the plan.
     */
    public static FlatQuant withRule(String name, Function<LlamaWeights, List<TransformKind>> rule, Options o) {
        return new FlatQuant(name, o.withPlan(null), false, rule);
    }

    /** Differentiable search over {@link #CANDIDATES} per block, then fine-tuning of each block's argmax. */
    public static FlatQuant search(Options o) { return new FlatQuant("adaptive-search", o.withPlan(null), true, null); }

    public Options options() { return options; }

    public boolean isSearch() { return search; }

    @Override public String name() { return name; }

    /** The plan for {@code fp} (null in search mode), checked against its number of blocks. */
    public List<TransformKind> plan(LlamaWeights fp) {
        if (search) return null;
        List<TransformKind> p = planner.apply(fp);
        int layers = fp.config().layers();
        if (p == null || p.size() != layers || p.stream().anyMatch(java.util.Objects::isNull))
            throw new IllegalArgumentException(name + ": the plan has " + (p == null ? 0 : p.size()) + " kinds for a model of " + layers + " blocks: " + p);
        return p;
    }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException(name + ": needs calibration data (the reference uses 128 samples of 2048 tokens)");
        if (config.weight() == null && config.activation() == null && config.key() == null && config.value() == null)
            throw new IllegalArgumentException(name + ": nothing is quantized in " + config.shorthand());
        LlamaConfig c = fp.config();
        int layers = c.layers();
        List<TransformKind> plan = plan(fp);
        List<TransformKind> chosen = new ArrayList<>(Collections.nCopies(layers, (TransformKind) null));
        List<Map<Site, ActivationQuantizer>> lacs = new ArrayList<>(Collections.nCopies(layers, (Map<Site, ActivationQuantizer>) null));
        double[] searchSeconds = new double[layers];

        BlockwiseCalibration driver = new BlockwiseCalibration(name, null, false, false, progress, null);
        BlockDriver.Result result = driver.run(fp, calibration, (l, maxima) -> {
            List<TransformKind> kinds = search ? CANDIDATES : List.of(plan.get(l));
            List<FlatBlock> candidates = new ArrayList<>();
            for (TransformKind k : kinds)
                candidates.add(new FlatBlock(c, l, k, options.affineForm(), options.scales(), options.alpha(), fp.layer(l), maxima, config,
                        options.lwc(), options.lac(), options.seed()));
            return new BlockwiseCalibration.Block() {
                FlatBlock.Frozen frozen;

                @Override public Report.BlockFigures train(Trainer t) {
                    FlatBlock b = candidates.get(0);
                    Report.KindSearch found = null;
                    if (search) {
                        long t0 = System.nanoTime();
                        Chosen c = FlatQuant.this.search(candidates, t);
                        searchSeconds[l] = (System.nanoTime() - t0) * 1e-9;
                        b = c.block();
                        found = new Report.KindSearch(c.logits(), c.epochLoss(), c.candidateMse(), Steps.round(searchSeconds[l]));
                    }
                    chosen.set(l, b.kind());
                    Report.BlockFigures r = FlatQuant.this.train(b, t, options.epochs(), search ? "fine-tune" : null)
                            .withKind(b.kind().name().toLowerCase(Locale.ROOT), found);
                    frozen = b.freeze();
                    lacs.set(l, frozen.lac());
                    return r;
                }

                @Override public LlamaWeights.Layer fold() { return frozen.fold(c, fp.layer(l)); }

                @Override public List<dev.stiefel.quant.transform.Online> online() { return frozen.transforms().online(); }
            };
        }, online -> { throw new IllegalStateException("flatquant trains on full-precision inputs"); });

        FlatRuntime hooks = new FlatRuntime(result.online(), lacs);
        WeightsBuilder b = new WeightsBuilder(fp);
        Map<String, Report.TensorError> errors = Steps.figures();
        Steps.embeddingAndHead(b, config, errors);
        LlamaWeights quantized = BlockDriver.withLayers(b.build(), result.layers());
        Report report = Report.of(name).withCalibration(calibration.describe())
                .with(section(chosen.stream().map(k -> k.name().toLowerCase(Locale.ROOT)).toList(), search ? Steps.round(Arrays.stream(searchSeconds).sum()) : null))
                .withBlocks(result.blocks(), result.resumed()).withWeightError(errors);
        return new QuantizedModel(quantized, hooks, config, result.online(), report);
    }

    /** The optimizers of one block's parameters over {@code steps} steps (the reference's parameter groups). */
    private List<Optimizer> optimizers(List<FlatBlock> blocks, int steps) {
        List<Var> transforms = new ArrayList<>(), clipping = new ArrayList<>(), stiefel = new ArrayList<>();
        for (FlatBlock b : blocks) {
            transforms.addAll(b.transformParameters());
            clipping.addAll(b.clippingParameters());
            stiefel.addAll(b.stiefelParameters());
        }
        double lr = options.lr(), min = lr * 1e-3;
        List<Optimizer> out = new ArrayList<>();
        if (!transforms.isEmpty()) out.add(Optimizer.adamW(transforms, LrSchedule.cosine(lr, steps, min), 0.9, 0.999, 1e-8, 0.01));
        if (!clipping.isEmpty()) out.add(Optimizer.adamW(clipping, LrSchedule.cosine(10 * lr, steps, min), 0.9, 0.999, 1e-8, 0.01));
        if (!stiefel.isEmpty()) out.add(new RiemannianAdam(stiefel, LrSchedule.cosine(lr, steps, min)));
        return out;
    }

    /** Trains one block alone: MSE before and after over the whole set, each epoch's mean loss. */
    private Report.BlockFigures train(FlatBlock b, Trainer t, int epochs, String phase) {
        BlockwiseCalibration.Loop probe = new BlockwiseCalibration.Loop(phase, epochs, options.batch(), List.of(), null, null, "");
        List<Optimizer> opts = optimizers(List.of(b), Math.max(1, epochs * probe.steps(t.samples())));
        double before = Steps.round(t.loss(b, () -> {}));
        List<Double> epochLoss = t.run(b, new BlockwiseCalibration.Loop(phase, epochs, options.batch(), opts, null, null,
                "lower the learning rate (" + options.lr() + ")"));
        return Report.BlockFigures.learned(before, epochLoss, Steps.round(t.loss(b, () -> {})));
    }

    /**
     * The mixture of the candidates trained together (a DARTS-style relaxation of the per-layer choice): y = Σ_k π_k·block_k(x), π = softmax((α + g)/τ)
     * with g Gumbel(0, 1) noise drawn per step and τ going geometrically from τ0 to τ1 over the search epochs; every
     * candidate's parameters and α learn from the one calibration loss. Returns the candidate of the largest α.
     */
    private Chosen search(List<FlatBlock> candidates, Trainer t) {
        int k = candidates.size(), epochs = options.searchEpochs();
        Var logits = Var.param(Tensor.zeros(k));
        double[] tau = {options.temperature()};
        Tensor[] noise = {Tensor.zeros(k)};
        Random rnd = new Random(options.seed() * 31 + t.layer());
        List<UnaryOperator<Var>> forwards = new ArrayList<>();
        for (FlatBlock b : candidates) forwards.add(t.forward(b));
        UnaryOperator<Var> mixture = x -> {
            Var pi = logits.add(Var.of(noise[0])).div((float) tau[0]).softmax(0);
            Var y = null;
            for (int i = 0; i < k; i++) {
                Var term = forwards.get(i).apply(x).mul(pi.narrow(0, i, 1));
                y = y == null ? term : y.add(term);
            }
            return y;
        };
        BlockwiseCalibration.Loop probe = new BlockwiseCalibration.Loop("search", epochs, options.batch(), List.of(), null, null, "");
        List<Optimizer> opts = new ArrayList<>(optimizers(candidates, Math.max(1, epochs * probe.steps(t.samples()))));
        int frozenSteps = options.searchWarmup() * probe.steps(t.samples());
        double rate = options.searchLr();
        opts.add(Optimizer.adamW(List.of(logits), step -> step < frozenSteps ? 0 : rate, 0.9, 0.999, 1e-8, 0));
        Runnable draw = () -> {
            float[] g = new float[k];
            if (options.gumbel()) for (int i = 0; i < k; i++) g[i] = (float) -Math.log(-Math.log(Math.max(rnd.nextDouble(), 1e-12)));
            noise[0] = Tensor.wrap(g, k);
        };
        List<Double> loss = t.run(mixture, new BlockwiseCalibration.Loop("search", epochs, options.batch(), opts, draw,
                e -> tau[0] = options.temperature() * Math.pow(options.finalTemperature() / options.temperature(), epochs <= 1 ? 1 : (double) e / (epochs - 1)),
                "lower the learning rates (" + options.lr() + ", search " + options.searchLr() + ")"));
        float[] a = logits.value().toFloatArray();
        int best = 0;
        for (int i = 1; i < k; i++) if (a[i] > a[best]) best = i;
        Map<String, Double> s = Steps.figures();
        for (int i = 0; i < k; i++) s.put(candidates.get(i).kind().name().toLowerCase(Locale.ROOT), Steps.round(a[i]));
        // each candidate alone after the search, on the whole calibration set: does the argmax agree with the losses?
        Map<String, Double> alone = Steps.figures();
        for (FlatBlock b : candidates) alone.put(b.kind().name().toLowerCase(Locale.ROOT), Steps.round(t.loss(b, () -> {})));
        return new Chosen(candidates.get(best), s, loss, alone);
    }

    /** A search's outcome: the candidate of the largest logit, the final logits, each epoch's loss, each candidate's MSE alone. */
    private record Chosen(FlatBlock block, Map<String, Double> logits, List<Double> epochLoss, Map<String, Double> candidateMse) {}

    /**
     * What the report shows of the settings (the clipping parameters learn at 10 × lr, as the reference's), the search's
     * when there is one (null otherwise), the plan each block got, and the search's total seconds (null without one).
     */
    public record Section(int epochs, double lr, double clippingLr, int batch, boolean scales, double alpha, boolean lwc, boolean lac,
                          String affineForm, String optimizer, String inputs, SearchSettings search, long seed, List<String> plan,
                          Double searchSeconds) implements Report.Section {
        @Override public String key() { return "flatquant"; }
    }

    /** The search's settings: its epochs, the warm-up epochs with frozen logits, the temperature schedule, Gumbel noise, the logits' rate. */
    public record SearchSettings(int epochs, int warmup, String temperature, boolean gumbel, double lr) {}

    private Section section(List<String> plan, Double searchSeconds) {
        return new Section(options.epochs(), options.lr(), 10 * options.lr(), options.batch(), options.scales(), options.alpha(), options.lwc(), options.lac(),
                options.affineForm().name().toLowerCase(Locale.ROOT),
                "AdamW betas (0.9, 0.999), eps 1e-8, weight decay 0.01, cosine to lr*1e-3; Riemannian Adam for orthogonal factors",
                "full-precision block inputs (as the reference's cali_flat_quant)",
                search ? new SearchSettings(options.searchEpochs(), options.searchWarmup(), options.temperature() + " -> " + options.finalTemperature(),
                        options.gumbel(), options.searchLr()) : null,
                options.seed(), plan, searchSeconds);
    }

    @Override public String toString() { return name + options; }
}
