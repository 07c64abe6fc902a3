package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;

/**
 * The last stage of every recipe: the weights of a (transformed) model to their grid, RTN or GPTQ. {@code online} holds
 * the transforms the forward pass applies at run time (QuaRot's online Hadamards): GPTQ's Hessians are built from the
 * activations after them, and the activation/KV quantizers act after them. A recipe takes a stage instead of a switch,
 * so every method that quantizes with GPTQ gets GPTQ's options.
 */
public interface WeightStage {

    /** {@code rtn} or {@code gptq}, for names and reports. */
    String name();

    QuantizedModel apply(LlamaWeights fused, Hooks online, CalibrationData calibration, QuantConfig config, ProgressFactory progress);
}
