package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchyard/internal/store"
)

// This file stores the stateful runtime's responses, conversations and
// their items. Every read and write is scoped by tenant: an ID of another
// tenant behaves exactly like an unknown one (store.ErrNotFound).

// maxChainDepth bounds the walk up a chain of responses. Chains are acyclic
// by construction (a response can only continue one that already exists);
// the bound only keeps a damaged database from looping forever.
const maxChainDepth = 1_000_000

// purgeBatch is how many expired responses one purge statement deletes, so
// that a large purge never holds the write lock for long.
const purgeBatch = 500

const responseColumns = `id, tenant_id, model, status, previous_response_id, conversation_id, metadata, settings,
input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, error_code, error_message, incomplete_reason,
created_at, completed_at, expires_at`

// chainCTE walks from the response with the given ID (argument 1) of a
// tenant (2) up its previous_response_id links, keeping only responses
// unexpired at a time (3); arguments 4 to 6 repeat 2, 3 and the depth
// bound. depth is 0 for the starting response.
const chainCTE = `WITH RECURSIVE chain (id, previous_response_id, depth) AS (
    SELECT id, previous_response_id, 0 FROM responses WHERE id = ? AND tenant_id = ? AND expires_at > ?
  UNION ALL
    SELECT r.id, r.previous_response_id, c.depth + 1
    FROM responses r JOIN chain c ON r.id = c.previous_response_id
    WHERE r.tenant_id = ? AND r.expires_at > ? AND c.depth < ?
)`

func (s *Store) chainArgs(id, tenantID string, now time.Time) []any {
	t := s.d.dbTime(now)
	return []any{id, tenantID, t, tenantID, t, maxChainDepth}
}

