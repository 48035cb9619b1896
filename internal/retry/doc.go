// Package retry retries HTTP calls with exponential backoff, honouring a
// server's Retry-After.
//
// A Policy says how long to wait before retry k (1-based): Initial·2^(k-1),
// at most Max, scaled by a uniform random factor in [1-Jitter, 1+Jitter].
// A Retry-After header, in seconds or as an HTTP date, replaces that delay,
// capped at Max. Policy.Do runs an operation until it succeeds, fails
// permanently (the operation wraps its error with Permanent), runs out of
// retries or of time (MaxElapsed), or its context ends. Policy.Wait is the
// single step, for callers that keep their own loop.
package retry
