package dev.stiefel.quant.transform;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The online transforms of a quantized model as JSON, for the packed model file (docs/FORMAT.md): each one its site
 * and a recipe that rebuilds the very same rotation, not its matrix, so the run time computes what the evaluation
 * computed bit for bit (the fast Hadamard transform, the same random signs from the same seed):
 * <pre>
 *   {"site": "MLP_OUT", "rotation": {"kind": "hadamard", "n": 11008}}
 *   {"site": "ATTN_OUT", "rotation": {"kind": "across_blocks", "block": 128, "of": {"kind": "hadamard", "n": 32}}}
 *   {"kind": "randomized_hadamard", "n": 4096, "seed": 0}      {"kind": "random_orthogonal", "n": 172, "seed": 0}
 * </pre>
 * A transform with no recipe (a learned dense rotation applied online, FlatQuant's Kronecker factors) is refused by
 * name: the format does not hold it yet.
 */
public final class OnlineJson {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private OnlineJson() {}

    /** The recipe of {@code o}, or an error naming the transform that has none. */
    public static ObjectNode toJson(Online o) {
        if (!(o instanceof RotationOnline r))
            throw new IllegalArgumentException("packed format: the online transform '" + o.describe() + "' cannot be stored yet (only rotations with a recipe can)");
        ObjectNode n = JSON.objectNode();
        n.put("site", r.site().name());
        n.set("rotation", rotation(r.m(), o));
        return n;
    }

    private static ObjectNode rotation(Rotation m, Online where) {
        ObjectNode n = JSON.objectNode();
        switch (m) {
            case HadamardRotation h when h.randomized() -> n.put("kind", "randomized_hadamard").put("n", h.size()).put("seed", h.seed());
            case HadamardRotation h -> n.put("kind", "hadamard").put("n", h.size());
            case DenseRotation d when d.seed >= 0 -> n.put("kind", "random_orthogonal").put("n", d.size()).put("seed", d.seed);
            case AcrossBlocks a -> {
                n.put("kind", "across_blocks").put("block", a.blockSize());
                n.set("of", rotation(a.inner(), where));
            }
            default -> throw new IllegalArgumentException("packed format: the rotation '" + m.describe() + "' of '" + where.describe()
                    + "' has no recipe (a learned matrix applied online cannot be stored yet)");
        }
        return n;
    }

    /** The transform a recipe describes; an error names the field that is wrong (the caller adds the file). */
    public static Online fromJson(JsonNode n) {
        String site = n.path("site").asText("");
        Site s;
        try {
            s = Site.valueOf(site);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("online transform: site '" + site + "' is not one of " + java.util.Arrays.toString(Site.values()));
        }
        return new RotationOnline(s, rotation(n.path("rotation")));
    }

    private static Rotation rotation(JsonNode n) {
        String kind = n.path("kind").asText("");
        int size = positive(n, "n", kind.equals("across_blocks"));
        return switch (kind) {
            case "hadamard" -> {
                if (!dev.stiefel.riemann.hadamard.Hadamard.isKnown(size))
                    throw new IllegalArgumentException("online transform: no Hadamard matrix of order " + size + " is known to this build");
                yield Rotation.hadamard(size);
            }
            case "randomized_hadamard" -> {
                if (!dev.stiefel.riemann.hadamard.Hadamard.isKnown(size))
                    throw new IllegalArgumentException("online transform: no Hadamard matrix of order " + size + " is known to this build");
                yield Rotation.randomHadamard(size, seed(n));
            }
            case "random_orthogonal" -> Rotation.randomOrthogonal(size, seed(n));
            case "across_blocks" -> Rotation.acrossBlocks(rotation(n.path("of")), positive(n, "block", false));
            default -> throw new IllegalArgumentException("online transform: rotation kind '" + kind
                    + "' is not one of hadamard, randomized_hadamard, random_orthogonal, across_blocks");
        };
    }

    private static int positive(JsonNode n, String key, boolean optional) {
        JsonNode v = n.path(key);
        if (optional && v.isMissingNode()) return 0;
        if (!v.canConvertToExactIntegral() || v.asLong() < 1 || v.asLong() > 1 << 20)
            throw new IllegalArgumentException("online transform: '" + key + "' must be an integer in [1, 2^20], got " + v);
        return v.asInt();
    }

    private static long seed(JsonNode n) {
        JsonNode v = n.path("seed");
        if (!v.canConvertToExactIntegral()) throw new IllegalArgumentException("online transform: 'seed' must be an integer, got " + v);
        return v.asLong();
    }
}
