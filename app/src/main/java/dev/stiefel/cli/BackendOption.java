package dev.stiefel.cli;

import dev.stiefel.tensor.backend.Backends;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code --backend NAME}: the tensor backend the command computes on (as {@code -Dstiefel.backend}; {@code stiefel info} lists them). */
final class BackendOption {
    @Spec(Spec.Target.MIXEE) CommandSpec command;

    @Option(names = "--backend", paramLabel = "NAME", description = "tensor backend: cpu (default) or opencl (-Dstiefel.opencl.platform/device pick the device)")
    void select(String name) {
        try {
            Backends.use(Backends.byName(name));
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new ParameterException(command.commandLine(), "--backend: " + e.getMessage());
        }
    }
}
