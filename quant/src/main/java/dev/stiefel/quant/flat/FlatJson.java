package dev.stiefel.quant.flat;

import dev.stiefel.quant.ActivationQuantizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.transform.Site;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * FlatQuant's run-time parts as the packed model file holds them (docs/FORMAT.md): each layer's learned Kronecker
 * factors as f64 tensors of the file, named in the section, so the run time rounds them to f32 exactly as the
 * evaluation did; and each site's learned activation clipping as the two logits c_max, c_min of its factors.
 * <pre>
 *   {"site": "MLP_IN", "kronecker": {"layer": 3, "row_size": 4096, "left": "quantization.online.7.left", "right": ...}}
 *   {"layer": 3, "site": "MLP_IN", "spec": "int4 asym dynamic per-token", "c_max": 3.91, "c_min": 4.02}
 * </pre>
 */
public final class FlatJson {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private FlatJson() {}

    /** The entry of {@code k}, its factors put into {@code tensors} under {@code prefix}.left / .right. */
    public static ObjectNode kronecker(KroneckerOnline k, String prefix, Map<String, double[]> tensors) {
        ObjectNode n = JSON.objectNode();
        n.put("site", k.site().name());
        ObjectNode o = n.putObject("kronecker").put("layer", k.layer()).put("row_size", k.rowSize());
        factor(o, "left", k.left(), prefix, tensors);
        factor(o, "right", k.right(), prefix, tensors);
        return n;
    }

    private static void factor(ObjectNode o, String key, DMatrix m, String prefix, Map<String, double[]> tensors) {
        if (m == null) { o.putNull(key); return; }
        String name = prefix + "." + key;
        tensors.put(name, m.data.clone());
        o.put(key, name);
    }

    /** Whether an online entry is a Kronecker transform. */
    public static boolean isKronecker(JsonNode n) { return n.has("kronecker"); }

    /** The transform an entry describes, its factors read from {@code tensors}; an error names the field. */
    public static KroneckerOnline kronecker(JsonNode n, Map<String, double[]> tensors) {
        Site site = site(n.path("site").asText(""));
        JsonNode k = n.path("kronecker");
        int layer = integer(k, "layer", 0), rowSize = integer(k, "row_size", 1);
        return new KroneckerOnline(site, layer, factor(k, "left", tensors), factor(k, "right", tensors), rowSize);
    }

    private static DMatrix factor(JsonNode k, String key, Map<String, double[]> tensors) {
        JsonNode v = k.path(key);
        if (v.isNull() || v.isMissingNode()) return null;
        double[] d = tensors.get(v.asText());
        if (d == null) throw new IllegalArgumentException("kronecker." + key + " names tensor '" + v.asText() + "', which the file does not have");
        int n = (int) Math.round(Math.sqrt(d.length));
        if (n * n != d.length) throw new IllegalArgumentException("kronecker." + key + ": tensor '" + v.asText() + "' has " + d.length + " values, not a square matrix");
        return new DMatrix(n, n, d.clone());
    }

    /** Every layer's frozen clipping quantizers, in layer order. */
    public static ArrayNode clipping(List<Map<Site, ActivationQuantizer>> lac) {
        ArrayNode a = JSON.arrayNode();
        for (int l = 0; l < lac.size(); l++)
            for (Map.Entry<Site, ActivationQuantizer> e : lac.get(l).entrySet()) {
                float[] c = e.getValue().logits();
                a.addObject().put("layer", l).put("site", e.getKey().name()).put("spec", e.getValue().spec().toString())
                        .put("c_max", (double) c[0]).put("c_min", (double) c[1]);
            }
        return a;
    }

    /** The clipping quantizers of {@code layers} layers from their entries; an error names the entry and field. */
    public static List<Map<Site, ActivationQuantizer>> clipping(JsonNode a, int layers) {
        if (!a.isArray()) throw new IllegalArgumentException("activation_clipping must be an array, got " + a);
        List<Map<Site, ActivationQuantizer>> out = new ArrayList<>();
        for (int l = 0; l < layers; l++) out.add(new EnumMap<>(Site.class));
        for (int i = 0; i < a.size(); i++) {
            JsonNode e = a.get(i);
            try {
                int layer = integer(e, "layer", 0);
                if (layer >= layers) throw new IllegalArgumentException("layer " + layer + " of a model of " + layers);
                JsonNode cMax = e.path("c_max"), cMin = e.path("c_min");
                if (!cMax.isNumber() || !cMin.isNumber()) throw new IllegalArgumentException("c_max and c_min must be numbers");
                out.get(layer).put(site(e.path("site").asText("")), ActivationQuantizer.learnedClipping(QuantSpec.parse(e.path("spec").asText("")), cMax.floatValue(), cMin.floatValue()));
            } catch (IllegalArgumentException x) {
                throw new IllegalArgumentException("activation_clipping[" + i + "]: " + x.getMessage());
            }
        }
        return out;
    }

    private static Site site(String name) {
        try {
            return Site.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("site '" + name + "' is not one of " + java.util.Arrays.toString(Site.values()));
        }
    }

    private static int integer(JsonNode o, String key, int min) {
        JsonNode v = o.path(key);
        if (!v.canConvertToExactIntegral() || v.asLong() < min || v.asLong() > 1 << 24)
            throw new IllegalArgumentException("'" + key + "' must be an integer ≥ " + min + ", got " + v);
        return v.asInt();
    }
}
