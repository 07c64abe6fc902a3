package dev.stiefel.opencl;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Host scalars in element-wise ops (x.ge(lo), a constant 1-element tensor) go over once, not with every op. */
class ScalarOperandsOnOpenClTest extends OnDevice {

    @Test void aScalarOperandIsUploadedOnce() {
        Tensor x = Tensor.randn(new Random(21), 5, 7), onCl = cl.resident(x);
        Backends.use(cl);
        float[] first = onCl.ge(0.375f).toFloatArray();
        Transfers before = cl.transfers();
        Tensor again = onCl.ge(0.375f).mul(onCl.le(0.375f)).add(onCl.mul(Tensor.scalar(0.375f)));
        assertThat(cl.transfers().minus(before).uploads()).as("scalars seen before").isZero();
        Backends.use(CpuBackend.INSTANCE);
        assertThat(first).containsExactly(x.ge(0.375f).toFloatArray());
        assertThat(again.toFloatArray()).containsExactly(x.ge(0.375f).mul(x.le(0.375f)).add(x.mul(Tensor.scalar(0.375f))).toFloatArray());
    }

    /** Scalars computed from data (hundreds of distinct values) do not stop a constant from being cached. */
    @Test void theCacheKeepsTheScalarsUsedLast() {
        Backends.use(cl);
        Tensor x = cl.resident(Tensor.randn(new Random(25), 4, 4));
        Random rnd = new Random(26);
        for (int i = 0; i < 600; i++) x.ge((float) rnd.nextGaussian());
        x.le(0.8125f);
        Transfers before = cl.transfers();
        x.le(0.8125f);
        assertThat(cl.transfers().minus(before).uploads()).isZero();
    }

    @Test void aClampsGradientMovesNothingOnceItsBoundsWereSeen() {
        Tensor x = Tensor.randn(new Random(22), 9, 11), g = Tensor.randn(new Random(23), 9, 11);
        Backends.use(cl);
        Tensor dx = cl.resident(x), dg = cl.resident(g);
        Var p = Var.param(dx);
        p.clamp(-0.5f, 0.75f).backward(dg);
        Var q = Var.param(dx);
        Transfers before = cl.transfers();
        q.clamp(-0.5f, 0.75f).backward(dg);
        assertThat(cl.transfers().minus(before).uploads()).isZero();
        assertThat(q.grad().toFloatArray()).containsExactly(p.grad().toFloatArray());
    }

    /** The gradient of a sum arrives as the seed broadcast over the summed tensor: the next op reads it expanded, not uploaded. */
    @Test void aBroadcastValueIsNotUploadedElementByElement() {
        Random rnd = new Random(24);
        Tensor x = Tensor.randn(rnd, 40, 30), w = Tensor.randn(rnd, 40, 30);
        Backends.use(cl);
        Tensor dx = cl.resident(x), dw = cl.resident(w);
        Var p = Var.param(dx);
        p.mul(Var.of(dw)).sum().backward();
        Var q = Var.param(dx);
        Transfers before = cl.transfers();
        q.mul(Var.of(dw)).sum().backward();
        assertThat(cl.transfers().minus(before)).as("the seed, 1.0").isEqualTo(new Transfers(1, 4, 0, 0));
        assertThat(q.grad().toFloatArray()).containsExactly(w.toFloatArray());
        Tensor broadcast = Tensor.full(2.5f, 40, 1).expand(40, 30);
        assertThat(dx.mul(broadcast).toFloatArray()).containsExactly(x.toHost().mul(2.5f).toFloatArray());
    }

    /** A scalar first seen inside a scope is cached outside it: closing the scope does not give its buffer back. */
    @Test void aScalarCachedInsideAScopeOutlivesIt() {
        Backends.use(cl);
        Tensor x = cl.resident(Tensor.full(1f, 6));
        try (var scope = cl.scope()) {
            x.ge(0.6875f).toFloatArray();
        }
        Transfers before = cl.transfers();
        assertThat(x.ge(0.6875f).toFloatArray()).containsExactly(1f, 1f, 1f, 1f, 1f, 1f);
        assertThat(cl.transfers().minus(before).uploads()).isZero();
    }

    @Test void aResidentScalarIsItsOwnBuffer() {
        Backends.use(cl);
        Tensor probe = cl.resident(Tensor.full(1f, 3));
        probe.ge(2.5f).toFloatArray(); // 2.5 is now a cached operand
        Tensor mine = cl.resident(Tensor.scalar(2.5f));
        mine.copyFrom(Tensor.scalar(-4f));
        assertThat(mine.item()).isEqualTo(-4f);
        assertThat(cl.resident(Tensor.full(0f, 3)).ge(2.5f).toFloatArray()).as("the cached 2.5 is untouched").containsExactly(0f, 0f, 0f);
    }
}
