package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"time"
)

// AdminToken is a scoped admin API credential. Only the SHA-256 hash of
// its secret is stored; the secret is shown once, when it is created.
type AdminToken struct {
	// ID is the stable identifier ("adm_…"); generated on create when
	// empty.
	ID   string
	Name string
	// Role is an access.Role; Tenants scope a tenant-admin (tenant names).
	Role    string
	Tenants []string
	// Hash is the SHA-256 of the secret; unique.
	Hash []byte
	// Prefix is the first characters of the secret, for display.
	Prefix string
	// CreatedBy is the audit subject of whoever created it.
	CreatedBy string
	CreatedAt time.Time
	// RevokedAt is nil while the token is live.
	RevokedAt *time.Time
}

// Audit outcomes.
const (
	// AuditOK is an action that was carried out.
	AuditOK = "ok"
	// AuditDenied is an action the policy refused.
	AuditDenied = "denied"
)

// AuditRecord is one entry of the append-only, hash-chained audit log.
type AuditRecord struct {
	// Seq numbers the records from 1 without gaps; set by the store on
	// append.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	// Subject and Role are who acted (access.Principal).
	Subject string `json:"subject"`
	Role    string `json:"role"`
	// Action is an access.Action; Target what it acted on (a tenant, key,
	// channel or token id).
	Action string `json:"action"`
	Target string `json:"target"`
	// Outcome is AuditOK or AuditDenied.
	Outcome string `json:"outcome"`
	// Change is the change made, as JSON, secrets redacted; empty when
	// the action has none to show.
	Change    string `json:"change,omitempty"`
	Source    string `json:"source,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// PrevHash is the hash of the record before (empty for the first);
	// Hash is ChainHash(PrevHash) of this one. Set by the store on append.
	PrevHash []byte `json:"prev_hash"`
	Hash     []byte `json:"hash"`
}

// ChainHash returns the record's hash in the chain after prev: the
// SHA-256 of prev followed by the record's canonical form, which is its
// JSON encoding (fixed field order, time in UTC to the microsecond)
// without PrevHash and Hash.
func (r *AuditRecord) ChainHash(prev []byte) []byte {
	c := *r
	c.PrevHash, c.Hash = nil, nil
	c.Time = c.Time.UTC().Truncate(time.Microsecond)
	canon, _ := json.Marshal(c) // strings, numbers and a time: never fails
	h := sha256.New()
	h.Write(prev)
	h.Write(canon)
	return h.Sum(nil)
}

// AuditFilter selects audit records; empty fields do not filter.
type AuditFilter struct {
	Subject, Action, Target string
	Since, Until            time.Time
	// After and Before bound Seq (exclusive); zero does not bound.
	After, Before int64
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
	// Limit is the page size; stores cap it at MaxAuditPage.
	Limit int
}

// MaxAuditPage is the largest page ListAudit returns.
const MaxAuditPage = 1000

// ChainFault describes the first record at which an audit chain breaks.
type ChainFault struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// VerifyChain checks records, which continue the chain after the record
// numbered prevSeq with hash prevHash: consecutive sequence numbers, each
// PrevHash the hash before it, each Hash its ChainHash. It returns the
// first fault, or nil.
func VerifyChain(prevSeq int64, prevHash []byte, records []AuditRecord) *ChainFault {
	for i := range records {
		r := &records[i]
		switch {
		case r.Seq != prevSeq+1:
			return &ChainFault{r.Seq, "sequence gap: the record after " + strconv.FormatInt(prevSeq, 10) + " is " + strconv.FormatInt(r.Seq, 10) + " (records removed)"}
		case !bytes.Equal(r.PrevHash, prevHash):
			return &ChainFault{r.Seq, "its previous-hash does not match the record before it"}
		case !bytes.Equal(r.Hash, r.ChainHash(prevHash)):
			return &ChainFault{r.Seq, "its contents do not match its hash (the record was changed)"}
		}
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return nil
}
