package dev.stiefel.quant.export;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.llama.io.ModelFormatException;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.quant.flat.FlatQuant;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quantization section of packed files, corrupted: a value replaced by another of any JSON type, removed, or a
 * number moved off by a little or a lot, at a random place of the section (online transforms, specs, static ranges,
 * clipping). Loading it and running a token must either work or fail with a {@link ModelFormatException} that names the
 * file; nothing else (the loader checks every field, and each online transform's width against the model).
 */
class PackedSectionFuzzTest {
    private static final int CASES = Integer.getInteger("stiefel.fuzz.cases", 200);
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    @Test void aCorruptedSectionLoadsOrIsAClearError() throws Exception {
        LlamaConfig c = RandomModels.config(64, 80, 2, 4, 2, 67, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.random(c, 3);
        var calib = RandomCalibration.of(2, 16, 67, 1);
        Methods.Options fast = Methods.Options.defaults().withFlatquant(FlatQuant.Options.defaults().withEpochs(1));
        List<Path> seeds = new ArrayList<>();
        for (String[] mc : new String[][]{{"quarot", "W4A4KV4"}, {"flatquant", "W4A8"}, {"smoothquant", "W8A8"}}) {
            Path dir = tmp.resolve("seed-" + mc[0]);
            QuantConfig config = QuantConfig.parse(mc[1]);
            if (mc[0].equals("smoothquant")) config = config.withActivation(dev.stiefel.quant.QuantSpec.parse("int8 asym static per-tensor"));
            PackedExport.write(Methods.byName(mc[0], fast).apply(fp, calib, config, ProgressFactory.SILENT), mc[0], dir);
            seeds.add(dir);
        }
        Random r = new Random(20261204);
        int loads = 0, errors = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            Path seed = seeds.get(r.nextInt(seeds.size())), dir = tmp.resolve("case" + i);
            Files.createDirectories(dir);
            for (Path f : Files.list(seed).toList()) Files.copy(f, dir.resolve(f.getFileName()));
            ObjectNode root = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
            String what = mutate((ObjectNode) root.get("quantization"), r);
            Files.writeString(dir.resolve("config.json"), root.toPrettyString());
            try (LoadedModel m = ModelFiles.load(dir)) {
                try (var off = Grad.off()) { PackedExport.load(m).model().forward(Tensor.ofInts(new int[]{1, 5, 9}, 1, 3), null); }
                loads++;
            } catch (ModelFormatException e) {
                if (e.getMessage().contains(dir.toString())) errors++;
                else failures.add("case " + i + " (" + what + "): error without the file: " + e.getMessage());
            } catch (Throwable t) {
                failures.add("case " + i + " (" + what + "): " + t);
            }
        }
        assertThat(failures).as("%d loads, %d clean errors", loads, errors).isEmpty();
        assertThat(loads).as("some corruptions leave a loadable file").isPositive();
        assertThat(errors).as("and some are refused").isPositive();
    }

    /** One corruption at a random node of the section; returns what it did. */
    private static String mutate(ObjectNode section, Random r) {
        List<Object[]> slots = new ArrayList<>(); // {container, key or index}
        collect(section, slots);
        Object[] slot = slots.get(r.nextInt(slots.size()));
        JsonNode replacement = switch (r.nextInt(8)) {
            case 0 -> JsonNodeFactory.instance.nullNode();
            case 1 -> JsonNodeFactory.instance.textNode(List.of("", "int4", "hadamard", "MLP_OUT", "flatquant", "int9 sym", "quantization.x").get(r.nextInt(7)));
            case 2 -> JsonNodeFactory.instance.numberNode(List.of(-1, 0, 1, 7, 3, 1 << 30, Integer.MAX_VALUE).get(r.nextInt(7)));
            case 3 -> JsonNodeFactory.instance.numberNode(List.of(0.5, -2.0, 1e30, Double.NaN, 1e-45).get(r.nextInt(5)));
            case 4 -> JsonNodeFactory.instance.objectNode();
            case 5 -> JsonNodeFactory.instance.arrayNode();
            case 6 -> JsonNodeFactory.instance.booleanNode(r.nextBoolean());
            default -> null; // remove
        };
        if (slot[0] instanceof ObjectNode o) {
            String key = (String) slot[1];
            if (replacement == null) o.remove(key);
            else o.set(key, replacement);
            return key + " ← " + replacement;
        }
        ArrayNode a = (ArrayNode) slot[0];
        int idx = (Integer) slot[1];
        if (replacement == null) a.remove(idx);
        else a.set(idx, replacement);
        return "[" + idx + "] ← " + replacement;
    }

    private static void collect(JsonNode n, List<Object[]> out) {
        if (n instanceof ObjectNode o) o.fieldNames().forEachRemaining(k -> { out.add(new Object[]{o, k}); collect(o.get(k), out); });
        else if (n instanceof ArrayNode a) for (int i = 0; i < a.size(); i++) { out.add(new Object[]{a, i}); collect(a.get(i), out); }
    }
}
