// Package doccheck holds a test that the product's source and pages carry no
// words that rot: timings tied to one test machine and talk about the
// project's own process (its issues and targets).
package doccheck
