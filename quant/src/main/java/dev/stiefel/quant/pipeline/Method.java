package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;

/**
 * A post-training quantization method: a recipe over the shared parts (quantizers, hooks, calibration capture,
 * weight rewriting). RTN and GPTQ implement it here; SmoothQuant, AWQ, QuaRot and the learned-transform methods
 * compose these parts the same way.
 */
public interface Method {

    /** The name reports and the command line use, e.g. {@code rtn}, {@code gptq}. */
    String name();

    /**
     * Quantizes {@code fp} as {@code config} says. {@code calibration} may be null for methods that need no data (RTN);
     * {@code fp} is not modified.
     */
    QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress);
}
