package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.transform.Online;

/**
 * The one place a {@link Report} becomes JSON (the {@code --json} file's {@code report} of each row): its fields in
 * snake_case, each section under its key, the blocks under their module names, and the transforms the model runs
 * online. Empty figures and absent settings are left out.
 */
final class ReportJson {
    private ReportJson() {}

    private static final ObjectMapper FIELDS = Report.JSON;

    static ObjectNode of(QuantizedModel q) {
        Report r = q.report();
        ObjectNode n = FIELDS.createObjectNode();
        n.put("method", r.method());
        if (r.calibration() != null) n.set("calibration", FIELDS.valueToTree(r.calibration()));
        if (!r.weightError().isEmpty()) {
            ObjectNode e = n.putObject("weight_relative_error");
            // a plain number, or {relative, type[, fallback]} where llama.cpp's grids chose a type
            r.weightError().forEach((name, t) -> e.set(name, t.type() == null ? FIELDS.getNodeFactory().numberNode(t.relative()) : FIELDS.valueToTree(t)));
        }
        if (!r.gptqLoss().isEmpty()) n.set("gptq_loss", FIELDS.valueToTree(r.gptqLoss()));
        for (Report.Section s : r.sections()) n.set(s.key(), FIELDS.valueToTree(s));
        if (!r.skipped().isEmpty()) n.set("skipped", FIELDS.valueToTree(r.skipped()));
        if (r.resumed() != null) n.put("work_dir", r.resumed().workDir()).put("resumed_after_blocks", r.resumed().afterBlocks());
        if (!r.blocks().isEmpty()) {
            ObjectNode b = n.putObject("blocks");
            for (int l = 0; l < r.blocks().size(); l++) b.set("model.layers." + l, FIELDS.valueToTree(r.blocks().get(l)));
        }
        n.set("online_at_run_time", FIELDS.valueToTree(q.online().stream().map(Online::describe).toList()));
        return n;
    }

    /** A section as it appears in the JSON (for tests of the edge). */
    static JsonNode tree(Report.Section s) { return FIELDS.valueToTree(s); }
}
