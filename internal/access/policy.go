package access

import (
	"context"
	"slices"
)

// Action names one thing an admin may do. Every admin route and console
// page declares the action it performs; Allowed judges it.
type Action string

// The admin actions.
const (
	TenantsRead   Action = "tenants.read"
	TenantsCreate Action = "tenants.create"
	// TenantsWrite changes a tenant: disable, labels, limits and budget.
	TenantsWrite Action = "tenants.write"
	KeysRead     Action = "keys.read"
	// KeysWrite issues, revokes and rotates keys.
	KeysWrite Action = "keys.write"
	UsageRead Action = "usage.read"
	// ReportsRead reads the reports that span tenants: contract,
	// compliance, commitment, budget and the chargeback export.
	ReportsRead   Action = "reports.read"
	RequestsRead  Action = "requests.read"
	RouteExplain  Action = "route.explain"
	ModelsRead    Action = "models.read"
	ChannelsRead  Action = "channels.read"
	ChannelsReset Action = "channels.reset"
	// ConfigRead shows the running configuration (secrets redacted).
	ConfigRead   Action = "config.read"
	ConfigReload Action = "config.reload"
	// ConfigWhatIf replays the ledger through a proposed configuration.
	ConfigWhatIf Action = "config.whatif"
	// BillsReconcile compares a cloud's cost export with the ledger and
	// may save its billed days for commitments' burn-down.
	BillsReconcile   Action = "bills.reconcile"
	AdminTokensRead  Action = "admin_tokens.read"
	AdminTokensWrite Action = "admin_tokens.write"
	AuditRead        Action = "audit.read"
	// SignIn opens a console session.
	SignIn Action = "console.signin"
)

// rule is who may perform an action.
type rule struct {
	roles []Role
}

var (
	everyone  = []Role{Viewer, TenantAdmin, Operator, Admin}
	readers   = []Role{Viewer, Operator, Admin}
	operators = []Role{Operator, Admin}
	admins    = []Role{Admin}
)

// policy is the one table of who may do what. A TenantAdmin allowed an
// action is allowed it only on its own tenants: the admin service hides
// every other tenant, key, request and usage row from it (see Sees).
var policy = map[Action]rule{
	TenantsRead:      {everyone},
	TenantsCreate:    {operators},
	TenantsWrite:     {operators},
	KeysRead:         {everyone},
	KeysWrite:        {[]Role{TenantAdmin, Operator, Admin}},
	UsageRead:        {everyone},
	ReportsRead:      {readers},
	RequestsRead:     {everyone},
	RouteExplain:     {readers},
	ModelsRead:       {readers},
	ChannelsRead:     {readers},
	ChannelsReset:    {operators},
	ConfigRead:       {readers},
	ConfigReload:     {operators},
	ConfigWhatIf:     {operators},
	BillsReconcile:   {operators},
	AdminTokensRead:  {admins},
	AdminTokensWrite: {admins},
	AuditRead:        {readers},
	SignIn:           {everyone},
}

// Actions lists every action with a rule, in a stable order.
func Actions() []Action {
	out := make([]Action, 0, len(policy))
	for a := range policy {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Known reports whether a has a rule.
func (a Action) Known() bool {
	_, ok := policy[a]
	return ok
}

// Allowed reports whether p may perform a. An action without a rule is
// refused to everyone.
func Allowed(p Principal, a Action) bool {
	r, ok := policy[a]
	return ok && p.Role.Valid() && slices.Contains(r.roles, p.Role)
}

// Scoped reports whether p sees only some tenants.
func (p Principal) Scoped() bool { return p.Role == TenantAdmin }

// Sees reports whether p may see the tenant with the given ID and name:
// every principal but a TenantAdmin sees every tenant; a TenantAdmin sees
// those its Tenants name (by name or ID).
func (p Principal) Sees(tenantID, tenantName string) bool {
	if !p.Scoped() {
		return true
	}
	return slices.ContainsFunc(p.Tenants, func(t string) bool { return t != "" && (t == tenantID || t == tenantName) })
}

// Origin is where an admin request came from, for the audit log.
type Origin struct {
	// Address is the client's network address.
	Address string
	// RequestID is the request's id (X-Request-Id, or one made up).
	RequestID string
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin ctx carries; zero when none.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
