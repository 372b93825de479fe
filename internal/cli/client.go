package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
)

// Client talks to a running gateway's admin API.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client for the admin API at base.
func NewClient(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// Close releases idle connections.
func (c *Client) Close() error { c.hc.CloseIdleConnections(); return nil }

// yamlBody is a request body sent as it is, as YAML.
type yamlBody []byte

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case yamlBody:
		rd, contentType = bytes.NewReader(b), "application/yaml"
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("calling the admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Message, Field string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("admin API: %s (%d)", e.Error.Message, resp.StatusCode)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *json.RawMessage:
		*o = data
		return nil
	case *[]byte:
		*o = data
		return nil
	}
	return json.Unmarshal(data, out)
}

func (c *Client) CreateTenant(ctx context.Context, spec admin.TenantSpec) (*admin.TenantView, error) {
	var t admin.TenantView
	return &t, c.do(ctx, http.MethodPost, "/admin/v1/tenants", spec, &t)
}

func (c *Client) ListTenants(ctx context.Context) ([]admin.TenantView, error) {
	var out struct{ Data []admin.TenantView }
	return out.Data, c.do(ctx, http.MethodGet, "/admin/v1/tenants", nil, &out)
}

func (c *Client) UpdateTenant(ctx context.Context, id string, u admin.TenantUpdate) (*admin.TenantView, error) {
	var t admin.TenantView
	return &t, c.do(ctx, http.MethodPatch, "/admin/v1/tenants/"+url.PathEscape(id), u, &t)
}

func (c *Client) IssueKey(ctx context.Context, spec admin.KeySpec) (*admin.IssuedView, error) {
	var out admin.IssuedView
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/keys", spec, &out)
}

func (c *Client) ListKeys(ctx context.Context, tenant string) ([]admin.KeyView, error) {
	var out struct{ Data []admin.KeyView }
	path := "/admin/v1/keys"
	if tenant != "" {
		path += "?tenant=" + url.QueryEscape(tenant)
	}
	return out.Data, c.do(ctx, http.MethodGet, path, nil, &out)
}

// RevokeKey revokes a key by ID or secret. A secret goes in the body,
// never in the URL, which proxies and access logs record.
func (c *Client) RevokeKey(ctx context.Context, idOrSecret string) (*admin.KeyView, error) {
	var k admin.KeyView
	if strings.HasPrefix(idOrSecret, auth.KeyPrefix) {
		return &k, c.do(ctx, http.MethodPost, "/admin/v1/keys/revoke", admin.KeyRef{Key: idOrSecret}, &k)
	}
	return &k, c.do(ctx, http.MethodPost, "/admin/v1/keys/"+url.PathEscape(idOrSecret)+"/revoke", nil, &k)
}

// RotateKey rotates a key by ID or secret, like RevokeKey.
func (c *Client) RotateKey(ctx context.Context, idOrSecret string, grace time.Duration) (*admin.IssuedView, error) {
	var out admin.IssuedView
	rot := admin.Rotation{Grace: grace.String()}
	if strings.HasPrefix(idOrSecret, auth.KeyPrefix) {
		rot.Key = idOrSecret
		return &out, c.do(ctx, http.MethodPost, "/admin/v1/keys/rotate", rot, &out)
	}
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/keys/"+url.PathEscape(idOrSecret)+"/rotate", rot, &out)
}

// FindKeys lists the keys q selects.
func (c *Client) FindKeys(ctx context.Context, q admin.KeyQuery) ([]admin.KeyView, error) {
	var out struct{ Data []admin.KeyView }
	v := url.Values{}
	if q.Tenant != "" {
		v.Set("tenant", q.Tenant)
	}
	for k, val := range q.Labels {
		v.Add("label", k+"="+val)
	}
	return out.Data, c.do(ctx, http.MethodGet, "/admin/v1/keys?"+v.Encode(), nil, &out)
}

