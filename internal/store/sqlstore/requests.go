package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"switchyard/internal/store"
)

// The request log is the usage ledger read one request at a time: every
// raw usage row is a request's record, and its detail column holds the
// route decision and the attempts. Rows pruned by PruneUsage (after
// ledger.retention) leave the log; their hourly aggregates stay.

// ListRequests returns one page of request records matching f, newest
// first (by creation time, then insertion order, so the order is stable
// under ties), and the cursor of the next page ("" after the last).
// Records come without payloads; GetRequest has them. Each page is one
// indexed range read: the (column, created_at) indexes serve the tenant,
// key, model and channel filters, usage_records_created_idx the rest.
func (s *Store) ListRequests(ctx context.Context, f store.RequestFilter) ([]store.UsageRecord, string, error) {
	limit := f.Limit
	if limit <= 0 || limit > store.MaxRequestPage {
		limit = store.MaxRequestPage
	}
	span := usageSpan{dbInstant(f.Since), dbInstant(f.Until)}
	extra, extraArgs := "", []any(nil)
	if f.Cursor != "" {
		at, id, err := parseRequestCursor(f.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("listing requests: %w", err)
		}
		extra = "(created_at < ? OR (created_at = ? AND id < ?))"
		extraArgs = []any{s.d.dbTime(at), s.d.dbTime(at), id}
	}
	if f.Status != 0 {
		if extra != "" {
			extra += " AND "
		}
		extra += "status = ?"
		extraArgs = append(extraArgs, f.Status)
	}
	where, args := usageConds(s.d, store.UsageFilter{TenantID: f.TenantID, KeyID: f.KeyID, Model: f.Model, Provider: f.Provider},
		"created_at", span, extra)
	// usageConds puts the extra condition first, the span next.
	args = append(extraArgs, args...)
	q := s.d.rebind(`SELECT id, ` + usageColumns + ` FROM usage_records` + where +
		` ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(limit+1))
	page, ids, err := s.requestPage(ctx, q, args)
	if err != nil {
		return nil, "", fmt.Errorf("listing requests: %w", err)
	}
	next := ""
	if len(page) > limit {
		page = page[:limit]
		last := page[limit-1]
		next = formatRequestCursor(last.CreatedAt, ids[limit-1])
	}
	return page, next, nil
}

// GetRequest returns the record of the request with the given ID, with
// its captured payload when one is kept. It returns store.ErrNotFound when
// there is no record (never logged, or pruned).
func (s *Store) GetRequest(ctx context.Context, requestID string) (*store.UsageRecord, error) {
	q := s.d.rebind(`SELECT id, ` + usageColumns + ` FROM usage_records WHERE request_id = ?`)
	page, _, err := s.requestPage(ctx, q, []any{requestID})
	if err != nil {
		return nil, fmt.Errorf("reading request %q: %w", requestID, err)
	}
	if len(page) == 0 {
		return nil, fmt.Errorf("request %q: %w", requestID, store.ErrNotFound)
	}
	r := &page[0]
	var p store.Payload
	err = s.r.QueryRowContext(ctx, s.d.rebind(`SELECT request, response, request_bytes, response_bytes, truncated
FROM request_payloads WHERE request_id = ?`), requestID).Scan(&p.Request, &p.Response, &p.RequestBytes, &p.ResponseBytes, &p.Truncated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("reading payload of request %q: %w", requestID, err)
	default:
		r.Payload = &p
	}
	return r, nil
}

// requestPage runs a query of usage rows and returns them with their row
// IDs.
func (s *Store) requestPage(ctx context.Context, q string, args []any) ([]store.UsageRecord, []int64, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		out []store.UsageRecord
		ids []int64
	)
	for rows.Next() {
		r, id, err := scanUsage(rows)
		if err != nil {
			return nil, nil, err
		}
		out, ids = append(out, r), append(ids, id)
	}
	return out, ids, rows.Err()
}

// PrunePayloads deletes the captured payloads stored before before, in
// batches of pruneBatch rows so that no statement holds the write lock for
// long, and returns how many it deleted.
func (s *Store) PrunePayloads(ctx context.Context, before time.Time) (int64, error) {
	return s.prunePayloads(ctx, before, pruneBatch)
}

func (s *Store) prunePayloads(ctx context.Context, before time.Time, batch int) (int64, error) {
	del := s.d.rebind(`DELETE FROM request_payloads WHERE request_id IN
(SELECT request_id FROM request_payloads WHERE created_at < ? LIMIT ?)`)
	var deleted int64
	for {
		res, err := s.w.ExecContext(ctx, del, s.d.dbTime(before), batch)
		if err != nil {
			return deleted, fmt.Errorf("pruning payloads: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, fmt.Errorf("pruning payloads: %w", err)
		}
		deleted += n
		if n < int64(batch) {
			return deleted, nil
		}
	}
}

// A cursor is the last record's creation time in Unix microseconds and
// its row ID: "<micros>_<id>". Clients treat it as opaque.
func formatRequestCursor(at time.Time, id int64) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + "_" + strconv.FormatInt(id, 10)
}

func parseRequestCursor(c string) (time.Time, int64, error) {
	a, b, ok := strings.Cut(c, "_")
	us, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || id < 0 {
		return time.Time{}, 0, fmt.Errorf("malformed cursor %q: %w", c, store.ErrInvalid)
	}
	return time.UnixMicro(us).UTC(), id, nil
}
