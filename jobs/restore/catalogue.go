// Package restore is the backup catalogue and restore-service (SPEC §10): the archives a
// service's backups left in its S3 location, and putting one of them back into its volumes.
package restore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// SafetyMark is in the name of a safety backup's archives (taken before a restore):
// <service>_<node>_pre-restore_<time>.tar.gz.
const SafetyMark = "pre-restore"

// archiveTimeLayout is the time in the archive names backup-service gives the uploader
// (BACKUP_FILENAME=<service>_<node>_%Y-%m-%dT%H-%M-%S.tar.gz).
const archiveTimeLayout = "2006-01-02T15-04-05"

// Archive is one backup archive of a service in its S3 location.
type Archive struct {
	Key       string    `json:"key"`  // the object key, <service>/<name>
	Node      string    `json:"node"` // the node whose volumes it holds
	Time      time.Time `json:"time"` // when it was taken (from its name, UTC)
	Size      int64     `json:"size"` // bytes
	Encrypted bool      `json:"encrypted"`
	// Safety tells a safety backup taken before a restore (SafetyMark in its name).
	Safety bool `json:"safetyBackup"`
}

// Object is one S3 object of a listing.
type Object struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// Store lists one S3 location; S3Store (minio-go) in production.
type Store interface {
	// List returns the objects whose key starts with prefix, sub-folders included, at most
	// max of them (in S3's key order); truncated tells there were more.
	List(ctx context.Context, s3 config.S3, prefix string, max int) (objs []Object, truncated bool, err error)
}

// The catalogue is bounded: a folder with more keys than MaxKeysRead is listed in part, and a
// listing holds the newest MaxListed archives. Either cut is said in Listing.Cut.
const (
	MaxKeysRead = 10_000
	MaxListed   = 1000
)

// Listing is the catalogue of one service.
type Listing struct {
	Archives []Archive `json:"backups"`
	// Cut says how the listing was bounded; "" when it holds every archive.
	Cut string `json:"cut,omitempty"`
}

// ServiceReader reads one service.
type ServiceReader interface {
	Service(ctx context.Context, name string) (parse.Service, error)
}

// Catalogue lists services' archives.
type Catalogue struct {
	Swarm  ServiceReader
	Store  Store
	Config config.Config
}

// Settings reads the service's backup settings (its S3 location with the label overrides) and
// refuses a service that is not enabled for backup.
func Settings(svc parse.Service, cfg config.Config) (backup.Settings, error) {
	s, err := backup.SettingsFromLabels(svc.Labels, cfg)
	if err != nil {
		return backup.Settings{}, operation.Errorf(operation.KindConfig, "service %s backup settings: %w", svc.Name, err)
	}
	if !s.Enabled {
		return backup.Settings{}, operation.Errorf(operation.KindNotFound, "service %s is not enabled for backup (label %s=true)", svc.Name, parse.LabelBackupEnable)
	}
	if err := s.S3.Validate(); err != nil {
		return backup.Settings{}, operation.Errorf(operation.KindConfig, "service %s S3 settings: %w", svc.Name, err)
	}
	return s, nil
}

// List returns the archives of the service named exactly name, newest first. Only the
// service's own folder is listed, and only names that backup-service gives this service's
// archives are kept: another service's archives never appear.
func (c *Catalogue) List(ctx context.Context, name string) ([]Archive, error) {
	svc, err := c.Swarm.Service(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.Of(ctx, svc)
}

// Of is List of a service already read.
func (c *Catalogue) Of(ctx context.Context, svc parse.Service) ([]Archive, error) {
	l, err := c.ListingOf(ctx, svc)
	return l.Archives, err
}

// ListingOf is the bounded catalogue of a service already read: its newest MaxListed
// archives, and how the listing was cut.
func (c *Catalogue) ListingOf(ctx context.Context, svc parse.Service) (Listing, error) {
	s, err := Settings(svc, c.Config)
	if err != nil {
		return Listing{}, err
	}
	return c.list(ctx, svc.Name, s.S3)
}

func (c *Catalogue) list(ctx context.Context, service string, s3 config.S3) (Listing, error) {
	objs, truncated, err := c.Store.List(ctx, s3, service+"/", MaxKeysRead)
	if err != nil {
		return Listing{}, operation.Errorf(operation.KindDocker, "list the archives of service %s in s3://%s/%s/: %w", service, s3.Bucket, service, err)
	}
	l := Listing{Archives: Archives(service, objs)}
	var cuts []string
	if truncated {
		cuts = append(cuts, fmt.Sprintf("the folder holds more than %d keys: only the first %d (in key order) were read", MaxKeysRead, MaxKeysRead))
	}
	if n := len(l.Archives); n > MaxListed {
		l.Archives = l.Archives[:MaxListed]
		cuts = append(cuts, fmt.Sprintf("the newest %d of %d archives are listed", MaxListed, n))
	}
	l.Cut = strings.Join(cuts, "; ")
	return l, nil
}

// Archives keeps the objects that are archives of service and sorts them newest first (by
// time, then key).
func Archives(service string, objs []Object) []Archive {
	out := []Archive{}
	for _, o := range objs {
		if a, ok := ParseKey(service, o.Key); ok {
			a.Size = o.Size
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Archive) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Key, a.Key)
	})
	return out
}

