// Package outbound is fieldflow's outbound HTTP, the floor below webhooks
// and automations that both send through: the one guarded client (its
// dialer refuses private targets), the Standard Webhooks signatures, retry
// timing, and Send, which bounds a request's time and the response it keeps.
// It imports none of fieldflow's feature packages.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"code.dny.dev/ssrf"
)

// ClientConfig says where outbound requests may go. The zero value is the
// safe default: no proxy, and every private address refused.
type ClientConfig struct {
	// AllowPrivate turns the guard off: requests may reach loopback,
	// private, link-local and metadata addresses. All or nothing, for tests
	// and local development; AllowedPrefixes is the narrow alternative.
	AllowPrivate bool
	// AllowedPrefixes are address ranges the guard lets through although
	// they are private (an internal receiver at 10.20.0.0/16, say). Every
	// other private address stays refused. Empty means none.
	AllowedPrefixes []netip.Prefix
	// Proxy, when set, is an HTTP proxy (http:// or https:// URL) that
	// every request goes through: HTTPS targets through a CONNECT tunnel,
	// plain HTTP ones as absolute-form requests. It is for deployments whose
	// receivers expect one static egress address. The dial to the proxy
	// itself is allowed wherever it is; the target is checked by the guard
	// before the request is handed to the proxy, on the addresses its name
	// resolves to here. The proxy resolves the name again, so a DNS answer
	// that changes in between is the proxy's to refuse: configure it to
	// refuse private destinations too.
	Proxy *url.URL
}

// NewHTTPClient returns the client with no proxy, refusing private targets
// unless allowPrivate: NewClient(ClientConfig{AllowPrivate: allowPrivate}).
func NewHTTPClient(allowPrivate bool) *http.Client {
	return NewClient(ClientConfig{AllowPrivate: allowPrivate})
}

// NewClient returns the one client all outbound requests share: pooled
// keep-alive connections, no redirects followed, and, unless AllowPrivate,
// a dial-time guard that refuses loopback, private, link-local, CGNAT and
// metadata addresses outside AllowedPrefixes. Checking at dial time, on the
// resolved IP, is what stops DNS rebinding. Timeouts are per request.
func NewClient(cfg ClientConfig) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var guard *ssrf.Guardian
	if !cfg.AllowPrivate {
		var v4, v6 []netip.Prefix
		for _, p := range cfg.AllowedPrefixes {
			if p.Addr().Is4() {
				v4 = append(v4, p)
			} else {
				v6 = append(v6, p)
			}
		}
		guard = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	switch {
	case guard != nil && cfg.Proxy != nil:
		// Every connection goes to the proxy, so the dial-time check
		// would only see the proxy: the target is checked here instead,
		// and the dialer lets exactly the proxy's address through.
		proxy, proxyAddr := cfg.Proxy, proxyAddress(cfg.Proxy)
		transport.Proxy = func(req *http.Request) (*url.URL, error) {
			if err := checkTarget(req.Context(), guard, req.URL); err != nil {
				return nil, err
			}
			return proxy, nil
		}
		transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !strings.EqualFold(addr, proxyAddr) {
				return nil, fmt.Errorf("dial %s: %w: only the proxy %s may be dialled", addr, ssrf.ErrProhibitedIP, proxyAddr)
			}
			return dialer.DialContext(ctx, network, addr)
		}
	case cfg.Proxy != nil:
		transport.Proxy = http.ProxyURL(cfg.Proxy)
	case guard != nil:
		dialer.Control = guard.Safe
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// proxyAddress is the host:port the transport dials for a proxy URL: its
// port, or the scheme's.
func proxyAddress(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// checkTarget applies the guard to every address the target's host
// resolves to, as the dialer would at connect time.
func checkTarget(ctx context.Context, guard *ssrf.Guardian, target *url.URL) error {
	port := target.Port()
	if port == "" {
		port = "80"
		if target.Scheme == "https" {
			port = "443"
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("check %s: %w", target.Host, ssrf.ErrInvalidHostPort)
	}
	host := target.Hostname()
	addrs := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, ip)
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range addrs {
		ip = ip.Unmap()
		network := "tcp6"
		if ip.Is4() {
			network = "tcp4"
		}
		if err := guard.Safe(network, netip.AddrPortFrom(ip, uint16(n)).String(), nil); err != nil {
			return fmt.Errorf("check %s: %w", host, err)
		}
	}
	return nil
}

// IsBlockedTarget reports whether err is the guard refusing an address.
func IsBlockedTarget(err error) bool {
	return errors.Is(err, ssrf.ErrProhibitedIP) || errors.Is(err, ssrf.ErrProhibitedNetwork) || errors.Is(err, ssrf.ErrProhibitedPort) || errors.Is(err, ssrf.ErrInvalidHostPort)
}
