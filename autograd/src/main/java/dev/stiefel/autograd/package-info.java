/** Reverse-mode automatic differentiation over the tensor ops (issue 3). Empty until that issue lands. */
package dev.stiefel.autograd;
