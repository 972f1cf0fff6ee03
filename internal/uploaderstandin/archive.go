package uploaderstandin

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// ArchiveStats counts what WriteArchive stored and names what it skipped.
type ArchiveStats struct {
	Volumes  []string
	Files    int
	Dirs     int
	Symlinks int
	Skipped  []string // sockets, fifos, devices: not volume data worth restoring
}

// WriteArchive writes one gzip-compressed tar of every directory directly
// under root to w. Members are named backup/<volume>/..., as offen names
// them when its sources are /backup; modes, owners and mtimes are kept,
// symlinks are stored as links (never followed). Plain files directly under
// root are not volumes and are left out.
func WriteArchive(w io.Writer, root string) (ArchiveStats, error) {
	var stats ArchiveStats
	entries, err := os.ReadDir(root)
	if err != nil {
		return stats, fmt.Errorf("read backup root %s: %w", root, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			stats.Volumes = append(stats.Volumes, e.Name())
		}
	}
	sort.Strings(stats.Volumes)

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	rootInfo, err := os.Stat(root)
	if err != nil {
		return stats, fmt.Errorf("stat backup root %s: %w", root, err)
	}
	if err := writeEntry(tw, root, "backup", rootInfo, &stats); err != nil {
		return stats, err
	}
	for _, vol := range stats.Volumes {
		volDir := filepath.Join(root, vol)
		err := filepath.WalkDir(volDir, func(p string, d fs.DirEntry, walkErr error) error {
			if walkErr != nil {
				return walkErr
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return writeEntry(tw, p, path.Join("backup", filepath.ToSlash(rel)), info, &stats)
		})
		if err != nil {
			return stats, fmt.Errorf("archive volume %s: %w", vol, err)
		}
	}
	if err := tw.Close(); err != nil {
		return stats, fmt.Errorf("finish tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return stats, fmt.Errorf("finish gzip: %w", err)
	}
	return stats, nil
}

// writeEntry stores one file system entry (info from Lstat) as name.
func writeEntry(tw *tar.Writer, src, name string, info fs.FileInfo, stats *ArchiveStats) error {
	link := ""
	switch mode := info.Mode(); {
	case mode.IsRegular(), mode.IsDir():
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("read symlink %s: %w", src, err)
		}
		link = target
	default:
		stats.Skipped = append(stats.Skipped, name)
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("tar header for %s: %w", src, err)
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write tar header for %s: %w", src, err)
	}
	switch {
	case info.IsDir():
		stats.Dirs++
	case link != "":
		stats.Symlinks++
	default:
		if err := copyFile(tw, src, hdr.Size); err != nil {
			return err
		}
		stats.Files++
	}
	return nil
}

// copyFile writes exactly size bytes of src; a file that shrank since its
// header was written is an error, not a silently padded member.
func copyFile(w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer f.Close()
	if n, err := io.CopyN(w, f, size); err != nil {
		return fmt.Errorf("copy %s (%d of %d bytes): %w", src, n, size, err)
	}
	return nil
}
