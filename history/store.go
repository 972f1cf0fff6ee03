package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the store's file in the data directory.
const FileName = "history.db"

// Buckets: runs by start time and id (oldest first, so pruning reads from the front), the
// run key of every id, and the last run and last success per (operation, target), so that
// the status page and the metrics need not scan thirty days of runs.
var (
	bucketRuns    = []byte("runs")
	bucketIDs     = []byte("ids")
	bucketLast    = []byte("last")
	bucketLastOK  = []byte("last-ok")
	bucketsAll    = [][]byte{bucketRuns, bucketIDs, bucketLast, bucketLastOK}
	errNotStarted = errors.New("the run has no start time")
)

// DefaultLimit and MaxLimit bound one List: what GET /api/runs answers without and with ?limit=.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Options configure Open.
type Options struct {
	// LockWait is how long Open waits for another process holding the file (bbolt locks it);
	// 0 waits forever.
	LockWait time.Duration
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger
}

// Store is the run history. It is safe for concurrent use; one process at a time holds it.
type Store struct {
	db   *bolt.DB
	keep time.Duration
	now  func() time.Time
	log  *slog.Logger
}

// Open opens (or creates) the store in dir, keeping runs for days days, and prunes older ones.
func Open(dir string, days int, o Options) (*Store, error) {
	if days < 1 {
		return nil, fmt.Errorf("open the run history: keep at least 1 day, not %d", days)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockWait})
	if err != nil {
		return nil, fmt.Errorf("open the run history %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range bucketsAll {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create the buckets of the run history %s: %w", path, err)
	}
	s := &Store{db: db, keep: time.Duration(days) * 24 * time.Hour, now: o.Now, log: o.Log}
	if _, err := s.Prune(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }

// runKey orders runs by start time; the id keeps two runs started in one nanosecond apart.
func runKey(rec Record) []byte {
	k := make([]byte, 8, 8+len(rec.ID))
	binary.BigEndian.PutUint64(k, uint64(rec.StartedAt.UnixNano()))
	return append(k, rec.ID...)
}

func targetKey(op, target string) []byte { return []byte(op + "\x00" + target) }

// Add stores one ended run; a run with the id of a stored one replaces it.
func (s *Store) Add(rec Record) error {
	if rec.StartedAt.IsZero() || rec.StartedAt.UnixNano() < 0 {
		return fmt.Errorf("store run %s: %w", rec.ID, errNotStarted)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode run %s: %w", rec.ID, err)
	}
	key := runKey(rec)
	err = s.db.Update(func(tx *bolt.Tx) error {
		runs, ids := tx.Bucket(bucketRuns), tx.Bucket(bucketIDs)
		if old := ids.Get([]byte(rec.ID)); old != nil {
			if err := runs.Delete(old); err != nil {
				return err
			}
		}
		if err := runs.Put(key, body); err != nil {
			return err
		}
		if err := ids.Put([]byte(rec.ID), key); err != nil {
			return err
		}
		if err := putNewer(tx.Bucket(bucketLast), targetKey(rec.Operation, rec.Target), rec, body); err != nil {
			return err
		}
		if rec.OK && rec.Skipped == "" {
			return putNewer(tx.Bucket(bucketLastOK), targetKey(rec.Operation, rec.Target), rec, body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store run %s (%s %s): %w", rec.ID, rec.Operation, rec.Target, err)
	}
	return nil
}

// putNewer keeps rec under key unless a run that started later is there already (the nodes of
// one clean-node --all end in any order).
func putNewer(b *bolt.Bucket, key []byte, rec Record, body []byte) error {
	if old := b.Get(key); old != nil {
		var prev Record
		if json.Unmarshal(old, &prev) == nil && prev.StartedAt.After(rec.StartedAt) {
			return nil
		}
	}
	return b.Put(key, body)
}

// Get returns the run with id; ok is false when there is none (never run, or pruned).
func (s *Store) Get(id string) (rec Record, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketIDs).Get([]byte(id))
		if key == nil {
			return nil
		}
		body := tx.Bucket(bucketRuns).Get(key)
		if body == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(body, &rec)
	})
	if err != nil {
		return Record{}, false, fmt.Errorf("read run %.40q: %w", id, err)
	}
	return rec, ok, nil
}

