package redisstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// TestURLPasswordDB: a redis:// URL with a password and a database number
// reaches that database; a wrong password fails with ErrStore.
func TestURLPasswordDB(t *testing.T) {
	r := redistest.Start(t, "--requirepass", "s3cret")
	prefix := newPrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, "redis://:s3cret@"+r.Addr()+"/3", Config{Prefix: prefix})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.AddTemplate(testKey, layout(t, testKey, 1)))
	db, err := s.rdb.Do(ctx, "CLIENT", "INFO").Text()
	require.NoError(t, err)
	require.Contains(t, db, " db=3 ")
	n, err := s.rdb.Exists(ctx, s.templateKey(testKey)).Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	// Another instance on DB 0 of the same server sees nothing.
	s0, err := Open(ctx, "redis://:s3cret@"+r.Addr()+"/0", Config{Prefix: prefix})
	require.NoError(t, err)
	defer s0.Close()
	require.Equal(t, uint16(0), thirdLen(s0, testKey))

	for _, url := range []string{
		"redis://:wrong@" + r.Addr() + "/3",
		"redis://" + r.Addr() + "/3",
	} {
		_, err = Open(ctx, url, Config{Prefix: prefix})
		require.ErrorIs(t, err, netflow.ErrStore, url)
	}
	_, err = Open(ctx, "http://"+r.Addr(), Config{})
	require.ErrorIs(t, err, netflow.ErrStore)
	_, err = Open(ctx, "redis://"+r.Addr(), Config{Prefix: "bad*prefix"})
	require.ErrorIs(t, err, netflow.ErrStore)
}

// TestURLTLS: a rediss:// URL speaks TLS to a redis-server with TLS on,
// verified against Config.TLS's CA; without it, the self-signed server is
// refused.
func TestURLTLS(t *testing.T) {
	dir := t.TempDir()
	caPool := writeTestPKI(t, dir)
	tlsPort := redistest.FreePort(t)
	redistest.Start(t, "--tls-port", fmt.Sprint(tlsPort),
		"--tls-cert-file", filepath.Join(dir, "server.pem"), "--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no", "--requirepass", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := fmt.Sprintf("rediss://:pw@127.0.0.1:%d/1", tlsPort)
	s, err := Open(ctx, url, Config{Prefix: newPrefix(t), TLS: &tls.Config{RootCAs: caPool}})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.AddTemplate(testKey, layout(t, testKey, 2)))
	require.Equal(t, uint16(2), thirdLen(s, testKey))

	_, err = Open(ctx, url, Config{Prefix: newPrefix(t)})
	require.ErrorIs(t, err, netflow.ErrStore, "a server certificate of an unknown CA is refused")
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1 into dir
// (ca.pem, server.pem, server.key) and returns the CA pool.
func writeTestPKI(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redisstore test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", srvDER)
	write("server.key", "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}
