package dev.stiefel.tensor.backend;

import java.util.List;
import java.util.Optional;

/** Service interface through which optional backends (OpenCL) make themselves known without tensor importing them. */
public interface BackendProvider {
    /** The name chosen with {@code -Dstiefel.backend}. */
    String name();

    /** The backend, or empty when it cannot run here (no device, no driver), with the reason logged by the provider. */
    Optional<Backend> create();

    /** What this backend sees on the machine (platforms and devices, or why there are none), one line each. */
    default List<String> describe() { return List.of(); }
}
