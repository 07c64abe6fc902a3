package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.transform.Online;

import java.util.List;

/**
 * What a method produces, the one description the evaluation, the writers and the reports read:
 * <ul>
 *   <li>{@code weights}: every quantized linear replaced by its fake-quantized values (computed once, not on every
 *       forward; as packed codes where RTN, GPTQ or OmniQuant chose them on a grid a packed matrix holds, else in f32), every
 *       transform that folds already folded in;</li>
 *   <li>{@code config}: the weight, activation, K and V specs the model was quantized for;</li>
 *   <li>{@code online}: the transforms the forward pass must still apply at run time, each at its site (QuaRot's and
 *       OSTQuant's online Hadamards, FlatQuant's Kronecker products). Empty when the weights alone are the model;</li>
 *   <li>{@code hooks}: the forward pass's hooks that apply {@code online} and quantize activations and the KV cache;</li>
 *   <li>{@code report}: how it was made ({@link Report}: the method, its settings and figures, typed). It is for
 *       people: no code decides anything from it.</li>
 * </ul>
 * The weights may share tensors (norms, an unquantized embedding) with the full-precision weights they came from,
 * so those must stay open while this model is used.
 */
public record QuantizedModel(LlamaWeights weights, Hooks hooks, QuantConfig config, List<Online> online, Report report) {

    public QuantizedModel {
        online = List.copyOf(online);
    }

    /** The model to evaluate or generate with. */
    public LlamaModel model() { return new LlamaModel(weights, hooks); }

    /** Whether the weights alone compute this model (nothing runs online besides the activation/KV quantizers). */
    public boolean foldedIntoWeights() { return online.isEmpty(); }

    /** The same model with its online transforms named and a method's report in place of the inner step's. */
    public QuantizedModel withOnline(List<Online> transforms, Report newReport) {
        return new QuantizedModel(weights, hooks, config, transforms, newReport);
    }

    /** The same model with another report (a recipe wrapping an inner step's result). */
    public QuantizedModel withReport(Report newReport) { return new QuantizedModel(weights, hooks, config, online, newReport); }
}
