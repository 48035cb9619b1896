// Package approx compares numbers for tests so that a comparison can fail.
//
// The plain forms are NaN-blind: math.Max(m, NaN) and NaN > tol are both
// false-friendly, so a loop that folds differences with math.Max and then
// checks d > tol passes on NaN output. Every function here returns +Inf
// instead of NaN — for a NaN or an infinity on either side, and for slices of
// different lengths — so that a check written d <= tol fails. Checks should
// still be written in the NaN-safe form !(d <= tol).
package approx
