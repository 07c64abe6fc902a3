package dev.stiefel.opencl;

import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.BackendProvider;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Makes the OpenCL backend known to {@code Backends} as {@code opencl} ({@code META-INF/services}). */
public final class OpenClProvider implements BackendProvider {
    @Override public String name() { return OpenClBackend.NAME; }

    @Override public Optional<Backend> create() {
        Optional<OpenClBackend> b = OpenClBackend.shared();
        if (b.isEmpty()) System.err.println("opencl: " + OpenClBackend.unavailableReason());
        return b.map(x -> x);
    }

    /** Every platform and device, the one {@code -Dstiefel.backend=opencl} would use marked. */
    @Override public List<String> describe() {
        List<String> lines = new ArrayList<>();
        try {
            List<Devices.Device> all = Devices.all();
            if (all.isEmpty()) return List.of("no OpenCL platform with a device");
            Devices.Device chosen = Devices.choose(all, System.getProperty("stiefel.opencl.platform"), System.getProperty("stiefel.opencl.device"));
            for (Devices.Device d : all) lines.add(d.describe() + (d == chosen ? "  <- selected" : ""));
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            lines.add("the OpenCL library could not be loaded: " + e.getMessage());
        } catch (IllegalArgumentException e) {
            lines.add(e.getMessage());
        }
        return lines;
    }
}
