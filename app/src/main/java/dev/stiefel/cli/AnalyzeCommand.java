package dev.stiefel.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code stiefel analyze qsur|kurtosis}: measurements that explain why a method helps, with plots. */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = "Analyse a model: QSUR of its activations under each transform (qsur), weight kurtosis and outlier-guided selection (kurtosis).",
        subcommands = {AnalyzeQsurCommand.class, AnalyzeKurtosisCommand.class})
final class AnalyzeCommand implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }
}
