package dev.stiefel.quant;

import dev.stiefel.opencl.OpenClBackend;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;

/** Tests that run with the OpenCL backend current ({@link #cl}), skipped with the reason where the machine has none. */
public abstract class OnOpenCl {
    protected OpenClBackend cl;
    private Backend before;

    @BeforeEach protected void useOpenCl() {
        var b = OpenClBackend.shared();
        Assumptions.assumeTrue(b.isPresent(), () -> "skipped: no OpenCL backend here: " + OpenClBackend.unavailableReason());
        cl = b.get();
        before = Backends.current();
        Backends.use(cl);
    }

    @AfterEach protected void restoreBackend() { if (before != null) Backends.use(before); }
}
