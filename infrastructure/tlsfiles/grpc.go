package tlsfiles

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
)

// TransportCredentials are gRPC client credentials that take a fresh
// configuration for every connection, so a rotated CA bundle is trusted
// from the next connection on, not only after a restart.
func (c *Client) TransportCredentials() credentials.TransportCredentials {
	return &clientCreds{c: c, info: credentials.NewTLS(c.Config()).Info()}
}

type clientCreds struct {
	c    *Client
	info credentials.ProtocolInfo
}

func (cc *clientCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(cc.c.Config()).ClientHandshake(ctx, authority, conn)
}

func (cc *clientCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(cc.c.Config()).ServerHandshake(conn)
}

func (cc *clientCreds) Info() credentials.ProtocolInfo { return cc.info }

func (cc *clientCreds) Clone() credentials.TransportCredentials {
	return &clientCreds{c: cc.c, info: cc.info}
}

// OverrideServerName is part of the interface; gRPC no longer calls it, and
// the name a client checks is set where the credentials are made.
func (cc *clientCreds) OverrideServerName(string) error { return nil }
