package receiver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/receiver"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	client                    tls.Certificate
	roots                     *x509.CertPool
}

// issue makes a key and a certificate signed by parent (self-signed when
// parent is nil).
func issue(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key, der
}

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	ca, caKey, caDER := issue(t, caTmpl, nil, nil)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	_, srvKey, srvDER := issue(t, srvTmpl, ca, caKey)
	cliTmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "exporter"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	_, cliKey, cliDER := issue(t, cliTmpl, ca, caKey)

	p := &testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"),
		keyFile: filepath.Join(dir, "key.pem"), roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.certFile, "CERTIFICATE", srvDER)
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	require.NoError(t, err)
	writePEM(t, p.keyFile, "EC PRIVATE KEY", srvKeyDER)
	p.client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	return p
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
}

// selfSigned is a client certificate no CA of the collector signed.
func selfSigned(t *testing.T) tls.Certificate {
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "intruder"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	_, key, der := issue(t, tmpl, nil, nil)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The same IPFIX stream over TCP and over mutual TLS decodes to the same
// flows; a client without a certificate, or with one the CA did not sign,
// is refused before any message is read.
func TestReceiverTLS(t *testing.T) {
	rxNoLeak(t)
	pki := newTestPKI(t, t.TempDir())
	tlsCfg, err := receiver.LoadTLSConfig(pki.certFile, pki.keyFile, pki.caFile)
	require.NoError(t, err)

	stream := append(ipfixMsg(3, 0, ipfixTemplateSet(256, layoutA...)),
		ipfixMsg(3, 1, ipfixDataSet(256,
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
	clientCfg := &tls.Config{RootCAs: pki.roots, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12}
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
		{"certificate of another CA", []tls.Certificate{selfSigned(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink rxSink
			r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{TLS: tlsCfg})
			c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pki.roots, Certificates: tc.certs})
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
	pki := newTestPKI(t, dir)
	_, err := receiver.LoadTLSConfig(filepath.Join(dir, "missing.pem"), pki.keyFile, "")
	assert.ErrorContains(t, err, "netflow: TLS certificate")
	_, err = receiver.LoadTLSConfig(pki.certFile, pki.keyFile, filepath.Join(dir, "missing.pem"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = receiver.LoadTLSConfig(pki.certFile, pki.keyFile, pki.keyFile)
	assert.ErrorContains(t, err, "no PEM certificate")
	cfg, err := receiver.LoadTLSConfig(pki.certFile, pki.keyFile, "")
	require.NoError(t, err)
	assert.Equal(t, tls.NoClientCert, cfg.ClientAuth, "no CA: no client certificate asked")
}
