package probe

import (
	"errors"
	"fmt"
	"math"
)

// CrossValidateLambda fits a probe for every λ in lambdas on folds−1 of
// folds stratified folds and returns the λ with the best held-out accuracy
// (ties to the larger λ) and the accuracy of each λ, pooled over the folds.
// The i-th example of each class (in row order) goes to fold i mod folds, so
// the assignment is deterministic; every class needs at least 2 examples so
// that every training split holds it. Other options are the defaults.
func CrossValidateLambda(x [][]float64, labels []int, k int, lambdas []float64, folds int) (float64, []float64, error) {
	if _, err := check(x, labels, k); err != nil {
		return 0, nil, err
	}
	if len(lambdas) == 0 {
		return 0, nil, errors.New("probe: no lambdas to cross-validate")
	}
	for i, l := range lambdas {
		if !(l > 0) || math.IsInf(l, 0) {
			return 0, nil, fmt.Errorf("probe: lambda %d is %v, want a finite value > 0", i, l)
		}
	}
	if folds < 2 || folds > len(x) {
		return 0, nil, fmt.Errorf("probe: %d folds for %d rows, want 2..%d", folds, len(x), len(x))
	}
	fold := make([]int, len(x))
	seen := make([]int, k)
	for i, y := range labels {
		fold[i] = seen[y] % folds
		seen[y]++
	}
	for c, n := range seen {
		if n < 2 {
			return 0, nil, fmt.Errorf("probe: class %d has %d example, want at least 2 for cross-validation", c, n)
		}
	}
	acc := make([]float64, len(lambdas))
	for li, l := range lambdas {
		right := 0
		for f := range folds {
			var tx, vx [][]float64
			var ty, vy []int
			for i := range x {
				if fold[i] == f {
					vx, vy = append(vx, x[i]), append(vy, labels[i])
				} else {
					tx, ty = append(tx, x[i]), append(ty, labels[i])
				}
			}
			if len(vx) == 0 {
				continue
			}
			p, err := Fit(tx, ty, k, Options{Lambda: l})
			if err != nil {
				return 0, nil, fmt.Errorf("probe: lambda %v fold %d: %w", l, f, err)
			}
			for i, row := range vx {
				if p.Predict(row) == vy[i] {
					right++
				}
			}
		}
		acc[li] = float64(right) / float64(len(x))
	}
	best := 0
	for i := range lambdas {
		if acc[i] > acc[best] || (acc[i] == acc[best] && lambdas[i] > lambdas[best]) {
			best = i
		}
	}
	return lambdas[best], acc, nil
}
