package dev.stiefel.quant.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFormatException;
import dev.stiefel.llama.io.PackedCheckpoint;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.flat.FlatJson;
import dev.stiefel.quant.flat.FlatRuntime;
import dev.stiefel.quant.flat.KroneckerOnline;
import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.quant.omni.QueryQuantHooks;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.quant.transform.OnlineHooks;
import dev.stiefel.quant.transform.OnlineJson;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.cpu.CpuBackend;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link QuantizedModel} as a packed model directory ({@link PackedCheckpoint}, docs/FORMAT.md), and back: the
 * quantized matrices as their codes ({@link GridFit}: found from the evaluated weights and checked element by element),
 * and in config.json's section what runs around them at run time: the method, the config's specs, the online
 * transforms ({@link OnlineJson}) and the static activation/KV ranges. Loading rebuilds the same {@link QuantHooks}
 * over the same online transforms, so the packed model computes the evaluated model; only the products' summation
 * order differs (the packed kernels').
 *
 * <p>Before anything is written, the rebuilt hooks are run on the evaluated f32 weights beside the method's own
 * hooks: the logits must agree bit for bit, so a method whose run-time behaviour the section does not capture is
 * refused instead of being saved as something else.
 */
public final class PackedExport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private PackedExport() {}

    /** What was written: the layout, how many matrices were packed, which were not (name → why), and their bytes. */
    public record Result(PackedCheckpoint.Packing packing, int packed, Map<String, String> fallback, long packedBytes) {}

    /** The code width that holds a b-bit grid: 2, 3, 4, or 8 for 5..8 bits (a 6-bit grid in 8-bit codes is exact). */
    static int containerBits(int bits) { return bits <= 4 ? bits : 8; }

    /** The layout a config's weights get, or an error saying why the format cannot hold them. */
    public static PackedCheckpoint.Packing packing(QuantConfig config) {
        QuantSpec w = config.weight();
        if (config.ggml() != null)
            throw new IllegalArgumentException("packed format: " + config.shorthand() + " is a llama.cpp grid; save it as a GGUF file (--save model.gguf)");
        if (w == null) throw new IllegalArgumentException("packed format: " + config.shorthand() + " leaves the weights in full precision; there is nothing to pack "
                + "(--save-format hf writes the model as an f32 checkpoint)");
        int g = w.granularity() == QuantSpec.Granularity.PER_TENSOR ? 0 : w.groupSize();
        if (g % dev.stiefel.tensor.packed.PackedMatrix.BLOCK != 0)
            throw new IllegalArgumentException("packed format: weight groups of " + g + " columns; packed codes need a multiple of "
                    + dev.stiefel.tensor.packed.PackedMatrix.BLOCK + " (or per-channel scales; --save-format hf writes the fake-quantized f32 checkpoint)");
        return new PackedCheckpoint.Packing(containerBits(w.bits()), g, w.symmetric());
    }

    /** Writes {@code q} to {@code dir}; the method is named in the file. Refuses what the format cannot reproduce. */
    public static Result write(QuantizedModel q, String method, Path dir) throws IOException { return write(q, method, dir, ProgressFactory.SILENT); }

    /** The same, with a progress bar over the layers being packed (a 7B model's codes take a while to find). */
    public static Result write(QuantizedModel q, String method, Path dir, ProgressFactory progress) throws IOException {
        PackedCheckpoint.Packing packing = packing(q.config());
        Map<String, String> fallback = new LinkedHashMap<>();
        LlamaWeights packed = packWeights(q, packing, fallback, progress);
        Map<String, double[]> tensors = new LinkedHashMap<>();
        ObjectNode section = section(q, method, fallback, tensors);
        checkHooks(q, section, tensors);
        PackedCheckpoint.write(packed, packing, section, tensors, dir);
        long bytes = 0;
        int n = 0;
        for (Tensor t : packed.tensors()) // (each once: a tied head is the embedding)
            if (t.storage() instanceof PackedStorage ps) { bytes += ps.matrix().bytes(); n++; }
        return new Result(packing, n, fallback, bytes);
    }

    /**
     * The packed model a loaded packed checkpoint holds: its weights (codes mapped in place), and the hooks, config and
     * online transforms its section describes. An error names the file and the field.
     */
    public static QuantizedModel load(LoadedModel m) throws ModelFormatException { return load(m, CpuBackend.INSTANCE); }

    /**
     * {@link #load(LoadedModel)} for {@code backend}. On the CPU the products read the mapped codes in place and the
     * activation quantizers hand them integer levels; a device backend keeps each packed matrix packed in its memory
     * ({@link Backend#resident}: codes, scales and zero points, uploaded once) and quantizes activations and K/V to
     * their values (the same numbers; integer levels are the CPU kernels' form of them).
     */
    public static QuantizedModel load(LoadedModel m, Backend backend) throws ModelFormatException {
        if (!m.isPacked()) throw new IllegalArgumentException(m.source() + " is not a packed model");
        Path file = m.source().resolve("config.json");
        try {
            if (backend.name().equals(CpuBackend.NAME)) return runtime(fromSection(m.weights(), m.quantization(), m.quantizationTensors()));
            return fromSection(m.weights().map(backend::resident), m.quantization(), m.quantizationTensors());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file, PackedCheckpoint.SECTION + ": " + e.getMessage());
        }
    }

    /**
     * Round-to-nearest straight to codes, one matrix at a time (no f32 copy of the model is ever held): each block
     * linear, and the embedding and head when the config says, fake-quantized with the weight spec and packed. With
     * the config's dynamic activation/KV quantizers this is {@code rtn}'s model as a packed one (benchmarks on
     * synthetic weights; static ranges would need calibration and are refused).
     */
    public static QuantizedModel rtn(LlamaWeights w, QuantConfig c, ProgressFactory progress) {
        PackedCheckpoint.Packing packing = packing(c);
        for (QuantSpec s : new QuantSpec[]{c.activation(), c.key(), c.value()})
            if (s != null && !s.dynamic()) throw new IllegalArgumentException("packed rtn: static " + s + " needs calibration; use quantize --save");
        dev.stiefel.quant.Quantizer q = new dev.stiefel.quant.Quantizer(c.weight());
        Map<String, String> fallback = new LinkedHashMap<>();
        Map<Tensor, Tensor> done = new IdentityHashMap<>();
        WeightsBuilder b = new WeightsBuilder(w);
        try (dev.stiefel.llama.Progress p = progress.open("rtn to codes", w.config().layers(), "layers")) {
            for (int l = 0; l < w.config().layers(); l++) {
                for (Linear which : Linears.BLOCK) {
                    String name = Linears.name(l, which) + ".weight";
                    Tensor t = Linears.weight(w, l, which);
                    float[] v = t.toFloatArray();
                    dev.stiefel.quant.QuantParams params = q.fit(v, t.size(0), t.size(1), name);
                    // codes straight from the parameters where the grid is a code width; else found from the values
                    b.set(l, which, Steps.packable(c.weight(), params, t.size(0), t.size(1)) ? Steps.packedOrF32(v, t.size(0), t.size(1), params, c.weight())
                            : pack(Tensor.wrap(dev.stiefel.quant.Quantizer.apply(v, params), t.size(0), t.size(1)), c, packing, name, fallback, done));
                }
                p.step(1);
            }
        }
        if (c.quantizeEmbedding()) b.embedding(pack(q.fakeQuant(w.embedding(), "model.embed_tokens.weight"), c, packing, "model.embed_tokens.weight", fallback, done));
        if (c.quantizeHead()) b.head(c.quantizeEmbedding() && w.output() == w.embedding() ? b.build().embedding()
                : pack(q.fakeQuant(w.output(), "lm_head.weight"), c, packing, "lm_head.weight", fallback, done));
        if (!fallback.isEmpty()) throw new IllegalStateException("packed rtn: off the grid it was just quantized on: " + fallback);
        return runtime(new QuantizedModel(b.build(), QuantHooks.of(c), c, List.of(), Report.of("rtn")));
    }

    // ------------------------------------------------------------ weights

    /** Every quantized matrix of {@code q} as codes, or in f32 (recorded in {@code fallback}) where its values are off the grid. */
    static LlamaWeights packWeights(QuantizedModel q, PackedCheckpoint.Packing packing, Map<String, String> fallback, ProgressFactory progress) {
        LlamaWeights w = q.weights();
        QuantConfig c = q.config();
        WeightsBuilder b = new WeightsBuilder(w);
        Map<Tensor, Tensor> done = new IdentityHashMap<>(); // a tied embedding/head is one matrix
        try (dev.stiefel.llama.Progress p = progress.open("packing", w.config().layers(), "layers")) {
            for (int l = 0; l < w.config().layers(); l++) {
                for (Linear which : Linears.BLOCK) b.set(l, which, pack(Linears.weight(w, l, which), c, packing, Linears.name(l, which) + ".weight", fallback, done));
                p.step(1);
            }
        }
        if (c.quantizeEmbedding()) b.embedding(pack(w.embedding(), c, packing, "model.embed_tokens.weight", fallback, done));
        if (c.quantizeHead()) b.head(pack(w.output(), c, packing, "lm_head.weight", fallback, done));
        return b.build();
    }

    private static Tensor pack(Tensor t, QuantConfig c, PackedCheckpoint.Packing packing, String name, Map<String, String> fallback, Map<Tensor, Tensor> done) {
        Tensor seen = done.get(t);
        if (seen != null) return seen;
        // already codes of this layout (RTN and GPTQ keep their results packed): written as they are
        if (t.storage() instanceof PackedStorage ps && ps.matrix().bits() == packing.bits() && ps.matrix().groupSize() == packing.groupSize()
                && ps.matrix().symmetric() == packing.symmetric() && t.offset() == 0 && t.isContiguous()) {
            done.put(t, t);
            return t;
        }
        Tensor out;
        try {
            out = PackedStorage.tensor(GridFit.pack(t.toFloatArray(), t.size(0), t.size(1), c.weight().bits(), packing.bits(), packing.groupSize(), packing.symmetric(), name));
        } catch (GridFit.OffGrid e) {
            fallback.put(name, "stored in f32: " + e.getMessage());
            out = t.to(dev.stiefel.tensor.DType.F32);
        }
        done.put(t, out);
        return out;
    }

    // ------------------------------------------------------------ the section

    /**
     * The method, the config's specs, the run-time hooks (which kind, the online transforms, the static ranges or the
     * learned clipping) of {@code q}, as JSON; tensors it refers to go into {@code tensors}.
     */
    static ObjectNode section(QuantizedModel q, String method, Map<String, String> fallback, Map<String, double[]> tensors) {
        List<Hooks> parts = new ArrayList<>();
        flatten(q.hooks(), parts);
        String kind;
        QueryQuantHooks query = null;
        if (parts.size() == 1 && parts.getFirst() instanceof FlatRuntime) kind = FLATQUANT;
        else if (parts.getFirst() instanceof QuantHooks && (parts.size() == 1 || parts.size() == 2 && parts.get(1) instanceof QueryQuantHooks qq && (query = qq) != null))
            kind = QUANTIZERS;
        else throw new IllegalArgumentException("packed format: " + method + "'s run-time hooks (" + q.hooks() + ") are not stored by this format yet; "
                    + "only activation/KV quantizers after online transforms (with OmniQuant's Q quantizer), and FlatQuant's, are");
        QuantConfig c = q.config();
        ObjectNode s = JSON.createObjectNode();
        s.put("method", method);
        ObjectNode cfg = s.putObject("config");
        cfg.put("shorthand", c.shorthand());
        spec(cfg, "weights", c.weight());
        spec(cfg, "activations", c.activation());
        spec(cfg, "k_cache", c.key());
        spec(cfg, "v_cache", c.value());
        cfg.put("quantize_embedding", c.quantizeEmbedding()).put("quantize_head", c.quantizeHead());
        s.put("hooks", kind);
        ArrayNode online = s.putArray("online");
        for (Online o : q.online())
            online.add(o instanceof KroneckerOnline k ? FlatJson.kronecker(k, PackedCheckpoint.TENSOR_PREFIX + "online." + online.size(), tensors) : OnlineJson.toJson(o));
        if (query != null) s.put("query", query.query().spec().toString());
        if (parts.getFirst() instanceof QuantHooks hooks) {
            ObjectNode ranges = s.putObject("static_ranges");
            hooks.staticParams().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
                QuantParams p = e.getValue();
                if (p.paramRows() != 1 || p.groups() != 1) throw new IllegalStateException("static range of " + e.getKey() + " is not one scale: " + p);
                ranges.putObject(e.getKey()).put("scale", (double) p.scale()[0]).put("zero", (double) p.zero()[0]);
            });
        }
        if (parts.getFirst() instanceof FlatRuntime f) s.set("activation_clipping", FlatJson.clipping(f.clipping()));
        ObjectNode fb = s.putObject("fallback");
        fallback.forEach(fb::put);
        return s;
    }

    /**
     * The model with its activation quantizers handing integer levels to the products ({@link QuantHooks#withIntegerLevels}):
     * how the packed runtime runs W8A8, W4A8 and W4A4 (the values are the same; the products become integer dot products).
     */
    static QuantizedModel runtime(QuantizedModel q) {
        List<Hooks> parts = new ArrayList<>();
        flatten(q.hooks(), parts);
        Hooks h = null;
        for (Hooks p : parts) {
            Hooks r = p instanceof QuantHooks qh ? qh.withIntegerLevels() : p;
            h = h == null ? r : h.then(r);
        }
        return new QuantizedModel(q.weights(), h, q.config(), q.online(), q.report());
    }

    /** The parts of hooks composed with {@link Hooks#then}, in order. */
    private static void flatten(Hooks h, List<Hooks> out) {
        if (h instanceof Hooks.Then t) {
            flatten(t.first(), out);
            flatten(t.next(), out);
        } else out.add(h);
    }

    /** The two kinds of run-time hooks the section describes. */
    static final String QUANTIZERS = "quantizers", FLATQUANT = "flatquant";

    private static void spec(ObjectNode o, String key, QuantSpec s) {
        if (s == null) o.putNull(key);
        else o.put(key, s.toString());
    }

    /** The model a section describes around {@code weights}: the same hooks {@link Steps} would have built. */
    static QuantizedModel fromSection(LlamaWeights weights, JsonNode s, Map<String, double[]> tensors) {
        JsonNode cfg = s.path("config");
        if (!cfg.isObject()) throw new IllegalArgumentException("config must be an object, got " + s.get("config"));
        QuantConfig c = new QuantConfig(spec(cfg, "weights"), spec(cfg, "activations"), spec(cfg, "k_cache"), spec(cfg, "v_cache"),
                bool(cfg, "quantize_embedding"), bool(cfg, "quantize_head"));
        List<Online> online = new ArrayList<>();
        JsonNode list = s.path("online");
        if (!list.isArray()) throw new IllegalArgumentException("online must be an array, got " + s.get("online"));
        for (int i = 0; i < list.size(); i++) {
            try {
                Online o = FlatJson.isKronecker(list.get(i)) ? FlatJson.kronecker(list.get(i), tensors) : OnlineJson.fromJson(list.get(i));
                int width = siteWidth(weights.config(), o.site());
                if (o.rowSize() != width)
                    throw new IllegalArgumentException("a transform of rows of " + o.rowSize() + " at " + o.site() + ", where this model's rows have " + width);
                if (o instanceof KroneckerOnline k && k.layer() >= weights.config().layers())
                    throw new IllegalArgumentException("layer " + k.layer() + " of a model of " + weights.config().layers());
                online.add(o);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("online[" + i + "]: " + e.getMessage());
            }
        }
        String kind = s.path("hooks").asText("");
        Report report = Report.of(s.path("method").asText("?"));
        if (kind.equals(FLATQUANT))
            return new QuantizedModel(weights, new FlatRuntime(online, FlatJson.clipping(s.path("activation_clipping"), weights.config().layers())), c, online, report);
        if (!kind.equals(QUANTIZERS)) throw new IllegalArgumentException("hooks must be \"" + QUANTIZERS + "\" or \"" + FLATQUANT + "\", got " + s.get("hooks"));
        Map<String, QuantParams> ranges = new LinkedHashMap<>();
        JsonNode r = s.path("static_ranges");
        if (!r.isObject()) throw new IllegalArgumentException("static_ranges must be an object, got " + s.get("static_ranges"));
        for (var it = r.fields(); it.hasNext(); ) {
            var e = it.next();
            String site = e.getKey();
            QuantSpec spec = site.endsWith("k_cache") ? c.key() : site.endsWith("v_cache") ? c.value() : c.activation();
            JsonNode scale = e.getValue().path("scale"), zero = e.getValue().path("zero");
            if (spec == null || spec.dynamic())
                throw new IllegalArgumentException("static_ranges." + site + ": the config has no static quantizer there");
            if (!scale.isNumber() || !zero.isNumber() || !(scale.floatValue() > 0) || !Float.isFinite(scale.floatValue())
                    || zero.floatValue() != Math.rint(zero.floatValue()) || zero.floatValue() < (spec.symmetric() ? 0 : spec.qmin()) || zero.floatValue() > (spec.symmetric() ? 0 : spec.qmax()))
                throw new IllegalArgumentException("static_ranges." + site + " must be {a finite scale > 0, a zero point on the " + spec + " grid}, got " + e.getValue());
            ranges.put(site, new QuantParams(spec.bits(), spec.symmetric(), 1, 1, 1, 1, new float[]{scale.floatValue()}, new float[]{zero.floatValue()}, new int[1]));
        }
        for (String site : QuantHooks.staticSites(c, weights.config().layers()))
            if (!ranges.containsKey(site)) throw new IllegalArgumentException("static_ranges has no range for " + site + ", which the config quantizes with a static range");
        Hooks hooks = QuantHooks.calibrated(OnlineHooks.of(online), c, ranges);
        JsonNode query = s.path("query");
        if (!query.isMissingNode() && !query.isNull()) { // OmniQuant's Q quantizer, after RoPE, per head
            if (!query.isTextual()) throw new IllegalArgumentException("query must be a spec, got " + query);
            hooks = hooks.then(new QueryQuantHooks(ActivationQuantizer.of(QuantSpec.parse(query.asText()), ActivationQuantizer.Gradient.CONSTANT_RANGE)));
        }
        return new QuantizedModel(weights, hooks, c, online, report);
    }

    /** Features per row at a site: the linear inputs' widths, one head's features for Q/K/V. */
    private static int siteWidth(dev.stiefel.llama.LlamaConfig c, dev.stiefel.quant.transform.Site site) {
        return switch (site) {
            case ATTN_IN, MLP_IN, HEAD_IN -> c.dim();
            case ATTN_OUT -> c.qDim();
            case MLP_OUT -> c.hiddenDim();
            case QUERY, KEY, VALUE -> c.headDim();
        };
    }

    private static QuantSpec spec(JsonNode cfg, String key) {
        JsonNode v = cfg.get(key);
        if (v == null || v.isNull()) return null;
        if (!v.isTextual()) throw new IllegalArgumentException("config." + key + " must be a spec like \"int4 sym g128 static per-channel\", got " + v);
        try {
            return QuantSpec.parse(v.asText());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config." + key + ": " + e.getMessage());
        }
    }

    private static boolean bool(JsonNode cfg, String key) {
        JsonNode v = cfg.path(key);
        if (!v.isBoolean()) throw new IllegalArgumentException("config." + key + " must be true or false, got " + cfg.get(key));
        return v.asBoolean();
    }

    /**
     * The hooks the section rebuilds, on the evaluated f32 weights, against the method's own hooks: every logit equal,
     * bit for bit, on a probe of seeded random tokens, or the model is refused.
     */
    static void checkHooks(QuantizedModel q, ObjectNode section, Map<String, double[]> tensors) {
        QuantizedModel rebuilt = runtime(fromSection(q.weights(), section, tensors)); // as load() rebuilds them
        java.util.Random rnd = new java.util.Random(0);
        int[] ids = new int[Math.min(12, q.weights().config().maxSeqLen())];
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(q.weights().config().vocabSize());
        Tensor t = Tensor.ofInts(ids, 1, ids.length);
        float[] a, b;
        try (var off = Grad.off()) {
            a = q.model().forward(t, null).value().toFloatArray();
            b = rebuilt.model().forward(t, null).value().toFloatArray();
        }
        if (!Arrays.equals(a, b)) {
            double d = 0;
            for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
            throw new IllegalArgumentException("packed format: the hooks rebuilt from the file do not compute what " + section.path("method").asText()
                    + "'s hooks compute (max logit difference " + d + " on the probe); its run-time behaviour is not captured by the format, so it is not saved");
        }
    }
}