// UpdateKey changes a key named by its ID.
func (c *Client) UpdateKey(ctx context.Context, id string, u admin.KeyUpdate) (*admin.KeyView, error) {
	var k admin.KeyView
	return &k, c.do(ctx, http.MethodPatch, "/admin/v1/keys/"+url.PathEscape(id), u, &k)
}

func (c *Client) Usage(ctx context.Context, q admin.UsageQuery) (json.RawMessage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"since": q.Since, "until": q.Until, "by": q.By, "tenant": q.Tenant, "model": q.Model, "provider": q.Provider} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var raw json.RawMessage
	return raw, c.do(ctx, http.MethodGet, "/admin/v1/usage?"+v.Encode(), nil, &raw)
}

func (c *Client) Requests(ctx context.Context, q admin.RequestQuery) (*admin.RequestPage, error) {
	v := url.Values{}
	for k, s := range map[string]string{"tenant": q.Tenant, "key": q.Key, "model": q.Model, "channel": q.Channel, "status": q.Status,
		"since": q.Since, "until": q.Until, "limit": q.Limit, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var page admin.RequestPage
	return &page, c.do(ctx, http.MethodGet, "/admin/v1/requests?"+v.Encode(), nil, &page)
}

func (c *Client) Request(ctx context.Context, id string) (*admin.RequestRecord, error) {
	var r admin.RequestRecord
	return &r, c.do(ctx, http.MethodGet, "/admin/v1/requests/"+url.PathEscape(id), nil, &r)
}

// Direct serves the subcommands straight from the store, through the same
// admin.Service the API uses.
type Direct struct {
	Service *admin.Service
	// Report answers contract/compliance reports in direct mode.
	Report func(ctx context.Context, name string, since, until time.Time) (any, error)
	// Replay answers what-if replays in direct mode, as the admin API's
	// WhatIf hook does.
	Replay func(ctx context.Context, proposed []byte, since, until time.Time) (any, error)
	// Export answers chargeback exports in direct mode, as the admin
	// API's hook of the same name does.
	Export func(ctx context.Context, label string, since, until time.Time) (admin.Exported, error)
	Closer func() error
}

func (d *Direct) Close() error {
	if d.Closer != nil {
		return d.Closer()
	}
	return nil
}

func (d *Direct) CreateTenant(ctx context.Context, spec admin.TenantSpec) (*admin.TenantView, error) {
	t, err := d.Service.CreateTenant(ctx, spec)
	if err != nil {
		return nil, err
	}
	v := admin.ViewTenant(t)
	return &v, nil
}

func (d *Direct) ListTenants(ctx context.Context) ([]admin.TenantView, error) {
	ts, err := d.Service.Store.ListTenants(ctx)
	out := make([]admin.TenantView, 0, len(ts))
	for i := range ts {
		out = append(out, admin.ViewTenant(&ts[i]))
	}
	return out, err
}

func (d *Direct) UpdateTenant(ctx context.Context, id string, u admin.TenantUpdate) (*admin.TenantView, error) {
	t, err := d.Service.UpdateTenant(ctx, id, u)
	if err != nil {
		return nil, err
	}
	v := admin.ViewTenant(t)
	return &v, nil
}

func (d *Direct) IssueKey(ctx context.Context, spec admin.KeySpec) (*admin.IssuedView, error) {
	iss, err := d.Service.IssueKey(ctx, spec)
	if err != nil {
		return nil, err
	}
	v := admin.ViewIssued(iss)
	return &v, nil
}

func (d *Direct) ListKeys(ctx context.Context, tenant string) ([]admin.KeyView, error) {
	tenantID := ""
	if tenant != "" {
		t, err := d.Service.Tenant(ctx, tenant)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", tenant, err)
		}
		tenantID = t.ID
	}
	ks, err := d.Service.Store.ListKeys(ctx, tenantID)
	out := make([]admin.KeyView, 0, len(ks))
	for i := range ks {
		out = append(out, admin.ViewKey(&ks[i]))
	}
	return out, err
}

