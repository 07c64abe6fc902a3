package dev.stiefel.opencl;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Losses;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** A LLaMA model (GQA, both RoPE layouts) forward and backward on the OpenCL backend against the CPU backend, and what it moves. */
class LlamaOnOpenClTest extends OnDevice {
    static final LlamaConfig C = new LlamaConfig(64, 172, 2, 8, 4, 8, 97, 1e-5f, 10000, null, Rope.Layout.INTERLEAVED, false, 64);

    static Tensor ids(long seed, int batch, int t) {
        Random rnd = new Random(seed);
        int[] ids = new int[batch * t];
        for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(C.vocabSize());
        return Tensor.ofInts(ids, batch, t);
    }

    static int[] targets(Tensor ids) {
        int[] t = ids.toIntArray(), out = new int[t.length];
        for (int i = 0; i < t.length; i++) out[i] = t[(i + 1) % t.length];
        return out;
    }

    static double relativeError(Tensor got, Tensor want) {
        float[] a = got.toFloatArray(), b = want.toFloatArray();
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs((double) a[i] - b[i]));
            den = Math.max(den, Math.abs((double) b[i]));
        }
        return num / den;
    }

    /** Loss, logits and every weight's gradient of one training step of a trainable model on the current backend. */
    record Step(double loss, Tensor logits, List<Tensor> grads) {}

    static Step step(LlamaWeights w, Tensor ids) {
        LlamaModel model = new LlamaModel(w).trainable();
        Var logits = model.forward(ids, null);
        Var loss = Losses.crossEntropy(logits, targets(ids));
        loss.backward();
        List<Tensor> grads = new ArrayList<>();
        for (Var p : model.parameters()) grads.add(p.grad().toHost());
        return new Step(loss.value().item(), logits.value().toHost(), grads);
    }

    @Test
    void forwardAndBackwardMatchTheCpu() {
        for (Rope.Layout layout : Rope.Layout.values()) {
            LlamaConfig c = new LlamaConfig(C.dim(), C.hiddenDim(), C.layers(), C.heads(), C.kvHeads(), C.headDim(), C.vocabSize(),
                    C.normEps(), C.ropeTheta(), null, layout, layout == Rope.Layout.HALF, C.maxSeqLen());
            LlamaWeights w = SyntheticWeights.create(c, DType.F32, 5);
            Tensor ids = ids(9, 2, 13);
            Backends.use(CpuBackend.INSTANCE);
            Step cpu = step(w, ids);
            Backends.use(cl);
            Step gpu = step(w, ids);
            assertThat(Math.abs(gpu.loss() - cpu.loss()) / cpu.loss()).as("loss, " + layout).isLessThan(1e-5);
            assertThat(relativeError(gpu.logits(), cpu.logits())).as("logits, " + layout).isLessThan(1e-5);
            for (int i = 0; i < cpu.grads().size(); i++)
                assertThat(relativeError(gpu.grads().get(i), cpu.grads().get(i))).as("gradient of weight " + i + ", " + layout).isLessThan(1e-4);
        }
    }

    @Test
    void aForwardPassOfResidentWeightsMovesOnlyTokensMasksAndLogits() {
        LlamaWeights host = SyntheticWeights.create(C, DType.F32, 6);
        Backends.use(cl);
        LlamaWeights onDevice = host.map(cl::resident);
        long weightBytes = 0, smallestMatrix = Long.MAX_VALUE;
        for (Tensor t : host.tensors()) {
            weightBytes += 4L * t.numel();
            if (t.dim() == 2) smallestMatrix = Math.min(smallestMatrix, 4L * t.numel());
        }
        for (Tensor t : onDevice.tensors()) assertThat(t.isOnDevice()).isTrue();
        LlamaModel model = new LlamaModel(onDevice);
        Tensor ids = ids(3, 1, 11);
        Tensor logits;
        try (var off = Grad.off()) {
            model.forward(ids, null); // rope tables and causal masks are made once per set of positions
            Transfers start = cl.transfers();
            logits = model.forward(ids, null).value();
            Transfers moved = cl.transfers().minus(start);
            // up: the token ids; nothing of the weights, no mask
            assertThat(moved.uploadBytes()).as(moved.toString()).isEqualTo(4L * 11);
            assertThat(moved.uploadBytes()).isLessThan(smallestMatrix).isLessThan(weightBytes / 100);
            assertThat(moved.downloads()).as("nothing comes back until the logits are read").isZero();
        }
        Transfers start = cl.transfers();
        float[] values = logits.toFloatArray();
        Transfers read = cl.transfers().minus(start);
        assertThat(read.downloads()).isEqualTo(1);
        assertThat(read.downloadBytes()).isEqualTo(4L * values.length);
    }

    @Test
    void aScopeGivesItsBuffersBackAndTheNextPassReusesThem() {
        LlamaWeights host = SyntheticWeights.create(C, DType.F32, 7);
        Backends.use(cl);
        LlamaWeights onDevice = host.map(cl::resident);
        LlamaModel model = new LlamaModel(onDevice);
        Tensor ids = ids(4, 2, 9);
        float[] first;
        for (int warmUp = 0; warmUp < 2; warmUp++) // the pool fills up with the classes a pass needs
            try (var off = Grad.off(); var scope = cl.scope()) {
                model.forward(ids, null);
            }
        try (var off = Grad.off(); var scope = cl.scope()) {
            first = model.forward(ids, null).value().toFloatArray();
        }
        long live = cl.liveBuffers(), allocations = cl.bufferStats().allocations();
        Tensor kept;
        try (var off = Grad.off(); var scope = cl.scope()) {
            kept = scope.keep(model.forward(ids, null).value());
            assertThat(cl.liveBuffers()).as("the pass's activations are live inside the scope").isGreaterThan(live + 1);
        }
        assertThat(cl.liveBuffers()).as("only the kept logits outlive the scope").isEqualTo(live + 1);
        assertThat(cl.bufferStats().allocations()).as("the second pass took its buffers from the pool").isEqualTo(allocations);
        assertThat(kept.toFloatArray()).as("deterministic kernels: the same logits twice").containsExactly(first);
        Tensor released;
        try (var off = Grad.off(); var scope = cl.scope()) {
            released = model.forward(ids, null).value();
        }
        Tensor gone = released;
        org.assertj.core.api.Assertions.assertThatThrownBy(gone::toFloatArray).hasMessageContaining("released");
    }
}
