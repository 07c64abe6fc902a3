package dev.stiefel.opencl;

import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * A test on the OpenCL backend ({@link #cl}; skipped with the reason where the machine has none) that may make it the
 * current backend: the one current before each test is restored after it.
 */
abstract class OnDevice {
    OpenClBackend cl;
    private Backend before;

    @BeforeEach void openDevice() {
        cl = OpenCl.backend();
        before = Backends.current();
    }

    @AfterEach void restoreBackend() { if (before != null) Backends.use(before); }
}
