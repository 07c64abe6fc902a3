package dev.stiefel.quant.method;

import dev.stiefel.quant.pipeline.WeightStage;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.calib.CalibrationData;

import java.util.List;
import java.util.Map;

/**
 * Round-to-nearest: every weight goes to its nearest level on the grid its spec defines (per channel or per group,
 * with the spec's clipping: none, a fixed ratio, or the Lp clip search), once; activations and the KV cache are
 * quantized on the fly by {@link QuantHooks}. Needs no calibration data unless a static activation range does.
 */
public record Rtn() implements Method, WeightStage {

    @Override public String name() { return "rtn"; }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        return apply(fp, Hooks.NONE, calibration, config, progress);
    }

    /**
     * RTN of a transformed model: {@code online} holds the transforms the forward applies at run time (QuaRot's
     * online Hadamards), and the activation/KV quantizers act after them.
     */
    public QuantizedModel apply(LlamaWeights fp, Hooks online, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        Map<String, Report.TensorError> errors = Steps.figures();
        WeightsBuilder b = new WeightsBuilder(fp);
        Steps.rtnLinears(b, config, progress, errors);
        Steps.embeddingAndHead(b, config, errors);
        LlamaWeights quantized = b.build();
        QuantHooks hooks = Steps.hooks(online, config, quantized, calibration);
        Report report = Report.of(name()).withWeightError(errors);
        if (calibration != null && !hooks.staticParams().isEmpty()) report = report.withCalibration(calibration.describe());
        return new QuantizedModel(quantized, hooks, config, List.of(), report);
    }
}
