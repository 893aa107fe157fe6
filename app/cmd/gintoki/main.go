// Command gintoki is the one binary of the project; see `gintoki help`.
package main

import (
	"os"

	"github.com/gintoki/gintoki/app/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}))
}
