package dev.stiefel.cli;

import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.backend.Backends;
import jdk.incubator.vector.FloatVector;
import picocli.CommandLine.Command;

/** What this machine gives the kernels: JDK, vector width, threads, backends. */
@Command(name = "info", description = "Print the JDK, SIMD width, thread count and available backends.")
final class InfoCommand implements Runnable {
    @Override public void run() {
        System.out.printf("java        %s (%s)%n", Runtime.version(), System.getProperty("java.vm.name"));
        System.out.printf("os / cpu    %s %s, %d hardware threads%n", System.getProperty("os.name"), System.getProperty("os.arch"),
                Runtime.getRuntime().availableProcessors());
        System.out.printf("simd        %s: %d f32 lanes (%d-bit)%n", FloatVector.SPECIES_PREFERRED, FloatVector.SPECIES_PREFERRED.length(),
                FloatVector.SPECIES_PREFERRED.vectorBitSize());
        System.out.printf("threads     %d (-Dstiefel.threads to change)%n", Parallel.threads());
        System.out.printf("backend     %s (available: %s)%n", Backends.current().name(), String.join(", ", Backends.names()));
        for (String device : Backends.describe()) System.out.printf("            %s%n", device);
        System.out.printf("max heap    %d MiB%n", Runtime.getRuntime().maxMemory() >> 20);
    }
}
