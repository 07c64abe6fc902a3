package dev.stiefel.opencl;

import org.junit.jupiter.api.Assumptions;

/** The test's OpenCL backend, or the test skipped with the reason when the machine has no OpenCL platform. */
final class OpenCl {
    private OpenCl() {}

    static OpenClBackend backend() {
        var b = OpenClBackend.shared();
        Assumptions.assumeTrue(b.isPresent(), () -> "skipped: no OpenCL backend here: " + OpenClBackend.unavailableReason());
        return b.get();
    }
}
