package dev.stiefel.llama;

import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link LlamaWeights#mapLayer}: one block's tensors through the function, every other tensor as it is. */
class LlamaWeightsMapTest {
    @Test void mapLayerTouchesExactlyThatBlock() {
        LlamaWeights w = RandomModels.random(RandomModels.config(16, 32, 3, 4, 2, 29, Rope.Layout.HALF, false), 2);
        Set<Tensor> passed = Collections.newSetFromMap(new IdentityHashMap<>());
        LlamaWeights m = w.mapLayer(1, t -> {
            passed.add(t);
            return t.copy();
        });
        assertThat(passed).hasSameSizeAs(w.layer(1).all()).containsAll(w.layer(1).all());
        for (int l = 0; l < 3; l++)
            for (int i = 0; i < w.layer(l).all().size(); i++) {
                Tensor before = w.layer(l).all().get(i), after = m.layer(l).all().get(i);
                if (l == 1) assertThat(after).isNotSameAs(before).satisfies(t -> assertThat(t.toFloatArray()).containsExactly(before.toFloatArray()));
                else assertThat(after).isSameAs(before);
            }
        assertThat(m.embedding()).isSameAs(w.embedding());
        assertThat(m.finalNorm()).isSameAs(w.finalNorm());
        assertThat(m.output()).isSameAs(w.output());
    }
}
