package dev.stiefel.opencl;

import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** Buffers outside any scope: the pool's budget makes unreachable results come back before the device fills. */
class BufferPoolTest {
    @Test
    void unreachableResultsComeBackWhenTheBudgetIsReached() {
        OpenClBackend cl = OpenCl.backend();
        BufferPool.Stats start = cl.bufferStats();
        long budget = start.liveBytes() + (16L << 20);
        cl.pool().budget(budget);
        try {
            Tensor x = cl.resident(Tensor.uniform(new Random(1), -1, 1, 256, 1024)); // 1 MiB
            for (int i = 0; i < 200; i++) x = cl.unary(dev.stiefel.tensor.backend.UnaryOp.MUL_SCALAR, x, 1.0001f, 0); // 200 MiB made, 1 MiB kept
            BufferPool.Stats end = cl.bufferStats();
            assertThat(end.collections()).as("the budget asked for collections").isPositive();
            assertThat(end.liveBytes()).as("what is live stays near the budget").isLessThanOrEqualTo(budget + (2L << 20));
            assertThat(x.toFloatArray()[0]).isFinite();
        } finally {
            cl.pool().budget(cl.memoryBudget);
        }
    }
}
