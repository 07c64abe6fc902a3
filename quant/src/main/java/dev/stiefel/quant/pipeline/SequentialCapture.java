package dev.stiefel.quant.pipeline;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.tensor.Tensor;

import java.util.function.BiConsumer;

/**
 * Block l run one input site at a time, as true-sequential GPTQ needs it: the inputs of q/k/v, then (with q/k/v
 * quantized) the input of o, then gate/up's, then down's, and finally the block's outputs with every weight quantized.
 * {@link dev.stiefel.quant.calib.Capture#inputs} would run the block from its input again for each site, so the q/k/v
 * products ran four times, o's three, gate/up's twice; here each part keeps what the next one starts from (the
 * attention heads, the residual stream after attention, the SwiGLU activation), so every product of the block runs
 * once. The values are bit for bit those of the whole-block passes: the same operations of
 * {@link LlamaModel#block} on the same operands, only not repeated.
 *
 * <p>What is kept between the sites goes where the block driver keeps activations (memory, or files when they would
 * crowd the heap), and is deleted once used.
 */
public final class SequentialCapture {
    private final LlamaModel model;
    private final BlockDriver.Block block;
    private final int layer;
    private Activations heads, residual, activation;
    private Input next = Input.ATTN_IN;

    /** Floats per calibration token this keeps (at most: the heads, the residual stream and the SwiGLU activation). */
    public static long scratchFloatsPerToken(LlamaConfig c) { return (long) c.heads() * c.headDim() + c.dim() + c.hiddenDim(); }

    /** @param model the model as the block is being quantized (its weights are read at each call, quantized ones included) */
    public SequentialCapture(LlamaModel model, BlockDriver.Block block) {
        this.model = model;
        this.block = block;
        this.layer = block.layer();
    }

    /**
     * Hands {@code sink} the activation entering the linear layers at {@code site}, [tokens, features] per sample, as
     * the layers multiply it (after the model's hooks). Sites come in forward order, each once.
     */
    public void capture(Input site, BiConsumer<Input, Tensor> sink) {
        if (site != next) throw new IllegalStateException("sequential capture of block " + layer + ": expected site " + next + ", got " + site);
        LlamaModel catching = model.withHooks(model.hooks().then(Hooks.observing(new Hooks.Observer() {
            @Override public void input(int l, Input where, Var y) {
                if (l != layer || where != site) return;
                int[] s = y.shape();
                sink.accept(where, y.value().reshape(-1, s[s.length - 1]));
                if (where == Input.ATTN_IN || where == Input.MLP_IN) throw Stop.INSTANCE;   // nothing after it is needed yet
            }
        })));
        Activations inputs = block.inputs();
        try (var _ = Grad.off()) {
            switch (site) {
                case ATTN_IN -> {
                    for (int i = 0; i < inputs.size(); i++) {
                        Var x = Var.of(inputs.get(i));
                        stopping(() -> catching.attentionHeads(layer, x, 0, null));
                    }
                }
                case ATTN_OUT -> {
                    Activations.Writer out = block.scratch("heads");
                    for (int i = 0; i < inputs.size(); i++) out.put(catching.attentionHeads(layer, Var.of(inputs.get(i)), 0, null).value());
                    heads = out.finish();
                }
                case MLP_IN -> {
                    Activations.Writer out = block.scratch("residual");
                    for (int i = 0; i < inputs.size(); i++) {
                        Var r = model.attentionResidual(layer, Var.of(inputs.get(i)), Var.of(heads.get(i)));
                        out.put(r.value());
                        stopping(() -> catching.mlpActivation(layer, r));
                    }
                    residual = out.finish();
                    heads.discard();
                    heads = null;
                }
                case MLP_OUT -> {
                    Activations.Writer out = block.scratch("activation");
                    for (int i = 0; i < residual.size(); i++) out.put(catching.mlpActivation(layer, Var.of(residual.get(i))).value());
                    activation = out.finish();
                }
                default -> throw new IllegalArgumentException("sequential capture: " + site + " is not inside a block");
            }
        }
        next = site == Input.MLP_OUT ? null : Input.values()[site.ordinal() + 1];
    }

    /**
     * The block's outputs with the weights the model holds now (every linear quantized), written to {@code out}, the
     * next block's inputs; null when {@code out} is (the last block). Deletes what was kept either way.
     */
    public Activations outputs(Activations.Writer out) {
        if (next != null) throw new IllegalStateException("sequential capture of block " + layer + ": outputs before the " + next + " inputs were captured");
        try (var _ = Grad.off()) {
            if (out == null) return null;
            for (int i = 0; i < residual.size(); i++)
                out.put(model.mlpResidual(layer, Var.of(residual.get(i)), Var.of(activation.get(i))).value());
            return out.finish();
        } finally {
            residual.discard();
            activation.discard();
        }
    }

    private static void stopping(Runnable pass) {
        try {
            pass.run();
        } catch (Stop stop) {
            // the rest of the pass is not needed
        }
    }

    /** Unwinds a pass once its site has been captured; carries no stack trace. */
    private static final class Stop extends RuntimeException {
        static final Stop INSTANCE = new Stop();

        private Stop() { super(null, null, false, false); }
    }
}
