package dev.stiefel.quant.method;

import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.ggml.FileType;
import dev.stiefel.quant.GgmlTarget;
import dev.stiefel.quant.MatrixGrid;
import dev.stiefel.quant.pipeline.WeightStage;
import dev.stiefel.quant.pipeline.Activations;
import dev.stiefel.quant.pipeline.BlockDriver;
import dev.stiefel.quant.pipeline.SequentialCapture;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Fingerprints;
import dev.stiefel.tensor.Tensor;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * GPTQ over a whole model (Frantar et al. 2023), block by block as IST-DASLab/gptq's {@code llama_sequential}:
 * <ol>
 *   <li>the calibration samples' embeddings are the inputs of block 0;</li>
 *   <li>in block l, the linear layers are quantized in true-sequential order: q/k/v (one shared input), then o, then
 *       gate/up (one shared input), then down; the inputs of each group are computed with the earlier groups already
 *       quantized, and build its Hessian H = 2XXᵀ ({@link Hessian}). The reference runs the block again from its input
 *       for each group; {@link SequentialCapture} keeps each part's result instead, with the same values;</li>
 *   <li>each weight is quantized by {@link GptqSolver} under its H;</li>
 *   <li>the block's outputs, computed with its quantized weights, are the inputs of block l + 1.</li>
 * </ol>
 * Calibration activations stay in full precision (activation quantization, when configured, is applied at inference
 * by the hooks), as GPTQ and QuaRot's GPTQ do. The embedding and head, when the config quantizes them, get RTN.
 */
public record Gptq(Options options, Path workDir, BlockDriver.Listener listener) implements Method, WeightStage {

    /**
     * @param blockSize      columns per lazy batch update (128)
     * @param dampRatio      λ in H + λ·mean(diag H)·I (0.01)
     * @param actOrder       quantize columns by decreasing H_ii (desc_act)
     * @param staticGroups   fix every group's scales from the original weights before quantizing (needed to keep
     *                       groups in the original column order with act-order)
     * @param trueSequential re-capture inputs after each group of linears within a block; without it every linear of a
     *                       block sees full-precision block inputs
     */
    public record Options(int blockSize, double dampRatio, boolean actOrder, boolean staticGroups, boolean trueSequential) implements Report.Section {
        public Options {
            if (blockSize < 1) throw new IllegalArgumentException("gptq: block size must be >= 1, got " + blockSize);
            if (!(dampRatio >= 0 && Double.isFinite(dampRatio))) throw new IllegalArgumentException("gptq: dampening ratio must be >= 0, got " + dampRatio);
        }

        /** The reference defaults: blocks of 128, dampening 0.01, no act-order, dynamic groups, true-sequential. */
        public static Options defaults() { return new Options(128, 0.01, false, false, true); }

        @Override public String key() { return "gptq"; }

        public Options withActOrder(boolean a) { return new Options(blockSize, dampRatio, a, staticGroups, trueSequential); }

        public Options withStaticGroups(boolean s) { return new Options(blockSize, dampRatio, actOrder, s, trueSequential); }

        public Options withTrueSequential(boolean t) { return new Options(blockSize, dampRatio, actOrder, staticGroups, t); }

        public Options withBlockSize(int b) { return new Options(b, dampRatio, actOrder, staticGroups, trueSequential); }

        public Options withDampRatio(double d) { return new Options(blockSize, d, actOrder, staticGroups, trueSequential); }
    }

    public Gptq() { this(Options.defaults()); }

    public Gptq(Options options) { this(options, null, null); }

    /**
     * GPTQ that commits each finished block to {@code workDir} (its codes, its losses, and the next block's calibration
     * inputs), so that the same run started again resumes after the last finished block; null: all in memory.
     */
    public Gptq(Options options, Path workDir) { this(options, workDir, null); }

    /** This GPTQ with a listener the block loop calls as it goes (tests interrupt a run from it). */
    public Gptq withListener(BlockDriver.Listener l) { return new Gptq(options, workDir, l); }

    /** Linear layers grouped as they are quantized inside a block: q/k/v, o, gate/up, down. */
    static final List<List<Linear>> SEQUENTIAL = List.of(List.of(Linear.Q, Linear.K, Linear.V), List.of(Linear.O),
            List.of(Linear.GATE, Linear.UP), List.of(Linear.DOWN));

