/**
 * Reverse-mode automatic differentiation over the tensor ops. A {@link dev.stiefel.autograd.Var} is a tensor
 * plus, when it was computed from values that require gradients, the {@link dev.stiefel.autograd.Node} that
 * made it. {@link dev.stiefel.autograd.Var#backward()} walks those nodes in reverse topological order.
 * Each op is a forward computation and a backward rule that closes over the tensors it saved, in the manner of
 * PyTorch's autograd functions; a node drops its saved tensors as soon as its backward has run.
 */
package dev.stiefel.autograd;
