package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.tensor.Rope;
import dev.stiefel.llama.io.HuggingFaceWriter;
import dev.stiefel.llama.tokenizer.Llama2cTokenizerFile;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.llama.train.BpeTrainer;
import dev.stiefel.llama.train.Init;
import dev.stiefel.llama.train.StoryCorpus;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the CLI tests share: running a command in-process, and a small generated checkpoint with its text. */
final class CliRun {
    private CliRun() {}

    /** A generated checkpoint (Hugging Face layout with a llama2.c tokenizer.bin) and the stories it was given. */
    record Fixture(Path model, Path text) {}

    /**
     * Writes a 2-block, 32-wide model (GPT-2 init, {@code initSeed}) with a 300-token BPE vocabulary trained on
     * {@code stories} generated stories (corpus seed {@code corpusSeed}), and those stories as text, under {@code dir}.
     */
    static Fixture checkpoint(Path dir, int corpusSeed, int stories, long initSeed) throws IOException {
        String text = new StoryCorpus(corpusSeed).stories(stories);
        Vocabulary v = BpeTrainer.train(text, 300);
        LlamaConfig c = new LlamaConfig(32, 48, 2, 4, 2, 8, v.size(), 1e-5f, 10000, null, Rope.Layout.HALF, false, 64);
        Path model = dir.resolve("model");
        HuggingFaceWriter.write(Init.gpt2(c, initSeed), model);
        Llama2cTokenizerFile.write(v, model.resolve("tokenizer.bin"));
        Path textFile = dir.resolve("text.txt");
        Files.writeString(textFile, text);
        return new Fixture(model, textFile);
    }

    /** Runs a command in-process; returns {exit code, stdout, stderr}. */
    static String[] run(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        return run(new PrintStream(err, true, StandardCharsets.UTF_8), err, args);
    }

    /** Thrown by the standard error stream of a run a test interrupts, as a kill would stop it. */
    private static final class Killed extends RuntimeException {
        Killed() { super("killed by the test"); }
    }

    /**
     * Runs a command, stopped the first time a line of its standard error contains {@code killAt} (null: never), as a
     * kill would stop it at that point of its work; returns {exit code, stdout, stderr}, the exit code "killed" then.
     */
    static String[] runUntil(String killAt, String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        OutputStream errSink = new OutputStream() {
            boolean killed;

            @Override public void write(int b) {
                err.write(b);
                if (killAt != null && !killed && b == '\n' && err.toString(StandardCharsets.UTF_8).contains(killAt)) {
                    killed = true;
                    throw new Killed();
                }
            }
        };
        String code, out = "";
        try {
            String[] r = run(new PrintStream(errSink, true, StandardCharsets.UTF_8), err, args);
            code = r[0];
            out = r[1];
        } catch (Killed k) {
            code = "killed"; // what it printed to stdout before the kill is not needed
        }
        if (killAt != null && err.toString(StandardCharsets.UTF_8).contains(killAt)) code = "killed";
        return new String[]{code, out, err.toString(StandardCharsets.UTF_8)};
    }

    /** Runs a command with {@code errStream} as standard error (collected in {@code err}); returns {exit code, stdout, stderr}. */
    static String[] run(PrintStream errStream, ByteArrayOutputStream err, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream oldOut = System.out, oldErr = System.err;
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(errStream);
            var cli = Main.commandLine();
            cli.setOut(new java.io.PrintWriter(System.out, true));
            cli.setErr(new java.io.PrintWriter(System.err, true));
            code = cli.execute(args);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new String[]{Integer.toString(code), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
    }
}
