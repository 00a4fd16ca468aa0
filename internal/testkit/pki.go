package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a certificate authority made for one test, with a server
// certificate for 127.0.0.1 and ::1 and a client certificate it signed.
type PKI struct {
	CAFile, CertFile, KeyFile string          // PEM files: the CA, the server's certificate and key
	Client                    tls.Certificate // a client certificate the CA signed
	Roots                     *x509.CertPool  // the CA, for clients verifying the server
}

// NewPKI makes the keys and certificates (ECDSA P-256, valid for an hour)
// and writes the PEM files into dir.
func NewPKI(t testing.TB, dir string) *PKI {
	t.Helper()
	caTmpl := certTemplate(1, "test CA", x509.KeyUsageCertSign)
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	ca, caKey, caDER := issue(t, caTmpl, nil, nil)
	srvTmpl := certTemplate(2, "collector", x509.KeyUsageDigitalSignature)
	srvTmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	srvTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	_, srvKey, srvDER := issue(t, srvTmpl, ca, caKey)
	cliTmpl := certTemplate(3, "exporter", x509.KeyUsageDigitalSignature)
	cliTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	_, cliKey, cliDER := issue(t, cliTmpl, ca, caKey)

	p := &PKI{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile: filepath.Join(dir, "key.pem"), Roots: x509.NewCertPool()}
	p.Roots.AddCert(ca)
	writePEM(t, p.CAFile, "CERTIFICATE", caDER)
	writePEM(t, p.CertFile, "CERTIFICATE", srvDER)
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.KeyFile, "EC PRIVATE KEY", keyDER)
	p.Client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	return p
}

// SelfSignedClient is a client certificate that no CA signed.
func SelfSignedClient(t testing.TB) tls.Certificate {
	t.Helper()
	tmpl := certTemplate(9, "intruder", x509.KeyUsageDigitalSignature)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	_, key, der := issue(t, tmpl, nil, nil)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func certTemplate(serial int64, name string, usage x509.KeyUsage) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: usage}
}

// issue makes a key and a certificate signed by parent (self-signed when
// parent is nil).
func issue(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, der
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
