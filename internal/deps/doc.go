// Package deps holds a test of the project's import rules.
package deps
