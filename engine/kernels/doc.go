// Package kernels holds the numeric kernels of the engine: matrix products
// against weight matrices of several dtypes, norms, softmax, rotary embeddings
// and activations, and the worker pool that spreads them over the cores.
//
// Conventions: activations are float32, row-major [rows, dim]. A weight
// Matrix is [Rows, Cols] = [out, in] as stored in checkpoints, so a linear
// layer is y = x · Wᵀ. Every kernel has a plain Go version that defines its
// meaning; faster paths must agree with it (see the tests).
package kernels
