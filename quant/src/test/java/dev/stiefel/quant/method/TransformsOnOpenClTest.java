package dev.stiefel.quant.method;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.opencl.Transfers;
import dev.stiefel.quant.OnOpenCl;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.transform.Rotation;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Learned and fixed transforms stay on the OpenCL device while a method learns: nothing of theirs is uploaded per use. */
class TransformsOnOpenClTest extends OnOpenCl {
    @Test void ostQuantsRotationsAndScalesLiveOnTheDeviceAndLearnThere() {
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 53, Rope.Layout.HALF, false);
        Random rnd = new Random(3);
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < 2; i++) s.add(RandomModels.tokens(rnd, 16, c.vocabSize()));
        LlamaWeights fp = RandomModels.random(c, 5).map(cl::resident);
        QuantConfig w4a4 = QuantConfig.parse("W4A4KV4");
        OstQuant.Options o = OstQuant.Options.ostquant().withEpochs(1).withBatch(1);
        OstQuantView view = OstQuant.initialView(fp, w4a4, o);
        List<Var> params = new ArrayList<>(view.rotations());
        params.addAll(view.scales());
        assertThat(params).isNotEmpty().allSatisfy(p -> assertThat(p.value().isOnDevice()).isTrue());
        float[] r0 = view.rotations().getFirst().value().toFloatArray();
        OstQuant.Learning l = OstQuant.learn(fp, view, new CalibrationData(s, "random tokens", 3), w4a4, o, ProgressFactory.SILENT);
        assertThat(l.steps()).isEqualTo(2);
        assertThat(view.rotations().getFirst().value().isOnDevice()).isTrue();
        assertThat(view.rotations().getFirst().value().toFloatArray()).as("the rotation learned").isNotEqualTo(r0);
    }

    @Test void aRotationsDenseOperandGoesUpOnce() {
        Rotation h = Rotation.randomOrthogonal(48, 2);
        Var x = Var.param(cl.resident(Tensor.randn(new Random(1), 5, 48)));
        Tensor first = h.multiply(x).value();
        Transfers start = cl.transfers();
        Tensor second = h.multiply(x).value();
        assertThat(cl.transfers().minus(start).uploadBytes()).as("the matrix is already there").isZero();
        assertThat(second.toFloatArray()).containsExactly(first.toFloatArray());
        assertThat(first.maxAbsDiff(h.multiply(x.value().toHost()))).isLessThan(1e-5);
    }
}
