/**
 * The OpenCL backend of the tensor module, through JOCL: {@link dev.stiefel.opencl.OpenClBackend} implements
 * {@code dev.stiefel.tensor.backend.Backend}, registered with {@code ServiceLoader} by
 * {@link dev.stiefel.opencl.OpenClProvider} and chosen with {@code -Dstiefel.backend=opencl}. Results stay in
 * device memory ({@link dev.stiefel.opencl.ClStorage}) between ops; every host↔device transfer is counted
 * ({@link dev.stiefel.opencl.Transfers}). The kernels are the {@code .cl} resources under {@code kernels/}.
 */
package dev.stiefel.opencl;
