package restore

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// VolumeResult is what was restored into one volume.
type VolumeResult struct {
	Volume string `json:"volume"` // the entry as in the archive (backup/<volume>/…)
	Files  int    `json:"files"`  // regular files written
	Bytes  int64  `json:"bytes"`  // their bytes
	// Skipped says why the volume was left as it was (the archive holds no folder for it).
	Skipped string `json:"skipped,omitempty"`
}

// ExtractArchive replaces the content of each volume's folder (dirs: the archive entry, as in
// backup/<entry>/…, → the folder where the volume is mounted) with the entry's files of the
// gzip'd tar at archivePath, offen's layout. The archive is read through once before
// anything is changed: a truncated or corrupt archive, an unsafe path or an unknown entry type
// leaves every volume untouched. A volume the archive has no folder for is left as it is.
// Paths are resolved inside each folder (os.Root): no entry or link in the archive reaches
// outside it.
func ExtractArchive(archivePath string, dirs map[string]string) ([]VolumeResult, error) {
	present := map[string]bool{}
	if err := walkArchive(archivePath, dirs, func(vol, _ string, _ *tar.Header, _ io.Reader) error {
		present[vol] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("check archive: %w", err)
	}
	vols := slices.Sorted(func(yield func(string) bool) {
		for v := range dirs {
			if !yield(v) {
				return
			}
		}
	})
	roots := map[string]*os.Root{}
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	res := map[string]*VolumeResult{}
	for _, v := range vols {
		res[v] = &VolumeResult{Volume: v}
		if !present[v] {
			res[v].Skipped = "the archive holds no backup/" + v + "/ folder"
			continue
		}
		r, err := os.OpenRoot(dirs[v])
		if err != nil {
			return nil, fmt.Errorf("open volume %s: %w", v, err)
		}
		roots[v] = r
		if err := emptyDir(r); err != nil {
			return nil, fmt.Errorf("empty volume %s: %w", v, err)
		}
	}
	type dirTime struct {
		vol, rel string
		h        *tar.Header
	}
	var dirsLast []dirTime
	err := walkArchive(archivePath, dirs, func(vol, rel string, h *tar.Header, body io.Reader) error {
		r := roots[vol]
		if rel == "." {
			dirsLast = append(dirsLast, dirTime{vol, rel, h})
			return nil
		}
		if d := path.Dir(rel); d != "." {
			if err := r.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := r.Mkdir(rel, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			dirsLast = append(dirsLast, dirTime{vol, rel, h})
			return nil
		case tar.TypeReg:
			f, err := r.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			n, err := io.Copy(f, body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			res[vol].Files++
			res[vol].Bytes += n
		case tar.TypeSymlink:
			if err := r.Symlink(h.Linkname, rel); err != nil {
				return err
			}
		case tar.TypeLink:
			target, ok := entryPath(h.Linkname, vol)
			if !ok {
				return fmt.Errorf("hard link %s points outside its volume (%s)", h.Name, h.Linkname)
			}
			if err := r.Link(target, rel); err != nil {
				return err
			}
			return nil
		}
		return setMeta(r, rel, h)
	})
	if err != nil {
		return nil, fmt.Errorf("extract archive (the volumes are partly restored; restore the safety backup or retry): %w", err)
	}
	// Directories last: writing into them changed their times.
	for i := len(dirsLast) - 1; i >= 0; i-- {
		d := dirsLast[i]
		if err := setMeta(roots[d.vol], d.rel, d.h); err != nil {
			return nil, fmt.Errorf("set owner and mode of %s in volume %s: %w", d.rel, d.vol, err)
		}
	}
	out := make([]VolumeResult, 0, len(vols))
	for _, v := range vols {
		out = append(out, *res[v])
	}
	return out, nil
}

// walkArchive calls fn for every entry under backup/<vol>/ of a volume in dirs, with its
// path inside the volume ("." for the folder itself). Entries of other folders are read past.
func walkArchive(archivePath string, dirs map[string]string, fn func(vol, rel string, h *tar.Header, body io.Reader) error) error {
	f, err := os.Open(archivePath)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("untar: %w", err)
		}
		name := memberName(h.Name)
		rest, ok := strings.CutPrefix(name, "backup/")
		if !ok {
			continue
		}
		vol, _, _ := strings.Cut(rest, "/")
		if _, ok := dirs[vol]; !ok {
			continue
		}
		rel, ok := entryPath(name, vol)
		if !ok {
			return fmt.Errorf("entry %q: not a clean path inside backup/%s/", h.Name, vol)
		}
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
		default:
			return fmt.Errorf("entry %q: type %q is not restored (only files, folders and links)", h.Name, h.Typeflag)
		}
		if err := fn(vol, rel, h, tr); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil { // a short body is a truncated archive
			return fmt.Errorf("untar %s: %w", h.Name, err)
		}
	}
	// gzip's checksum is checked at its end.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	return nil
}

// entryPath is the path of an archive name inside backup/<vol>/, "." for the folder itself;
// false for a name outside it or not clean (.., //).
func entryPath(name, vol string) (string, bool) {
	name = strings.TrimSuffix(memberName(name), "/")
	prefix := "backup/" + vol
	if name == prefix {
		return ".", true
	}
	rel, ok := strings.CutPrefix(name, prefix+"/")
	if !ok || rel == "" || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// memberName is an archive member's name relative to the archive's root: offen names them
// by their absolute path (/backup/<volume>/…, its archive.go trims only the output folder,
// which is not a prefix of them), tar -C / by ./backup/… or backup/….
func memberName(name string) string {
	return strings.TrimPrefix(strings.TrimLeft(name, "/"), "./")
}

// emptyDir removes everything inside the root's folder, not the folder (the mount point).
func emptyDir(r *os.Root) error {
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := r.RemoveAll(n); err != nil {
			return err
		}
	}
	return nil
}

// setMeta gives an entry the archive's owner, mode and modification time (not through a
// symlink: its owner only).
func setMeta(r *os.Root, rel string, h *tar.Header) error {
	if err := r.Lchown(rel, h.Uid, h.Gid); err != nil && !errors.Is(err, os.ErrPermission) {
		return err
	}
	if h.Typeflag == tar.TypeSymlink {
		return nil
	}
	if err := r.Chmod(rel, h.FileInfo().Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
		return err
	}
	return r.Chtimes(rel, h.ModTime, h.ModTime)
}
