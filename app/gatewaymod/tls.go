package gatewaymod

import (
	"fmt"
	"log/slog"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/tlsfiles"
)

// BackendTLS is how the gateway reaches its backends over TLS.
type BackendTLS struct {
	CA, Cert, Key, ServerName string
}

// Register adds the --backend-tls-* flags.
func (b *BackendTLS) Register(s *config.Set) {
	s.String(&b.CA, "backend-tls-ca", "", "PEM bundle of the CAs that sign the backends' certificates; turns TLS to the backends on (without it, any --backend-tls-* setting turns it on with the system's CAs); re-read when the file changes")
	s.String(&b.Cert, "backend-tls-cert", "", "PEM client certificate shown to the backends (for a backend with --tls-client-ca); re-read when the file changes")
	s.String(&b.Key, "backend-tls-key", "", "PEM private key of --backend-tls-cert")
	s.String(&b.ServerName, "backend-tls-server-name", "", "name the backends' certificates must carry (default: the host of --backend)")
	s.Check(func() error {
		if err := b.files().Check(); err != nil {
			return fmt.Errorf("--backend-tls-cert, --backend-tls-key: %v", err)
		}
		return nil
	})
}

func (b BackendTLS) enabled() bool { return b != BackendTLS{} }

func (b BackendTLS) files() tlsfiles.ClientFiles {
	return tlsfiles.ClientFiles{CA: b.CA, Cert: b.Cert, Key: b.Key, ServerName: b.ServerName}
}

// backendCredentials are the transport credentials of the connections to
// the backends: TLS (TLS 1.2 or later; mutual with a client certificate)
// when any --backend-tls-* flag is set, plain text otherwise.
func backendCredentials(b BackendTLS, log *slog.Logger) (credentials.TransportCredentials, error) {
	if !b.enabled() {
		return insecure.NewCredentials(), nil
	}
	c, err := tlsfiles.NewClient(b.files(), log.With("component", "backend-tls"))
	if err != nil {
		return nil, fmt.Errorf("--backend-tls-*: %w", err)
	}
	return c.TransportCredentials(), nil
}
