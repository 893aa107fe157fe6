// Package middleware holds the Gin middleware of the HTTP API. Each one does
// one job and is built once per route where it needs the route's name, so
// nothing is looked up or formatted per request.
package middleware
