package receiver_test

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// The same IPFIX stream over TCP and over mutual TLS decodes to the same
// flows; a client without a certificate, or with one the CA did not sign,
// is refused before any message is read.
func TestReceiverTLS(t *testing.T) {
	rxNoLeak(t)
	pki := testkit.NewPKI(t, t.TempDir())
	tlsCfg, err := receiver.LoadTLSConfig(pki.CertFile, pki.KeyFile, pki.CAFile)
	require.NoError(t, err)

	stream := append(testkit.IPFIXMessage(3, 0, testkit.IPFIXTemplateSet(256, layoutA...)),
		testkit.IPFIXMessage(3, 1, testkit.IPFIXDataSet(256,
			recordA(addrA1, addrA2, 40000, 443, 6, 12, 3400),
			recordA(addrA2, addrA1, 443, 40000, 6, 10, 9100)))...)

	decode := func(t *testing.T, cfg receiver.Config, dial func(netip.AddrPort) (net.Conn, error)) (*rxSink, []receiver.Transport, receiver.Stats) {
		var sink rxSink
		var transports []receiver.Transport
		r, addr, cancel := tcpReceiver(t, func(d *receiver.Datagram) {
			sink.mu.Lock()
			transports = append(transports, d.Transport)
			sink.mu.Unlock()
			sink.handle(d)
		}, cfg)
		c, err := dial(addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write(stream)
		require.NoError(t, err)
		rxWaitFor(t, "two messages", func() bool { return sink.count() == 2 })
		cancel()
		return &sink, transports, r.Stats()
	}
	plain, plainTr, _ := decode(t, receiver.Config{}, func(a netip.AddrPort) (net.Conn, error) {
		return net.Dial("tcp", a.String())
	})
	clientCfg := &tls.Config{RootCAs: pki.Roots, Certificates: []tls.Certificate{pki.Client}, MinVersion: tls.VersionTLS12}
	secure, secureTr, st := decode(t, receiver.Config{TLS: tlsCfg}, func(a netip.AddrPort) (net.Conn, error) {
		return tls.Dial("tcp", a.String(), clientCfg)
	})
	require.Len(t, plain.flows, 2)
	require.Len(t, secure.flows, 2)
	for i := range plain.flows {
		p, s := plain.flows[i], secure.flows[i]
		p.Exporter, s.Exporter = netip.AddrPort{}, netip.AddrPort{} // the client ports differ
		assert.Equal(t, p, s)
	}
	assert.EqualValues(t, 9100, secure.flows[1].Bytes)
	assert.Equal(t, []receiver.Transport{receiver.TCP, receiver.TCP}, plainTr)
	assert.Equal(t, []receiver.Transport{receiver.TLS, receiver.TLS}, secureTr)
	assert.EqualValues(t, 1, st.TCP.Accepted)
	assert.Zero(t, st.TCP.HandshakeFailed)

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
	}{
		{"no certificate", nil},
		{"certificate of another CA", []tls.Certificate{testkit.SelfSignedClient(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink rxSink
			r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{TLS: tlsCfg})
			c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pki.Roots, Certificates: tc.certs})
			if err == nil {
				// TLS 1.3: the client's handshake ends before the server
				// checks its certificate; the refusal comes on read.
				defer c.Close()
				c.Write(stream)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1))
			}
			require.Error(t, err)
			var ne net.Error
			assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the receiver did not refuse: %v", err)
			rxWaitFor(t, "handshake failure counted", func() bool { return r.Stats().TCP.HandshakeFailed == 1 })
			cancel()
			st := r.Stats()
			assert.Zero(t, st.Total.Datagrams)
			assert.Zero(t, sink.count())
		})
	}
}

func TestLoadTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pki := testkit.NewPKI(t, dir)
	_, err := receiver.LoadTLSConfig(filepath.Join(dir, "missing.pem"), pki.KeyFile, "")
	assert.ErrorContains(t, err, "netflow: TLS certificate")
	_, err = receiver.LoadTLSConfig(pki.CertFile, pki.KeyFile, filepath.Join(dir, "missing.pem"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = receiver.LoadTLSConfig(pki.CertFile, pki.KeyFile, pki.KeyFile)
	assert.ErrorContains(t, err, "no PEM certificate")
	cfg, err := receiver.LoadTLSConfig(pki.CertFile, pki.KeyFile, "")
	require.NoError(t, err)
	assert.Equal(t, tls.NoClientCert, cfg.ClientAuth, "no CA: no client certificate asked")
}
