package dev.stiefel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stiefel.llama.Hooks;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.method.Gptq;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The report's JSON: snake_case fields, sections under their keys, blocks by module name, nothing for what is absent. */
class ReportJsonTest {

    @Test void aTypedReportBecomesTheJsonPeopleRead() {
        Map<String, Report.TensorError> errors = new LinkedHashMap<>();
        errors.put("model.layers.0.mlp.down_proj", Report.TensorError.of(0.08));
        errors.put("lm_head", new Report.TensorError(0.02, "Q6_K", null));
        errors.put("model.embed_tokens", new Report.TensorError(0.05, "Q8_0", "row of 172 is not a multiple of 256"));
        Report r = Report.of("gptq").withWeightError(errors).withGptqLoss(Map.of("model.layers.0.mlp.down_proj", 0.25))
                .with(Gptq.Options.defaults())
                .withBlocks(List.of(Report.BlockFigures.learned(2, List.of(1.5, 1.25), 1).withSeconds(0.5)), new Report.Resumed("work/run", 1))
                .withSkipped(Map.of("let_qk", "why"));
        JsonNode n = ReportJson.of(new QuantizedModel(null, Hooks.NONE, QuantConfig.FP, List.of(), r));

        assertThat(n.get("method").asText()).isEqualTo("gptq");
        assertThat(n.has("calibration")).as("absent: no calibration data").isFalse();
        JsonNode e = n.get("weight_relative_error");
        assertThat(e.get("model.layers.0.mlp.down_proj").isNumber()).isTrue();
        assertThat(e.get("lm_head").get("type").asText()).isEqualTo("Q6_K");
        assertThat(e.get("lm_head").has("fallback")).isFalse();
        assertThat(e.get("model.embed_tokens").get("fallback").asText()).contains("172");
        assertThat(n.get("gptq_loss").get("model.layers.0.mlp.down_proj").asDouble()).isEqualTo(0.25);
        assertThat(n.get("gptq").get("block_size").asInt()).isEqualTo(128);
        assertThat(n.get("gptq").get("true_sequential").asBoolean()).isTrue();
        assertThat(n.get("gptq").has("key")).as("the key names the section; it is not a field").isFalse();
        JsonNode b = n.get("blocks").get("model.layers.0");
        assertThat(b.get("mse_before").asDouble()).isEqualTo(2);
        assertThat(b.get("epoch_loss")).hasSize(2);
        assertThat(b.has("kind")).isFalse();
        assertThat(b.has("search")).isFalse();
        assertThat(n.get("work_dir").asText()).isEqualTo("work/run");
        assertThat(n.get("resumed_after_blocks").asInt()).isEqualTo(1);
        assertThat(n.get("skipped").get("let_qk").asText()).isEqualTo("why");
        assertThat(n.get("online_at_run_time")).isEmpty();
    }
}
