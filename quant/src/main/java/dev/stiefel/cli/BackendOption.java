package dev.stiefel.cli;

import dev.stiefel.tensor.backend.Backends;
import picocli.CommandLine.Option;

/** {@code --backend NAME}: the tensor backend the command computes on (as {@code -Dstiefel.backend}; {@code stiefel info} lists them). */
final class BackendOption {
    @Option(names = "--backend", paramLabel = "NAME", description = "tensor backend: cpu (default) or opencl (-Dstiefel.opencl.platform/device pick the device)")
    void select(String name) { Backends.use(Backends.byName(name)); }
}
