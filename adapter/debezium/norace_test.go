//go:build !race

package debezium_test

const raceEnabled = false
