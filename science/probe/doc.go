// Package probe fits a linear probe for emotions: multinomial (softmax)
// logistic regression with an L2 penalty, an optional alternative to the
// difference of means of Sofroniew et al. 2026 that science/extract uses.
// Its per-emotion weight vectors ([Probe.Directions]) can be read as emotion
// directions and scored on the same held-out tables as the
// difference-of-means vectors.
//
// Why a probe can differ from the difference of means: the difference of
// means points along every direction in which the class means differ,
// however noisy that direction is. A probe weighs each direction by how well
// it separates the classes given the noise, so a direction along which the
// means differ a little but every example varies a lot (a shared,
// anisotropic noise direction) is down-weighted. With isotropic noise and
// equal class sizes the two agree up to scale.
//
// Method and choices:
//
//   - Features are standardised once: z = (x − c) / s. The centre c is the
//     mean of the rows unless Options.Center gives a fixed one (for example
//     a vector pack's centre). The scale s_j is the root mean square of
//     x_j − c_j over the rows (the standard deviation when c is the mean);
//     a feature whose scale is zero or not above 1e-12 times the largest
//     scale keeps s_j = 1. Options.Unscaled sets every s_j = 1 (centring
//     only), which makes the penalty isotropic in the original space.
//   - Model: logits ℓ_k = W_k·z + b_k for classes k = 0..K−1, p = softmax(ℓ).
//   - Objective: the mean negative log-likelihood over the rows plus
//     λ/2 ‖W‖² (Frobenius norm; the biases are not penalised). λ is
//     relative to the standardised features; the default is 1e-2
//     (Options.Lambda). With this penalty the weights of all classes sum to
//     zero at the optimum, so directions are unique.
//   - Optimiser: L-BFGS from gonum.org/v1/gonum/optimize, started at zero
//     (no randomness: two fits of the same data are equal bit for bit). It
//     stops when the largest gradient entry falls below Options.Tol
//     (default 1e-5), when the objective stops improving, or after
//     Options.MaxIter iterations (default 1000); [Probe.Converged] says
//     which. The matrix products use gonum's pure-Go BLAS.
//   - Directions in the original space: W_k / s (element-wise), so that
//     ℓ_k = Directions()[k]·x + Bias()[k] for a raw row x, with the bias
//     absorbing the centre: Bias_k = b_k − (W_k/s)·c.
//   - [CrossValidateLambda] picks λ by held-out accuracy over stratified
//     folds assigned deterministically (the i-th example of a class goes to
//     fold i mod folds); ties go to the larger λ.
package probe
