package dbtest

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CutProxy forwards TCP to a database server and can cut it off: every
// open connection dropped and new ones refused, as when the server or the
// network goes away; Restore brings it back on the same address.
//
// It also counts the MySQL commands its clients send (Statements, Pings):
// what reached the server from behind the proxy, whatever the client says
// of itself. A test that gives one process its own proxy learns how many
// statements that process sent.
type CutProxy struct {
	Addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}

	statements, pings atomic.Int64
}

// NewCutProxy starts a proxy to target (host:port) on a free local port; it
// is closed when the test ends.
func NewCutProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dbtest: proxy listen: %v", err)
	}
	p := &CutProxy{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

// Cut drops every connection and refuses new ones until Restore.
func (p *CutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again.
func (p *CutProxy) Restore(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatalf("dbtest: proxy listen again on %s: %v", p.Addr, err)
	}
	p.serve(ln)
}

// Statements is how many statements clients sent through the proxy:
// every command but a ping (COM_PING) and a goodbye (COM_QUIT) — a text
// query, a prepare, an execute, a change of database. A connection's
// handshake is not one; a query the driver sends to set the connection up
// is.
func (p *CutProxy) Statements() int64 { return p.statements.Load() }

// Pings is how many pings (COM_PING) clients sent through the proxy.
func (p *CutProxy) Pings() int64 { return p.pings.Load() }

func (p *CutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut while dialling
				p.mu.Unlock()
				client.Close()
				server.Close()
				return
			}
			p.conns[client], p.conns[server] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { p.forwardCommands(server, client); server.Close() }()
			go func() { _, _ = io.Copy(client, server); client.Close() }()
		}
	}()
}

// The MySQL commands the proxy tells apart (the first byte of a command
// packet).
const (
	comQuit = 0x01
	comPing = 0x0e
)

// forwardCommands copies what a client sends to the server packet by
// packet, counting its commands. A MySQL packet is a 3-byte little-endian
// length, a sequence number, and the payload; a command starts a new
// exchange, so it is the packet numbered 0 (the handshake's packets, and
// the parts of a packet too long for one, are numbered on from 1), and
// its first byte says which command it is.
func (p *CutProxy) forwardCommands(server io.Writer, client io.Reader) {
	r := bufio.NewReader(client)
	var head [5]byte
	for {
		if _, err := io.ReadFull(r, head[:4]); err != nil {
			return
		}
		n := int64(head[0]) | int64(head[1])<<8 | int64(head[2])<<16
		out := head[:4]
		if head[3] == 0 && n > 0 {
			cmd, err := r.ReadByte()
			if err != nil {
				return
			}
			switch cmd {
			case comPing:
				p.pings.Add(1)
			case comQuit:
			default:
				p.statements.Add(1)
			}
			head[4], out, n = cmd, head[:5], n-1
		}
		if _, err := server.Write(out); err != nil {
			return
		}
		if _, err := io.CopyN(server, r, n); err != nil {
			return
		}
	}
}
