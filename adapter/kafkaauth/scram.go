package kafkaauth

import (
	"fmt"

	"github.com/xdg-go/scram"
)

// scramClient is sarama's SCRAM client (SCRAM-SHA-256/512, RFC 5802 and
// RFC 7677) on github.com/xdg-go/scram, the library sarama's own example
// uses: it does SASLprep of names and passwords and checks the server's
// proof. nonce, when set, replaces its random nonces (tests).
type scramClient struct {
	hash  scram.HashGeneratorFcn
	nonce scram.NonceGeneratorFcn
	conv  *scram.ClientConversation
}

func newSCRAMClient(hash scram.HashGeneratorFcn) *scramClient { return &scramClient{hash: hash} }

// Begin implements sarama.SCRAMClient.
func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	if c.nonce != nil {
		client = client.WithNonceGenerator(c.nonce)
	}
	c.conv = client.NewConversation()
	return nil
}

// Step implements sarama.SCRAMClient.
func (c *scramClient) Step(challenge string) (string, error) {
	resp, err := c.conv.Step(challenge)
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	return resp, nil
}

// Done implements sarama.SCRAMClient.
func (c *scramClient) Done() bool { return c.conv.Done() }