// SaveResponse stores a finished response with its input and output items.
// When r.PreviousResponseID is set, every response of the chain it
// continues gets at least r's expiry. When r.ConversationID is set, the
// input and output items are also appended to that conversation, in the
// same transaction; a conversation of another tenant, or none, is
// store.ErrNotFound and nothing is stored. A duplicate response ID, or an
// item ID already in the conversation, is store.ErrConflict. A zero
// CreatedAt is set to now.
func (s *Store) SaveResponse(ctx context.Context, r *store.Response) error {
	if err := validateResponse(r); err != nil {
		return err
	}
	row := *r
	if row.CreatedAt.IsZero() {
		row.CreatedAt = s.now()
	}
	row.CreatedAt = row.CreatedAt.Truncate(time.Microsecond).UTC()
	row.ExpiresAt = row.ExpiresAt.Truncate(time.Microsecond).UTC()
	row.CompletedAt = truncPtr(row.CompletedAt)
	meta, err := encodeMap(row.Metadata)
	if err != nil {
		return fmt.Errorf("encoding response metadata: %w", err)
	}
	settings := string(row.Settings)
	if settings == "" {
		settings = "{}"
	}
	items := make([]store.Item, 0, len(row.Input)+len(row.Output))
	items = append(append(items, row.Input...), row.Output...)
	data, err := encodeItems(items)
	if err != nil {
		return fmt.Errorf("saving response %q: %w", row.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO responses (`+responseColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			row.ID, row.TenantID, row.Model, row.Status, nullString(row.PreviousResponseID), nullString(row.ConversationID),
			meta, settings, row.Usage.InputTokens, row.Usage.CachedInputTokens, row.Usage.OutputTokens, row.Usage.ReasoningTokens,
			row.ErrorCode, row.ErrorMessage, row.IncompleteReason,
			s.d.dbTime(row.CreatedAt), s.d.dbTimePtr(row.CompletedAt), s.d.dbTime(row.ExpiresAt))
		if err != nil {
			if s.d.constraint(err) == constraintUnique {
				return fmt.Errorf("response ID already in use: %w", store.ErrConflict)
			}
			return err
		}
		err = s.insertRows(ctx, tx, `INSERT INTO response_items (response_id, position, output, id, data) VALUES `, 5, len(items),
			func(i int, args []any) []any {
				return append(args, row.ID, i, i >= len(row.Input), items[i].ID, data[i])
			})
		if err != nil {
			if s.d.constraint(err) == constraintUnique {
				return fmt.Errorf("item IDs must be unique within a response: %w", store.ErrConflict)
			}
			return err
		}
		if row.PreviousResponseID != "" {
			args := append(s.chainArgs(row.PreviousResponseID, row.TenantID, row.CreatedAt), s.d.dbTime(row.ExpiresAt), s.d.dbTime(row.ExpiresAt))
			if _, err := tx.ExecContext(ctx, s.d.rebind(chainCTE+`
UPDATE responses SET expires_at = ? WHERE expires_at < ? AND id IN (SELECT id FROM chain)`), args...); err != nil {
				return fmt.Errorf("extending the expiry of the responses before it: %w", err)
			}
		}
		if row.ConversationID != "" {
			return s.appendItems(ctx, tx, row.TenantID, row.ConversationID, items, data, row.CreatedAt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving response %q: %w", row.ID, err)
	}
	*r = row
	return nil
}

func validateResponse(r *store.Response) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("response: empty ID: %w", store.ErrInvalid)
	case r.TenantID == "":
		return fmt.Errorf("response %q: empty tenant ID: %w", r.ID, store.ErrInvalid)
	case r.Status == "":
		return fmt.Errorf("response %q: empty status: %w", r.ID, store.ErrInvalid)
	case r.ExpiresAt.IsZero():
		return fmt.Errorf("response %q: no expiry: %w", r.ID, store.ErrInvalid)
	case r.PreviousResponseID == r.ID:
		return fmt.Errorf("response %q: continues itself: %w", r.ID, store.ErrInvalid)
	case len(r.Settings) > 0 && !json.Valid(r.Settings):
		return fmt.Errorf("response %q: settings are not JSON: %w", r.ID, store.ErrInvalid)
	}
	return nil
}

// ResponseByID returns a tenant's response with its output items, unless it
// has expired at now. An unknown, foreign or expired ID is
// store.ErrNotFound.
func (s *Store) ResponseByID(ctx context.Context, tenantID, id string, now time.Time) (*store.Response, error) {
	row := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+responseColumns+` FROM responses WHERE id = ? AND tenant_id = ? AND expires_at > ?`),
		id, tenantID, s.d.dbTime(now))
	r, err := scanResponse(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("response %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading response %q: %w", id, err)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT id, data FROM response_items WHERE response_id = ? AND output = ? ORDER BY position`), id, true)
	if err != nil {
		return nil, fmt.Errorf("reading output of response %q: %w", id, err)
	}
	if r.Output, err = scanItems(rows, nil); err != nil {
		return nil, fmt.Errorf("reading output of response %q: %w", id, err)
	}
	return r, nil
}

func scanResponse(sc scanner) (*store.Response, error) {
	var (
		r              store.Response
		prev, conv     sql.NullString
		meta, settings string
	)
	err := sc.Scan(&r.ID, &r.TenantID, &r.Model, &r.Status, &prev, &conv, &meta, &settings,
		&r.Usage.InputTokens, &r.Usage.CachedInputTokens, &r.Usage.OutputTokens, &r.Usage.ReasoningTokens,
		&r.ErrorCode, &r.ErrorMessage, &r.IncompleteReason,
		timeColumn{t: &r.CreatedAt}, timeColumn{ptr: &r.CompletedAt}, timeColumn{t: &r.ExpiresAt})
	if err != nil {
		return nil, err
	}
	r.PreviousResponseID, r.ConversationID = prev.String, conv.String
	if err := decodeJSON(meta, &r.Metadata); err != nil {
		return nil, fmt.Errorf("decoding metadata of response %q: %w", r.ID, err)
	}
	r.Settings = json.RawMessage(settings)
	return &r, nil
}

// ResponseInputItems returns a page of the items a tenant's unexpired
// response was given (not those of the responses before it), and whether
// more follow. An unknown, foreign or expired response, or an After that
// is not one of its input items, is store.ErrNotFound.
func (s *Store) ResponseInputItems(ctx context.Context, tenantID, id string, now time.Time, page store.ItemPage) ([]store.Item, bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM responses WHERE id = ? AND tenant_id = ? AND expires_at > ?`),
		id, tenantID, s.d.dbTime(now)).Scan(&n)
	if err != nil {
		return nil, false, fmt.Errorf("reading response %q: %w", id, err)
	}
	if n == 0 {
		return nil, false, fmt.Errorf("response %q: %w", id, store.ErrNotFound)
	}
	items, more, err := s.itemPage(ctx, "response_items", "response_id", id, " AND output = ?", []any{false}, page)
	if err != nil {
		return nil, false, fmt.Errorf("listing input items of response %q: %w", id, err)
	}
	return items, more, nil
}

// ResponseHistory returns the items a continuation of a tenant's response
// starts from: the input and output items of every response of its chain,
// oldest first, as one query. An unknown, foreign or expired ID is
// store.ErrNotFound; a chain that reaches a deleted or expired response is
// a *store.MissingAncestorError.
func (s *Store) ResponseHistory(ctx context.Context, tenantID, id string, now time.Time) ([]store.Item, error) {
	// The row count comes with every row, so the items are allocated once.
	rows, err := s.r.QueryContext(ctx, s.d.rebind(chainCTE+`
SELECT c.previous_response_id, i.id, i.data, COUNT(*) OVER () FROM chain c LEFT JOIN response_items i ON i.response_id = c.id
ORDER BY c.depth DESC, i.position`), s.chainArgs(id, tenantID, now)...)
	if err != nil {
		return nil, fmt.Errorf("reading history of response %q: %w", id, err)
	}
	defer rows.Close()
	var (
		items      []store.Item
		first      = true
		prev, data sql.RawBytes
		itemID     sql.NullString
		n          int
	)
	for rows.Next() {
		if err := rows.Scan(&prev, &itemID, &data, &n); err != nil {
			return nil, fmt.Errorf("reading history of response %q: %w", id, err)
		}
		if first {
			// The oldest response found must start the chain.
			if prev != nil {
				return nil, &store.MissingAncestorError{ResponseID: id, AncestorID: string(prev)}
			}
			first = false
			items = make([]store.Item, 0, n)
		}
		if !itemID.Valid {
			continue // a response without items
		}
		if items, err = appendItem(items, itemID.String, data); err != nil {
			return nil, fmt.Errorf("reading history of response %q: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading history of response %q: %w", id, err)
	}
	if first {
		return nil, fmt.Errorf("response %q: %w", id, store.ErrNotFound)
	}
	return items, nil
}

// DeleteResponse deletes a tenant's response and its items. Responses that
// continue it stay, but their history can no longer be rebuilt. An
// unknown, foreign or expired ID is store.ErrNotFound.
func (s *Store) DeleteResponse(ctx context.Context, tenantID, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM responses WHERE id = ? AND tenant_id = ? AND expires_at > ?`),
		id, tenantID, s.d.dbTime(now))
	if err != nil {
		return fmt.Errorf("deleting response %q: %w", id, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("deleting response %q: %w", id, err)
	}
	return nil
}

