/** The LLaMA model, its loaders, tokenizers and evaluation (issues 5 and 6). Empty until those land. */
package dev.stiefel.llama;
