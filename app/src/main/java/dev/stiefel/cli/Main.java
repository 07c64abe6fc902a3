package dev.stiefel.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code stiefel} program. Each sub-command is one small class; this one only wires them together. */
@Command(name = "stiefel", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Post-training quantization of LLaMA-family models in pure Java.",
        subcommands = {DemoCommand.class, QuantizeCommand.class, GenerateCommand.class, EvalCommand.class, TrainCommand.class, InfoCommand.class, BenchCommand.class,
                AnalyzeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    public static void main(String[] args) { System.exit(commandLine().execute(args)); }

    /** The program as a picocli command line (tests run commands through it in-process). */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        // a bad argument prints the message and the usage, never a stack trace
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof java.io.IOException
                    || e instanceof java.io.UncheckedIOException) {
                cmd.getErr().println(cmd.getColorScheme().errorText("stiefel: " + e.getMessage()));
                return 2;
            }
            throw e;
        });
        return cli;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"stiefel " + (v == null ? "dev" : v) + " on Java " + Runtime.version()};
        }
    }
}
