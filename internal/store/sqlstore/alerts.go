package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"switchyard/internal/store"
)

// This file holds the alert outbox. Every write that changes a pending
// alert is conditional on the lease, so that two replicas never both
// deliver one: InsertAlert and ClaimAlerts hand out leases, and the other
// writes take effect only for the lease's owner.

const alertColumns = `id, alert_key, endpoint, kind, subject, body, created_at, attempts, delivered_at, gave_up_at, last_error`

// pendingAlert is the condition of an alert that is neither delivered nor
// given up.
const pendingAlert = `delivered_at IS NULL AND gave_up_at IS NULL`

// InsertAlert records a, leased to owner until leaseUntil, unless an alert
// with its Key is already recorded. inserted reports whether this call
// stored it (and so holds its lease); on success a holds the stored
// values. An empty ID is generated ("alt_…") and a zero CreatedAt set to
// now.
func (s *Store) InsertAlert(ctx context.Context, a *store.Alert, owner string, leaseUntil time.Time) (inserted bool, err error) {
	if a.Key == "" || a.Endpoint == "" || a.Kind == "" || owner == "" {
		return false, fmt.Errorf("inserting alert: key, endpoint, kind and owner are required: %w", store.ErrInvalid)
	}
	row := *a
	if row.ID == "" {
		row.ID = newID("alt_")
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = s.now()
	}
	row.CreatedAt = row.CreatedAt.Truncate(time.Microsecond).UTC()
	res, err := s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO alert_outbox
(id, alert_key, endpoint, kind, subject, body, created_at, attempts, lease_owner, lease_until, last_error)
VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, '') ON CONFLICT (alert_key) DO NOTHING`),
		row.ID, row.Key, row.Endpoint, row.Kind, row.Subject, row.Body, s.d.dbTime(row.CreatedAt), owner, s.d.dbTime(leaseUntil))
	if err != nil {
		return false, fmt.Errorf("inserting alert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("inserting alert: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	*a = row
	return true, nil
}

// ClaimAlerts leases to owner, until leaseUntil, up to limit pending
// alerts whose lease has lapsed by now (or was released), oldest first,
// and returns them. A row another replica claims in between is skipped.
func (s *Store) ClaimAlerts(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]store.Alert, error) {
	if owner == "" || limit <= 0 {
		return nil, fmt.Errorf("claiming alerts: owner and a positive limit are required: %w", store.ErrInvalid)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT `+alertColumns+` FROM alert_outbox
WHERE `+pendingAlert+` AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, id LIMIT ?`), s.d.dbTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("listing pending alerts: %w", err)
	}
	candidates, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("listing pending alerts: %w", err)
	}
	var out []store.Alert
	for _, a := range candidates {
		res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE alert_outbox SET lease_owner = ?, lease_until = ?
WHERE id = ? AND `+pendingAlert+` AND (lease_until IS NULL OR lease_until <= ?)`),
			owner, s.d.dbTime(leaseUntil), a.ID, s.d.dbTime(now))
		if err != nil {
			return out, fmt.Errorf("claiming alert %s: %w", a.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return out, fmt.Errorf("claiming alert %s: %w", a.ID, err)
		} else if n == 1 {
			out = append(out, a)
		}
	}
	return out, nil
}

// RenewAlert extends owner's lease of a pending alert to leaseUntil and
// records its attempts so far and last error. held is false when owner no
// longer holds the lease (it lapsed and another replica took the alert
// over) or the alert is no longer pending.
func (s *Store) RenewAlert(ctx context.Context, id, owner string, leaseUntil time.Time, attempts int, lastErr string) (held bool, err error) {
	return s.settleAlert(ctx, `lease_until = ?, attempts = ?, last_error = ?`, id, owner,
		s.d.dbTime(leaseUntil), attempts, lastErr)
}

// ReleaseAlert gives up owner's lease of a pending alert so that any
// replica may claim it at once (a gateway shutting down with deliveries
// pending).
func (s *Store) ReleaseAlert(ctx context.Context, id, owner string, attempts int, lastErr string) error {
	_, err := s.settleAlert(ctx, `lease_until = NULL, attempts = ?, last_error = ?`, id, owner, attempts, lastErr)
	return err
}

// AlertDelivered marks owner's pending alert delivered at at.
func (s *Store) AlertDelivered(ctx context.Context, id, owner string, at time.Time, attempts int) error {
	_, err := s.settleAlert(ctx, `delivered_at = ?, lease_until = NULL, attempts = ?, last_error = ''`, id, owner,
		s.d.dbTime(at), attempts)
	return err
}

// AlertGaveUp marks owner's pending alert given up at at.
func (s *Store) AlertGaveUp(ctx context.Context, id, owner string, at time.Time, attempts int, lastErr string) error {
	_, err := s.settleAlert(ctx, `gave_up_at = ?, lease_until = NULL, attempts = ?, last_error = ?`, id, owner,
		s.d.dbTime(at), attempts, lastErr)
	return err
}

// settleAlert runs an update of a pending alert that owner leases; set is
// a constant list of assignments whose arguments come first.
func (s *Store) settleAlert(ctx context.Context, set, id, owner string, args ...any) (bool, error) {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE alert_outbox SET `+set+`
WHERE id = ? AND lease_owner = ? AND `+pendingAlert), append(args, id, owner)...)
	if err != nil {
		return false, fmt.Errorf("updating alert %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("updating alert %s: %w", id, err)
	}
	return n == 1, nil
}

// ListAlerts returns up to limit alerts, newest first.
func (s *Store) ListAlerts(ctx context.Context, limit int) ([]store.Alert, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT `+alertColumns+` FROM alert_outbox ORDER BY created_at DESC, id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	as, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	return as, nil
}

func scanAlerts(rows *sql.Rows) ([]store.Alert, error) {
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		var a store.Alert
		if err := rows.Scan(&a.ID, &a.Key, &a.Endpoint, &a.Kind, &a.Subject, &a.Body, timeColumn{t: &a.CreatedAt},
			&a.Attempts, timeColumn{ptr: &a.DeliveredAt}, timeColumn{ptr: &a.GaveUpAt}, &a.LastError); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
