package store

import "time"

// Alert is one alert for one webhook endpoint in the alert outbox. Its Key
// is unique: an alert recorded twice (by two replicas, or by one after a
// restart) is stored once, and whoever stored it delivers it.
type Alert struct {
	// ID identifies the record ("alt_…"); generated on insert when empty.
	// It is the webhook-id of every delivery attempt.
	ID string
	// Key is unique across alerts: the alert's kind, subject, threshold,
	// period and endpoint.
	Key      string
	Endpoint string
	Kind     string
	Subject  string
	// Body is the event as JSON, as the standard format sends it.
	Body      string
	CreatedAt time.Time
	// Attempts counts delivery attempts so far.
	Attempts int
	// DeliveredAt is set once an attempt succeeded; GaveUpAt once delivery
	// stopped for good (attempts or time exhausted, or a permanent
	// refusal). Both are nil while the alert is pending.
	DeliveredAt *time.Time
	GaveUpAt    *time.Time
	// LastError is the last failed attempt's error; empty when none.
	LastError string
}
