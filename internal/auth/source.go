package auth

import (
	"fmt"
	"net/netip"
)

// allowLists are a key's and its tenant's IP allow-lists, parsed. An empty
// list allows every address.
type allowLists struct {
	key, tenant []netip.Prefix
}

// parseAllowLists parses the CIDR lists of a key and its tenant; nil when
// both are empty.
func parseAllowLists(key, tenant []string) (*allowLists, error) {
	if len(key) == 0 && len(tenant) == 0 {
		return nil, nil
	}
	var l allowLists
	var err error
	if l.key, err = ParseCIDRs(key); err != nil {
		return nil, fmt.Errorf("allowed CIDRs: %w", err)
	}
	if l.tenant, err = ParseCIDRs(tenant); err != nil {
		return nil, fmt.Errorf("tenant allowed CIDRs: %w", err)
	}
	return &l, nil
}

// ParseCIDRs parses CIDR prefixes ("10.0.0.0/8", "2001:db8::/32"), the
// form of every IP allow-list. A prefix with host bits set
// ("10.1.2.3/8") is refused rather than silently widened or narrowed,
// since it is most often a typo.
func ParseCIDRs(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", c)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%q has bits set past its /%d; did you mean %s?", c, p.Bits(), p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// CheckSource reports whether the principal may be used from addr: the
// key's allow-list and its tenant's, where set, must both contain it. An
// IPv4-mapped IPv6 address counts as its IPv4 address. It fails with an
// error wrapping ErrSourceNotAllowed; an invalid addr (no address known)
// passes only when neither list is set.
func (p *Principal) CheckSource(addr netip.Addr) error {
	l := p.allow
	if l == nil {
		if len(p.Key.AllowedCIDRs) == 0 && len(p.Tenant.AllowedCIDRs) == 0 {
			return nil
		}
		var err error
		if l, err = parseAllowLists(p.Key.AllowedCIDRs, p.Tenant.AllowedCIDRs); err != nil {
			return fmt.Errorf("key %s: %w: %w", p.Key.ID, ErrSourceNotAllowed, err)
		}
	}
	addr = addr.Unmap()
	if !contains(l.key, addr) {
		return fmt.Errorf("key %s: %s: not in the key's allowed CIDRs: %w", p.Key.ID, addrString(addr), ErrSourceNotAllowed)
	}
	if !contains(l.tenant, addr) {
		return fmt.Errorf("key %s: %s: not in tenant %s's allowed CIDRs: %w", p.Key.ID, addrString(addr), p.Tenant.Name, ErrSourceNotAllowed)
	}
	return nil
}

// contains reports whether an allow-list admits addr; an empty list
// admits every address.
func contains(list []netip.Prefix, addr netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	for _, p := range list {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown address"
	}
	return a.String()
}
