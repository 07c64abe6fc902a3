package dev.stiefel.quant;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.quant.flat.Factor;
import dev.stiefel.quant.flat.FlatBlock;
import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.omni.Let;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The calibration methods' learnable parameters are made where the current backend computes: on a device they live
 * there from the start (each op reads them without an upload; the optimizer moves each once per step), on the CPU
 * they are the heap tensors {@code Var.param} makes.
 */
class ParametersOnOpenClTest extends OnOpenCl {

    @Test void learnedClippingScalesAndFactorsLiveOnTheDevice() {
        List<Var> made = new ArrayList<>();
        made.addAll(new Lwc(QuantSpec.weights(4, false, 16), 6, 64).parameters());
        made.addAll(ActivationQuantizer.learnableClipping(QuantSpec.activations(4, false, 0), true).parameters());
        for (Factor.Form form : Factor.Form.values()) {
            Factor f = Factor.initial(form, 8, 3);
            made.addAll(f.euclidean());
            made.addAll(f.stiefel());
        }
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);
        LlamaWeights fp = RandomModels.random(c, 5);
        ChannelMaxima maxima = new ChannelMaxima(0);
        try (var off = Grad.off()) {
            Backends.use(CpuBackend.INSTANCE);
            new LlamaModel(fp, maxima).block(0, new LlamaModel(fp).embed(Tensor.ofInts(new int[]{1, 5, 9, 2}, 1, 4)), 0, null);
        }
        Backends.use(cl);
        FlatBlock b = new FlatBlock(c, 0, TransformKind.AFFINE, Factor.Form.SVD, true, 0.3, fp.layer(0), maxima, QuantConfig.parse("W4A4KV4"), true, true, 3);
        made.addAll(b.transformParameters());
        made.addAll(b.stiefelParameters());
        made.addAll(b.clippingParameters());
        assertThat(made).hasSizeGreaterThan(20).allSatisfy(p -> assertThat(p.value().isOnDevice()).as("%s", p).isTrue());
    }

    /** OmniQuant's LET scales live on the device and are truncated there, with the heap's values bit for bit. */
    @Test void letScalesAreTruncatedOnTheDeviceAsOnTheHeap() {
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);
        Random rnd = new Random(8);
        float[][] start = new float[4][];
        int[] sizes = {c.dim(), c.dim(), c.kvDim(), c.kvHeads() * c.headDim() / 2};
        float[] edges = {1e-2f, -1e-2f, Math.nextDown(1e-2f), -Math.nextDown(1e-2f), 1e-30f, -1e-30f, Float.MIN_VALUE, 5e-3f, -7e-3f, 3f, -2f};
        for (int k = 0; k < 4; k++) {
            start[k] = new float[sizes[k]];
            for (int i = 0; i < sizes[k]; i++) start[k][i] = i < edges.length ? edges[i] : (float) (rnd.nextGaussian() * 0.02);
        }
        Backends.use(CpuBackend.INSTANCE);
        Let heap = Let.of(c, start[0], start[1], start[2], start[3]);
        Backends.use(cl);
        Let device = Let.of(c, start[0], start[1], start[2], start[3]);
        assertThat(device.parameters()).allSatisfy(p -> assertThat(p.value().isOnDevice()).isTrue());
        float[][] h = {heap.attn(), heap.mlp(), heap.out(), heap.qk()}, d = {device.attn(), device.mlp(), device.out(), device.qk()};
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < h[k].length; i++)
                assertThat(Float.floatToIntBits(d[k][i])).as("scale set %d, %d: %s vs %s", k, i, d[k][i], h[k][i]).isEqualTo(Float.floatToIntBits(h[k][i]));
        float[] special = {-0f, 0f, Float.NaN};
        float[] got = Let.truncated(cl.resident(Tensor.wrap(special, 3))).toFloatArray();
        assertThat(got[0]).isEqualTo(1e-2f);
        assertThat(got[1]).isEqualTo(1e-2f);
        assertThat(got[2]).isNaN();
    }

    @Test void onTheCpuAParameterIsItsStartingTensor() {
        Backends.use(CpuBackend.INSTANCE);
        Tensor init = Tensor.randn(new Random(1), 3, 4);
        Var p = Parameters.of(init);
        assertThat(p.value()).isSameAs(init);
        assertThat(p.requiresGrad()).isTrue();
        assertThat(new Lwc(QuantSpec.weights(4, false, 16), 6, 64).parameters()).allSatisfy(q -> assertThat(q.value().isOnDevice()).isFalse());
    }
}
