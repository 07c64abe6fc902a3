package dev.stiefel.opencl;

import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tensor module's op tests (each op against a naive f64 reference on odd sizes) and autograd's tests (every
 * backward rule's finite-difference gradient check, the fused rules, fake quantization with its straight-through
 * estimator, the losses, the optimizers) run again, unchanged, with the OpenCL backend as the current backend.
 */
class ReferenceTestsOnOpenClTest {
    @Test
    void tensorOpTestsAgainstF64References() {
        runOnOpenCl("dev.stiefel.tensor.ElementwiseTest", "dev.stiefel.tensor.ReductionTest", "dev.stiefel.tensor.SoftmaxNormRopeTest",
                "dev.stiefel.tensor.MatmulTest", "dev.stiefel.tensor.FusedKernelsTest", "dev.stiefel.tensor.ViewTest");
    }

    @Test
    void autogradGradientChecks() {
        runOnOpenCl("dev.stiefel.autograd.GradientRulesTest", "dev.stiefel.autograd.FusedRulesTest", "dev.stiefel.autograd.FakeQuantTest",
                "dev.stiefel.autograd.LossesTest", "dev.stiefel.autograd.ViewGradientsTest", "dev.stiefel.autograd.TapeTest",
                "dev.stiefel.autograd.GradCheckTest", "dev.stiefel.autograd.OptimizerStateTest");
    }

    private static void runOnOpenCl(String... classes) {
        OpenClBackend cl = OpenCl.backend();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(Arrays.stream(classes).map(DiscoverySelectors::selectClass).toList()).build();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        Backend before = Backends.current();
        Transfers start = cl.transfers();
        Backends.use(cl);
        try {
            LauncherFactory.create().execute(request, listener);
        } finally {
            Backends.use(before);
        }
        TestExecutionSummary summary = listener.getSummary();
        StringWriter failures = new StringWriter();
        summary.printFailuresTo(new PrintWriter(failures), 12);
        assertThat(summary.getTotalFailureCount()).as("failures on " + cl.device() + ":\n" + failures).isZero();
        assertThat(summary.getTestsSucceededCount()).as("tests that ran").isGreaterThanOrEqualTo(classes.length);
        assertThat(cl.transfers().minus(start).uploads()).as("the tests computed on the device").isPositive();
    }
}
