package sso

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"switchyard/internal/access"
)

// Rule grants Role to an identity whose groups hold Group, or whose claim
// Claim is (or, as an array, holds) Value. Exactly one of Group and Claim
// is set.
type Rule struct {
	Group   string
	Claim   string
	Value   string
	Role    access.Role
	Tenants []string
}

// Mapping turns an identity's claims into a principal.
type Mapping struct {
	// GroupsClaim names the claim listing the groups, a dotted path into
	// nested objects. Default: "groups".
	GroupsClaim string
	Rules       []Rule
}

// Principal maps verified claims to a principal: Subject "oidc:<sub>",
// Name the email (else preferred_username, name or sub), and the highest
// role among the rules that match; a tenant admin gets the tenants of
// every tenant-admin rule that matched. No match is a Refusal.
func (m Mapping) Principal(claims map[string]any) (access.Principal, error) {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return access.Principal{}, &Refusal{Reason: "the ID token names no subject"}
	}
	name := sub
	for _, k := range []string{"email", "preferred_username", "name"} {
		if v, _ := claims[k].(string); v != "" {
			name = v
			break
		}
	}
	gc := m.GroupsClaim
	if gc == "" {
		gc = "groups"
	}
	groups := values(lookup(claims, gc))
	best := -1
	var tenants []string
	for _, r := range m.Rules {
		var ok bool
		if r.Group != "" {
			ok = slices.Contains(groups, r.Group)
		} else {
			ok = slices.Contains(values(lookup(claims, r.Claim)), r.Value)
		}
		if !ok {
			continue
		}
		rank := slices.Index(access.Roles, r.Role)
		if rank > best {
			best = rank
		}
		if r.Role == access.TenantAdmin {
			for _, t := range r.Tenants {
				if !slices.Contains(tenants, t) {
					tenants = append(tenants, t)
				}
			}
		}
	}
	if best < 0 {
		return access.Principal{}, &Refusal{Reason: fmt.Sprintf("%s may not sign in: none of their groups or claims is mapped to a role (admin.oidc.roles)", name)}
	}
	p := access.Principal{Subject: "oidc:" + sub, Name: name, Role: access.Roles[best]}
	if p.Role == access.TenantAdmin {
		p.Tenants = tenants
	}
	return p, nil
}

// lookup follows a dotted path ("realm_access.roles") through nested
// objects; a key that itself holds dots is found first.
func lookup(claims map[string]any, path string) any {
	if v, ok := claims[path]; ok {
		return v
	}
	head, rest, found := strings.Cut(path, ".")
	if !found {
		return nil
	}
	sub, ok := claims[head].(map[string]any)
	if !ok {
		return nil
	}
	return lookup(sub, rest)
}

// values is a claim as strings: an array's scalar elements, or one
// scalar (booleans and numbers as JSON writes them).
func values(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := scalar(e); ok {
				out = append(out, s)
			}
		}
		return out
	default:
		if s, ok := scalar(x); ok {
			return []string{s}
		}
	}
	return nil
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}
