// Command limbic finds, reads, steers and monitors the emotion vectors of
// language models. Run `limbic --help` for the commands.
package main

import "os"

func main() { os.Exit(run(os.Args[1:])) }