// PurgeExpiredResponses deletes every response that has expired at now,
// with its items, in batches, and returns how many it deleted. It stops
// early, with the count so far, when ctx ends.
func (s *Store) PurgeExpiredResponses(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	q := s.d.rebind(`DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE expires_at <= ? LIMIT ?)`)
	for {
		res, err := s.w.ExecContext(ctx, q, s.d.dbTime(now), purgeBatch)
		if err != nil {
			return total, fmt.Errorf("purging expired responses: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("purging expired responses: %w", err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}

// CreateConversation stores a new conversation with its first items. An
// empty ID is generated ("conv_…"), a zero CreatedAt is set to now, and on
// success c holds the stored values. A duplicate conversation ID, or two
// items with one ID, is store.ErrConflict.
func (s *Store) CreateConversation(ctx context.Context, c *store.Conversation, items []store.Item) error {
	row := *c
	if row.TenantID == "" {
		return fmt.Errorf("conversation: empty tenant ID: %w", store.ErrInvalid)
	}
	if row.ID == "" {
		row.ID = newID("conv_")
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = s.now()
	}
	row.CreatedAt = row.CreatedAt.Truncate(time.Microsecond).UTC()
	meta, err := encodeMap(row.Metadata)
	if err != nil {
		return fmt.Errorf("encoding conversation metadata: %w", err)
	}
	data, err := encodeItems(items)
	if err != nil {
		return fmt.Errorf("creating conversation: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO conversations (id, tenant_id, metadata, next_position, created_at) VALUES (?, ?, ?, ?, ?)`),
			row.ID, row.TenantID, meta, len(items), s.d.dbTime(row.CreatedAt))
		if err != nil {
			if s.d.constraint(err) == constraintUnique {
				return fmt.Errorf("conversation ID already in use: %w", store.ErrConflict)
			}
			return err
		}
		return s.insertConversationItems(ctx, tx, row.ID, 0, items, data, row.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("creating conversation %q: %w", row.ID, err)
	}
	*c = row
	return nil
}

// ConversationByID returns a tenant's conversation; an unknown or foreign
// ID is store.ErrNotFound.
func (s *Store) ConversationByID(ctx context.Context, tenantID, id string) (*store.Conversation, error) {
	row := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT id, tenant_id, metadata, created_at FROM conversations WHERE id = ? AND tenant_id = ?`),
		id, tenantID)
	c, err := scanConversation(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("conversation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading conversation %q: %w", id, err)
	}
	return c, nil
}

func scanConversation(sc scanner) (*store.Conversation, error) {
	var (
		c    store.Conversation
		meta string
	)
	if err := sc.Scan(&c.ID, &c.TenantID, &meta, timeColumn{t: &c.CreatedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(meta, &c.Metadata); err != nil {
		return nil, fmt.Errorf("decoding metadata of conversation %q: %w", c.ID, err)
	}
	return &c, nil
}

// UpdateConversationMetadata replaces the metadata of a tenant's
// conversation and returns the conversation. An unknown or foreign ID is
// store.ErrNotFound.
func (s *Store) UpdateConversationMetadata(ctx context.Context, tenantID, id string, metadata map[string]string) (*store.Conversation, error) {
	meta, err := encodeMap(metadata)
	if err != nil {
		return nil, fmt.Errorf("encoding conversation metadata: %w", err)
	}
	row := s.w.QueryRowContext(ctx, s.d.rebind(`UPDATE conversations SET metadata = ? WHERE id = ? AND tenant_id = ?
RETURNING id, tenant_id, metadata, created_at`), meta, id, tenantID)
	c, err := scanConversation(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("updating conversation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("updating conversation %q: %w", id, err)
	}
	return c, nil
}

// DeleteConversation deletes a tenant's conversation and its items.
// Responses that ran in it stay. An unknown or foreign ID is
// store.ErrNotFound.
func (s *Store) DeleteConversation(ctx context.Context, tenantID, id string) error {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM conversations WHERE id = ? AND tenant_id = ?`), id, tenantID)
	if err != nil {
		return fmt.Errorf("deleting conversation %q: %w", id, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("deleting conversation %q: %w", id, err)
	}
	return nil
}

// AppendConversationItems appends items to the end of a tenant's
// conversation. An unknown or foreign conversation is store.ErrNotFound;
// an item ID already in it is store.ErrConflict, and then nothing is
// appended.
func (s *Store) AppendConversationItems(ctx context.Context, tenantID, id string, items []store.Item) error {
	data, err := encodeItems(items)
	if err != nil {
		return fmt.Errorf("appending to conversation %q: %w", id, err)
	}
	now := s.now()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		return s.appendItems(ctx, tx, tenantID, id, items, data, now)
	})
	if err != nil {
		return fmt.Errorf("appending to conversation %q: %w", id, err)
	}
	return nil
}

// appendItems reserves positions at the end of a conversation by bumping
// its counter, which also locks its row until the transaction ends, and
// inserts the items there.
func (s *Store) appendItems(ctx context.Context, tx *sql.Tx, tenantID, id string, items []store.Item, data []string, now time.Time) error {
	var next int64
	err := tx.QueryRowContext(ctx, s.d.rebind(`UPDATE conversations SET next_position = next_position + ? WHERE id = ? AND tenant_id = ?
RETURNING next_position`), len(items), id, tenantID).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("conversation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return s.insertConversationItems(ctx, tx, id, next-int64(len(items)), items, data, now)
}

func (s *Store) insertConversationItems(ctx context.Context, tx *sql.Tx, id string, start int64, items []store.Item, data []string, now time.Time) error {
	created := s.d.dbTime(now)
	err := s.insertRows(ctx, tx, `INSERT INTO conversation_items (conversation_id, position, id, data, created_at) VALUES `, 5, len(items),
		func(i int, args []any) []any {
			return append(args, id, start+int64(i), items[i].ID, data[i], created)
		})
	if err != nil && s.d.constraint(err) == constraintUnique {
		return fmt.Errorf("an item ID is already in the conversation: %w", store.ErrConflict)
	}
	return err
}

// ConversationItems returns a page of a tenant's conversation's items and
// whether more follow. An unknown or foreign conversation, or an After that
// is not one of its items, is store.ErrNotFound.
func (s *Store) ConversationItems(ctx context.Context, tenantID, id string, page store.ItemPage) ([]store.Item, bool, error) {
	if _, err := s.ConversationByID(ctx, tenantID, id); err != nil {
		return nil, false, err
	}
	items, more, err := s.itemPage(ctx, "conversation_items", "conversation_id", id, "", nil, page)
	if err != nil {
		return nil, false, fmt.Errorf("listing items of conversation %q: %w", id, err)
	}
	return items, more, nil
}

// ConversationHistory returns every item of a tenant's conversation,
// oldest first, as one query. An unknown or foreign conversation is
// store.ErrNotFound.
func (s *Store) ConversationHistory(ctx context.Context, tenantID, id string) ([]store.Item, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT i.id, i.data, COUNT(*) OVER () FROM conversations c
LEFT JOIN conversation_items i ON i.conversation_id = c.id WHERE c.id = ? AND c.tenant_id = ? ORDER BY i.position`), id, tenantID)
	if err != nil {
		return nil, fmt.Errorf("reading history of conversation %q: %w", id, err)
	}
	defer rows.Close()
	var (
		items  []store.Item
		found  bool
		data   sql.RawBytes
		itemID sql.NullString
		n      int
	)
	for rows.Next() {
		if err := rows.Scan(&itemID, &data, &n); err != nil {
			return nil, fmt.Errorf("reading history of conversation %q: %w", id, err)
		}
		if !found {
			found = true
			items = make([]store.Item, 0, n)
		}
		if !itemID.Valid {
			continue // a conversation without items
		}
		if items, err = appendItem(items, itemID.String, data); err != nil {
			return nil, fmt.Errorf("reading history of conversation %q: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading history of conversation %q: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("conversation %q: %w", id, store.ErrNotFound)
	}
	return items, nil
}

// ConversationItem returns one item of a tenant's conversation. An unknown
// or foreign conversation, or an unknown item, is store.ErrNotFound.
func (s *Store) ConversationItem(ctx context.Context, tenantID, id, itemID string) (*store.Item, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT i.data FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id
WHERE c.id = ? AND c.tenant_id = ? AND i.id = ?`), id, tenantID, itemID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("item %q of conversation %q: %w", itemID, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading item %q of conversation %q: %w", itemID, id, err)
	}
	it, err := decodeItem(itemID, data)
	if err != nil {
		return nil, fmt.Errorf("reading item %q of conversation %q: %w", itemID, id, err)
	}
	return &it, nil
}

// DeleteConversationItem removes one item from a tenant's conversation.
// An unknown or foreign conversation, or an unknown item, is
// store.ErrNotFound.
func (s *Store) DeleteConversationItem(ctx context.Context, tenantID, id, itemID string) error {
	res, err := s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM conversation_items WHERE conversation_id = ? AND id = ?
AND conversation_id IN (SELECT id FROM conversations WHERE id = ? AND tenant_id = ?)`), id, itemID, id, tenantID)
	if err != nil {
		return fmt.Errorf("deleting item %q of conversation %q: %w", itemID, id, err)
	}
	if err := expectOneRow(res); err != nil {
		return fmt.Errorf("deleting item %q of conversation %q: %w", itemID, id, err)
	}
	return nil
}

// itemPage lists the items of one owner (a response or a conversation) in
// position order, starting after the item page.After, one more than the
// limit to tell whether more follow. table, ownerCol and extra are
// constants; extra filters further with extraArgs.
func (s *Store) itemPage(ctx context.Context, table, ownerCol, owner, extra string, extraArgs []any, page store.ItemPage) ([]store.Item, bool, error) {
	var b strings.Builder
	b.WriteString(`SELECT id, data FROM ` + table + ` WHERE ` + ownerCol + ` = ?` + extra)
	args := append([]any{owner}, extraArgs...)
	cmp, order := ">", "ASC"
	if page.Descending {
		cmp, order = "<", "DESC"
	}
	if page.After != "" {
		var pos int64
		err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT position FROM `+table+` WHERE `+ownerCol+` = ? AND id = ?`+extra),
			append([]any{owner, page.After}, extraArgs...)...).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("item %q: %w", page.After, store.ErrNotFound)
		}
		if err != nil {
			return nil, false, err
		}
		b.WriteString(` AND position ` + cmp + ` ?`)
		args = append(args, pos)
	}
	b.WriteString(` ORDER BY position ` + order)
	if page.Limit > 0 {
		b.WriteString(` LIMIT ?`)
		args = append(args, page.Limit+1)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(b.String()), args...)
	if err != nil {
		return nil, false, err
	}
	items, err := scanItems(rows, nil)
	if err != nil {
		return nil, false, err
	}
	if page.Limit > 0 && len(items) > page.Limit {
		return items[:page.Limit], true, nil
	}
	return items, false, nil
}

