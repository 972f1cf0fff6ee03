package uploaderstandin

import (
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// PruneDeadline is offen's deadline: backups last modified before it are
// pruned. Offen adds the leeway (now - days + leeway), so a daily backup
// whose run took a little less than a day ago is still rotated away.
func PruneDeadline(now time.Time, retentionDays int, leeway time.Duration) time.Time {
	return now.AddDate(0, 0, -retentionDays).Add(leeway)
}

// ListPrefix is the key prefix that narrows the server-side listing.
func ListPrefix(s3Path, pruningPrefix string) string {
	if s3Path == "" {
		return pruningPrefix
	}
	return s3Path + "/" + pruningPrefix
}

// SelectPrunable splits a listing into the candidates (objects directly
// under s3Path whose base name starts with pruningPrefix) and the matches
// (candidates last modified before deadline). It is stricter than offen's
// recursive prefix match: keys in sub-folders, or in sibling folders that
// merely share the path as a string prefix, are never candidates.
func SelectPrunable(objects []minio.ObjectInfo, s3Path, pruningPrefix string, deadline time.Time) (candidates, matches []minio.ObjectInfo) {
	dir := ""
	if s3Path != "" {
		dir = s3Path + "/"
	}
	for _, o := range objects {
		base, ok := strings.CutPrefix(o.Key, dir)
		if !ok || base == "" || strings.Contains(base, "/") || !strings.HasPrefix(base, pruningPrefix) {
			continue
		}
		candidates = append(candidates, o)
		if o.LastModified.Before(deadline) {
			matches = append(matches, o)
		}
	}
	return candidates, matches
}
