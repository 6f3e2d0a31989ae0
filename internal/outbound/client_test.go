package outbound_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/testcert"
)

// publicIP stands for a receiver on the internet. Nothing is ever sent to
// it: the test proxy carries every request for it to a local receiver.
const publicIP = "93.184.215.14"

// testProxy is a real forward proxy on 127.0.0.1: it tunnels CONNECT and
// forwards absolute-form requests, to local receivers in place of the
// targets asked for, and records what it was asked for.
type testProxy struct {
	URL *url.URL
	// tlsTo and plainTo are where tunnels and plain requests really go.
	tlsTo, plainTo string

	mu     sync.Mutex
	asked  []string // guarded by mu
	tunnel sync.WaitGroup
}

func startProxy(t *testing.T, tlsTo, plainTo string) *testProxy {
	t.Helper()
	p := &testProxy{tlsTo: tlsTo, plainTo: plainTo}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() { srv.Close(); p.tunnel.Wait() })
	p.URL, _ = url.Parse(srv.URL)
	return p
}

func (p *testProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.asked)
}

func (p *testProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.asked = append(p.asked, r.Method+" "+r.RequestURI)
	p.mu.Unlock()
	if r.Method != http.MethodConnect {
		// An absolute-form request: forward it to the plain receiver.
		out, err := http.NewRequest(r.Method, "http://"+p.plainTo+r.URL.Path, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		res, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
		return
	}
	upstream, err := net.Dial("tcp", p.tlsTo)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	_, _ = rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
	_ = rw.Flush()
	p.tunnel.Add(2)
	go func() { defer p.tunnel.Done(); _, _ = io.Copy(upstream, rw); upstream.Close() }()
	go func() { defer p.tunnel.Done(); _, _ = io.Copy(conn, upstream); conn.Close() }()
}

// proxyBundle is a client configured with the proxy, receivers behind it
// (one TLS with a certificate for publicIP, one plain) and the proxy.
type proxyBundle struct {
	client *http.Client
	proxy  *testProxy
	plain  *httptest.Server
}

func setupProxy(t *testing.T, cfg outbound.ClientConfig) *proxyBundle {
	t.Helper()
	cert, err := testcert.New(publicIP)
	require.NoError(t, err)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello "+r.URL.Path) })
	secure := httptest.NewUnstartedServer(hello)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	plain := httptest.NewServer(hello)
	t.Cleanup(plain.Close)

	proxy := startProxy(t, secure.Listener.Addr().String(), plain.Listener.Addr().String())
	cfg.Proxy = proxy.URL
	client := outbound.NewClient(cfg)
	// The receiver's certificate is the test's own; trust it like a
	// public one.
	client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: cert.Pool}
	t.Cleanup(client.CloseIdleConnections)
	return &proxyBundle{client: client, proxy: proxy, plain: plain}
}

func (b *proxyBundle) get(t *testing.T, target string) (string, error) {
	t.Helper()
	res, err := b.client.Get(target)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	return string(body), nil
}

func TestProxyCarriesRequestsToPublicTargets(t *testing.T) {
	t.Parallel()
	b := setupProxy(t, outbound.ClientConfig{})

	body, err := b.get(t, "https://"+publicIP+"/hooks/a")
	require.NoError(t, err, "the proxy on 127.0.0.1 is dialled although loopback targets are refused")
	require.Equal(t, "hello /hooks/a", body)
	body, err = b.get(t, "http://"+publicIP+":8080/hooks/b")
	require.NoError(t, err)
	require.Equal(t, "hello /hooks/b", body)

	require.Equal(t, []string{"CONNECT " + publicIP + ":443", "GET http://" + publicIP + ":8080/hooks/b"}, b.proxy.requests(),
		"HTTPS goes through a CONNECT tunnel, plain HTTP as an absolute-form request")
}

func TestProxyStillRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
	b := setupProxy(t, outbound.ClientConfig{})
	for _, target := range []string{
		b.plain.URL + "/x", // the loopback receiver itself
		"http://localhost:" + strconv.Itoa(b.plain.Listener.Addr().(*net.TCPAddr).Port) + "/x", // a name resolving to loopback
		"https://10.1.2.3/x",
		"http://169.254.169.254/latest/meta-data",
		"http://[::1]:8080/x",
		"https://[fd00::1]/x",
	} {
		_, err := b.get(t, target)
		require.Error(t, err, target)
		require.True(t, outbound.IsBlockedTarget(err), "%s: %v", target, err)
	}
	require.Empty(t, b.proxy.requests(), "a refused target never reaches the proxy")
}

func TestAllowedPrefixesOpenOnlyTheirRanges(t *testing.T) {
	t.Parallel()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(rc.Close)
	get := func(cfg outbound.ClientConfig) error {
		c := outbound.NewClient(cfg)
		defer c.CloseIdleConnections()
		res, err := c.Get(rc.URL)
		if err == nil {
			res.Body.Close()
		}
		return err
	}

	err := get(outbound.ClientConfig{})
	require.True(t, outbound.IsBlockedTarget(err), "the default refuses loopback: %v", err)
	require.NoError(t, get(outbound.ClientConfig{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/30")}}))
	err = get(outbound.ClientConfig{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}})
	require.True(t, outbound.IsBlockedTarget(err), "a prefix opens its range only: %v", err)
	require.NoError(t, get(outbound.ClientConfig{AllowPrivate: true}), "the all-or-nothing switch still opens everything")

	// Through a proxy, the allowed prefixes are checked before the proxy
	// gets the request.
	b := setupProxy(t, outbound.ClientConfig{AllowedPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	body, err := b.get(t, b.plain.URL+"/allowed")
	require.NoError(t, err)
	require.Equal(t, "hello /allowed", body)
	_, err = b.get(t, "http://10.9.9.9/refused")
	require.True(t, outbound.IsBlockedTarget(err), "%v", err)
	require.Equal(t, []string{"GET " + b.plain.URL + "/allowed"}, b.proxy.requests())
}