// ParseKey reads an archive's key: <service>/<service>_<node>[_pre-restore]_<time>.tar.gz,
// with .gpg or .age after it when offen encrypted it. Any other key is not service's archive.
func ParseKey(service, key string) (Archive, bool) {
	base, ok := strings.CutPrefix(key, service+"/"+service+"_")
	if !ok || strings.Contains(base, "/") {
		return Archive{}, false
	}
	a := Archive{Key: key}
	for _, ext := range []string{".gpg", ".age"} {
		if b, ok := strings.CutSuffix(base, ext); ok {
			base, a.Encrypted = b, true
			break
		}
	}
	base, ok = strings.CutSuffix(base, ".tar.gz")
	if !ok || len(base) < len(archiveTimeLayout)+2 {
		return Archive{}, false
	}
	stamp := base[len(base)-len(archiveTimeLayout):]
	t, err := time.Parse(archiveTimeLayout, stamp)
	if err != nil {
		return Archive{}, false
	}
	node, ok := strings.CutSuffix(base[:len(base)-len(archiveTimeLayout)], "_")
	if !ok {
		return Archive{}, false
	}
	if n, ok := strings.CutSuffix(node, "_"+SafetyMark); ok {
		node, a.Safety = n, true
	}
	// A node name has no "_" (hostnames cannot): one would be another service's name
	// (service "shop" and "shop_db" share no folder, but a stray copy might).
	if node == "" || strings.Contains(node, "_") {
		return Archive{}, false
	}
	a.Node, a.Time = node, t.UTC()
	return a, true
}

// Choose picks the archive of each node for a restore from the catalogue (newest first):
// "latest" or "" is the newest that is not a safety backup; an archive key picks that archive
// (and that node's only); a time (RFC 3339 or the archive names' layout) the newest non-safety
// archive at or before it. For "latest" and a time, each node gets its own newest such archive
// of the same backup run — those within the run's spread of the newest pick.
func Choose(archives []Archive, which string) ([]Archive, error) {
	which = strings.TrimSpace(which)
	if which != "" && which != "latest" {
		for _, a := range archives {
			if a.Key == which {
				return []Archive{a}, nil
			}
		}
	}
	var at time.Time
	if which != "" && which != "latest" {
		t, err := parseTime(which)
		if err != nil {
			return nil, operation.Errorf(operation.KindInvalid, "backup %q is neither \"latest\", an archive key of the service, nor a time (RFC 3339 or %s)", which, archiveTimeLayout)
		}
		at = t
	}
	var newest *Archive
	picked := map[string]Archive{}
	var order []string
	for _, a := range archives {
		if a.Safety || (!at.IsZero() && a.Time.After(at)) {
			continue
		}
		if newest == nil {
			newest = &a
		}
		// One backup run writes every node's archive within its upload window.
		if newest.Time.Sub(a.Time) > runSpread {
			break
		}
		if _, ok := picked[a.Node]; !ok {
			picked[a.Node] = a
			order = append(order, a.Node)
		}
	}
	if newest == nil {
		if at.IsZero() {
			return nil, operation.Errorf(operation.KindNotFound, "no archive to restore: the service has none but safety backups")
		}
		return nil, operation.Errorf(operation.KindNotFound, "no archive at or before %s", at.Format(time.RFC3339))
	}
	slices.Sort(order)
	out := make([]Archive, 0, len(order))
	for _, n := range order {
		out = append(out, picked[n])
	}
	return out, nil
}

// runSpread is how far apart the archives of one backup run may be: the nodes upload in
// parallel, each within its upload timeout.
const runSpread = 15 * time.Minute

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(archiveTimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: %w", s, err)
	}
	return t.UTC(), nil
}
