package dev.stiefel.quant.calib;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Generator;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Sampler;
import dev.stiefel.llama.testing.RandomModels;
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

class CalibrationTest {
    private final LlamaConfig config = RandomModels.config(16, 28, 2, 4, 2, 29, Rope.Layout.HALF, true);
    private final LlamaWeights weights = RandomModels.random(config, 3);

    /** A stream whose token at index i is i, so a window shows where it came from. */
    private static int[] positions(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = i;
        return t;
    }

    @Test void windowsAreContiguousSlicesDrawnBySeed() {
        int[] stream = positions(1000);
        CalibrationData a = CalibrationData.sample(stream, 20, 37, 42, "stream");
        CalibrationData b = CalibrationData.sample(stream, 20, 37, 42, "stream");
        CalibrationData c = CalibrationData.sample(stream, 20, 37, 43, "stream");
        assertThat(a.size()).isEqualTo(20);
        assertThat(a.seqLen()).isEqualTo(37);
        for (int i = 0; i < 20; i++) {
            int[] s = a.samples().get(i);
            for (int k = 1; k < s.length; k++) assertThat(s[k]).isEqualTo(s[0] + k);
            assertThat(s[0]).isBetween(0, 1000 - 37);
            assertThat(s).isEqualTo(b.samples().get(i));
        }
        boolean differs = false;
        for (int i = 0; i < 20; i++) differs |= a.samples().get(i)[0] != c.samples().get(i)[0];
        assertThat(differs).isTrue();
        assertThat(a.ids(3).shape()).containsExactly(1, 37);
        assertThat(a.describe()).isEqualTo(new CalibrationData.Description(a.source(), 20, 37, 42L));
        assertThat(a.first(5).size()).isEqualTo(5);
        // the whole stream is one window when they are equally long
        assertThat(CalibrationData.sample(positions(10), 3, 10, 1, "s").samples()).allSatisfy(s -> assertThat(s).isEqualTo(positions(10)));
        assertThatThrownBy(() -> CalibrationData.sample(positions(10), 1, 11, 1, "tiny.txt")).hasMessageContaining("tiny.txt")
                .hasMessageContaining("fewer than one window of 11");
        assertThatThrownBy(() -> CalibrationData.sample(positions(10), 0, 5, 1, "s")).hasMessageContaining("n >= 1");
    }

    @Test void aSplitKeepsCalibrationWindowsOutOfTheEvaluationPart() {
        int[] stream = positions(5003);
        TokenSplit split = TokenSplit.of(stream, TokenSplit.DEFAULT_CALIBRATION_FRACTION);
        assertThat(split.cut()).isEqualTo(5003 - 500);
        assertThat(split.evaluation()).isEqualTo(java.util.Arrays.copyOfRange(stream, 0, split.cut()));
        assertThat(split.calibration()).isEqualTo(java.util.Arrays.copyOfRange(stream, split.cut(), 5003));
        CalibrationData d = CalibrationData.sample(split.calibration(), 64, 100, 7, "stream");
        for (int[] s : d.samples()) for (int t : s) assertThat(t).isGreaterThanOrEqualTo(split.cut());
        assertThat(TokenSplit.of(stream, 0).evaluation()).hasSize(5003);
        assertThat(TokenSplit.of(stream, 0).calibration()).isEmpty();
        assertThatThrownBy(() -> TokenSplit.of(stream, 1)).hasMessageContaining("[0, 1)");
    }

    @Test void generatedSamplesAreTheModelsOwnSeededText() {
        // untied: a random tied model mostly repeats its input token (its own embedding scores highest)
        LlamaModel model = new LlamaModel(RandomModels.random(RandomModels.config(16, 28, 2, 4, 2, 29, Rope.Layout.HALF, false), 8));
        CalibrationData a = CalibrationData.generated(model, 3, 20, 1, 1.0, 0.95, 9);
        CalibrationData b = CalibrationData.generated(model, 3, 20, 1, 1.0, 0.95, 9);
        assertThat(a.size()).isEqualTo(3);
        for (int i = 0; i < 3; i++) {
            int[] s = a.samples().get(i);
            assertThat(s).hasSize(20).startsWith(1).isEqualTo(b.samples().get(i));
            int[] direct = new Generator(model).generate(new int[]{1}, 19, Sampler.of(1.0, 0.95, 9 + i), -1, t -> {}).tokens();
            assertThat(s).isEqualTo(direct);
        }
        assertThat(a.samples().get(0)).isNotEqualTo(a.samples().get(1));
        assertThat(a.source()).contains("generated").contains("temperature 1.0");
        assertThatThrownBy(() -> CalibrationData.generated(model, 1, 65, 1, 1, 1, 0)).hasMessageContaining("context of 64");
    }

    @Test void captureHandsOverWhatTheLinearLayersMultiplyAndStopsEarly() {
        Random rnd = new Random(4);
        int[] toks = RandomModels.tokens(rnd, 11, config.vocabSize());
        CalibrationData data = new CalibrationData(List.of(toks), "t", 0);
        // reference: record every site of layer 1 during a full forward
        Map<Input, Tensor> seen = new EnumMap<>(Input.class);
        Hooks recorder = new Hooks() {
            @Override public Var input(int l, Input where, Var x) { if (l == 1) seen.put(where, x.value()); return x; }
        };
        try (var off = Grad.off()) { new LlamaModel(weights, recorder).forward(data.ids(0), null); }

        LlamaModel model = new LlamaModel(weights);
        List<Tensor> x0 = Capture.embed(model, data);
        List<Tensor> x1 = Capture.runBlock(model, 0, x0);
        Map<Input, Tensor> captured = new EnumMap<>(Input.class);
        Capture.inputs(model, 1, x1, Set.of(Input.ATTN_IN, Input.MLP_OUT), captured::put);
        assertThat(captured.keySet()).containsExactly(Input.ATTN_IN, Input.MLP_OUT);
        for (Input where : captured.keySet()) {
            assertThat(captured.get(where).shape()).containsExactly(11, where == Input.MLP_OUT ? 28 : 16);
            assertThat(captured.get(where).toFloatArray()).as(where.name()).isEqualTo(seen.get(where).toFloatArray());
        }

        // capturing only the attention input stops before any linear weight of the block is read
        List<String> weightsRead = new ArrayList<>();
        LlamaModel counting = model.withHooks(new Hooks() {
            @Override public Var weight(int l, Linear which, Var w) { weightsRead.add(l + "." + which); return w; }
        });
        Capture.inputs(counting, 1, x1, Set.of(Input.ATTN_IN), (w, t) -> {});
        assertThat(weightsRead).isEmpty();
        Capture.inputs(counting, 1, x1, Set.of(Input.MLP_IN), (w, t) -> {});
        assertThat(weightsRead).containsExactly("1.Q", "1.K", "1.V", "1.O");
        assertThatThrownBy(() -> Capture.inputs(model, 0, x0, Set.of(Input.HEAD_IN), (w, t) -> {})).hasMessageContaining("head");
    }
}