    @Override public String name() { return "gptq"; }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        return apply(fp, Hooks.NONE, calibration, config, progress);
    }

    /**
     * GPTQ of a transformed model: {@code online} holds the transforms the forward applies at run time (QuaRot's
     * online Hadamards); the calibration passes run through them, so each Hessian is built from the activations the
     * layer will actually multiply, and the activation/KV quantizers act after them at inference.
     */
    public QuantizedModel apply(LlamaWeights fp, Hooks online, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException("gptq: needs calibration data (e.g. 128 samples of 2048 tokens)");
        if (workDir != null && online != Hooks.NONE)
            throw new IllegalArgumentException("gptq: a work directory resumes plain GPTQ only, not GPTQ under another method's online transforms");
        if (workDir != null && config.ggml() != null)
            throw new IllegalArgumentException("gptq: a work directory cannot resume GPTQ on llama.cpp's grids (" + config.shorthand() + "); run it without one");
        WeightsBuilder b = new WeightsBuilder(fp);
        double[] seconds = new double[4];
        BlockDriver.Result result = config.weight() == null ? null
                : quantizeBlocks(fp, online, b, calibration, config, progress, seconds);
        List<Report.BlockFigures> blocks = result == null ? List.of() : result.blocks();
        // the losses of every block, those a resumed run read back from its work directory included
        Map<String, Double> losses = Steps.figures();
        for (Report.BlockFigures f : blocks) losses.putAll(f.gptqLoss());
        Map<String, Report.TensorError> errors = Steps.figures();
        Steps.embeddingAndHead(b, config, errors);
        LlamaWeights quantized = b.build();
        QuantHooks hooks = Steps.hooks(online, config, quantized, calibration);
        Report report = Report.of(name()).withCalibration(calibration.describe()).withGptqLoss(losses).withWeightError(errors).with(options)
                .with(new Seconds(Steps.round(seconds[0]), Steps.round(seconds[1]), Steps.round(seconds[2]), Steps.round(seconds[3])))
                .withBlocks(blocks, result == null ? null : result.resumed());
        return new QuantizedModel(quantized, hooks, config, List.of(), report);
    }

    /**
     * Where GPTQ's time went, summed over the blocks: the forward passes that capture each group's inputs, the Hessians'
     * XᵀX products, the f64 factors of the Hessians, and the column loops (with packing). True-sequential GPTQ also
     * computes the next block's inputs (in {@code captureForward}); without it, the block driver does, in the rest of a
     * block's seconds (its {@code blocks} figure).
     */
    public record Seconds(double captureForward, double hessians, double hessianFactors, double columnLoops) implements Report.Section, Report.Stages {
        @Override public String key() { return "gptq_seconds"; }

        @Override public Map<String, Double> stageSeconds() {
            Map<String, Double> m = new java.util.LinkedHashMap<>();
            m.put("captures and forwards", captureForward);
            m.put("Hessians", hessians);
            m.put("factors", hessianFactors);
            m.put("column loops", columnLoops);
            return m;
        }
    }

    private BlockDriver.Result quantizeBlocks(LlamaWeights fp, Hooks online, WeightsBuilder b, CalibrationData calibration, QuantConfig config,
                                              ProgressFactory progress, double[] seconds) {
        Quantizer quantizer = new Quantizer(config.weight());
        GgmlTarget ggml = config.ggml();
        // The working model reads every linear weight through the builder (quantized ones as soon as they exist) and
        // applies the online transforms everywhere else: within a block, each group's Hessian sees the groups before it
        // already quantized (true-sequential).
        LlamaModel work = new LlamaModel(fp, online.then(new Hooks() {
            @Override public Var weight(int layer, Linear which, Var w) { return which == Linear.HEAD ? w : Var.of(b.get(layer, which)); }
        }));
        List<List<Linear>> order = options.trueSequential() ? SEQUENTIAL : List.of(Linears.BLOCK);
        int layers = fp.config().layers();
        // each block's inputs are the quantized blocks' outputs (GPTQ's llama_sequential)
        BlockDriver.Resume resume = workDir == null ? null
                : new BlockDriver.Resume(workDir, name() + "-" + config.shorthand().replace(" ", ""), fingerprint(fp, calibration, config));
        BlockDriver driver = new BlockDriver(name(), BlockDriver.Inputs.QUANTIZED, false, false, resume, listener);
        if (options.trueSequential()) driver = driver.withScratch(SequentialCapture.scratchFloatsPerToken(fp.config()));
        BlockDriver.Result result = driver.run(fp, calibration, block -> {
            int l = block.layer();
            Map<String, Double> losses = new java.util.LinkedHashMap<>();
            // true-sequential: each group's inputs from the block run up to it once (SequentialCapture); else one pass
            SequentialCapture sequential = options.trueSequential() ? new SequentialCapture(work, block) : null;
            try (Progress p = progress.open("gptq layer " + block.position(), Linears.BLOCK.size(), "linears")) {
                for (List<Linear> group : order) {
                    Map<Input, Hessian> hessians = new EnumMap<>(Input.class);
                    Set<Input> sites = EnumSet.noneOf(Input.class);
                    for (Linear which : group) {
                        Input site = Linears.inputOf(which);
                        sites.add(site);
                        if (!hessians.containsKey(site)) hessians.put(site, new Hessian(b.get(l, which).size(1)));
                    }
                    long c0 = System.nanoTime();
                    double[] inHessians = {0};
                    java.util.function.BiConsumer<Input, Tensor> sink = (site, x) -> {
                        long h0 = System.nanoTime();
                        hessians.get(site).add(x);
                        inHessians[0] += (System.nanoTime() - h0) * 1e-9;
                    };
                    if (sequential != null) sequential.capture(sites.iterator().next(), sink);
                    else Capture.inputs(work, l, block.inputList(), sites, sink);
                    seconds[0] += (System.nanoTime() - c0) * 1e-9 - inHessians[0];
                    seconds[1] += inHessians[0];
                    // the Hessian's factor depends on the inputs alone: one per input site (q/k/v share theirs)
                    Map<Input, GptqSolver.HessianFactor> factors = new EnumMap<>(Input.class);
                    for (Linear which : group) {
                        String name = Linears.name(l, which);
                        Tensor w = b.get(l, which);
                        int rows = w.size(0), cols = w.size(1);
                        Supplier<GptqSolver.HessianFactor> factor = () -> factors.computeIfAbsent(Linears.inputOf(which), site -> {
                            long i0 = System.nanoTime();
                            var f = GptqSolver.factor(hessians.get(site).matrix(), cols, ggml != null ? options.withActOrder(false) : options, name);
                            seconds[2] += (System.nanoTime() - i0) * 1e-9;
                            return f;
                        });
                        long s0 = System.nanoTime();
                        double factorBefore = seconds[2]; // the factor is made lazily, inside the solve
                        double loss;
                        if (ggml != null) {   // on llama.cpp's grid of this matrix
                            double[] lossOut = new double[1];
                            b.set(l, which, onGrid(ggml, w, l, layers, which, factor, options, name, lossOut));
                            loss = lossOut[0];
                        } else {
                            GptqSolver.Result r = GptqSolver.quantize(w.toFloatArray(), rows, factor.get(), quantizer, options, name);
                            b.set(l, which, Steps.packedOrF32(r.weights(), r.codes(), rows, cols, r.params(), quantizer.spec(), name));
                            loss = r.loss();
                        }
                        seconds[3] += (System.nanoTime() - s0) * 1e-9 - (seconds[2] - factorBefore);
                        losses.put(name, Steps.round(loss));
                        p.status(name.substring(name.lastIndexOf('.') + 1) + " loss " + String.format(java.util.Locale.ROOT, "%.4g", loss));
                        p.step(1);
                    }
                }
            }
            if (sequential == null) return new BlockDriver.Done(b.layer(l), List.of(), Report.BlockFigures.gptq(losses));
            long o0 = System.nanoTime();
            Activations outputs = sequential.outputs(block.outputs());
            seconds[0] += (System.nanoTime() - o0) * 1e-9;
            return new BlockDriver.Done(b.layer(l), List.of(), Report.BlockFigures.gptq(losses), outputs);
        }, done -> online);
        // a resumed run read its finished blocks back from the work directory
        for (int l = 0; l < result.resumedAfter(); l++)
            for (Linear which : Linears.BLOCK) b.set(l, which, Linears.weight(result.layers().get(l), which));
        return result;
    }

    /** What a resumable run depends on: model (config and a checksum of every weight), data (every token), config, options. */
    private String fingerprint(LlamaWeights fp, CalibrationData calibration, QuantConfig config) {
        return String.format(java.util.Locale.ROOT, "gptq-1 %s | %s | %s | calibration %s seed %d n=%d T=%d crc %08x | model %s crc %08x",
                name(), config, options, calibration.source(), calibration.seed(), calibration.size(), calibration.seqLen(),
                Fingerprints.tokens(calibration), fp.config(), Fingerprints.model(fp));
    }

    /**
     * GPTQ on the grid of one linear: block headers by the format's rule on w, codes by GPTQ's column loop under the
     * Hessian factor (prepared without act-order, and only when a grid is chosen); returns the dequantized blocks
     * (checked equal, bit for bit, to the values GPTQ propagated errors against) and GPTQ's loss in {@code loss[0]}. A
     * matrix stored as F16 is rounded to f16 (nothing to choose).
     */
    private static Tensor onGrid(GgmlTarget target, Tensor w, int layer, int layers, Linear which, Supplier<GptqSolver.HessianFactor> factor, Options o,
                              String name, double[] loss) {
        int rows = w.size(0), cols = w.size(1);
        FileType.Choice choice = target.choose(layer, layers, which, cols);
        if (choice.type() == GgmlType.F16) {
            loss[0] = Double.NaN;
            return target.recordF16(w, choice);
        }
        float[] x = w.toFloatArray();
        MatrixGrid grid = target.grid(x, rows, cols, choice, name);
        GptqSolver.Result r = GptqSolver.quantize(x, rows, factor.get(), grid::quantize, o, name);
        Tensor wq = target.record(grid, choice);
        float[] v = wq.toFloatArray();
        for (int i = 0; i < v.length; i++)
            if (Float.floatToRawIntBits(v[i]) != Float.floatToRawIntBits(r.weights()[i]))
                throw new IllegalStateException("ggml gptq " + name + ": element " + i + " dequantizes to " + v[i] + " but GPTQ used " + r.weights()[i]);
        loss[0] = r.loss();
        return wq;
    }
}
