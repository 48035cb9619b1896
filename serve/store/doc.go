// Package store is the embedded database of limbic serve: conversations,
// their per-token emotion traces, and alerts, in SQLite through the pure-Go
// driver modernc.org/sqlite (no cgo).
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL on its single writer
// connection: every write is one transaction (BEGIN IMMEDIATE … COMMIT), and
// COMMIT returns only after the WAL has been fsynced. So when InsertAlert
// returns an id, the alert survives a kill -9 of the process (the WAL is in
// the file system and is replayed on the next Open) and a power loss (it was
// fsynced). The server must therefore acknowledge an alert — stream it to
// the client, return it from the API, POST it to a webhook — only after
// InsertAlert has returned, and record a webhook delivery (MarkDelivered)
// only after the receiver answered 2xx. An alert whose delivery was not
// recorded stays "pending" and can be resent after a restart (AlertQuery
// {Delivery: DeliveryPending}); receivers deduplicate by its idempotency key,
// which derives from the alert id (AUTOINCREMENT: ids are never reused).
// TestCrashKeepsAcknowledgedAlerts checks the kill -9 half: a child process
// prints each id after InsertAlert returns and is killed mid-stream; every
// printed id is in the reopened database.
//
// # Layout
//
// Times are stored as Unix milliseconds. A conversation lists its emotions
// once (with the layer and the metric of the values); each trace point
// stores its values as a little-endian float32 blob parallel to that list.
// Which rows and values are written is the caller's choice: the server
// writes a row, with its text, for every prompt token and for every
// generated token before the token is sent, and adds the values (replacing
// the row) once the position is read, every stride-th position; a row
// without values has an empty blob. Alerts keep
// the evaluator's event as JSON in Detail. The schema is versioned in
// schema_migrations; Open applies pending migrations and refuses a database
// from a newer build.
//
// # Concurrency
//
// Writes go through one connection (database/sql serializes them); reads use
// a separate pool of read-only connections, which WAL lets run alongside the
// writer. Batch writes: AppendTrace and InsertAlerts take several rows per
// transaction, and each transaction costs an fsync.
//
// # Retention
//
// Prune deletes conversations last written before a time, with their trace
// and alerts, and older alerts; RunRetention runs it periodically.
// MarkInterrupted, at startup, marks conversations left running by a dead
// process.
package store
