package kafkaauth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// The SCRAM client (RFC 5802, with the SHA-2 hashes of RFC 7677) that
// sarama drives for SCRAM-SHA-256/512. It is written against the standard
// library so the feed needs no extra module. Usernames are escaped as the RFC
// asks; passwords are used as given (no SASLprep), which is exact for ASCII
// passwords, the common case for Kafka credentials.

type hashFunc func() hash.Hash

var (
	sha256Hash hashFunc = sha256.New
	sha512Hash hashFunc = sha512.New
)

// maxIterations keeps a hostile or broken server from making the client spin
// on PBKDF2; real deployments use 4096 to tens of thousands.
const maxIterations = 1 << 20

type scramStep int

const (
	scramStart scramStep = iota
	scramSentFirst
	scramSentFinal
	scramDone
)

type scramClient struct {
	h       hashFunc
	nonceFn func() (string, error)

	user, password, authzID string

	step            scramStep
	clientNonce     string
	clientFirstBare string
	serverSignature []byte
}

func newSCRAMClient(h hashFunc) *scramClient {
	return &scramClient{h: h, nonceFn: randomNonce}
}

// Begin implements sarama.SCRAMClient.
func (s *scramClient) Begin(user, password, authzID string) error {
	s.user, s.password, s.authzID = user, password, authzID
	s.step = scramStart
	return nil
}

// Step implements sarama.SCRAMClient: it answers the server's last message.
func (s *scramClient) Step(challenge string) (string, error) {
	switch s.step {
	case scramStart:
		return s.first()
	case scramSentFirst:
		return s.final(challenge)
	case scramSentFinal:
		return "", s.verify(challenge)
	}
	return "", errors.New("scram: exchange already finished")
}

// Done implements sarama.SCRAMClient.
func (s *scramClient) Done() bool { return s.step == scramDone }

func (s *scramClient) gs2Header() string {
	if s.authzID == "" {
		return "n,,"
	}
	return "n,a=" + escapeSASLName(s.authzID) + ","
}

func (s *scramClient) first() (string, error) {
	nonce, err := s.nonceFn()
	if err != nil {
		return "", fmt.Errorf("scram: client nonce: %w", err)
	}
	s.clientNonce = nonce
	s.clientFirstBare = "n=" + escapeSASLName(s.user) + ",r=" + nonce
	s.step = scramSentFirst
	return s.gs2Header() + s.clientFirstBare, nil
}

func (s *scramClient) final(serverFirst string) (string, error) {
	attrs, err := parseSCRAMAttrs(serverFirst)
	if err != nil {
		return "", fmt.Errorf("scram: server-first-message: %w", err)
	}
	if _, ok := attrs["m"]; ok {
		return "", errors.New("scram: server-first-message asks for an extension this client does not know")
	}
	nonce := attrs["r"]
	if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) {
		return "", errors.New("scram: server nonce does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil || len(salt) == 0 {
		return "", errors.New("scram: server-first-message has no valid salt")
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil || iter < 1 || iter > maxIterations {
		return "", fmt.Errorf("scram: iteration count %q is not in 1..%d", attrs["i"], maxIterations)
	}

	salted, err := pbkdf2.Key(s.h, s.password, salt, iter, s.h().Size())
	if err != nil {
		return "", fmt.Errorf("scram: salt password: %w", err)
	}
	clientKey := s.hmac(salted, "Client Key")
	storedKey := s.sum(clientKey)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(s.gs2Header())) + ",r=" + nonce
	authMessage := s.clientFirstBare + "," + serverFirst + "," + withoutProof
	clientSignature := s.hmac(storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ clientSignature[i]
	}
	s.serverSignature = s.hmac(s.hmac(salted, "Server Key"), authMessage)
	s.step = scramSentFinal
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scramClient) verify(serverFinal string) error {
	attrs, err := parseSCRAMAttrs(serverFinal)
	if err != nil {
		return fmt.Errorf("scram: server-final-message: %w", err)
	}
	if e, ok := attrs["e"]; ok {
		return fmt.Errorf("scram: server refused authentication: %s", e)
	}
	got, err := base64.StdEncoding.DecodeString(attrs["v"])
	if err != nil || subtle.ConstantTimeCompare(got, s.serverSignature) != 1 {
		// The server could not prove it knows the password: not the broker
		// we meant to talk to.
		return errors.New("scram: server signature does not match")
	}
	s.step = scramDone
	return nil
}

func (s *scramClient) hmac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *scramClient) sum(b []byte) []byte {
	h := s.h()
	h.Write(b)
	return h.Sum(nil)
}

// parseSCRAMAttrs splits "k=v,k=v" messages; values may contain '='.
func parseSCRAMAttrs(msg string) (map[string]string, error) {
	attrs := make(map[string]string, 4)
	for part := range strings.SplitSeq(msg, ",") {
		if len(part) < 2 || part[1] != '=' {
			return nil, fmt.Errorf("malformed attribute %q", part)
		}
		attrs[part[:1]] = part[2:]
	}
	return attrs, nil
}

// escapeSASLName escapes the two characters that would break the attribute
// syntax (RFC 5802 section 5.1).
func escapeSASLName(name string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(name)
}

func randomNonce() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	// Raw URL-safe base64 holds no ',' and is printable, as a nonce must be.
	return base64.RawURLEncoding.EncodeToString(b), nil
}