func (d *Direct) RevokeKey(ctx context.Context, id string) (*admin.KeyView, error) {
	k, err := d.Service.RevokeKey(ctx, id)
	if err != nil {
		return nil, err
	}
	v := admin.ViewKey(k)
	return &v, nil
}

func (d *Direct) FindKeys(ctx context.Context, q admin.KeyQuery) ([]admin.KeyView, error) {
	return d.Service.FindKeys(ctx, q)
}

func (d *Direct) UpdateKey(ctx context.Context, id string, u admin.KeyUpdate) (*admin.KeyView, error) {
	k, err := d.Service.UpdateKey(ctx, id, u)
	if err != nil {
		return nil, err
	}
	v := admin.ViewKey(k)
	return &v, nil
}

func (d *Direct) RotateKey(ctx context.Context, id string, grace time.Duration) (*admin.IssuedView, error) {
	iss, err := d.Service.RotateKey(ctx, id, grace)
	if err != nil {
		return nil, err
	}
	v := admin.ViewIssued(iss)
	return &v, nil
}

func (d *Direct) Usage(ctx context.Context, q admin.UsageQuery) (json.RawMessage, error) {
	var rep any
	var err error
	switch q.By {
	case "contract", "compliance", "commitment", "budget":
		if d.Report == nil {
			return nil, fmt.Errorf("no %s report available", q.By)
		}
		since := time.Now().Add(-24 * time.Hour)
		if q.Since != "" {
			if since, err = admin.ParseSince(q.Since, time.Now()); err != nil {
				return nil, err
			}
		}
		rep, err = d.Report(ctx, q.By, since, time.Now().Add(time.Minute))
	default:
		rep, err = d.Service.Usage(ctx, q)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(rep)
}

func (d *Direct) Requests(ctx context.Context, q admin.RequestQuery) (*admin.RequestPage, error) {
	return d.Service.Requests(ctx, q)
}

func (d *Direct) Request(ctx context.Context, id string) (*admin.RequestRecord, error) {
	return d.Service.Request(ctx, id)
}

func (c *Client) UsageExport(ctx context.Context, q admin.ExportQuery) ([]byte, error) {
	v := url.Values{}
	for k, s := range map[string]string{"by": q.By, "since": q.Since, "until": q.Until, "format": q.Format} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out []byte
	return out, c.do(ctx, http.MethodGet, "/admin/v1/usage/export?"+v.Encode(), nil, &out)
}

func (c *Client) WhatIf(ctx context.Context, proposed []byte, since, until string) (json.RawMessage, error) {
	v := url.Values{}
	if since != "" {
		v.Set("since", since)
	}
	if until != "" {
		v.Set("until", until)
	}
	var raw json.RawMessage
	return raw, c.do(ctx, http.MethodPost, "/admin/v1/whatif?"+v.Encode(), yamlBody(proposed), &raw)
}

func (d *Direct) UsageExport(ctx context.Context, q admin.ExportQuery) ([]byte, error) {
	if d.Export == nil {
		return nil, errors.New("usage export is not available")
	}
	label, since, until, err := q.Parse(time.Now())
	if err != nil {
		return nil, err
	}
	rep, err := d.Export(ctx, label, since, until)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := admin.WriteExport(&buf, rep, q.Format); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (d *Direct) WhatIf(ctx context.Context, proposed []byte, since, until string) (json.RawMessage, error) {
	if d.Replay == nil {
		return nil, errors.New("what-if is not available")
	}
	now := time.Now()
	from, to := now.Add(-30*24*time.Hour), now
	var err error
	if since != "" {
		if from, err = admin.ParseSince(since, now); err != nil {
			return nil, fmt.Errorf("-since: %w", err)
		}
	}
	if until != "" {
		if to, err = time.Parse(time.RFC3339, until); err != nil {
			return nil, errors.New("-until: must be an RFC 3339 time")
		}
	}
	if !from.Before(to) {
		return nil, errors.New("-since must be before -until")
	}
	rep, err := d.Replay(ctx, proposed, from, to)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rep)
}
