package events

import "strings"

// MatchType reports whether an event type is selected by a list of
// patterns, as webhook endpoints and automation triggers write them: an
// exact name, "prefix.*" or "*".
func MatchType(patterns []string, typ string) bool {
	for _, p := range patterns {
		switch {
		case p == "*" || p == typ:
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(typ, p[:len(p)-1]):
			return true
		}
	}
	return false
}
