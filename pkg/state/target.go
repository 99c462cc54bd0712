package state

import (
	"fmt"
	"strings"
)

// TargetError is returned when a state belongs to another API URL or team
// than the one psync is pointed at. The command line exits 3 on it.
type TargetError struct {
	StateAPIURL, StateTeam string
	APIURL, Team           string
}

func (e *TargetError) Error() string {
	// The advice names what would point psync at the state's target.
	var back string
	switch {
	case strings.TrimSuffix(e.StateAPIURL, "/") == strings.TrimSuffix(e.APIURL, "/"):
		back = "the API key of the state's team"
	case strings.HasPrefix(e.StateAPIURL, "sandbox:"):
		back = "--sandbox " + strings.TrimPrefix(e.StateAPIURL, "sandbox:")
	default:
		back = "--api-url " + e.StateAPIURL
	}
	return fmt.Sprintf("the state belongs to %s, not %s: use --state to pick the state file of this target, or %s",
		describeTarget(e.StateAPIURL, e.StateTeam), describeTarget(e.APIURL, e.Team), back)
}

func describeTarget(url, team string) string {
	if team == "" {
		return url
	}
	return fmt.Sprintf("%s (team %s)", url, team)
}

// Unbound reports whether the state owns objects but records no target:
// no API URL, or no team where the caller knows the key's team (every
// team shares the API URL, so the URL alone ties nothing to this one). It
// is a file psync did not write whole, one edited by hand, or one older
// than psync's recording of the team. CheckTarget binds it to the
// caller's target, and the next save records that; until then its entries
// prove nothing about this team.
func (s *State) Unbound(team string) bool {
	return s != nil && (s.APIURL == "" || team != "" && s.Team == "") && (len(s.Scripts) > 0 || len(s.Templates) > 0)
}

// CheckTarget refuses (with a *TargetError) a state that belongs to another
// API URL, or to another team when both the state and the caller know the
// team. A state that does not record its target yet adopts this one: the
// next Save records it. URLs are compared without a trailing slash.
func (s *State) CheckTarget(apiURL, team string) error {
	norm := func(u string) string { return strings.TrimRight(u, "/") }
	if s.APIURL != "" && norm(s.APIURL) != norm(apiURL) ||
		s.Team != "" && team != "" && s.Team != team {
		return &TargetError{StateAPIURL: s.APIURL, StateTeam: s.Team, APIURL: apiURL, Team: team}
	}
	if s.APIURL == "" {
		s.APIURL = norm(apiURL)
	}
	if s.Team == "" {
		s.Team = team
	}
	return nil
}
