package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.ggml.FileType.Role;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class FileTypeTest {

    /** LLaMA-2-7B's shapes (4096 / 11008, 32 layers): the mix llama-quantize reports for Q4_K_M. */
    @Test void q4_KMGivesQ6_KToHalfTheValueAndDownProjectionsAndTheHead() {
        FileType t = FileType.Q4_K_M;
        List<Integer> q6 = new ArrayList<>();
        for (int l = 0; l < 32; l++) {
            GgmlType v = t.choose(Role.ATTN_V, l, 32, 4096).type(), down = t.choose(Role.FFN_DOWN, l, 32, 11008).type();
            assertThat(down).isEqualTo(v);
            if (v == GgmlType.Q6_K) q6.add(l); else assertThat(v).isEqualTo(GgmlType.Q4_K);
        }
        // first 4 (n/8), last 4 (≥ 28), and (l − 4) % 3 == 2 between
        assertThat(q6).containsExactly(0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31);
        assertThat(t.choose(Role.ATTN_Q, 5, 32, 4096).type()).isEqualTo(GgmlType.Q4_K);
        assertThat(t.choose(Role.OUTPUT, 0, 32, 4096).type()).isEqualTo(GgmlType.Q6_K);
        assertThat(t.choose(Role.TOKEN_EMBD, 0, 32, 4096).type()).isEqualTo(GgmlType.Q4_K);
        assertThat(FileType.Q4_K_S.choose(Role.ATTN_V, 3, 32, 4096).type()).isEqualTo(GgmlType.Q5_K);
        assertThat(FileType.Q4_K_S.choose(Role.ATTN_V, 4, 32, 4096).type()).isEqualTo(GgmlType.Q4_K);
        assertThat(FileType.Q4_K_S.choose(Role.FFN_DOWN, 3, 32, 11008).type()).isEqualTo(GgmlType.Q5_K);
        assertThat(FileType.Q4_K_S.choose(Role.FFN_DOWN, 4, 32, 11008).type()).isEqualTo(GgmlType.Q4_K);
        assertThat(FileType.Q4_0.choose(Role.OUTPUT, 0, 32, 4096).type()).isEqualTo(GgmlType.Q6_K);
        assertThat(FileType.Q8_0.choose(Role.OUTPUT, 0, 32, 4096).type()).isEqualTo(GgmlType.Q8_0);
    }

    /** stories260K (dim 64, hidden 172, 5 layers): rows of 64 and 172 fall back, and say so. */
    @Test void rowsThatAreNotWholeBlocksFallBackAsLlamaQuantizeDoes() {
        FileType.Choice q = FileType.Q4_K_M.choose(Role.ATTN_Q, 0, 5, 64);
        assertThat(q.type()).isEqualTo(GgmlType.Q5_0);
        assertThat(q.wanted()).isEqualTo(GgmlType.Q4_K);
        assertThat(q.fallback()).contains("64", "Q4_K", "256", "fallback");
        // with 5 layers use_more_bits holds for layers 2 ((2 − 0) % 3 == 2) and 4 (≥ 7·5/8): Q6_K → Q8_0 there
        assertThat(FileType.Q4_K_M.choose(Role.ATTN_V, 2, 5, 64).type()).isEqualTo(GgmlType.Q8_0);
        assertThat(FileType.Q4_K_M.choose(Role.ATTN_V, 4, 5, 64).type()).isEqualTo(GgmlType.Q8_0);
        assertThat(FileType.Q4_K_M.choose(Role.ATTN_V, 0, 5, 64).type()).isEqualTo(GgmlType.Q5_0);
        assertThat(FileType.Q4_K_M.choose(Role.FFN_DOWN, 1, 5, 172).type()).isEqualTo(GgmlType.F16);  // Q4_K → Q5_0 → F16
        assertThat(FileType.Q4_K_M.choose(Role.OUTPUT, 0, 5, 64).type()).isEqualTo(GgmlType.Q8_0);    // 64 % 256: Q8_0 by the head rule
        assertThat(FileType.Q4_K_M.choose(Role.OUTPUT, 0, 5, 64).isFallback()).isFalse();
        FileType.Choice down = FileType.Q4_0.choose(Role.FFN_DOWN, 0, 5, 172);
        assertThat(down.type()).isEqualTo(GgmlType.F16);
        assertThat(down.fallback()).contains("172", "refuses");
        assertThat(FileType.Q4_0.choose(Role.OUTPUT, 0, 5, 64).type()).isEqualTo(GgmlType.Q8_0);      // Q6_K → Q8_0
        assertThat(FileType.Q4_0.choose(Role.ATTN_Q, 0, 5, 64).type()).isEqualTo(GgmlType.Q4_0);
    }
}
