package dev.stiefel.quant.pipeline;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.stiefel.quant.calib.CalibrationData;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a quantized model was made, for people: the method, the calibration data it used, each tensor's figure, each
 * step's settings and results, and the per-block figures of the block-wise methods. Typed: code and tests read its
 * fields; JSON is written from it only at the edge (the command line's {@code --json}). Nothing decides anything from
 * it: what a model <em>is</em> lives in {@link QuantizedModel}'s other fields.
 *
 * @param method          the name the command line uses, e.g. {@code quarot-gptq}
 * @param calibration     the calibration data the method used; null when it used none
 * @param weightError     per tensor rounded to its nearest grid level (RTN, and the embedding/head of every method):
 *                        ‖W − Ŵ‖ / ‖W‖, and its ggml type on llama.cpp's grids; by module name, in model order
 * @param gptqLoss        per tensor GPTQ quantized: its loss Σ (w − q)² / U_jj² / 2
 * @param sections        each step's settings and figures, in the order the steps ran (GPTQ's options, AWQ's searches,
 *                        the transforms, OSTQuant's learning, ...)
 * @param blocks          the block-wise methods' figures, one per block in layer order; empty for the others
 * @param resumed         where a resumable run kept its work, and after how many blocks it resumed; null without one
 * @param skipped         what a method left out on this architecture, and why, by name (Qwen3's q/k norm blocks some transforms)
 */
public record Report(String method, CalibrationData.Description calibration, Map<String, TensorError> weightError,
                     Map<String, Double> gptqLoss, List<Section> sections, List<BlockFigures> blocks, Resumed resumed,
                     Map<String, String> skipped) {
    /**
     * How a report's typed parts are written as JSON wherever they are (the command line's {@code --json}, a work
     * directory's state.json): snake_case field names, absent (null) values left out, unknown fields ignored on reading
     * so that a newer field does not break an older file.
     */
    public static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL).configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);


    public Report {
        weightError = Collections.unmodifiableMap(new LinkedHashMap<>(weightError));
        gptqLoss = Collections.unmodifiableMap(new LinkedHashMap<>(gptqLoss));
        sections = List.copyOf(sections);
        blocks = List.copyOf(blocks);
        skipped = Collections.unmodifiableMap(new LinkedHashMap<>(skipped));
    }

    /** A report of {@code method} with nothing in it yet. */
    public static Report of(String method) {
        return new Report(method, null, Map.of(), Map.of(), List.of(), List.of(), null, Map.of());
    }

    /** One step's settings and figures. {@link #key} names it in the JSON report. */
    public interface Section {
        String key();
    }

    /** A section that says where a step's time went, for the summary a run prints at its end. */
    public interface Stages {
        /** Seconds per stage, in the order the stages run, named for people ("column loops"). */
        Map<String, Double> stageSeconds();
    }

    /**
     * A rounded tensor's relative error; on llama.cpp's grids also the ggml type it got and, when it is not the file
     * type's usual one, the reason (null otherwise).
     */
    public record TensorError(double relative, String type, String fallback) {
        public static TensorError of(double relative) { return new TensorError(relative, null, null); }
    }

    /** How far the transformed, not yet quantized model's logits are from the original's (f32 round-off). */
    public record Equivalence(double maxAbsLogitDiff, double relative, int tokens) {}

    /**
     * The transforms of a rotation method (QuaRot, SpinQuant, OSTQuant): those folded into the weights, those llama.cpp's
     * grids leave out (it runs no online transform), and the transformed model's distance from the original before quantization.
     */
    public record Transformed(List<String> folded, List<String> onlineLeftOut, Equivalence equivalenceBeforeQuantization) implements Section {
        public Transformed {
            folded = List.copyOf(folded);
            onlineLeftOut = List.copyOf(onlineLeftOut);
        }

        @Override public String key() { return "transforms"; }
    }

    /**
     * One block of a block-wise method: the transform kind it got (FlatQuant; null otherwise), the block MSE over the
     * calibration set before and after learning, each epoch's mean training loss, the search that chose the kind (null
     * without one), GPTQ's loss of each of the block's linears (null for other methods; a resumed run reads them back
     * from its work directory), and the block's wall time.
     */
    public record BlockFigures(String kind, Double mseBefore, List<Double> epochLoss, Double mseAfter, KindSearch search,
                               Map<String, Double> gptqLoss, double seconds) {
        public static BlockFigures learned(double mseBefore, List<Double> epochLoss, double mseAfter) {
            return new BlockFigures(null, mseBefore, epochLoss, mseAfter, null, null, 0);
        }

        public static BlockFigures timed(double seconds) { return new BlockFigures(null, null, null, null, null, null, seconds); }

        /** GPTQ's block: each linear's loss, by tensor name, in the order they were quantized. */
        public static BlockFigures gptq(Map<String, Double> loss) {
            return new BlockFigures(null, null, null, null, null, Collections.unmodifiableMap(new LinkedHashMap<>(loss)), 0);
        }

        public BlockFigures withSeconds(double s) { return new BlockFigures(kind, mseBefore, epochLoss, mseAfter, search, gptqLoss, s); }

        public BlockFigures withKind(String k, KindSearch s) { return new BlockFigures(k, mseBefore, epochLoss, mseAfter, s, gptqLoss, seconds); }
    }

    /** The search over transform kinds of one block: the final logits, each epoch's loss, each candidate's MSE alone after it. */
    public record KindSearch(Map<String, Double> logits, List<Double> epochLoss, Map<String, Double> candidateMse, double seconds) {}

    /** A resumable run's work directory, and the number of blocks it found done. */
    public record Resumed(String workDir, int afterBlocks) {}

    public Report withMethod(String m) { return new Report(m, calibration, weightError, gptqLoss, sections, blocks, resumed, skipped); }

    public Report withCalibration(CalibrationData.Description c) { return new Report(method, c, weightError, gptqLoss, sections, blocks, resumed, skipped); }

    public Report withWeightError(Map<String, TensorError> e) { return new Report(method, calibration, e, gptqLoss, sections, blocks, resumed, skipped); }

    public Report withGptqLoss(Map<String, Double> l) { return new Report(method, calibration, weightError, l, sections, blocks, resumed, skipped); }

    public Report withBlocks(List<BlockFigures> b, Resumed r) { return new Report(method, calibration, weightError, gptqLoss, sections, b, r, skipped); }

    public Report withSkipped(Map<String, String> s) { return new Report(method, calibration, weightError, gptqLoss, sections, blocks, resumed, s); }

    /** This report with {@code section} appended (after the inner steps' sections). */
    public Report with(Section section) {
        List<Section> s = new ArrayList<>(sections);
        s.add(section);
        return new Report(method, calibration, weightError, gptqLoss, s, blocks, resumed, skipped);
    }

    /** The section of this type; an error naming the ones present if there is none. */
    public <S extends Section> S section(Class<S> type) {
        for (Section s : sections) if (type.isInstance(s)) return type.cast(s);
        throw new IllegalArgumentException(method + ": no " + type.getSimpleName() + " section; present: "
                + sections.stream().map(Section::key).toList());
    }

    /** Whether a section of this type is present. */
    public boolean has(Class<? extends Section> type) { return sections.stream().anyMatch(type::isInstance); }
}
