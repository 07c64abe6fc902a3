package dev.stiefel.llama.tokenizer;

import dev.stiefel.llama.io.ReadLimits;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a SentencePiece {@code tokenizer.model} (a serialized {@code sentencepiece.ModelProto}) with a hand-written
 * wire-format reader. Field numbers follow google/sentencepiece's {@code sentencepiece_model.proto}:
 * <pre>
 * ModelProto     { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2; NormalizerSpec normalizer_spec = 3; }
 * SentencePiece  { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
 * TrainerSpec    { ModelType model_type = 3; bool treat_whitespace_as_suffix = 24; bool byte_fallback = 35;
 *                  int32 unk_id = 40 [default 0]; int32 bos_id = 41 [default 1]; int32 eos_id = 42 [default 2]; }
 * NormalizerSpec { string name = 1; bytes precompiled_charsmap = 2; bool add_dummy_prefix = 3 [default true];
 *                  bool remove_extra_whitespaces = 4 [default true]; bool escape_whitespaces = 5 [default true]; }
 * </pre>
 * Only what the BPE encoder of LLaMA-1/2 needs is kept. Models this package cannot encode exactly (unigram models,
 * NFKC or other precompiled normalization, whitespace as a suffix) are refused with a message saying so, rather than
 * tokenized slightly wrong.
 */
public final class SentencePieceModelFile {
    private static final int MODEL_UNIGRAM = 1, MODEL_BPE = 2;

    private SentencePieceModelFile() {}

    public static SentencePieceTokenizer load(Path file) {
        byte[] bytes;
        try {
            bytes = ReadLimits.readAll(file, ReadLimits.MAX_TOKENIZER_BYTES, "the SentencePiece model");
        } catch (IOException e) {
            throw new TokenizerFormatException(file + ": cannot read SentencePiece model: " + e.getMessage(), e);
        }
        return parse(file.toString(), bytes);
    }

    /** Parses the bytes of a tokenizer.model; {@code source} names them in error messages. */
    public static SentencePieceTokenizer parse(String source, byte[] bytes) {
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        Trainer trainer = new Trainer();
        Normalizer normalizer = new Normalizer();
        ProtoReader model = new ProtoReader(source, bytes);
        while (model.hasMore()) {
            model.nextTag();
            switch (model.field()) {
                case 1 -> readPiece(model.readMessage(), pieces, scores, types);
                case 2 -> trainer.read(model.readMessage());
                case 3 -> normalizer.read(model.readMessage());
                default -> model.skip();
            }
        }
        if (pieces.isEmpty()) throw new TokenizerFormatException(source + ": SentencePiece model has no pieces (field 1 of ModelProto)");
        if (trainer.modelType != MODEL_BPE)
            throw new TokenizerFormatException(source + ": SentencePiece model_type " + trainer.modelType
                    + (trainer.modelType == MODEL_UNIGRAM ? " (unigram)" : "") + " is not supported; only BPE models (type 2, as LLaMA-1/2 use) are");
        if (trainer.whitespaceAsSuffix)
            throw new TokenizerFormatException(source + ": treat_whitespace_as_suffix is not supported");
        if (!normalizer.escapeWhitespaces)
            throw new TokenizerFormatException(source + ": escape_whitespaces=false is not supported");
        if (normalizer.charsMapBytes > 0)
            throw new TokenizerFormatException(source + ": normalizer '" + normalizer.name + "' with a " + normalizer.charsMapBytes
                    + "-byte precompiled_charsmap is not supported; only the identity normalizer (as LLaMA uses) is");

        int n = pieces.size();
        float[] scoreArray = new float[n];
        int[] typeArray = new int[n];
        for (int i = 0; i < n; i++) {
            scoreArray[i] = scores.get(i);
            typeArray[i] = types.get(i);
        }
        Vocabulary vocabulary = new Vocabulary(Vocabulary.Kind.SENTENCEPIECE, pieces, scoreArray, typeArray, List.of(),
                checkId(source, "bos_id", trainer.bos, n), checkId(source, "eos_id", trainer.eos, n),
                checkId(source, "unk_id", trainer.unk, n), true, normalizer.addDummyPrefix);
        Tokenizers.validate(vocabulary, source);
        return new SentencePieceTokenizer(vocabulary, normalizer.removeExtraWhitespaces);
    }

    private static void readPiece(ProtoReader r, List<String> pieces, List<Float> scores, List<Integer> types) {
        int at = r.position();
        String piece = null;
        float score = 0;
        int type = Vocabulary.NORMAL;
        while (r.hasMore()) {
            r.nextTag();
            switch (r.field()) {
                case 1 -> piece = r.readString();
                case 2 -> score = r.readFloat();
                case 3 -> type = r.readInt32();
                default -> r.skip();
            }
        }
        if (piece == null || piece.isEmpty()) throw r.error(at, "piece " + pieces.size() + " has no text");
        if (type < Vocabulary.NORMAL || type > Vocabulary.BYTE) throw r.error(at, "piece " + pieces.size() + " '" + piece + "' has unknown type " + type);
        if (type == Vocabulary.BYTE && SentencePieceTokenizer.parseByte(piece) < 0)
            throw r.error(at, "piece " + pieces.size() + " '" + piece + "' has type BYTE but is not a <0xXX> piece");
        pieces.add(piece);
        scores.add(score);
        types.add(type);
    }

    private static int checkId(String source, String name, int id, int n) {
        if (id < -1 || id >= n) throw new TokenizerFormatException(source + ": trainer_spec." + name + " = " + id + " outside [-1, " + n + ")");
        return id;
    }

    private static final class Trainer {
        int modelType = MODEL_BPE; // a model without trainer_spec carries no type; LLaMA's always has one
        boolean whitespaceAsSuffix;
        int unk = 0, bos = 1, eos = 2;

        void read(ProtoReader r) {
            modelType = MODEL_UNIGRAM; // the proto default once a trainer_spec is present
            while (r.hasMore()) {
                r.nextTag();
                switch (r.field()) {
                    case 3 -> modelType = r.readInt32();
                    case 24 -> whitespaceAsSuffix = r.readBool();
                    case 40 -> unk = r.readInt32();
                    case 41 -> bos = r.readInt32();
                    case 42 -> eos = r.readInt32();
                    default -> r.skip();
                }
            }
        }
    }

    private static final class Normalizer {
        String name = "";
        int charsMapBytes;
        boolean addDummyPrefix = true, removeExtraWhitespaces = true, escapeWhitespaces = true;

        void read(ProtoReader r) {
            while (r.hasMore()) {
                r.nextTag();
                switch (r.field()) {
                    case 1 -> name = r.readString();
                    case 2 -> charsMapBytes = r.readBytes().length;
                    case 3 -> addDummyPrefix = r.readBool();
                    case 4 -> removeExtraWhitespaces = r.readBool();
                    case 5 -> escapeWhitespaces = r.readBool();
                    default -> r.skip();
                }
            }
        }
    }
}
