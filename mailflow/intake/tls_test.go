package intake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestTLSModes drains a server that requires TLS (implicit, or STARTTLS)
// before it accepts a login. The loopback package serves plain text only,
// so this test builds its own imapserver.
func TestTLSModes(t *testing.T) {
	cert, pool := selfSigned(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			mem := imapmemserver.New()
			u := imapmemserver.NewUser("desk", "pw")
			if err := u.Create("INBOX", nil); err != nil {
				t.Fatal(err)
			}
			mem.AddUser(u)
			srv := imapserver.New(&imapserver.Options{
				NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
					return mem.NewSession(), nil, nil
				},
				Caps:      imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}},
				TLSConfig: serverTLS, // enables STARTTLS; InsecureAuth stays off
				// Discarded: the server may log after the test ended (it does not
				// wait for its connections on Close), which testing.T forbids.
				Logger: log.New(io.Discard, "", 0),
			})
			var ln net.Listener
			var err error
			if mode == "tls" {
				ln, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
			} else {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			r := newRecorder()
			opts := Options{Address: ln.Addr().String(), TLS: mode, Username: "desk", Password: "pw",
				TLSConfig: &tls.Config{RootCAs: pool}, Logger: testLogger(t)}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := New(opts, r).Drain(ctx); err != nil {
				t.Fatalf("Drain over %s: %v", mode, err)
			}

			// Without the trusted root the certificate must be refused.
			opts.TLSConfig = nil
			if _, err := New(opts, r).Drain(ctx); err == nil {
				t.Error("Drain trusted an unknown certificate")
			}
		})
	}
}
