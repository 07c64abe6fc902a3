package dev.stiefel.cli;

import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --backend} and {@code info}'s device lines. */
class BackendOptionTest {
    @Test void anUnknownBackendIsOneClearErrorAndInfoListsWhatOpenClSees() {
        String[] r = CliRun.run("eval", "ppl", "--backend", "nope", "--limit", "1");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--backend: unknown backend 'nope'; available: [cpu, opencl]");
        assertThat(Backends.current()).isSameAs(CpuBackend.INSTANCE);
        String[] info = CliRun.run("info");
        assertThat(info[0]).isEqualTo("0");
        assertThat(info[1]).contains("available: cpu, opencl").contains("opencl: "); // a device, or why there is none
    }
}
