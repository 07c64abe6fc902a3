/**
 * Tokenizers of the LLaMA family: SentencePiece BPE (LLaMA-1/2, TinyLlama; tokenizer.model, llama2.c tokenizer.bin,
 * GGUF "llama" vocabularies) and Hugging Face BPE from tokenizer.json (byte-level: GPT-2, LLaMA-3, SmolLM; and
 * SentencePiece-style files). Start at {@link dev.stiefel.llama.tokenizer.Tokenizers}.
 */
package dev.stiefel.llama.tokenizer;