// Filter selects runs; zero fields select all.
type Filter struct {
	Operation, Target string
	// Limit bounds the answer (0: DefaultLimit; at most MaxLimit).
	Limit int
	// Visible, when set, keeps only the runs it accepts (what the caller's token may see).
	Visible func(Record) bool
}

// List returns the runs that match f, newest first.
func (s *Store) List(f Filter) ([]Record, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	out := []Record{}
	// Thirty days of runs are thousands: a record whose JSON lacks the wanted operation or
	// target is skipped without decoding it (the decode then checks for real).
	var frags [][]byte
	for _, kv := range [][2]string{{"operation", f.Operation}, {"target", f.Target}} {
		if kv[1] != "" {
			v, _ := json.Marshal(kv[1])
			frags = append(frags, append([]byte(`"`+kv[0]+`":`), v...))
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRuns).Cursor()
	next:
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			for _, frag := range frags {
				if !bytes.Contains(v, frag) {
					continue next
				}
			}
			var rec Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode run %x: %w", k, err)
			}
			if f.match(rec) {
				out = append(out, rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

func (f Filter) match(rec Record) bool {
	return (f.Operation == "" || rec.Operation == f.Operation) && (f.Target == "" || rec.Target == f.Target) &&
		(f.Visible == nil || f.Visible(rec))
}

// Last returns the last run of every (operation, target) still in the store, in no order.
func (s *Store) Last() ([]Record, error) { return s.all(bucketLast) }

// LastSuccess returns the last successful (ok, not skipped) run of every (operation, target).
func (s *Store) LastSuccess() ([]Record, error) { return s.all(bucketLastOK) }

func (s *Store) all(bucket []byte) ([]Record, error) {
	out := []Record{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var rec Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode run of %q: %w", bytes.ReplaceAll(k, []byte{0}, []byte(" ")), err)
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the last runs: %w", err)
	}
	return out, nil
}

// Prune removes the runs that started before the retention; it returns how many.
func (s *Store) Prune() (int, error) {
	cutoff := s.now().Add(-s.keep)
	var end [8]byte
	binary.BigEndian.PutUint64(end[:], uint64(max(cutoff.UnixNano(), 0)))
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		runs, ids := tx.Bucket(bucketRuns), tx.Bucket(bucketIDs)
		c := runs.Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k[:8], end[:]) < 0; k, v = c.First() {
			var rec Record
			if json.Unmarshal(v, &rec) == nil {
				if err := ids.Delete([]byte(rec.ID)); err != nil {
					return err
				}
			}
			if err := runs.Delete(k); err != nil {
				return err
			}
			n++
		}
		for _, name := range [][]byte{bucketLast, bucketLastOK} {
			b := tx.Bucket(name)
			var old [][]byte
			if err := b.ForEach(func(k, v []byte) error {
				var rec Record
				if json.Unmarshal(v, &rec) != nil || rec.StartedAt.Before(cutoff) {
					old = append(old, append([]byte{}, k...))
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("prune the run history: %w", err)
	}
	if n > 0 {
		s.log.Info("run history pruned", "runs", n, "before", cutoff.UTC().Format(time.RFC3339))
	}
	return n, nil
}

// PruneEvery is how often serve prunes the history.
const PruneEvery = time.Hour

// KeepPruning prunes every interval until ctx ends; a failed prune is logged.
func (s *Store) KeepPruning(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := s.Prune(); err != nil {
			s.log.Error("prune the run history failed", "err", err)
		}
	}
}

// IsHeld tells whether Open failed because another process holds the store.
func IsHeld(err error) bool { return errors.Is(err, bolt.ErrTimeout) }
