package dev.stiefel.quant.pipeline;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Block l run one site at a time, keeping each part's result, gives bit for bit what the whole-block passes give
 * (Capture.inputs from the block's input for each site, then the block for its outputs), while the weights change
 * between the sites as true-sequential GPTQ changes them, through online hooks, on a Qwen2 model (biases) and with GQA.
 */
class SequentialCaptureTest {

    @Test void eachSiteAndTheOutputsEqualTheWholeBlockPassesBitForBit() {
        for (LlamaConfig c : List.of(RandomModels.config(24, 40, 2, 4, 2, 37, Rope.Layout.HALF, false),
                RandomModels.qwen(RandomModels.config(16, 28, 2, 4, 1, 37, Rope.Layout.HALF, true), LlamaConfig.Architecture.QWEN2))) {
            LlamaWeights fp = RandomModels.random(c, 5);
            Random rnd = new Random(6);
            CalibrationData calib = new CalibrationData(List.of(RandomModels.tokens(rnd, 9, 37), RandomModels.tokens(rnd, 9, 37)), "r", 1);
            // the weights the model reads change as groups are "quantized" (here: replaced by perturbed copies)
            Map<Linear, Tensor> replaced = new EnumMap<>(Linear.class);
            Hooks online = new Hooks() {   // an online transform of two inputs, as QuaRot's Hadamards are
                @Override public Var input(int layer, Input where, Var x) { return where == Input.ATTN_OUT || where == Input.MLP_OUT ? x.mul(0.75f).add(0.125f) : x; }
            };
            LlamaModel work = new LlamaModel(fp, online.then(new Hooks() {
                @Override public Var weight(int layer, Linear which, Var w) { return replaced.containsKey(which) ? Var.of(replaced.get(which)) : w; }
            }));
            int l = 1;
            List<Tensor> xs = Capture.runBlock(work, 0, Capture.embed(work, calib));
            BlockDriver.Block block = new BlockDriver.Block(l, Activations.Memory.of(xs), null, null, null, kind -> Activations.memory(), Activations.memory(), "1/1");
            SequentialCapture sequential = new SequentialCapture(work, block);
            List<List<Linear>> groups = List.of(List.of(Linear.Q, Linear.K, Linear.V), List.of(Linear.O), List.of(Linear.GATE, Linear.UP), List.of(Linear.DOWN));
            Input[] sites = {Input.ATTN_IN, Input.ATTN_OUT, Input.MLP_IN, Input.MLP_OUT};
            for (int g = 0; g < sites.length; g++) {
                List<Tensor> want = new ArrayList<>(), got = new ArrayList<>();
                Capture.inputs(work, l, xs, Set.of(sites[g]), (site, x) -> want.add(x));
                sequential.capture(sites[g], (site, x) -> got.add(x));
                assertThat(got).as("site %s", sites[g]).hasSameSizeAs(want);
                for (int i = 0; i < want.size(); i++) assertThat(got.get(i).toFloatArray()).as("site %s sample %d", sites[g], i).isEqualTo(want.get(i).toFloatArray());
                for (Linear which : groups.get(g)) replaced.put(which, new dev.stiefel.quant.WeightsBuilder(fp).get(l, which).mul(1.01f).add(0.001f));
            }
            List<Tensor> want = Capture.runBlock(work, l, xs);
            Activations got = sequential.outputs(Activations.memory());
            for (int i = 0; i < want.size(); i++) assertThat(got.get(i).toFloatArray()).as("outputs, sample %d", i).isEqualTo(want.get(i).toFloatArray());
        }
    }

    @Test void sitesComeInForwardOrder() {
        LlamaWeights fp = RandomModels.random(RandomModels.config(16, 24, 1, 2, 2, 19, Rope.Layout.HALF, false), 7);
        List<Tensor> xs = List.of(Tensor.randn(new Random(8), 1, 5, 16));
        BlockDriver.Block block = new BlockDriver.Block(0, Activations.Memory.of(xs), null, null, null, kind -> Activations.memory(), null, "1/1");
        SequentialCapture sequential = new SequentialCapture(new LlamaModel(fp), block);
        assertThatThrownBy(() -> sequential.capture(Input.MLP_IN, (s, x) -> {})).hasMessageContaining("expected site ATTN_IN");
        assertThatThrownBy(() -> sequential.outputs(Activations.memory())).hasMessageContaining("before the ATTN_IN inputs");
        sequential.capture(Input.ATTN_IN, (s, x) -> {});
        assertThatThrownBy(() -> sequential.capture(Input.ATTN_IN, (s, x) -> {})).hasMessageContaining("expected site ATTN_OUT");
    }
}
