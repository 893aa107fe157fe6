// Package grpcserver is the inbound gRPC adapter: it serves
// gintoki.inventory.v1.InventoryService on top of the read path, plus the
// standard health and reflection services, traces and Prometheus metrics.
package grpcserver
