package dev.stiefel.quant;

import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a method produces: the weights with every quantized linear replaced by its fake-quantized f32 tensor (computed
 * once, not on every forward), the hooks that quantize activations and the KV cache on the fly, and a report of every
 * setting that produced them (method options, quantizer specs, calibration data, per-layer errors), in insertion order
 * so a JSON report reads top to bottom.
 *
 * <p>The weights may share tensors (norms, an unquantized embedding) with the full-precision weights they came from,
 * so those must stay open while this model is used.
 */
public record QuantizedModel(LlamaWeights weights, Hooks hooks, Map<String, Object> report) {

    public QuantizedModel {
        report = Collections.unmodifiableMap(new LinkedHashMap<>(report));
    }

    /** The model to evaluate or generate with. */
    public LlamaModel model() { return new LlamaModel(weights, hooks); }
}
