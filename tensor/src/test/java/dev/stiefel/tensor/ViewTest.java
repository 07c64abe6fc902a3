package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class ViewTest {
    final Random rnd = new Random(41);

    @Test
    void reshapeIsAViewOfContiguousDataAndACopyOtherwise() {
        Tensor x = Tensor.randn(rnd, 7, 33);
        Tensor r = x.reshape(33, -1);
        assertThat(r.shape()).containsExactly(33, 7);
        assertThat(r.storage()).isSameAs(x.storage());
        assertThat(r.toFloatArray()).containsExactly(x.toFloatArray());
        Tensor t = x.t();
        assertThat(t.isContiguous()).isFalse();
        Tensor tr = t.reshape(-1);
        assertThat(tr.storage()).isNotSameAs(x.storage());
        for (int i = 0; i < 33; i++) for (int j = 0; j < 7; j++) assertThat(tr.get(i * 7 + j)).isEqualTo(x.get(j, i));
    }

    @Test
    void permuteTransposeAndContiguousAgreeWithIndexArithmetic() {
        Tensor x = Tensor.randn(rnd, 3, 7, 5);
        Tensor p = x.permute(2, 0, 1);
        assertThat(p.shape()).containsExactly(5, 3, 7);
        Tensor c = p.contiguous();
        assertThat(c.isContiguous()).isTrue();
        Ref.forEachIndex(p.shape(), i -> assertThat(c.get(i)).isEqualTo(x.get(i[1], i[2], i[0])));
        Tensor tr = x.transpose(0, -1);
        Ref.forEachIndex(tr.shape(), i -> assertThat(tr.get(i)).isEqualTo(x.get(i[2], i[1], i[0])));
    }

    @Test
    void sliceNarrowSelectSqueezeUnsqueezeExpand() {
        Tensor x = Tensor.randn(rnd, 9, 33);
        Tensor s = x.slice(1, 2, 31, 4);
        assertThat(s.shape()).containsExactly(9, 8);
        Ref.forEachIndex(s.shape(), i -> assertThat(s.get(i)).isEqualTo(x.get(i[0], 2 + 4 * i[1])));
        Tensor n = x.narrow(0, 3, 5);
        assertThat(n.shape()).containsExactly(5, 33);
        assertThat(n.get(0, 0)).isEqualTo(x.get(3, 0));
        Tensor row = x.select(0, 4);
        assertThat(row.shape()).containsExactly(33);
        assertThat(row.get(7)).isEqualTo(x.get(4, 7));
        Tensor col = x.select(1, 6);
        assertThat(col.toFloatArray()).hasSize(9);
        assertThat(col.get(8)).isEqualTo(x.get(8, 6));
        Tensor u = row.unsqueeze(0).unsqueeze(-1);
        assertThat(u.shape()).containsExactly(1, 33, 1);
        assertThat(u.squeeze(0).squeeze(-1).toFloatArray()).containsExactly(row.toFloatArray());
        Tensor e = x.select(0, 2).unsqueeze(0).expand(4, 33);
        assertThat(e.strides()).containsExactly(0, 1);
        Ref.forEachIndex(e.shape(), i -> assertThat(e.get(i)).isEqualTo(x.get(2, i[1])));
        assertThat(e.contiguous().toFloatArray()).hasSize(4 * 33);
        // a column broadcast along rows: stride 0 in the inner dim, so each row of the copy is one value repeated
        Tensor wide = x.select(1, 2).unsqueeze(1).expand(9, 33), copied = wide.contiguous();
        Ref.forEachIndex(copied.shape(), i -> assertThat(copied.get(i)).isEqualTo(x.get(i[0], 2)));
    }

    @Test
    void writesThroughAViewReachTheOriginal() {
        Tensor x = Tensor.zeros(3, 4);
        x.t().set(5f, 3, 1);
        assertThat(x.get(1, 3)).isEqualTo(5f);
        x.narrow(1, 1, 2).copyFrom(Tensor.of(new float[]{1, 2}, 2));
        assertThat(x.select(0, 2).toFloatArray()).containsExactly(0, 1, 2, 0);
    }

    @Test
    void concatAndStack() {
        Tensor a = Tensor.randn(rnd, 3, 7), b = Tensor.randn(rnd, 3, 33).t().t(), c = Tensor.randn(rnd, 33, 3).t();
        Tensor cat = Tensor.concat(1, a, b, c);
        assertThat(cat.shape()).containsExactly(3, 73);
        Ref.forEachIndex(cat.shape(), i -> {
            int j = i[1];
            float expected = j < 7 ? a.get(i[0], j) : j < 40 ? b.get(i[0], j - 7) : c.get(i[0], j - 40);
            assertThat(cat.get(i)).isEqualTo(expected);
        });
        Tensor s = Tensor.stack(1, a, a.mul(2f));
        assertThat(s.shape()).containsExactly(3, 2, 7);
        assertThat(s.get(2, 1, 5)).isEqualTo(2 * a.get(2, 5));
        Tensor ints = Tensor.concat(0, Tensor.ofInts(new int[]{1 << 30, 3}, 2), Tensor.ofInts(new int[]{(1 << 30) + 1}, 1));
        assertThat(ints.toIntArray()).containsExactly(1 << 30, 3, (1 << 30) + 1);
    }

    @Test
    void embeddingIndexSelectAndGather() {
        Tensor table = Tensor.randn(rnd, 33, 7);
        Tensor ids = Tensor.ofInts(new int[]{5, 0, 32, 5, 17, 1}, 2, 3);
        Tensor emb = table.embedding(ids);
        assertThat(emb.shape()).containsExactly(2, 3, 7);
        Ref.forEachIndex(emb.shape(), i -> assertThat(emb.get(i)).isEqualTo(table.get(ids.getInt(i[0], i[1]), i[2])));
        Tensor cols = table.t().indexSelect(1, Tensor.ofInts(new int[]{3, 3, 30}, 3));
        assertThat(cols.shape()).containsExactly(7, 3);
        assertThat(cols.get(6, 2)).isEqualTo(table.get(30, 6));
        Tensor x = Tensor.randn(rnd, 4, 9);
        int[] idx = new int[4 * 3];
        for (int i = 0; i < idx.length; i++) idx[i] = rnd.nextInt(9);
        Tensor index = Tensor.ofInts(idx, 4, 3);
        Tensor g = x.gather(1, index);
        Ref.forEachIndex(g.shape(), i -> assertThat(g.get(i)).isEqualTo(x.get(i[0], index.getInt(i))));
        Tensor g0 = x.gather(0, Tensor.ofInts(new int[]{3, 0, 1}, 1, 3));
        assertThat(g0.toFloatArray()).containsExactly(x.get(3, 0), x.get(0, 1), x.get(1, 2));
    }

    @Test
    void topkMatchesAFullSort() {
        for (int n : Ref.SIZES)
            for (int k : new int[]{1, Math.max(1, n / 3), n}) {
                Tensor x = Tensor.randn(rnd, 5, n).t().contiguous().t(); // a strided view
                // ties too: round some values
                Tensor xr = x.mul(2f).round();
                for (Tensor in : new Tensor[]{x, xr}) {
                    Tensor.TopK top = in.topk(k);
                    assertThat(top.values().shape()).containsExactly(5, k);
                    for (int r = 0; r < 5; r++) {
                        final int row = r;
                        Integer[] order = new Integer[n];
                        for (int i = 0; i < n; i++) order[i] = i;
                        Arrays.sort(order, (p, q) -> {
                            int c = Float.compare(in.get(row, q), in.get(row, p));
                            return c != 0 ? c : Integer.compare(p, q);
                        });
                        for (int j = 0; j < k; j++) {
                            assertThat(top.indices().getInt(r, j)).isEqualTo(order[j]);
                            assertThat(top.values().get(r, j)).isEqualTo(in.get(r, order[j]));
                        }
                    }
                }
            }
    }

    @Test
    void triangularMasks() {
        Tensor x = Tensor.randn(rnd, 2, 5, 7);
        Tensor lo = x.tril(0), up = x.triu(1);
        Ref.forEachIndex(x.shape(), i -> {
            assertThat(lo.get(i)).isEqualTo(i[2] <= i[1] ? x.get(i) : 0f);
            assertThat(up.get(i)).isEqualTo(i[2] >= i[1] + 1 ? x.get(i) : 0f);
        });
        assertThat(lo.add(up).maxAbsDiff(x)).isZero();
        Tensor m = Tensor.causalMask(2, 5); // two new tokens after three cached ones
        assertThat(m.toFloatArray()).containsExactly(0, 0, 0, 0, Float.NEGATIVE_INFINITY, 0, 0, 0, 0, 0);
        Tensor scores = Tensor.randn(rnd, 7, 7).add(Tensor.causalMask(7, 7)).softmax(-1);
        for (int i = 0; i < 7; i++) for (int j = i + 1; j < 7; j++) assertThat(scores.get(i, j)).isZero();
    }

    @Test
    void factories() {
        assertThat(Tensor.arange(4).toFloatArray()).containsExactly(0, 1, 2, 3);
        assertThat(Tensor.full(2.5f, 2, 2).toFloatArray()).containsOnly(2.5f);
        assertThat(Tensor.scalar(3).dim()).isZero();
        assertThat(Tensor.scalar(3).item()).isEqualTo(3f);
        assertThat(Tensor.randn(new Random(1), 5).toFloatArray()).containsExactly(Tensor.randn(new Random(1), 5).toFloatArray());
        float[] shared = {1, 2};
        Tensor w = Tensor.wrap(shared, 2);
        shared[0] = 9;
        assertThat(w.get(0)).isEqualTo(9f);
        Tensor c = Tensor.of(shared, 2);
        shared[1] = 7;
        assertThat(c.get(1)).isEqualTo(2f);
    }
}
