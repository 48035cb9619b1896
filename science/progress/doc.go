// Package progress draws progress bars with a rate and an ETA for the long
// steps (story generation, extraction). A Bar's Update method has the
// signature of stories.Progress and extract.Progress.
//
// On a terminal the bar redraws one line in place (carriage return), at most
// every Interval; on anything else (a log file, CI) it prints a plain line
// every LogInterval and at the end. The ETA uses the rate since the bar's
// first update, so a resumed run (starting at done > 0) is not credited with
// the work of earlier runs.
package progress