// scanItems reads (id, data) rows into dst and closes them.
func scanItems(rows *sql.Rows, dst []store.Item) ([]store.Item, error) {
	defer rows.Close()
	var (
		id   string
		data sql.RawBytes
		err  error
	)
	for rows.Next() {
		if err := rows.Scan(&id, &data); err != nil {
			return nil, err
		}
		if dst, err = appendItem(dst, id, data); err != nil {
			return nil, err
		}
	}
	return dst, rows.Err()
}

// appendItem decodes a stored item straight into a new element of dst.
func appendItem(dst []store.Item, id string, data []byte) ([]store.Item, error) {
	dst = append(dst, store.Item{})
	it := &dst[len(dst)-1]
	if err := json.Unmarshal(data, it); err != nil {
		return nil, fmt.Errorf("decoding item %q: %w", id, err)
	}
	it.ID = id
	return dst, nil
}

func decodeItem(id string, data []byte) (store.Item, error) {
	var it store.Item
	if err := json.Unmarshal(data, &it); err != nil {
		return it, fmt.Errorf("decoding item %q: %w", id, err)
	}
	it.ID = id
	return it, nil
}

// encodeItems validates items and encodes each for the data column.
func encodeItems(items []store.Item) ([]string, error) {
	out := make([]string, len(items))
	for i := range items {
		it := &items[i]
		if it.ID == "" || it.Type == "" {
			return nil, fmt.Errorf("item %d: empty ID or type: %w", i, store.ErrInvalid)
		}
		b, err := json.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("encoding item %q: %w", it.ID, err)
		}
		out[i] = string(b)
	}
	return out, nil
}

// insertRows inserts n rows of cols columns with as few multi-row INSERT
// statements as the engine's parameter limit allows. prefix is the
// statement up to VALUES; row appends the arguments of row i to args.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, prefix string, cols, n int, row func(i int, args []any) []any) error {
	perStmt := s.d.maxParams / cols
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for start := 0; start < n; start += perStmt {
		end := min(start+perStmt, n)
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(one)
			args = row(i, args)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(b.String()), args...); err != nil {
			return err
		}
	}
	return nil
}
